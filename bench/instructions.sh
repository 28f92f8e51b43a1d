#!/usr/bin/env bash
# Instructions per request, counted by callgrind: repeatable on a noisy shared host, where req/s is not.
#   bench/instructions.sh base nobill     # VARIANTs of bench/variant_serve.py; N (3000) requests each
# Each variant serves on SQLite under valgrind; 300 warm-up requests, then the counters are zeroed, N requests
# are sent 8 at a time, and the counts are dumped per thread. Config polls and the usage flush timer are
# pushed out of the window (they run per second, and under valgrind a second holds 40 requests, not 3,000,
# which would overweight them 75 times); usage and ledger rows are written in batches of 500 as under load.
# So are the spool's per-second work (its 50 ms fdatasync round, the 2 s heartbeat and sweep): bench/spool_cost.py
# measures those per second. KEEP=1 keeps the callgrind files for callgrind_annotate.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rig=${RIG:-/work/shared/bench}
n=${N:-3000}; port=${RELAYGATE_BENCH_PORT:-8791}
[ $# -gt 0 ] || { sed -n 2,6p "$0"; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind missing (apt-get install valgrind)" >&2; exit 1; }
# UPSTREAM: a mock of your own (another nginx from the rig's config), safe from others' reloads of 9100
upstream=${UPSTREAM:-http://127.0.0.1:9100}
[ -n "${UPSTREAM:-}" ] || PIN=0 bash "$rig/start-mock.sh" >/dev/null
for variant in "$@"; do
  tmp=$(mktemp -d /tmp/relaygate-bench-instr.XXXXXX)
  key=$(cd "$repo" && .venv/bin/python bench/setup_db.py "sqlite+aiosqlite:///$tmp/bench.db" "$upstream" | sed -n 's/^KEY=//p')
  (cd "$repo" && RELAYGATE_CONFIG_POLL_SECONDS=3600 RELAYGATE_USAGE_FLUSH_SECONDS=3600 \
     RELAYGATE_USAGE_SPOOL_SYNC_SECONDS=3600 RELAYGATE_INSTANCE_HEARTBEAT_SECONDS=3600 \
     RELAYGATE_DATABASE_URL="sqlite+aiosqlite:///$tmp/bench.db" RELAYGATE_DATA_DIR="$tmp/data" \
     RELAYGATE_DEMO_UPSTREAM=false RELAYGATE_LOG_LEVEL=warning VARIANT="$variant" \
     exec valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$tmp/cg.out" \
       .venv/bin/python bench/variant_serve.py --port "$port" --no-demo) > "$tmp/log" 2>&1 &
  pid=$!
  # under valgrind on a loaded host the start can take minutes: wait up to 15
  for _ in $(seq 1 4500); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
  url="http://127.0.0.1:$port/v1/chat/completions"
  if ! (cd "$repo" && .venv/bin/python bench/drive.py "$url" "$key" bench-plain 300 8); then
    echo "$variant: the gateway did not answer (log: $tmp/log)" >&2; kill -TERM "$pid"; wait "$pid"; continue
  fi
  sleep 2; callgrind_control -z "$pid" >/dev/null
  if ! (cd "$repo" && .venv/bin/python bench/drive.py "$url" "$key" bench-plain "$n" 8); then
    echo "$variant: requests failed during the measurement (log: $tmp/log)" >&2; kill -TERM "$pid"; wait "$pid"; continue
  fi
  callgrind_control -d "$pid" >/dev/null; sleep 1
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  main=$(grep -h '^summary:' "$tmp"/cg.out.1-01 | awk '{print $2}')
  all=$(cat "$tmp"/cg.out.1-* | grep -h '^summary:' | awk '{s += $2} END {print s}')
  grep -h "^writestats" "$tmp/log" | tail -1 | cut -c1-300
  printf '%-22s event loop %8d  all threads %8d  instructions/request\n' "$variant" $((main / n)) $((all / n))
  if [ -n "${KEEP:-}" ]; then echo "kept: $tmp (callgrind_annotate $tmp/cg.out.1-01)"; else rm -rf "$tmp"; fi
done
