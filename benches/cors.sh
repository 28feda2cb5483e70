#!/usr/bin/env bash
# What a CORS preflight costs (issue 13), against a release build of `porta serve` on SQLite.
#
#   benches/cors.sh                    # defaults: 2,000 clients with a web origin each, 10 s runs, 32 connections
#   CLIENTS=10000 DURATION=20 benches/cors.sh
#
# A preflight names no client, so it is answered from every client's web origins, which each instance keeps in
# memory (`oidc::cors::WebOrigins`) and re-reads at most every `key_refresh_interval`. This script measures:
#   1. `OPTIONS /token` from a registered origin (answered from memory) with wrk;
#   2. `GET /readyz`, one database round trip per request: what a query per preflight would cost at least;
#   3. `GET /.well-known/openid-configuration`, bytes from memory: the ceiling;
#   4. the reload itself: the one query (`SELECT web_origins FROM clients WHERE web_origins <> '[]'`) over CLIENTS
#      clients, timed in sqlite3 (best of 5).
#
# Needs: wrk, sqlite3, curl, python3, cargo. SKIP_BUILD=1 uses the release binary already in $CARGO_TARGET_DIR.
set -euo pipefail

CLIENTS=${CLIENTS:-2000}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18081}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/porta-target}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

for tool in wrk sqlite3 curl python3; do
    command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 1; }
done
if [[ -z ${SKIP_BUILD:-} ]]; then
    (cd "$ROOT" && cargo build --release --quiet --bin porta)
fi
PORTA=$CARGO_TARGET_DIR/release/porta

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

export PORTA_DATABASE_URL="sqlite://$WORK/porta.db"
export PORTA_MASTER_KEY_FILE="$WORK/master.key"
export PORTA_LISTEN="127.0.0.1:$PORT"
export PORTA_ISSUER="http://127.0.0.1:$PORT"
export PORTA_ADMIN_PASSWORD="Load-Test-Harbor-Lantern-31"
export RUST_LOG=${RUST_LOG:-warn}
ISSUER=$PORTA_ISSUER
ORIGIN="https://app.example.com"

"$PORTA" migrate >/dev/null
"$PORTA" client add --name spa --public --redirect-uri https://app.example.com/cb --web-origin "$ORIGIN" >/dev/null
# CLIENTS more, each with its own origin: copies of the first row (faster than one CLI run per client).
python3 - "$WORK/porta.db" "$CLIENTS" <<'PY'
import sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
c.row_factory = sqlite3.Row
row = dict(c.execute("SELECT * FROM clients WHERE name = 'spa'").fetchone())
cols = list(row)
rows = []
for i in range(n):
    r = dict(row, id=f"bulk-{i}", name=f"bulk-{i}", web_origins=f'["https://app{i}.example.com"]')
    rows.append([r[k] for k in cols])
c.executemany(f"INSERT INTO clients ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", rows)
c.commit()
PY
echo "== $((CLIENTS + 1)) clients with a web origin each"

"$PORTA" serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -fs "$ISSUER/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "$ISSUER/readyz" >/dev/null || { cat "$WORK/serve.log"; exit 1; }

curl -s -o /dev/null -D - -X OPTIONS "$ISSUER/token" -H "Origin: $ORIGIN" \
    -H "Access-Control-Request-Method: POST" | grep -i '^access-control-allow-origin' \
    || { echo "the preflight was not allowed" >&2; exit 1; }

cat >"$WORK/report.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("rps=%.0f p50=%.2fms p99=%.2fms non-2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status))
end
LUA
cat >"$WORK/preflight.lua" <<LUA
wrk.method = "OPTIONS"
wrk.headers["Origin"] = "$ORIGIN"
wrk.headers["Access-Control-Request-Method"] = "POST"
wrk.headers["Access-Control-Request-Headers"] = "authorization,dpop"
$(cat "$WORK/report.lua")
LUA
run() { # name script url
    wrk -t1 -c"$CONNECTIONS" -d3s -s "$2" "$3" >/dev/null
    sleep 2
    printf '%-34s ' "$1"
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$2" "$3" | grep '^rps='
    sleep 3
}
run "OPTIONS /token (from memory)" "$WORK/preflight.lua" "$ISSUER/token"
run "GET /readyz (one DB round trip)" "$WORK/report.lua" "$ISSUER/readyz"
run "GET discovery (bytes in memory)" "$WORK/report.lua" "$ISSUER/.well-known/openid-configuration"

echo "== the reload query over $((CLIENTS + 1)) clients (sqlite3, best of 5)"
for _ in 1 2 3 4 5; do
    printf ".timer on\nSELECT sum(length(web_origins)) FROM clients WHERE web_origins <> '[]';\n" \
        | sqlite3 "$WORK/porta.db" | grep -o 'real [0-9.]*'
done | sort -k2 -n | head -1
