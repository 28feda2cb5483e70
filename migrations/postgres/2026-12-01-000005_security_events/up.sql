-- Security events reach every session, token and relying party (issue 10).

-- Access tokens issued before this instant are refused by userinfo and introspection (password set, disable).
ALTER TABLE users ADD COLUMN credentials_changed_at BIGINT NOT NULL DEFAULT 0;

-- The session's sid (the ID token's), mirrored from its state: online refresh tokens and back-channel logout
-- follow the SSO session by it.
ALTER TABLE sessions ADD COLUMN sid TEXT;
CREATE INDEX sessions_sid ON sessions (sid);

-- Offline tokens (offline_access granted) survive sign-out; online ones die with their session. Every family
-- has an absolute end that rotation never extends.
ALTER TABLE refresh_tokens ADD COLUMN offline BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE refresh_tokens ADD COLUMN family_expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE refresh_tokens SET family_expires_at = expires_at;
CREATE INDEX refresh_tokens_sid ON refresh_tokens (sid);
CREATE INDEX refresh_tokens_user_client ON refresh_tokens (user_id, client_id);

-- OIDC Back-Channel Logout 1.0 registration, and per-client PKCE.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN require_pkce BOOLEAN NOT NULL DEFAULT FALSE;

-- Which clients got a code in which SSO session: they are told when it ends.
CREATE TABLE session_clients (
    sid TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    first_at BIGINT NOT NULL,
    PRIMARY KEY (sid, client_id)
);
CREATE INDEX session_clients_user ON session_clients (user_id);

-- Logout tokens waiting for delivery (a durable outbox). A worker claims a due row for a short lease, so exactly
-- one instance sends it; failures are retried with backoff until max attempts.
CREATE TABLE logout_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    jti TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT,
    delivered_at BIGINT,
    failed_at BIGINT,
    last_error TEXT
);
CREATE INDEX logout_outbox_due ON logout_outbox (delivered_at, failed_at, next_attempt_at);
CREATE INDEX logout_outbox_client ON logout_outbox (client_id, created_at);
