DROP INDEX revoked_jtis_expires;
ALTER TABLE refresh_tokens DROP COLUMN access_expires_at;
ALTER TABLE refresh_tokens DROP COLUMN access_jti;
ALTER TABLE refresh_tokens DROP COLUMN amr;
