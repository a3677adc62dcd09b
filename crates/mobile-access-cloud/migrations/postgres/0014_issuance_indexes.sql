-- Fewer index entries per key issuance (postgres dialect). Each issuance wrote its credentials
-- into two indexes keyed at random (the credential id, and the device binding), and its audit
-- entry into the uploaded-event index although it has no event id. Every such entry is a page
-- of its own that the commit writes: they set the rate of key issuance.
--
-- Issued credentials are found by their binding (revoking a mobile key or a member, a pass's
-- locks) and pruned by expiry, never by their id alone: keyed by (binding, id), one index serves
-- both the uniqueness and the lookups. Ids are random 16 bytes, so unique per binding is unique.
ALTER TABLE issued_credentials DROP CONSTRAINT issued_credentials_pkey;
DROP INDEX issued_credentials_credential;
ALTER TABLE issued_credentials ADD PRIMARY KEY (credential_id, id);

-- Only uploaded events carry an event id; the entries the cloud writes itself stay out.
DROP INDEX audit_log_event;
CREATE UNIQUE INDEX audit_log_event ON audit_log (org_id, event_id) WHERE event_id IS NOT NULL;
