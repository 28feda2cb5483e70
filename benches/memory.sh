#!/usr/bin/env bash
# Resident memory of `porta serve` where it grows (issue 14): at rest, under sustained client_credentials load
# at 32 and at 256 connections, and through a burst of concurrent sign-ins (argon2, 19 MiB each while it runs).
# Each figure is the peak (VmHWM) at the end of that phase, phases in that order on one server.
#
#   benches/memory.sh                          # 20 s per load, a burst of 50 sign-ins
#   ALG=ES256 benches/memory.sh                # the service client's tokens signed with ES256 (or EdDSA)
#   PORTA=/path/to/porta benches/memory.sh     # another build; LD_PRELOAD=... to try another allocator
#
# Needs wrk, curl and python3 with requests. SKIP_BUILD=1 uses the release binary already in $CARGO_TARGET_DIR.
set -euo pipefail

LOAD_SECONDS=${LOAD_SECONDS:-20}
SIGN_INS=${SIGN_INS:-50}
ALG=${ALG:-RS256}
PORT=${PORT:-18086}
# shellcheck source=benches/server.sh
source "$(dirname "$0")/server.sh"
PASSWORD="Memory-Bench-Quarry-Meadow-58"

# The allocator override applies to the server only, never to the CLI or curl.
start_server
printf '%s\n' "$PASSWORD" | "$PORTA" user add memuser --email mem@example.com --password-stdin >/dev/null
ALG_ARGS=()
[[ $ALG != RS256 ]] && ALG_ARGS=(--access-token-alg "$ALG")
SERVICE=$("$PORTA" --json client add --name mem-service --grant-type client_credentials "${ALG_ARGS[@]}")
BASIC=$(printf '%s:%s' "$(json client_id <<<"$SERVICE")" "$(json client_secret <<<"$SERVICE")" | base64 -w0)
# What RSS holds now: anonymous memory (heap, stacks) and the pages of the binary and libraries it maps (clean,
# shared with the page cache, reclaimable).
split() { echo "anonymous $(rss RssAnon) MiB + file $(rss RssFile) MiB"; }
sleep 2
echo "server $PORTA${SERVER_PRELOAD:+ (LD_PRELOAD=$SERVER_PRELOAD)}, algorithm $ALG"
echo "at rest:                 RSS $(rss VmRSS) MiB ($(split))"

cat >"$WORK/cc.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
done = function(summary, latency, requests)
  io.write(string.format("%.0f req/s p50 %.2f ms p99 %.2f ms errors %d",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
for c in 32 256; do
    out=$(wrk -t1 -c"$c" -d"${LOAD_SECONDS}s" -s "$WORK/cc.lua" "$ISSUER/token" | tail -1)
    printf 'client_credentials c=%-4s peak RSS %s MiB (%s; now %s)\n' "$c" "$(rss VmHWM)" "$out" "$(split)"
done

python3 - "$ISSUER" "$SIGN_INS" "$PASSWORD" <<'PY'
import re, sys, threading, requests
issuer, n, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
forms = []
for _ in range(n):
    s = requests.Session()
    html = s.get(f"{issuer}/login").text
    forms.append((s, re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)))
ok = []
barrier = threading.Barrier(n)
def sign_in(s, csrf):
    barrier.wait()
    r = s.post(f"{issuer}/login", data={"csrf_token": csrf, "username": "memuser", "password": password},
               allow_redirects=False)
    ok.append(r.status_code in (302, 303))
threads = [threading.Thread(target=sign_in, args=f) for f in forms]
for t in threads: t.start()
for t in threads: t.join()
print(f"sign-ins: {sum(ok)} of {n} signed in", end="")
PY
echo ", peak RSS $(rss VmHWM) MiB, RSS after $(rss VmRSS) MiB ($(split))"
