-- Owner verification (postgres dialect): a door that requires it opens only for a credential
-- bound to the phone's owner key, which the phone's OS releases only after biometric or passcode.
ALTER TABLE doors ADD COLUMN owner_verification BIGINT NOT NULL DEFAULT 0;
