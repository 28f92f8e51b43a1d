#!/usr/bin/env bash
# A/B of process-level tweaks on relaygate, interleaved so a shared machine's noise hits every variant:
#   bench/ab.sh base gc=50000/50/100 gcfreeze      # ROUNDS (3), DURATION (8s), MODEL (bench-plain), CONNS (32)
# Each round starts a fresh gateway per variant (same setup as bench/run.sh: core 1, SQLite in a temp dir,
# keys + routing + billing + usage), warms it for 3 s and runs wrk from core 0.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rig=${RIG:-/work/shared/bench}
rounds=${ROUNDS:-3}; duration=${DURATION:-8s}; model=${MODEL:-bench-plain}; conns=${CONNS:-32}
port=${RELAYGATE_BENCH_PORT:-8790}
stream=0; [ "$model" = bench-stream ] && stream=1
[ $# -gt 0 ] || { sed -n 2,5p "$0"; exit 2; }
PIN=0 bash "$rig/start-mock.sh" >/dev/null
url="http://127.0.0.1:$port/v1/chat/completions"
for ((round = 1; round <= rounds; round++)); do
  for variant in "$@"; do
    tmp=$(mktemp -d /tmp/relaygate-bench-ab.XXXXXX)
    key=$(cd "$repo" && .venv/bin/python bench/setup_db.py "sqlite+aiosqlite:///$tmp/bench.db" | sed -n 's/^KEY=//p')
    (cd "$repo" && RELAYGATE_DATABASE_URL="sqlite+aiosqlite:///$tmp/bench.db" RELAYGATE_DATA_DIR="$tmp/data" \
       RELAYGATE_DEMO_UPSTREAM=false RELAYGATE_LOG_LEVEL=warning VARIANT="$variant" \
       exec taskset -c 1 .venv/bin/python bench/variant_serve.py --port "$port" --no-demo) > "$tmp/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
    KEY=$key MODEL=$model STREAM=$stream taskset -c 0 wrk -t1 -c"$conns" -d3s -s "$rig/post.lua" "$url" >/dev/null
    result=$(KEY=$key MODEL=$model STREAM=$stream taskset -c 0 wrk -t1 -c"$conns" -d"$duration" -s "$rig/post.lua" \
             "$url" | grep '^RESULT' | sed 's/^RESULT //')
    rss=$(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status" 2>/dev/null)
    printf 'round %d  %-22s %s rss=%sMB load=%s\n' "$round" "$variant" "${result:-failed: $(tail -1 "$tmp/log")}" \
      "$rss" "$(cut -d' ' -f1 /proc/loadavg)"
    kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    rm -rf "$tmp"
  done
done
