#!/usr/bin/env bash
# Porta's signing speed per key family against `openssl speed` on this machine, one core each (issue 14, item 5).
#
#   benches/signing-vs-openssl.sh            # openssl, the criterion bench, openssl again; then the ratios
#   SECONDS_PER_ALG=10 benches/signing-vs-openssl.sh
#
# Both sides are timed by the wall clock (`openssl speed -elapsed`; criterion always is), so other load on the
# machine lowers both alike; the script prints the load average before and after. The openssl figure used is the
# higher of the two runs (load only ever lowers it). Porta's figure is `keyset_sign`: a whole compact JWS (header,
# claims serialization, base64url, signature) of a typical ID token through the in-memory key set, while openssl
# signs a bare digest, so a ratio near 1 means the JWT work around the signature is nearly free.
#
# Needs: openssl, python3, cargo. Uses $CARGO_TARGET_DIR (default target/).
set -euo pipefail

SECONDS_PER_ALG=${SECONDS_PER_ALG:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

openssl_rates() {
    # Summary lines: "rsa 2048 bits 0.000118s 0.000003s   8474.6 289000.1" and
    # " 256 bits ecdsa (nistp256)   0.0000s   0.0000s  66434.2  23216.7" (sign/s is the second last column).
    openssl speed -elapsed -seconds "$SECONDS_PER_ALG" rsa2048 ecdsap256 ed25519 2>/dev/null | awk '
        /^rsa 2048 bits/ {print "RS256", $(NF-1)}
        /ecdsa \(nistp256\)/ {print "ES256", $(NF-1)}
        /EdDSA \(Ed25519\)/ {print "EdDSA", $(NF-1)}'
}

echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== openssl speed -elapsed -seconds $SECONDS_PER_ALG rsa2048 ecdsap256 ed25519"
BEFORE=$(openssl_rates)
echo "$BEFORE"
echo "== cargo bench --bench signing -- keyset_sign"
(cd "$ROOT" && cargo bench --quiet --bench signing -- keyset_sign >/dev/null)
echo "== openssl again"
AFTER=$(openssl_rates)
echo "$AFTER"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$TARGET/criterion" "$BEFORE" "$AFTER" <<'PY'
import json, sys
root, before, after = sys.argv[1], sys.argv[2], sys.argv[3]
def rates(text):
    return {a: float(r) for a, r in (line.split() for line in text.strip().splitlines())}
ossl = {a: max(r, rates(after).get(a, 0)) for a, r in rates(before).items()}
groups = {"RS256": "rs256_id_token_2048", "ES256": "es256_id_token_p256", "EdDSA": "eddsa_id_token_ed25519"}
print(f"{'alg':<6} {'porta JWS/s':>12} {'openssl sign/s':>15} {'ratio':>6}")
for alg, group in groups.items():
    with open(f"{root}/{group}/keyset_sign/new/estimates.json") as f:
        ns = json.load(f)["mean"]["point_estimate"]
    porta = 1e9 / ns
    print(f"{alg:<6} {porta:>12.0f} {ossl[alg]:>15.0f} {porta / ossl[alg]:>6.2f}")
PY
