-- The operator's web console (sqlite dialect): its administrators, their sessions, what the readers
-- page shows about each reader's link, and the index the members list pages and searches by.

-- An organization's administrators who sign in to the console with an email and a password
-- (PBKDF2, like members'). An email signs in to one organization: the sign-in form needs no
-- organization, and an administrator of two uses two addresses.
CREATE TABLE console_admins (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    name TEXT NOT NULL,
    password_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (email_normalized)
);
CREATE INDEX console_admins_org ON console_admins (org_id);

-- A signed-in browser: the cookie holds a random token, the table its SHA-256. The CSRF token
-- every form of the session carries is stored with it.
CREATE TABLE console_sessions (
    hash BLOB PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    admin_id TEXT NOT NULL REFERENCES console_admins (id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- When the reader last polled or uploaded: online or offline, and its last contact.
ALTER TABLE readers ADD COLUMN last_contact_at INTEGER;

-- The console's member list: keyset pages by id, searched and filtered from the index alone
-- (a search that matches nobody reads 100,000 index entries in order, not 100,000 table rows).
CREATE INDEX members_console ON members (org_id, id, status, managed, name, email);
-- How many are not confirmed yet, and their pages.
CREATE INDEX members_org_status ON members (org_id, status, id);
-- A reader's recent attempts, newest first.
CREATE INDEX audit_log_org_actor ON audit_log (org_id, actor, id);
