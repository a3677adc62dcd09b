-- Retention (sqlite dialect): what the pruning job deletes by time is found by index, not by scanning
-- tables that only grow (every key issued, every session, every audit entry, every mail sent).
CREATE INDEX issued_credentials_not_after ON issued_credentials (not_after);
CREATE INDEX api_tokens_expires ON api_tokens (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX outbox_failed ON outbox (failed_at) WHERE failed_at IS NOT NULL;
