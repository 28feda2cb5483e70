-- Key families (RS256, ES256, EdDSA): rows keep their `alg` (every existing row is RS256); EC and Ed25519 keys
-- publish `x` (and `y` for EC) instead of the RSA `n` and `e`, which they leave empty.
ALTER TABLE signing_keys ADD COLUMN public_x TEXT;
ALTER TABLE signing_keys ADD COLUMN public_y TEXT;
CREATE INDEX signing_keys_alg ON signing_keys (alg, activates_at);
