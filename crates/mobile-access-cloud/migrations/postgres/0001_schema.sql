-- The access cloud's schema (PostgreSQL dialect; migrations/sqlite holds the same in SQLite's).
-- Flags are integers 0/1 and times Unix seconds on both, so one set of queries serves both.
-- Sealed columns hold AES-256-GCM output under the master key.

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    unlock_method TEXT NOT NULL CHECK (unlock_method IN ('native', 'branded_app')),
    -- When the unlock method last changed: the later switch-over migration keys on it.
    unlock_method_changed_at BIGINT,
    invitation_mail BIGINT NOT NULL,
    welcome_email BIGINT NOT NULL,
    mobile_access_enabled BIGINT NOT NULL,
    key_validity_secs BIGINT NOT NULL,
    revocation_epoch BIGINT NOT NULL DEFAULT 0,
    signing_key_sealed BYTEA NOT NULL,
    signing_public_key BYTEA NOT NULL,
    next_lock BIGINT NOT NULL DEFAULT 0,
    sync_generation BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE doors (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    lock_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, lock_id)
);

CREATE TABLE readers (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    door_id TEXT NOT NULL REFERENCES doors (id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('tap', 'range')),
    tamper_protection BIGINT NOT NULL,
    tap_rssi_threshold BIGINT NOT NULL,
    tx_power BIGINT NOT NULL,
    relay_open_ms BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    key_seed_sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX readers_door ON readers (door_id);

CREATE TABLE access_groups (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE access_group_doors (
    group_id TEXT NOT NULL REFERENCES access_groups (id) ON DELETE CASCADE,
    door_id TEXT NOT NULL REFERENCES doors (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, door_id)
);

CREATE TABLE members (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    external_id TEXT,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'not_confirmed')),
    managed BIGINT NOT NULL,
    password_hash BYTEA,
    invitation_hash BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, external_id)
);
CREATE INDEX members_email ON members (email);
CREATE UNIQUE INDEX members_invitation ON members (invitation_hash);

CREATE TABLE member_access_groups (
    member_id TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES access_groups (id) ON DELETE CASCADE,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, group_id)
);
CREATE INDEX member_access_groups_group ON member_access_groups (group_id);

CREATE TABLE api_tokens (
    hash BYTEA PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'integration', 'member')),
    member_id TEXT REFERENCES members (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);

-- Mobile keys (one row per member and device key), key fobs, cards; 'wallet_pass' is reserved.
CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('mobile_key', 'key_fob', 'card', 'wallet_pass')),
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    device_public_key BYTEA,
    number TEXT,
    created_at BIGINT NOT NULL,
    last_issued_at BIGINT,
    UNIQUE (member_id, device_public_key)
);
CREATE INDEX credentials_org ON credentials (org_id);

-- Every signed credential handed out, for audit and (later) revocation lists.
CREATE TABLE issued_credentials (
    id TEXT PRIMARY KEY,
    credential_id TEXT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    revocation_epoch BIGINT NOT NULL,
    locks TEXT NOT NULL
);
CREATE INDEX issued_credentials_credential ON issued_credentials (credential_id);

CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_org ON outbox (org_id, id);

CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (org_id, id);
