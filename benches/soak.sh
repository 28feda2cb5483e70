#!/usr/bin/env bash
# Soak test (issue 7): a release `porta serve` under a fixed request rate for a fixed time, sampling its resident
# memory, to show zero errors and flat memory. Also a short maximum-throughput pass over discovery, JWKS
# (200 and 304) and client_credentials, with the peak RSS.
#
#   benches/soak.sh                          # 10 minutes at 300 req/s (200 client_credentials + 100 JWKS)
#   SOAK_SECONDS=60 CC_RATE=100 benches/soak.sh
#
# Needs: wrk and hey (`apt-get install -y wrk hey`), curl, python3, cargo. Builds into $CARGO_TARGET_DIR; set
# SKIP_BUILD=1 to use the release binary already there. Uses a throwaway SQLite database.
set -euo pipefail

SOAK_SECONDS=${SOAK_SECONDS:-600}
CC_RATE=${CC_RATE:-200}
JWKS_RATE=${JWKS_RATE:-100}
BURST_SECONDS=${BURST_SECONDS:-15}
PORT=${PORT:-18090}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/porta-target}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for tool in wrk hey curl python3; do
    command -v $tool >/dev/null || { echo "$tool is missing: apt-get install -y wrk hey curl python3" >&2; exit 1; }
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
export PORTA_DATABASE_URL="sqlite://$WORK/porta.db" PORTA_MASTER_KEY_FILE="$WORK/master.key"
export PORTA_LISTEN="127.0.0.1:$PORT" PORTA_ISSUER="http://127.0.0.1:$PORT" PORTA_ADMIN_PASSWORD="Soak-Test-Orchid-Glacier-64"
export RUST_LOG=${RUST_LOG:-warn}
ISSUER=$PORTA_ISSUER

"$PORTA" serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -fs "$ISSUER/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "$ISSUER/readyz" >/dev/null || { cat "$WORK/serve.log"; exit 1; }
SERVICE=$("$PORTA" --json client add --name soak-service --grant-type client_credentials)
json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
ID=$(json client_id <<<"$SERVICE"); SECRET=$(json client_secret <<<"$SERVICE")
BASIC=$(printf '%s:%s' "$ID" "$SECRET" | base64 -w0)
ETAG=$(curl -si "$ISSUER/jwks.json" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status"; }

echo "== maximum throughput, ${BURST_SECONDS}s each (wrk -t1 -c32)"
cat >"$WORK/cc.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
LUA
cat >"$WORK/etag.lua" <<LUA
wrk.headers["If-None-Match"] = '$ETAG'
LUA
burst() { # name, url, [script]
    local out
    out=$(wrk -t1 -c32 -d"${BURST_SECONDS}s" --latency ${3:+-s "$3"} "$2")
    python3 - "$1" <<PY
import re, sys
out = """$out"""
rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
def pct(p):
    m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % p, out)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print(f"{sys.argv[1]:<28} {float(rps):>9.0f} req/s  p50 {pct(50):6.2f} ms  p99 {pct(99):6.2f} ms  errors {non2xx.group(1) if non2xx else 0}")
PY
}
burst "discovery" "$ISSUER/.well-known/openid-configuration"
burst "jwks.json (200)" "$ISSUER/jwks.json"
burst "jwks.json (304)" "$ISSUER/jwks.json" "$WORK/etag.lua"
burst "token client_credentials" "$ISSUER/token" "$WORK/cc.lua"
echo "peak RSS after the bursts: $(( $(hwm_kb) / 1024 )) MiB"

echo "== soak: ${SOAK_SECONDS}s at ${CC_RATE} client_credentials/s + ${JWKS_RATE} JWKS/s"
hey -z "${SOAK_SECONDS}s" -c 10 -q $((CC_RATE / 10)) -m POST -T application/x-www-form-urlencoded \
    -H "Authorization: Basic $BASIC" -d "grant_type=client_credentials" "$ISSUER/token" >"$WORK/hey-cc.txt" &
CC_PID=$!
hey -z "${SOAK_SECONDS}s" -c 5 -q $((JWKS_RATE / 5)) "$ISSUER/jwks.json" >"$WORK/hey-jwks.txt" &
JWKS_PID=$!
START_RSS=$(rss_kb)
echo "t=0s rss=$((START_RSS / 1024)) MiB"
SAMPLES=()
for ((t = 60; t <= SOAK_SECONDS; t += 60)); do
    sleep 60
    r=$(rss_kb); SAMPLES+=("$r")
    echo "t=${t}s rss=$((r / 1024)) MiB"
done
wait $CC_PID $JWKS_PID
for f in hey-cc hey-jwks; do
    echo "-- $f"
    grep -E "Requests/sec|50% in|99% in|\[[0-9]+\]" "$WORK/$f.txt" | sed 's/^ */  /'
    grep -A3 "Error distribution" "$WORK/$f.txt" || echo "  no errors"
done
END_RSS=$(rss_kb)
echo "rss start $((START_RSS / 1024)) MiB, end $((END_RSS / 1024)) MiB, peak $(( $(hwm_kb) / 1024 )) MiB"
grep -c " ERROR " "$WORK/serve.log" | sed 's/^/server ERROR lines: /' || true
