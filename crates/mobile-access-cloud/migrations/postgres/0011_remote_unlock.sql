-- Remote unlock (postgres dialect): the organization's policy, what each reader last told the
-- cloud of itself (when it polled, the nonces a phone may hear from it: a phone's proof of
-- proximity is one of them), and
-- the commands waiting for readers.

ALTER TABLE organizations ADD COLUMN remote_unlock TEXT NOT NULL DEFAULT 'off'
    CHECK (remote_unlock IN ('off', 'allowed', 'proximity_required'));

ALTER TABLE readers ADD COLUMN last_seen_at BIGINT;
-- The nonces the reader announced with its last poll (the previous, the current and the next
-- ones it will advertise) and with the poll before (a phone may have heard one of those just
-- before the last poll), lowercase hex, comma-separated.
ALTER TABLE readers ADD COLUMN nonces TEXT;
ALTER TABLE readers ADD COLUMN previous_nonces TEXT;

CREATE TABLE reader_commands (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    reader_id TEXT NOT NULL REFERENCES readers (id) ON DELETE CASCADE,
    door_id TEXT NOT NULL REFERENCES doors (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('open')),
    issued_at BIGINT NOT NULL,
    -- Until when (Unix milliseconds) a reader may act on it.
    expires_ms BIGINT NOT NULL,
    -- NULL while waiting (every poll of the reader gets it until then: a poll whose connection
    -- died may have taken it); then what the reader did, or 'expired' when the member stopped
    -- waiting first.
    outcome TEXT CHECK (outcome IN ('opened', 'expired', 'failed')),
    done_at BIGINT
);
CREATE INDEX reader_commands_waiting ON reader_commands (reader_id, issued_at) WHERE outcome IS NULL;
