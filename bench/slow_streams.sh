#!/usr/bin/env bash
# RSS per open stream: bench/slow_streams.py against one relaygate worker (SQLite, every feature on), end to end.
#   bench/slow_streams.sh                 # 1,000 streams held 20 s, RSS a minute after they close (~2 min)
#   N=200 HOLD=10 AFTER=20 bench/slow_streams.sh
#   TRACEMALLOC=1 bench/slow_streams.sh   # also: the gateway's top allocation sites, at rest vs 1,000 open
#   FLOOR=1 bench/slow_streams.sh         # the same through bench/floor.py (bare Python), for comparison
# The gateway runs on core 1 like bench/run.sh; its bench-stream channel points at the slow upstream that
# slow_streams.py runs on 127.0.0.1:9102.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
port=${RELAYGATE_BENCH_PORT:-8790}
tmp=$(mktemp -d /tmp/relaygate-bench-slow.XXXXXX)
export RELAYGATE_SECRETS_KEY=${RELAYGATE_SECRETS_KEY:-$("$repo/.venv/bin/python" -c 'from relaygate.core.secrets import new_key; print(new_key())')}
key=$(cd "$repo" && .venv/bin/python bench/setup_db.py "sqlite+aiosqlite:///$tmp/bench.db" http://127.0.0.1:9102 \
      2>"$tmp/setup.err" | sed -n 's/^KEY=//p')
[ -n "$key" ] || { echo "setup_db.py failed: $(tail -1 "$tmp/setup.err")" >&2; exit 1; }
variant=${VARIANT:-base}; [ -n "${TRACEMALLOC:-}" ] && variant="tracemalloc=$tmp/trace"
url="http://127.0.0.1:$port/v1/chat/completions"
if [ -n "${FLOOR:-}" ]; then
  url="http://127.0.0.1:$port/stream/v1/chat/completions"
  (cd "$repo" && exec taskset -c 1 .venv/bin/python bench/floor.py "$port" http://127.0.0.1:9102) > "$tmp/floor.log" 2>&1 &
else (cd "$repo" && exec env ${GATEWAY_ENV:-} RELAYGATE_DATABASE_URL="sqlite+aiosqlite:///$tmp/bench.db" VARIANT="$variant" \
   RELAYGATE_DATA_DIR="$tmp/data" RELAYGATE_DEMO_UPSTREAM=false RELAYGATE_LOG_LEVEL=warning \
   taskset -c 1 .venv/bin/python bench/variant_serve.py --port "$port" --no-demo) > "$tmp/relaygate.log" 2>&1 &
fi
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
up() { if [ -n "${FLOOR:-}" ]; then ss -ltn | grep -q "127.0.0.1:$port "; else curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"; fi; }
for _ in $(seq 1 1200); do up && break; sleep 0.1; done
up || { echo "the gateway did not start: $(tail -3 "$tmp"/*.log)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null
(cd "$repo" && SNAPSHOT_SIGNAL=${TRACEMALLOC:+1} TRIM_SIGNAL=${TRIM_SIGNAL:-} ROUNDS=${ROUNDS:-1} BODY_KB=${BODY_KB:-0} taskset -c 0 .venv/bin/python bench/slow_streams.py \
   "$url" "$key" "$pid" "${N:-1000}" "${HOLD:-20}" "${AFTER:-60}")
if [ -n "${TRACEMALLOC:-}" ]; then
  sleep 2
  (cd "$repo" && .venv/bin/python bench/snapdiff.py "$tmp/trace/snap-0.pickle" "$tmp/trace/snap-1.pickle" "open")
  (cd "$repo" && .venv/bin/python bench/snapdiff.py "$tmp/trace/snap-0.pickle" "$tmp/trace/snap-2.pickle" "a while after")
fi
echo "gateway log and database: $tmp"
