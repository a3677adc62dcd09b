-- The console's sessions, kept for tower-sessions (sqlite dialect): what a session holds (who
-- signed in, the token its forms carry) is the crate's record, stored as JSON, instead of
-- columns of ours. Sessions of the previous shape are dropped: everyone signs in again once.

DROP TABLE console_sessions;

-- A session: the SHA-256 of its cookie's id (a copy of the database signs nobody in), its
-- record's data as JSON, and when it ends. Retention deletes the rows past their end.
CREATE TABLE console_sessions (
    hash BLOB PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
