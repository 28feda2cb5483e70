-- Multi-factor sign-in (issue 11): second factors, recovery codes, and clients that demand them.

-- A user's enrolled factors: `totp` (RFC 6238 secret, base32) or `webauthn` (a passkey or security key, stored as
-- webauthn-rs's serialized credential and found by its credential id).
CREATE TABLE mfa_factors (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    secret TEXT,
    credential_id TEXT UNIQUE,
    credential TEXT,
    -- TOTP: the last time step accepted (a code is accepted once).
    last_step BIGINT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX mfa_factors_user ON mfa_factors (user_id);

-- Single-use recovery codes, stored as SHA-256 hashes.
CREATE TABLE recovery_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;
