-- Login by an indexed email: the normalized form (trimmed, ASCII lower case, as the cloud computes it
-- in `crypto::normalize_email`) is stored so login is one index lookup instead of a scan of
-- lower(email) over every member. Existing rows are filled here; the cloud writes it with every
-- insert and email change from now on.
ALTER TABLE members ADD COLUMN email_normalized TEXT NOT NULL DEFAULT '';
-- ASCII-only lower case, as SQLite's lower() and the cloud's normalization do.
UPDATE members SET email_normalized = translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
CREATE INDEX members_email_normalized ON members (email_normalized);
