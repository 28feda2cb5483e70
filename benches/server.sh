# Shared by the bench scripts (sourced, not run): a release `porta serve` on a throwaway SQLite database in a
# temp dir, stopped and removed on exit. Set PORT first; PORTA (the binary) defaults to the release build in
# $CARGO_TARGET_DIR, built unless SKIP_BUILD=1 (BUILD_ARGS adds cargo targets, e.g. an example).
# Provides: WORK, ISSUER, SERVER_PID, `start_server` (SERVER_PRELOAD=lib.so preloads an allocator into the
# server alone), `json FIELD` (from stdin), `rss VmRSS|VmHWM|RssAnon|RssFile` (MiB of the server).

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/porta-target}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${SKIP_BUILD:-} ]]; then
    # shellcheck disable=SC2086 # BUILD_ARGS is a list of cargo arguments
    (cd "$ROOT" && cargo build --release --quiet --bin porta ${BUILD_ARGS:-})
fi
PORTA=${PORTA:-$CARGO_TARGET_DIR/release/porta}

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
export PORTA_ADMIN_PASSWORD=${PORTA_ADMIN_PASSWORD:-"Bench-Admin-Harbor-Lantern-31"}
# Parallel sign-ins from one address must not be taken for guessing.
export PORTA_LOGIN__MAX_FAILURES=${PORTA_LOGIN__MAX_FAILURES:-100000}
export RUST_LOG=${RUST_LOG:-warn}
ISSUER=$PORTA_ISSUER

start_server() {
    env ${SERVER_PRELOAD:+LD_PRELOAD=$SERVER_PRELOAD} "$PORTA" serve >"$WORK/serve.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do curl -fs "$ISSUER/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
    curl -fs "$ISSUER/readyz" >/dev/null || { cat "$WORK/serve.log"; exit 1; }
}

json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
rss() { awk "/^$1/ {print int(\$2 / 1024)}" "/proc/$SERVER_PID/status"; }
