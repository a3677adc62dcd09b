-- Wallet passes (postgres dialect): organization prerequisites, the device binding of each pass, and
-- why a revoked credential was revoked (for readers' logs and lights).

-- Single sign-on with multi-factor authentication, and an active wallet pass subscription: both
-- are prerequisites of wallet passes (set by an administrator).
ALTER TABLE organizations ADD COLUMN sso_mfa BIGINT NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN wallet_pass_subscription BIGINT NOT NULL DEFAULT 0;

-- One row per pass credential (credentials.kind = 'wallet_pass'): the iPhone it lives on and at
-- most one Apple Watch (bound only if the watch was unlocked during the add).
CREATE TABLE wallet_passes (
    credential_id TEXT PRIMARY KEY REFERENCES credentials (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    iphone_device_id TEXT NOT NULL,
    watch_device_id TEXT,
    added_at BIGINT NOT NULL
);
CREATE INDEX wallet_passes_member ON wallet_passes (member_id);

-- Why a listed credential was revoked (pass_suspended, pass_deleted, pass_superseded), when known.
ALTER TABLE revocations ADD COLUMN reason TEXT;
