-- Lifecycle (SQLite dialect; migrations/postgres holds the same in PostgreSQL's): the unlock
-- method switch-over job, revocation that reaches readers, reader tokens, uploaded offline audit.

-- Each reader authenticates its configuration polls and audit uploads with its own token
-- (returned once at provisioning, stored as SHA-256).
ALTER TABLE readers ADD COLUMN token_hash BLOB;
CREATE UNIQUE INDEX readers_token ON readers (token_hash);

-- The version of the signed revocation list: bumped whenever its content grows or the epoch rises.
ALTER TABLE organizations ADD COLUMN revocation_sequence INTEGER NOT NULL DEFAULT 0;

-- Revoked signed credentials until they expire (then readers refuse them anyway).
CREATE TABLE revocations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    not_after INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
);
CREATE INDEX revocations_org ON revocations (org_id, not_after);

-- A switch of the unlock method and its per-user progress. New member ids are chosen when the
-- job is created, so a step replayed after a crash recreates the same user, never a second one.
CREATE TABLE switch_jobs (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    target TEXT NOT NULL CHECK (target IN ('native', 'branded_app')),
    state TEXT NOT NULL CHECK (state IN ('running', 'done')),
    total INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE UNIQUE INDEX switch_jobs_running ON switch_jobs (org_id) WHERE state = 'running';

CREATE TABLE switch_job_members (
    job_id TEXT NOT NULL REFERENCES switch_jobs (id) ON DELETE CASCADE,
    old_member_id TEXT NOT NULL,
    new_member_id TEXT NOT NULL,
    external_id TEXT,
    done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, old_member_id)
);
CREATE INDEX switch_job_members_pending ON switch_job_members (job_id, done, old_member_id);
CREATE INDEX switch_job_members_new ON switch_job_members (job_id, new_member_id);

-- Which member a recreated member replaced, so their history stays linked.
CREATE TABLE member_lineage (
    old_member_id TEXT PRIMARY KEY,
    new_member_id TEXT NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    job_id TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX member_lineage_new ON member_lineage (new_member_id);

-- Events recorded elsewhere (readers, apps) and uploaded later carry a stable id: each is kept once.
ALTER TABLE audit_log ADD COLUMN event_id TEXT;
CREATE UNIQUE INDEX audit_log_event ON audit_log (org_id, event_id);
