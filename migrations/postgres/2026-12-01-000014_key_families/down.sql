DROP INDEX signing_keys_alg;
DELETE FROM signing_keys WHERE alg <> 'RS256';
ALTER TABLE signing_keys DROP COLUMN public_y;
ALTER TABLE signing_keys DROP COLUMN public_x;
