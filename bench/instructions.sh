#!/usr/bin/env bash
# Instructions per request, counted by callgrind: repeatable on a noisy shared host, where req/s is not.
#   bench/instructions.sh base nobill     # VARIANTs of bench/variant_serve.py; N (3000) requests each
#   SCENARIO=agent_pass N=300 bench/instructions.sh floor base   # a bench/large.sh scenario, the floor too
# Each variant serves on SQLite under valgrind; 300 warm-up requests, then the counters are zeroed, N requests
# are sent 8 at a time, and the counts are dumped per thread. Config polls and the usage flush timer are
# pushed out of the window (they run per second, and under valgrind a second holds 40 requests, not 3,000,
# which would overweight them 75 times; so is the console's 30 s rollup cycle: bench/rollup_cost.py measures
# it apart); usage and ledger rows are written in batches of 500 as under load.
# So are the spool's per-second work (its 50 ms fdatasync round, the 2 s heartbeat and sweep): bench/spool_cost.py
# measures those per second. KEEP=1 keeps the callgrind files for callgrind_annotate.
# SCENARIO (small by default) names a line of bench/large.sh: its body file, model, path and dialect, against
# the large mock on :9101. The variant "floor" runs bench/floor.py (bare Python pass-through) instead.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rig=${RIG:-/work/shared/bench}
n=${N:-3000}; port=${RELAYGATE_INSTR_PORT:-8793}; scenario=${SCENARIO:-small}
[ $# -gt 0 ] || { sed -n 2,12p "$0"; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind missing (apt-get install valgrind)" >&2; exit 1; }
# UPSTREAM: a mock of your own (another nginx from the rig's config), safe from others' reloads of 9100
upstream=${UPSTREAM:-http://127.0.0.1:9100}
[ -n "${UPSTREAM:-}" ] || PIN=0 bash "$rig/start-mock.sh" >/dev/null
line=$(grep -E "^  \"$scenario " "$repo/bench/large.sh" | tr -d '"')
[ -n "$line" ] || { echo "no scenario $scenario in bench/large.sh" >&2; exit 1; }
read -r _ lua body model stream path up <<<"$line"
body_file=""; [ "$body" != - ] && body_file=/tmp/relaygate-bench/payloads/$body
[ -n "$body_file" ] && { PIN=0 bash "$repo/bench/start-mock-big.sh" >/dev/null || exit 1; }
dialect=openai; [ "$path" = /v1/messages ] && dialect=anthropic
target="http://127.0.0.1:${up%%/*}"; [ "${up%%/*}" = 9100 ] && target=$upstream
export RELAYGATE_SECRETS_KEY=${RELAYGATE_SECRETS_KEY:-$("$repo/.venv/bin/python" -c 'from relaygate.core.secrets import new_key; print(new_key())')}
for variant in "$@"; do
  tmp=$(mktemp -d /tmp/relaygate-bench-instr.XXXXXX)
  key=sk-bench
  if [ "$variant" = floor ]; then
    url="http://127.0.0.1:$port/${up#*/}"
    (cd "$repo" && exec valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$tmp/cg.out" \
       .venv/bin/python bench/floor.py "$port" "$target") > "$tmp/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 4500); do curl -sf -o /dev/null -XPOST "$url" -d '{}' && break; sleep 0.2; done
  else
    url="http://127.0.0.1:$port$path"
    key=$(cd "$repo" && .venv/bin/python bench/setup_db.py "sqlite+aiosqlite:///$tmp/bench.db" "$upstream" \
          http://127.0.0.1:9101 | sed -n 's/^KEY=//p')
    (cd "$repo" && RELAYGATE_CONFIG_POLL_SECONDS=3600 RELAYGATE_USAGE_FLUSH_SECONDS=3600 \
       RELAYGATE_USAGE_SPOOL_SYNC_SECONDS=3600 RELAYGATE_INSTANCE_HEARTBEAT_SECONDS=3600 \
       RELAYGATE_ROLLUP_SECONDS=3600 \
       RELAYGATE_DATABASE_URL="sqlite+aiosqlite:///$tmp/bench.db" RELAYGATE_DATA_DIR="$tmp/data" \
       RELAYGATE_DEMO_UPSTREAM=false RELAYGATE_LOG_LEVEL=warning VARIANT="$variant" \
       exec valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$tmp/cg.out" \
         .venv/bin/python bench/variant_serve.py --port "$port" --no-demo) > "$tmp/log" 2>&1 &
    pid=$!
    # under valgrind on a loaded host the start can take minutes: wait up to 15
    for _ in $(seq 1 4500); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
  fi
  drive=(.venv/bin/python bench/drive.py "$url" "$key" "$model")
  if ! (cd "$repo" && "${drive[@]}" 300 8 "$body_file" "$dialect" "$stream"); then
    echo "$variant: the gateway did not answer (log: $tmp/log)" >&2; kill -TERM "$pid"; wait "$pid"; continue
  fi
  sleep 2; callgrind_control -z "$pid" >/dev/null
  if ! (cd "$repo" && "${drive[@]}" "$n" 8 "$body_file" "$dialect" "$stream"); then
    echo "$variant: requests failed during the measurement (log: $tmp/log)" >&2; kill -TERM "$pid"; wait "$pid"; continue
  fi
  callgrind_control -d "$pid" >/dev/null; sleep 1
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  main=$(grep -h '^summary:' "$tmp"/cg.out.1-01 | awk '{print $2}')
  all=$(cat "$tmp"/cg.out.1-* | grep -h '^summary:' | awk '{s += $2} END {print s}')
  grep -h "^writestats" "$tmp/log" | tail -1 | cut -c1-300
  printf '%-12s %-22s event loop %9d  all threads %9d  instructions/request\n' "$scenario" "$variant" \
    $((main / n)) $((all / n))
  if [ -n "${KEEP:-}" ]; then echo "kept: $tmp (callgrind_annotate $tmp/cg.out.1-01)"; else rm -rf "$tmp"; fi
done
