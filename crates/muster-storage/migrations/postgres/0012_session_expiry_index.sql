-- Signing out also deletes every expired session (`Database::end_session`): without an
-- index on the expiry that was a scan of every session, by every sign-out.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
