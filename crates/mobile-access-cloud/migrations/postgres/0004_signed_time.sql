-- Signed time (postgres dialect): the newest time this organization's revocation list was signed
-- with. The cloud refuses to sign with a clock earlier than it: a clock it knows is wrong.
ALTER TABLE organizations ADD COLUMN revocation_signed_at BIGINT NOT NULL DEFAULT 0;
