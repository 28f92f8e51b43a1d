#!/usr/bin/env bash
# Where does relaygate's time go under load? Starts relaygate as bench/run.sh does (1 worker on core 1,
# keys + routing + usage records, SQLite in a temp dir), drives it with wrk from core 0 and samples it
# with py-spy (also on core 0), then prints the top functions by own and by inclusive share of samples.
#
#   bench/profile.sh                 # non-stream, 32 connections, 15 s
#   MODEL=bench-stream bench/profile.sh
#   NATIVE=1 bench/profile.sh        # include C frames (uvloop, httptools, orjson, ...)
#   BLOCKING=1 bench/profile.sh      # pause the process for each sample (exact stacks, slower gateway)
#   BODY=claudecode.json MODEL=bench-agent-pass ENDPOINT=/v1/messages DIALECT=anthropic bench/profile.sh
#                                    # a bench/large.sh scenario: its body (bench/make_payloads.py), the large mock
#
# py-spy is installed into .venv if missing. Output: bench/results/profile-<model>[-native][-blocking].{txt,collapsed,svg}.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rig=${RIG:-/work/shared/bench}
model=${MODEL:-bench-plain}
conns=${CONNS:-32}
secs=${SECONDS_TO_SAMPLE:-15}
port=${RELAYGATE_BENCH_PORT:-8790}
stream=${STREAM:-0}; [ "$model" = bench-stream ] && stream=1
body=${BODY:-}; endpoint=${ENDPOINT:-/v1/chat/completions}; dialect=${DIALECT:-openai}
lua="$rig/post.lua"; [ -n "$body" ] && lua="$repo/bench/body.lua" && body="/tmp/relaygate-bench/payloads/$body"
native=(); [ "${NATIVE:-0}" = 1 ] && native=(--native)
# --nonblocking (default) does not pause the gateway, so throughput stays as measured; BLOCKING=1 pauses it
# per sample (slower gateway, exact stacks).
nb=(--nonblocking); [ "${BLOCKING:-0}" = 1 ] && nb=()
out="$repo/bench/results"; mkdir -p "$out"
tag=$model; [ "${NATIVE:-0}" = 1 ] && tag="$tag-native"; [ "${BLOCKING:-0}" = 1 ] && tag="$tag-blocking"
tmp=$(mktemp -d /tmp/relaygate-bench-profile.XXXXXX)

[ -x "$repo/.venv/bin/py-spy" ] || "$repo/.venv/bin/pip" install -q py-spy
PIN=0 bash "$rig/start-mock.sh" >/dev/null
[ -n "$body" ] && { PIN=0 bash "$repo/bench/start-mock-big.sh" >/dev/null || exit 1; }
key=$(cd "$repo" && .venv/bin/python bench/setup_db.py "sqlite+aiosqlite:///$tmp/bench.db" http://127.0.0.1:9100 \
      http://127.0.0.1:9101 2>"$tmp/setup.err" |
      sed -n 's/^KEY=//p')
[ -n "$key" ] || { echo "setup_db.py failed: $(tail -1 "$tmp/setup.err")" >&2; exit 1; }
(cd "$repo" && RELAYGATE_DATABASE_URL="sqlite+aiosqlite:///$tmp/bench.db" RELAYGATE_DATA_DIR="$tmp/data" \
   RELAYGATE_DEMO_UPSTREAM=false RELAYGATE_LOG_LEVEL=warning \
   exec taskset -c 1 .venv/bin/relaygate serve --port "$port" --no-demo) > "$tmp/relaygate.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' EXIT
for _ in $(seq 1 600); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" ||
  { echo "relaygate did not start: $(tail -1 "$tmp/relaygate.log")" >&2; exit 1; }
url="http://127.0.0.1:$port$endpoint"
export KEY=$key MODEL=$model STREAM=$stream BODY=$body DIALECT=$dialect
taskset -c 0 wrk -t1 -c"$conns" -d3s -s "$lua" "$url" >/dev/null
taskset -c 0 wrk -t1 -c"$conns" -d$((secs + 2))s -s "$lua" "$url" \
  > "$tmp/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 1
taskset -c 0 "$repo/.venv/bin/py-spy" record --pid "$pid" --duration "$secs" --rate 200 "${nb[@]}" --threads \
  "${native[@]}" --format raw -o "$out/profile-$tag.collapsed" >/dev/null 2>"$tmp/pyspy.err" ||
  { cat "$tmp/pyspy.err" >&2; exit 1; }
taskset -c 0 "$repo/.venv/bin/py-spy" record --pid "$pid" --duration 5 --rate 200 "${nb[@]}" --threads \
  "${native[@]}" -o "$out/profile-$tag.svg" >/dev/null 2>&1
wait "$wrk_pid"
grep '^RESULT' "$tmp/wrk.txt"
"$repo/.venv/bin/python" "$repo/bench/pyspy_summary.py" "$out/profile-$tag.collapsed" > "$out/profile-$tag.txt"
# the event-loop thread alone (the aiosqlite threads of the usage writer are summarised above)
grep 'MainThread;' "$out/profile-$tag.collapsed" > "$tmp/main.collapsed"
{ echo; echo "=== MainThread only (the event loop) ==="; "$repo/.venv/bin/python" "$repo/bench/pyspy_summary.py" "$tmp/main.collapsed"; } \
  >> "$out/profile-$tag.txt"
cat "$out/profile-$tag.txt"
