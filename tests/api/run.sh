#!/usr/bin/env bash
# `make test-api`: schemathesis against a real `sessionhost serve` on a free loopback port.
#
# Usage: tests/api/run.sh SESSIONHOST_BINARY COUNTER_WASM SCHEMATHESIS_BINARY
# The server has an admin token, the counter guest as default guest and no creation rate
# limit; schemathesis reads the document the server serves (/v1/openapi.json) and runs every
# phase (examples, coverage, fuzzing, stateful) with its default checks over every
# operation, a fixed seed and a bounded number of examples. The server's log is kept in
# target/test-api/server.log; the run fails on any failure schemathesis reports.
set -euo pipefail

binary=$1 counter=$2 st=$3
here=$(cd "$(dirname "$0")" && pwd)
out=target/test-api
mkdir -p "$out"
token=schemathesis-admin-token-0123456789
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

SESSIONHOST_HOST__RATE_LIMIT=0 SESSIONHOST_HOST__MAX_SESSIONS=2000 \
    "$binary" serve --listen "127.0.0.1:$port" --guest "counter=$counter" \
    --default-guest counter --admin-token "$token" >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then cat "$out/server.log"; exit 1; fi
    sleep 0.2
done

# The server warns at start that its key will not survive a restart (no signing key, no
# data dir): check that it says so.
grep -q "session cookies will not survive a restart" "$out/server.log" || {
    echo "test-api: the server did not warn that its signing key is ephemeral" >&2
    cat "$out/server.log" >&2
    exit 1
}

# One worker: generation in several threads hits a CPython 3.11 bug ("AST constructor
# recursion depth mismatch") inside hypothesis.
SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$here" "$st" --config-file "$here/schemathesis.toml" run \
    "http://127.0.0.1:$port/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --seed 20261207 \
    --max-examples "${API_EXAMPLES:-100}" \
    --phases examples,coverage,fuzzing,stateful \
    --workers 1 \
    --request-timeout 20 \
    --suppress-health-check all \
    --report junit --report-dir "$out"
