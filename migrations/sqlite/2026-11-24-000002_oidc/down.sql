DROP TABLE login_failures;
DROP TABLE revoked_jtis;
DROP TABLE refresh_tokens;
DROP TABLE consents;
DROP TABLE auth_codes;
DROP TABLE sessions;
DROP TABLE signing_keys;
