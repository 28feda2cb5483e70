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
BUILD_ARGS="--example code_exchange_load"
# shellcheck source=benches/server.sh
source "$(dirname "$0")/server.sh"
DRIVER=${DRIVER:-$CARGO_TARGET_DIR/release/examples/code_exchange_load}
REDIRECT="http://127.0.0.1:9/callback"
PASSWORD="Flow-Bench-Quarry-Meadow-58"

# SERVER_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 tries another allocator in the server alone.
start_server
printf '%s\n' "$PASSWORD" | "$PORTA" user add flowuser --email flow@example.com --password-stdin >/dev/null
ALG_ARGS=()
[[ $ALG != RS256 ]] && ALG_ARGS=(--id-token-alg "$ALG" --access-token-alg "$ALG")
WEB=$("$PORTA" --json client add --name flow-web --first-party --redirect-uri "$REDIRECT" "${ALG_ARGS[@]}")
echo "server $PORTA${SERVER_PRELOAD:+ (LD_PRELOAD=$SERVER_PRELOAD)}, client algorithm $ALG, RSS at rest $(rss VmRSS) MiB"

ARGS=(--issuer "$ISSUER" --client-id "$(json client_id <<<"$WEB")" --client-secret "$(json client_secret <<<"$WEB")"
    --redirect-uri "$REDIRECT" --username flowuser --password "$PASSWORD" --concurrency "$CONCURRENCY" --mode session)
"$DRIVER" "${ARGS[@]}" --seconds 3 >/dev/null # warm-up
for round in $(seq "$ROUNDS"); do
    echo "round $round: $("$DRIVER" "${ARGS[@]}" --seconds "$SECONDS_PER_ROUND")"
    sleep 2
done
echo "RSS after the runs $(rss VmRSS) MiB, peak $(rss VmHWM) MiB"
