#!/usr/bin/env bash
# The story of steme over HTTP (the second half of `make demo`): start
# `steme serve` on a free loopback port with a throwaway database, let
# examples/agent.py speak as six agents that disagree about a drug's side
# effect (a regulator, a clinic, forum users), show how each lens resolves
# it and the audit trail of the queries, then stop the server with SIGTERM.
#
#   scripts/demo-server.sh [BUILD_DIR]     (default: build)
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
steme="$(cd "$build" && pwd)/steme"
py=/usr/bin/python3    # Debian's, the one with python3-nacl (not a pyenv python3)
work=$(mktemp -d "${TMPDIR:-/tmp}/steme-demo-server.XXXXXX")
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if ! "$py" -c 'import nacl.signing' 2>/dev/null; then
    echo "demo-server: $py with python3-nacl is needed (make deps installs it); skipped" >&2
    exit 0
fi

step "steme serve on a free loopback port, with a fresh database"
"$steme" serve --db "$work/db" --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
# The first line on stdout names the port the kernel picked.
port=""
for _ in $(seq 200); do
    port=$(sed -n '1s/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
    sleep 0.05
done
[ -n "$port" ] || { echo "demo-server: the server did not report its port" >&2; exit 1; }
url="http://127.0.0.1:$port"
for _ in $(seq 200); do
    "$py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
        "$url/v1/health" 2>/dev/null && break
    sleep 0.05
done
echo "$(head -n1 "$work/serve.out")"
echo "GET /v1/health: $("$py" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' "$url/v1/health")"

step "six agents talk to it with examples/agent.py (signed writes, then queries)"
"$py" "$root/examples/agent.py" --url "$url" --agents 6

step "SIGTERM: the server drains and closes the database"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
sed 's/^/  /' "$work/serve.err"
if [ "$status" -ne 0 ]; then
    echo "demo-server: steme serve exited with status $status" >&2
    exit 1
fi
echo "  exit status 0"
