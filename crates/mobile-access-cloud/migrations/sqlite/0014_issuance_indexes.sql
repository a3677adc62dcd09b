-- Fewer index entries per key issuance (sqlite dialect). Each issuance wrote its credentials
-- into two indexes keyed at random (the credential id, and the device binding), and its audit
-- entry into the uploaded-event index although it has no event id. Every such entry is a page
-- of its own that the commit writes: they set the rate of key issuance.
--
-- Issued credentials are found by their binding (revoking a mobile key or a member, a pass's
-- locks) and pruned by expiry, never by their id alone: keyed by (binding, id), one index serves
-- both the uniqueness and the lookups. Ids are random 16 bytes, so unique per binding is unique.
CREATE TABLE issued_credentials_keyed (
    id TEXT NOT NULL,
    credential_id TEXT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    revocation_epoch INTEGER NOT NULL,
    locks TEXT NOT NULL,
    PRIMARY KEY (credential_id, id)
);
INSERT INTO issued_credentials_keyed (id, credential_id, not_before, not_after, revocation_epoch, locks)
    SELECT id, credential_id, not_before, not_after, revocation_epoch, locks FROM issued_credentials;
DROP TABLE issued_credentials;
ALTER TABLE issued_credentials_keyed RENAME TO issued_credentials;
CREATE INDEX issued_credentials_not_after ON issued_credentials (not_after);

-- Only uploaded events carry an event id; the entries the cloud writes itself stay out.
DROP INDEX audit_log_event;
CREATE UNIQUE INDEX audit_log_event ON audit_log (org_id, event_id) WHERE event_id IS NOT NULL;
