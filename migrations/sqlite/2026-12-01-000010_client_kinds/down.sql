ALTER TABLE clients DROP COLUMN access_token_alg;
ALTER TABLE clients DROP COLUMN id_token_alg;
ALTER TABLE clients DROP COLUMN require_dpop;
ALTER TABLE clients DROP COLUMN require_par;
ALTER TABLE clients DROP COLUMN web_origins;
