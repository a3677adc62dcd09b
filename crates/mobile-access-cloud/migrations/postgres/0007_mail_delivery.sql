-- Mail delivery (postgres dialect): the outbox is now delivered over SMTP by a background sender.
-- attempts counts delivery attempts; next_attempt_at is when the row is due again (Unix seconds:
-- queued rows are due at once, a failed attempt backs off, and a sender claims a row by moving it
-- ahead by its lease, so replicas never send one mail twice at once). sent_at is set once
-- delivered, failed_at once the sender gave up; last_error says why the last attempt failed
-- (the SMTP server's answer, never a credential).
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN next_attempt_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN sent_at INTEGER;
ALTER TABLE outbox ADD COLUMN failed_at INTEGER;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE sent_at IS NULL AND failed_at IS NULL;
