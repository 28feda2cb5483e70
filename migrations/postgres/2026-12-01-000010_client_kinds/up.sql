-- Every kind of app (issue 13) and per-client signing algorithms (issue 14).
-- web_origins: origins (scheme://host[:port]) of a browser app allowed to call /token, /userinfo and /revoke
-- from JavaScript (CORS), as a JSON list like redirect_uris.
ALTER TABLE clients ADD COLUMN web_origins TEXT NOT NULL DEFAULT '[]';
-- Authorization requests only through a pushed request (RFC 9126).
ALTER TABLE clients ADD COLUMN require_par BOOLEAN NOT NULL DEFAULT FALSE;
-- Tokens only with a DPoP proof (RFC 9449).
ALTER TABLE clients ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT FALSE;
-- The key family that signs the client's ID tokens and access tokens.
ALTER TABLE clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'RS256';
ALTER TABLE clients ADD COLUMN access_token_alg TEXT NOT NULL DEFAULT 'RS256';
