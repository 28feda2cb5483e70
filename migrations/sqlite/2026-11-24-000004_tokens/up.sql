-- What a refresh token carries into the tokens minted from it, and the access token issued beside it so that
-- revoking the family (reuse of a rotated token, a replayed code, RFC 7009 revocation) revokes that too.
ALTER TABLE refresh_tokens ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN access_jti TEXT;
ALTER TABLE refresh_tokens ADD COLUMN access_expires_at BIGINT;
CREATE INDEX revoked_jtis_expires ON revoked_jtis (expires_at);
