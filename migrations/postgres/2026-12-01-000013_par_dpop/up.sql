-- Pushed authorization requests (RFC 9126): the validated parameters a client pushed, found by the SHA-256 of the
-- random part of their request_uri, single use (deleted when /authorize takes them) and short-lived.
CREATE TABLE pushed_requests (
    uri_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pushed_requests_expires ON pushed_requests (expires_at);

-- DPoP proofs seen (RFC 9449 11.1): the SHA-256 of key thumbprint and jti, kept until the proof's iat is out of
-- the accepted window. Shared by every instance; a second insert of the same proof is a replay.
CREATE TABLE dpop_jtis (
    jti_hash TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_jtis_expires ON dpop_jtis (expires_at);

-- The DPoP key (RFC 7638 thumbprint) a public client's refresh-token family is bound to (RFC 9449 5).
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;

-- The DPoP key an authorization code is bound to by the `dpop_jkt` authorization parameter (RFC 9449 10).
ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT;
