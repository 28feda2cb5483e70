-- Signing keys. States are derived from the timestamps (see src/keys/); sealed_private is AES-256-GCM under the
-- master key named by master_key_id, and becomes NULL when the key retires or is revoked.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    bits INTEGER NOT NULL,
    public_n TEXT NOT NULL,
    public_e TEXT NOT NULL,
    sealed_private BLOB,
    master_key_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    published_at BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    superseded_at BIGINT,
    revoked_at BIGINT,
    revoke_reason TEXT
);

-- Browser sessions (actix-session store). id is the SHA-256 of the cookie's session key.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    auth_time BIGINT,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Authorization codes, stored by hash, single use.
CREATE TABLE auth_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sid TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    access_jti TEXT,
    family_id TEXT
);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

-- Remembered consent: the scopes a user granted a client.
CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Refresh tokens, stored by hash. A family is every token rotated from one grant.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sid TEXT,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Access tokens (JWTs) revoked before they expire, by jti.
CREATE TABLE revoked_jtis (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Failed sign-ins, per account ("user:NAME") and per address ("ip:ADDR"), for throttling.
CREATE TABLE login_failures (
    id TEXT PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_subject ON login_failures (subject, at);
