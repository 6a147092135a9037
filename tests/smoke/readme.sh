#!/usr/bin/env bash
# `make smoke`: runs the README's first screen for real, as a new user would.
#
# Starts `make run`, waits for /healthz, runs the README's quick-start curl lines exactly as
# written (taken from README.md, not copied here) and checks what their comments promise
# ({"value":1}, then {"value":2}; the events stream ends with `terminated` once the session is
# deleted), then stops the server with SIGTERM and checks that `make run` exits 0.
#
# The lines run in a temporary directory (the cookie jar lands there). Port 8080 must be free.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(mktemp -d)
log="$work/server.log"
server_pgid=""

fail() {
    echo "smoke: FAILED: $*" >&2
    echo "---- server log (last 40 lines)" >&2
    tail -n 40 "$log" >&2 || true
    exit 1
}

cleanup() {
    if [ -n "$server_pgid" ]; then
        kill -KILL -- "-$server_pgid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if curl -s -o /dev/null --max-time 1 localhost:8080/healthz; then
    fail "something already listens on port 8080"
fi

# The README's code blocks: the first one after "With `make run` serving", and the one after
# it (run once the events stream is open).
mapfile -t blocks < <(python3 - "$root/README.md" <<'PY'
import sys
text = open(sys.argv[1]).read()
start = text.index("With `make run` serving")
blocks, pos = [], start
for _ in range(2):
    begin = text.index("```sh\n", pos) + len("```sh\n")
    end = text.index("```", begin)
    blocks.append(text[begin:end].strip("\n").replace("\n", "\x1f"))
    pos = end + 3
print("\n".join(blocks))
PY
)
IFS=$'\x1f' read -r -a first <<<"${blocks[0]}"
IFS=$'\x1f' read -r -a second <<<"${blocks[1]}"
[ "${#first[@]}" -eq 3 ] || fail "expected 3 lines in the README's first curl block, found ${#first[@]}"
[ "${#second[@]}" -eq 1 ] || fail "expected 1 line in the README's second curl block, found ${#second[@]}"

echo "smoke: building (make build rust-guests)"
make -s build rust-guests >/dev/null

echo "smoke: starting make run"
setsid make run >"$log" 2>&1 &
make_pid=$!
server_pgid=$make_pid
for _ in $(seq 1 600); do
    curl -sf -o /dev/null --max-time 1 localhost:8080/healthz && break
    kill -0 "$make_pid" 2>/dev/null || fail "make run exited before it served /healthz"
    sleep 0.2
done
curl -sf -o /dev/null --max-time 1 localhost:8080/healthz || fail "/healthz not answered within 120 s"
echo "smoke: serving"

cd "$work"
# A line's expected output is its trailing comment, when that comment is JSON.
run_checked() {
    local line=$1 expected out
    expected=$(sed -n 's/.*#[[:space:]]*\({.*}\)[[:space:]]*$/\1/p' <<<"$line")
    # curl's progress meter goes to stderr when stdout is not a terminal: keep it apart.
    out=$(bash -c "${line%%#*}" 2>>"$work/curl.err") || fail "\`$line\` failed: $(cat "$work/curl.err")"
    echo "  \$ ${line%%#*}→ $out"
    if [ -n "$expected" ] && [ "$out" != "$expected" ]; then
        fail "\`${line%%#*}\` printed '$out', the README says '$expected'"
    fi
}
run_checked "${first[0]}"
run_checked "${first[1]}"

events="$work/events.txt"
bash -c "${first[2]%%#*}" >"$events" 2>>"$work/curl.err" &
events_pid=$!
# The stream says `: subscribed` once the subscription is in place.
for _ in $(seq 1 100); do
    grep -q '^: subscribed' "$events" && break
    sleep 0.1
done
grep -q '^: subscribed' "$events" || fail "the events stream did not open: $(cat "$events")"
echo "  \$ ${first[2]%%#*}(streaming)"

run_checked "${second[0]}"
for _ in $(seq 1 100); do
    kill -0 "$events_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$events_pid" 2>/dev/null; then
    kill "$events_pid"
    fail "the events stream was still open 10 s after the DELETE: $(cat "$events")"
fi
grep -q '^event: terminated' "$events" || fail "the events stream did not see \`terminated\`: $(cat "$events")"
echo "  events stream: $(tr '\n' ' ' <"$events")"

server_pid=$(pgrep -f -n 'sessionhost serve --listen 127.0.0.1:8080' || true)
[ -n "$server_pid" ] || fail "no sessionhost process found"
echo "smoke: SIGTERM to the server ($server_pid)"
kill -TERM "$server_pid"
status=0
for _ in $(seq 1 300); do
    kill -0 "$make_pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$make_pid" 2>/dev/null && fail "make run still running 30 s after SIGTERM"
wait "$make_pid" || status=$?
server_pgid=""
[ "$status" -eq 0 ] || fail "make run exited with status $status after SIGTERM"
grep -q "sessions ended" "$log" || fail "the server did not report its graceful shutdown"
echo "smoke: OK (make run served the README's lines and exited 0 on SIGTERM)"
