#!/usr/bin/env bash
# The code flow with a live session (issue 14): eight signed-in browsers loop `GET /authorize` (answered with a
# code at once) then `POST /token` (code + PKCE; an ID token and an access token signed). Prints flows/s, the
# latency of a whole flow (p50, p99) and of the `/authorize` step alone, and the server's resident memory.
#
#   benches/code-flow.sh                       # RS256 client, 3 rounds of 20 s, 8 browsers
#   ALG=ES256 benches/code-flow.sh             # the client's ID and access tokens signed with ES256 (or EdDSA)
#   PORTA=/path/to/porta benches/code-flow.sh  # another build of the server (the driver stays the same)
#
# Release builds into $CARGO_TARGET_DIR (default ~/.cache/porta-target); SKIP_BUILD=1 uses what is there. The
# server runs on a throwaway SQLite database and logs at `warn`. The driver shares the two cores with the server.
set -euo pipefail

SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-20}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-8}
ALG=${ALG:-RS256}
PORT=${PORT:-18085}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/porta-target}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${SKIP_BUILD:-} ]]; then
    (cd "$ROOT" && cargo build --release --quiet --bin porta --example code_exchange_load)
fi
PORTA=${PORTA:-$CARGO_TARGET_DIR/release/porta}
DRIVER=${DRIVER:-$CARGO_TARGET_DIR/release/examples/code_exchange_load}

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
export PORTA_DATABASE_URL="sqlite://$WORK/porta.db" PORTA_MASTER_KEY_FILE="$WORK/master.key"
export PORTA_LISTEN="127.0.0.1:$PORT" PORTA_ISSUER="http://127.0.0.1:$PORT"
export PORTA_ADMIN_PASSWORD="Flow-Bench-Harbor-Lantern-31" PORTA_LOGIN__MAX_FAILURES=100000
export RUST_LOG=${RUST_LOG:-warn}
ISSUER=$PORTA_ISSUER
REDIRECT="http://127.0.0.1:9/callback"
PASSWORD="Flow-Bench-Quarry-Meadow-58"

# SERVER_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 tries another allocator in the server alone.
env ${SERVER_PRELOAD:+LD_PRELOAD=$SERVER_PRELOAD} "$PORTA" serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -fs "$ISSUER/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "$ISSUER/readyz" >/dev/null || { cat "$WORK/serve.log"; exit 1; }
printf '%s\n' "$PASSWORD" | "$PORTA" user add flowuser --email flow@example.com --password-stdin >/dev/null
ALG_ARGS=()
[[ $ALG != RS256 ]] && ALG_ARGS=(--id-token-alg "$ALG" --access-token-alg "$ALG")
WEB=$("$PORTA" --json client add --name flow-web --first-party --redirect-uri "$REDIRECT" "${ALG_ARGS[@]}")
json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
rss() { awk "/^$1/ {print int(\$2 / 1024)}" "/proc/$SERVER_PID/status"; }
echo "server $PORTA${SERVER_PRELOAD:+ (LD_PRELOAD=$SERVER_PRELOAD)}, client algorithm $ALG, RSS at rest $(rss VmRSS) MiB"

ARGS=(--issuer "$ISSUER" --client-id "$(json client_id <<<"$WEB")" --client-secret "$(json client_secret <<<"$WEB")"
    --redirect-uri "$REDIRECT" --username flowuser --password "$PASSWORD" --concurrency "$CONCURRENCY" --mode session)
"$DRIVER" "${ARGS[@]}" --seconds 3 >/dev/null # warm-up
for round in $(seq "$ROUNDS"); do
    echo "round $round: $("$DRIVER" "${ARGS[@]}" --seconds "$SECONDS_PER_ROUND")"
    sleep 2
done
echo "RSS after the runs $(rss VmRSS) MiB, peak $(rss VmHWM) MiB"
