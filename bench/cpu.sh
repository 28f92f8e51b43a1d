#!/usr/bin/env bash
# CPU time per request (every thread of the gateway, user + kernel), interleaved over rounds: steadier than
# req/s on a shared host, and unlike instruction counts it includes the system calls' kernel time.
#   bench/cpu.sh base nospool        # VARIANTs of bench/variant_serve.py; ROUNDS (3), N (6000), C (8), MODEL
# Each round starts a fresh gateway per variant on SQLite (same setup as bench/run.sh), sends 500 warm-up
# requests, then N requests C at a time, and reads the CPU time its threads used meanwhile from
# /proc/PID/task/*/schedstat (nanoseconds on a CPU, kernel time included).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rig=${RIG:-/work/shared/bench}
rounds=${ROUNDS:-3}; n=${N:-6000}; c=${C:-8}; model=${MODEL:-bench-plain}
port=${RELAYGATE_BENCH_PORT:-8792}
[ $# -gt 0 ] || { sed -n 2,6p "$0"; exit 2; }
# UPSTREAM: a mock of your own (another nginx from the rig's config), safe from others' reloads of 9100
upstream=${UPSTREAM:-http://127.0.0.1:9100}
[ -n "${UPSTREAM:-}" ] || PIN=0 bash "$rig/start-mock.sh" >/dev/null
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d", s}'; }
for ((round = 1; round <= rounds; round++)); do
  for variant in "$@"; do
    tmp=$(mktemp -d /tmp/relaygate-bench-cpu.XXXXXX)
    key=$(cd "$repo" && .venv/bin/python bench/setup_db.py "sqlite+aiosqlite:///$tmp/bench.db" "$upstream" 2>/dev/null \
          | sed -n 's/^KEY=//p')
    (cd "$repo" && RELAYGATE_DATABASE_URL="sqlite+aiosqlite:///$tmp/bench.db" RELAYGATE_DATA_DIR="$tmp/data" \
       RELAYGATE_DEMO_UPSTREAM=false RELAYGATE_LOG_LEVEL=warning VARIANT="$variant" \
       exec .venv/bin/python bench/variant_serve.py --port "$port" --no-demo) > "$tmp/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
    url="http://127.0.0.1:$port/v1/chat/completions"
    (cd "$repo" && .venv/bin/python bench/drive.py "$url" "$key" "$model" 500 "$c")
    sleep 1
    before=$(cpu_ns "$pid")
    (cd "$repo" && .venv/bin/python bench/drive.py "$url" "$key" "$model" "$n" "$c")
    sleep 1.2  # the usage writer's last batch of the window is part of its cost
    after=$(cpu_ns "$pid")
    printf 'round %d  %-22s %7.1f us CPU/request  load=%s\n' "$round" "$variant" \
      "$(echo "($after - $before) / 1000 / $n" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
    kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    rm -rf "$tmp"
  done
done
