-- The device authorization grant (RFC 8628): one row per device_authorization request. Both codes are stored as
-- SHA-256 hashes (the user code normalized: upper case, no dash). status: pending, approved, denied or used; an
-- approval records the user and the sign-in (sid, amr, auth_time) as an authorization code does. poll_interval
-- and last_polled_at pace the device's polling (slow_down adds 5 s).
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY NOT NULL,
    user_code_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    status TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    sid TEXT,
    amr TEXT,
    auth_time BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    poll_interval BIGINT NOT NULL,
    last_polled_at BIGINT,
    decided_at BIGINT
);
CREATE INDEX device_codes_expires ON device_codes (expires_at);
