-- An API token now lives for a chosen number of days (90 unless asked otherwise, at most
-- 365) and can be revoked by its user or an administrator: a leaked token no longer works
-- forever. Tokens made before get 90 days from when they were made.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
UPDATE api_tokens SET expires_at = created_at + 7776000000 WHERE expires_at IS NULL;
