DROP TABLE client_allowed_scopes;
DROP TABLE api_scopes;
DROP TABLE apis;
DROP TABLE client_roles;
DROP TABLE client_allowed_groups;
DROP TABLE group_members;
DROP TABLE groups;
ALTER TABLE users DROP COLUMN email_verified;
