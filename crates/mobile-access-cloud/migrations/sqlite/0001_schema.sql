-- The access cloud's schema (SQLite dialect; migrations/postgres holds the same in PostgreSQL's).
-- Flags are integers 0/1 and times Unix seconds on both, so one set of queries serves both.
-- Sealed columns hold AES-256-GCM output under the master key.

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    unlock_method TEXT NOT NULL CHECK (unlock_method IN ('native', 'branded_app')),
    -- When the unlock method last changed: the later switch-over migration keys on it.
    unlock_method_changed_at INTEGER,
    invitation_mail INTEGER NOT NULL,
    welcome_email INTEGER NOT NULL,
    mobile_access_enabled INTEGER NOT NULL,
    key_validity_secs INTEGER NOT NULL,
    revocation_epoch INTEGER NOT NULL DEFAULT 0,
    signing_key_sealed BLOB NOT NULL,
    signing_public_key BLOB NOT NULL,
    next_lock INTEGER NOT NULL DEFAULT 0,
    sync_generation INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE doors (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    lock_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, lock_id)
);

CREATE TABLE readers (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    door_id TEXT NOT NULL REFERENCES doors (id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('tap', 'range')),
    tamper_protection INTEGER NOT NULL,
    tap_rssi_threshold INTEGER NOT NULL,
    tx_power INTEGER NOT NULL,
    relay_open_ms INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    key_seed_sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX readers_door ON readers (door_id);

CREATE TABLE access_groups (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
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
    managed INTEGER NOT NULL,
    password_hash BLOB,
    invitation_hash BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, external_id)
);
CREATE INDEX members_email ON members (email);
CREATE UNIQUE INDEX members_invitation ON members (invitation_hash);

CREATE TABLE member_access_groups (
    member_id TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES access_groups (id) ON DELETE CASCADE,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, group_id)
);
CREATE INDEX member_access_groups_group ON member_access_groups (group_id);

CREATE TABLE api_tokens (
    hash BLOB PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'integration', 'member')),
    member_id TEXT REFERENCES members (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);

-- Mobile keys (one row per member and device key), key fobs, cards; 'wallet_pass' is reserved.
CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('mobile_key', 'key_fob', 'card', 'wallet_pass')),
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    device_public_key BLOB,
    number TEXT,
    created_at INTEGER NOT NULL,
    last_issued_at INTEGER,
    UNIQUE (member_id, device_public_key)
);
CREATE INDEX credentials_org ON credentials (org_id);

-- Every signed credential handed out, for audit and (later) revocation lists.
CREATE TABLE issued_credentials (
    id TEXT PRIMARY KEY,
    credential_id TEXT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    revocation_epoch INTEGER NOT NULL,
    locks TEXT NOT NULL
);
CREATE INDEX issued_credentials_credential ON issued_credentials (credential_id);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX outbox_org ON outbox (org_id, id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (org_id, id);
