-- Revocation that scales (sqlite dialect): whether a listed credential stands outside the
-- revocation epoch (wallet passes, issued at the pass epoch), so an epoch rise never drops it
-- from the list and never revokes a pass.
ALTER TABLE revocations ADD COLUMN epoch_exempt INTEGER NOT NULL DEFAULT 0;
