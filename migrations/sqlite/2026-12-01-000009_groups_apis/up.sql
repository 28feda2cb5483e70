-- Who may do what (issue 12): groups of users, the groups a client admits, app roles granted by groups, and
-- APIs (resource servers) with their own scopes, which clients may be allowed.

-- Whether the user's email address is known to be theirs (`email_verified`), set by an admin.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT 0;

CREATE TABLE groups (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- No row for a client: everyone may sign in to it.
CREATE TABLE client_allowed_groups (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, group_id)
);

-- A member of group_id has role in client_id.
CREATE TABLE client_roles (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, role, group_id)
);

CREATE TABLE apis (
    id TEXT PRIMARY KEY NOT NULL,
    identifier TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Scope names are unique across every API.
CREATE TABLE api_scopes (
    scope TEXT PRIMARY KEY NOT NULL,
    api_id TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    description TEXT
);
CREATE INDEX api_scopes_api ON api_scopes (api_id);

CREATE TABLE client_allowed_scopes (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope TEXT NOT NULL REFERENCES api_scopes (scope) ON DELETE CASCADE,
    PRIMARY KEY (client_id, scope)
);
