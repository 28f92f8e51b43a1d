#!/usr/bin/env bash
# One command, one run, on loopback: direct-to-mock vs relaygate vs LiteLLM proxy.
#
#   bench/run.sh                 # writes bench/results/latest.md and prints the table
#   bench/run.sh --update-docs   # also refreshes the latest-run block of docs/benchmarks.md
#
# Environment knobs: DURATION (10s), CONNS (32), WARMUP (3s), SKIP_LITELLM=1, BILLING=off (serve with
# RELAYGATE_BILLING=false), COMPARE_BILLING=0 (skip the extra billing-off relaygate row), RIG
# (/work/shared/bench), RELAYGATE_BENCH_PORT (8790), LITELLM_PORT (4000).
# Pinning: gateway under test on core 1; nginx mock and wrk on core 0 (see /work/shared/bench/README.md).
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
rig=${RIG:-/work/shared/bench}
post_lua="$rig/post.lua"
duration=${DURATION:-10s}
conns=${CONNS:-32}
warmup=${WARMUP:-3s}
rg_port=${RELAYGATE_BENCH_PORT:-8790}
lt_port=${LITELLM_PORT:-4000}
lt_venv=${LITELLM_VENV:-/tmp/litellm-venv}
mock=http://127.0.0.1:9100
update_docs=0
for arg in "$@"; do
  case "$arg" in
    --update-docs) update_docs=1 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d /tmp/relaygate-bench-run.XXXXXX)
results="$tmp/results.env"
: > "$results"
started_pids=()
mock_started=0

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
put() { printf '%s=%s\n' "$1" "$2" >> "$results"; }

cleanup() {
  for pid in "${started_pids[@]}"; do
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
  done
  if [ "$mock_started" = 1 ] && [ -f /tmp/relaygate-bench/mock-upstream.pid ]; then
    kill "$(cat /tmp/relaygate-bench/mock-upstream.pid)" 2>/dev/null
  fi
}
trap cleanup EXIT

# --- rig ---------------------------------------------------------------------------------------
for f in "$post_lua" "$rig/start-mock.sh" "$rig/litellm-config.yaml"; do
  [ -f "$f" ] || { echo "missing $f (the shared benchmark rig)" >&2; exit 1; }
done
if ! curl -sf -o /dev/null -XPOST "$mock/plain/v1/chat/completions" -d '{}'; then
  mock_started=1
fi
PIN=0 bash "$rig/start-mock.sh" >&2 || { echo "mock upstream did not start" >&2; exit 1; }
# whoever started nginx, keep master and worker on core 0
if [ -f /tmp/relaygate-bench/mock-upstream.pid ]; then
  master=$(cat /tmp/relaygate-bench/mock-upstream.pid)
  for p in "$master" $(pgrep -P "$master"); do taskset -a -cp 0 "$p" >/dev/null 2>&1; done
fi
command -v wrk >/dev/null || { echo "wrk missing" >&2; exit 1; }

put date "$(date -u '+%Y-%m-%d %H:%M UTC')"
put machine "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -sr)"
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$repo" status --porcelain -- src 2>/dev/null)" ]; then commit="$commit + uncommitted src changes"; fi
put commit "$commit"
put loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
put wrk_args "-t1 -c$conns -d$duration --timeout 30s (and -c1 for added latency), post.lua, pinned to core 0"

# --- measuring ---------------------------------------------------------------------------------
# measure GW RUN URL MODEL STREAM CONNS DURATION KEY: one wrk run, recorded as GW.RUN.* in results.
# While wrk runs, core 1 should hold the gateway alone; other processes (tests run by others on a shared
# machine) that land there steal from it, so each run records the share of core 1 they took.
gw_pid=""
cpu1_ticks() { awk '$1 == "cpu1" {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
proc_ticks() {  # utime+stime of a process (all its threads)
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] && sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12+$13}' || echo 0
}
measure() {
  local gw=$1 run=$2 url=$3 model=$4 stream=$5 c=$6 d=$7 key=$8 script=${9:-$post_lua}
  local out="$tmp/wrk-$gw-$run.txt"
  local b0 t0 g0 b1 t1 g1
  read -r b0 t0 < <(cpu1_ticks); g0=$(proc_ticks "$gw_pid")
  KEY=$key MODEL=$model STREAM=$stream taskset -c 0 wrk -t1 -c"$c" -d"$d" --timeout 30s -s "$script" "$url" \
    > "$out" 2>&1
  read -r b1 t1 < <(cpu1_ticks); g1=$(proc_ticks "$gw_pid")
  local gw_pct other_pct
  gw_pct=$(awk -v g=$((g1 - g0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.0f", t ? 100 * g / t : 0}')
  other_pct=$(awk -v b=$((b1 - b0)) -v g=$((g1 - g0)) -v t=$((t1 - t0)) \
    'BEGIN {o = t ? 100 * (b - g) / t : 0; if (o < 0) o = 0; printf "%.0f", o}')
  put "$gw.$run.core1_gateway_pct" "$gw_pct"
  put "$gw.$run.core1_other_pct" "$other_pct"
  local line requests status
  line=$(grep '^RESULT ' "$out" | tail -1)
  requests=$(grep -oE '^ *[0-9]+ requests in' "$out" | grep -oE '[0-9]+' | head -1)
  requests=${requests:-0}
  if [ -z "$line" ]; then
    status="wrk produced no result: $(tail -1 "$out" | tr -d '\n' | cut -c1-80)"
  else
    local rps p50 p99 errors non2xx
    rps=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line")
    p50=$(sed -E 's/.* p50_ms=([0-9.]+).*/\1/' <<<"$line")
    p99=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$line")
    errors=$(sed -E 's/.* errors=([0-9]+).*/\1/' <<<"$line")
    non2xx=$(sed -E 's/.* non2xx=([0-9]+).*/\1/' <<<"$line")
    if [ "$errors" = 0 ] && [ "$non2xx" = 0 ] && [ "$requests" -gt 0 ]; then
      status=ok
    else
      status="errors=$errors non2xx=$non2xx"
    fi
    put "$gw.$run.rps" "$rps"; put "$gw.$run.p50" "$p50"; put "$gw.$run.p99" "$p99"
  fi
  put "$gw.$run.status" "$status"
  put "$gw.$run.requests" "$requests"
  log "$gw $run (c=$c $model): ${line#RESULT } requests=$requests -> $status" \
      "[core 1: gateway ${gw_pct}%, others ${other_pct}%]"
  echo "$requests"
}

# precheck GW BASE KEY: one non-stream and one stream request must come back 200 with the right shape.
precheck() {
  local gw=$1 base=$2 key=$3 body
  body='{"model":"bench-plain","messages":[{"role":"user","content":"hi"}],"max_tokens":8}'
  if ! curl -sf -m 30 -XPOST "$base/v1/chat/completions" -H "Authorization: Bearer $key" \
       -H 'Content-Type: application/json' -d "$body" | grep -q '"choices"'; then
    echo "non-stream precheck failed"; return 1
  fi
  body='{"model":"bench-stream","messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":8}'
  if ! curl -sfN -m 30 -XPOST "$base/v1/chat/completions" -H "Authorization: Bearer $key" \
       -H 'Content-Type: application/json' -d "$body" | grep -q '\[DONE\]'; then
    echo "stream precheck failed"; return 1
  fi
}

# peak RSS (VmHWM) of a process and its descendants, in MB; printed as a number
peak_rss_mb() {
  local total=0 p kb
  for p in "$1" $(descendants "$1"); do
    kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null)
    total=$((total + ${kb:-0}))
  done
  awk -v kb="$total" 'BEGIN {printf "%.1f", kb / 1024}'
}
descendants() {
  local c
  for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done
}

wait_http() {  # URL PID SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    curl -sf -o /dev/null -m 2 "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

stop_gracefully() {  # PID SECONDS
  local i
  kill -TERM "$1" 2>/dev/null
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
    sleep 0.1
  done
  log "process $1 still running after ${2}s; killing it"
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  return 1
}

# --- 1. direct ---------------------------------------------------------------------------------
log "direct to the nginx mock"
measure direct warmup "$mock/plain/v1/chat/completions" bench-plain 0 "$conns" "$warmup" sk-bench >/dev/null
measure direct plain32 "$mock/plain/v1/chat/completions" bench-plain 0 "$conns" "$duration" sk-bench >/dev/null
measure direct stream32 "$mock/stream/v1/chat/completions" bench-stream 1 "$conns" "$duration" sk-bench >/dev/null
measure direct plain1 "$mock/plain/v1/chat/completions" bench-plain 0 1 "$duration" sk-bench >/dev/null

# --- 1b. the floor: bare Python on the gateway's core (bench/floor.py) -----------------------------
floor_port=$((rg_port + 1))
if curl -s -o /dev/null -m 2 "http://127.0.0.1:$floor_port/"; then
  put floor.skipped "port $floor_port already in use"
else
  log "the floor (bench/floor.py) on :$floor_port (core 1)"
  (cd "$repo" && exec taskset -c 1 .venv/bin/python bench/floor.py "$floor_port" "$mock") > "$tmp/floor.log" 2>&1 &
  floor_pid=$!
  started_pids+=("$floor_pid")
  gw_pid=$floor_pid
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null -XPOST "http://127.0.0.1:$floor_port/plain/v1/chat/completions" -d '{}' && break; sleep 0.1
  done
  fl="http://127.0.0.1:$floor_port"
  measure floor warmup "$fl/plain/v1/chat/completions" bench-plain 0 "$conns" "$warmup" sk-bench >/dev/null
  measure floor plain32 "$fl/plain/v1/chat/completions" bench-plain 0 "$conns" "$duration" sk-bench >/dev/null
  measure floor stream32 "$fl/stream/v1/chat/completions" bench-stream 1 "$conns" "$duration" sk-bench >/dev/null
  measure floor plain1 "$fl/plain/v1/chat/completions" bench-plain 0 1 "$duration" sk-bench >/dev/null
  put floor.rss_mb "$(peak_rss_mb "$floor_pid")"
  stop_gracefully "$floor_pid" 10
  gw_pid=""
fi

# --- 2. relaygate ------------------------------------------------------------------------------
rg_base="http://127.0.0.1:$rg_port"
run_relaygate() {  # GW (result prefix) BILLING (on|off)
  local gw=$1 want_billing=$2 rg_db="$tmp/$1.db"
  if curl -s -o /dev/null -m 2 "$rg_base/healthz"; then
    put "$gw".skipped "port $rg_port already in use"; return
  fi
  local key billing setup_out
  setup_out=$(cd "$repo" && .venv/bin/python bench/setup_db.py "sqlite+aiosqlite:///$rg_db" "$mock" 2> "$tmp/$gw-setup_db.err")
  key=$(sed -n 's/^KEY=//p' <<<"$setup_out")
  billing=$(sed -n 's/^BILLING=//p' <<<"$setup_out")
  local features="keys, routing, usage records"
  if [ "$billing" = on ] && [ "$want_billing" != off ]; then
    features="keys, routing, rate limits (rpm, tpm, concurrency on the key), billing (priced models, funded owner: hold + settle + ledger), usage records"
  elif [ "$billing" = on ]; then
    features="keys, routing, usage records (billing and limits off: RELAYGATE_BILLING=false RELAYGATE_LIMITS=false)"
  fi
  put "$gw".features "$features"
  local extra_env=(RELAYGATE_BENCH=1)
  [ "$want_billing" = off ] && extra_env+=(RELAYGATE_BILLING=false RELAYGATE_LIMITS=false)
  if [ -z "$key" ]; then
    put "$gw".skipped "setup_db.py failed: $(tail -1 "$tmp/$gw-setup_db.err")"; return
  fi
  log "starting relaygate on :$rg_port (core 1), database $rg_db"
  (cd "$repo" && RELAYGATE_DATABASE_URL="sqlite+aiosqlite:///$rg_db" RELAYGATE_DATA_DIR="$tmp/$gw-data" \
     RELAYGATE_DEMO_UPSTREAM=false RELAYGATE_LOG_LEVEL=warning \
     exec env "${extra_env[@]}" taskset -c 1 .venv/bin/relaygate serve --port "$rg_port" --no-demo) > "$tmp/$gw.log" 2>&1 &
  local pid=$!
  started_pids+=("$pid")
  gw_pid=$pid
  if ! wait_http "$rg_base/healthz" "$pid" 60; then
    put "$gw".skipped "did not answer /healthz within 60 s: $(tail -1 "$tmp/$gw.log")"
    stop_gracefully "$pid" 10; return
  fi
  local why
  if ! why=$(precheck relaygate "$rg_base" "$key"); then
    put "$gw".skipped "$why"; stop_gracefully "$pid" 30; return
  fi
  local total=2 n runs32=3  # the two precheck requests; warmup, plain32 and stream32 run at $conns
  n=$(measure "$gw" warmup "$rg_base/v1/chat/completions" bench-plain 0 "$conns" "$warmup" "$key"); total=$((total + n))
  n=$(measure "$gw" plain32 "$rg_base/v1/chat/completions" bench-plain 0 "$conns" "$duration" "$key"); total=$((total + n))
  n=$(measure "$gw" stream32 "$rg_base/v1/chat/completions" bench-stream 1 "$conns" "$duration" "$key"); total=$((total + n))
  n=$(measure "$gw" plain1 "$rg_base/v1/chat/completions" bench-plain 0 1 "$duration" "$key"); total=$((total + n))
  if [ "$gw" = relaygate ]; then  # Anthropic callers: same dialect upstream vs translated to OpenAI
    n=$(measure "$gw" anth_pass32 "$rg_base/v1/messages" bench-claude-pass 0 "$conns" "$duration" "$key" \
        "$repo/bench/anthropic.lua"); total=$((total + n))
    n=$(measure "$gw" anth_xlate32 "$rg_base/v1/messages" bench-claude 0 "$conns" "$duration" "$key" \
        "$repo/bench/anthropic.lua"); total=$((total + n))
    runs32=5
  fi
  put "$gw".rss_mb "$(peak_rss_mb "$pid")"
  log "relaygate peak RSS $(peak_rss_mb "$pid") MB; stopping it with SIGTERM"
  if ! stop_gracefully "$pid" 60; then put "$gw".stop.note "did not stop within 60 s of SIGTERM"; fi
  local counts
  counts=$("$repo/.venv/bin/python" - "$rg_db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
total = db.execute("select count(*) from usage_records").fetchone()[0]
by = db.execute("select status, count(*) from usage_records group by status order by status").fetchall()
tables = {r[0] for r in db.execute("select name from sqlite_master where type = 'table'")}
ledger = db.execute("select count(*) from ledger_entries").fetchone()[0] if "ledger_entries" in tables else None
print(total, ledger if ledger is not None else "-", ", ".join(f"{s}: {n}" for s, n in by) or "none")
PY
)
  local rows ledger by_status
  read -r rows ledger by_status <<<"$counts"
  put "$gw".usage_rows "$rows"
  put "$gw".ledger_rows "$ledger"
  put "$gw".usage_by_status "$by_status"
  put "$gw".wrk_requests "$total"
  # wrk does not count the requests still in flight when it stops (up to CONNS per run), the gateway does
  local slack=$((runs32 * conns + 1 + 8))
  if [ "$rows" -ge "$total" ] && [ "$rows" -le $((total + slack)) ]; then
    put "$gw".usage_check "match: $((rows - total)) more rows than wrk-counted requests, within the in-flight allowance of $slack"
  else
    put "$gw".usage_check "MISMATCH: difference $((rows - total)), allowance 0..$slack"
  fi
  log "usage_records rows: $rows ($by_status), ledger_entries: $ledger; requests counted by wrk + prechecks: $total"
}
run_relaygate relaygate "${BILLING:-on}"
gw_pid=""
# the same without billing, when billing exists and is on above: shows what billing costs per request
if [ "${BILLING:-on}" != off ] && [ "${COMPARE_BILLING:-1}" = 1 ] && grep -q 'billing (' "$results"; then
  log "relaygate again, with RELAYGATE_BILLING=false RELAYGATE_LIMITS=false"
  run_relaygate relaygate_nobill off
  gw_pid=""
fi

# --- 3. LiteLLM --------------------------------------------------------------------------------
lt_base="http://127.0.0.1:$lt_port"
run_litellm() {
  if [ "${SKIP_LITELLM:-0}" = 1 ]; then put litellm.skipped "skipped: SKIP_LITELLM=1"; return; fi
  log "installing LiteLLM 1.108.11 into $lt_venv if missing (bench/install_litellm.sh)"
  if ! LITELLM_VENV="$lt_venv" bash "$repo/bench/install_litellm.sh" > "$tmp/litellm-install.log" 2>&1; then
    put litellm.skipped "install failed: $(grep -v '^WARNING' "$tmp/litellm-install.log" | tail -1 | cut -c1-120)"
    return
  fi
  if curl -s -o /dev/null -m 2 "$lt_base/"; then put litellm.skipped "port $lt_port already in use"; return; fi
  log "starting LiteLLM proxy on :$lt_port (core 1), master key only, no database"
  mkdir -p "$tmp/litellm"
  (cd "$tmp/litellm" && unset DATABASE_URL && LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR \
     exec taskset -c 1 "$lt_venv/bin/litellm" --config "$rig/litellm-config.yaml" --port "$lt_port" \
     --num_workers 1) > "$tmp/litellm.log" 2>&1 &
  local pid=$!
  started_pids+=("$pid")
  gw_pid=$pid
  if ! wait_http "$lt_base/health/liveliness" "$pid" 180; then
    put litellm.skipped "did not become ready within 180 s: $(sed 's/\x1b\[[0-9;]*m//g' "$tmp/litellm.log" | grep -v '^ *$' | tail -1 | cut -c1-120)"
    stop_gracefully "$pid" 10; return
  fi
  local why
  if ! why=$(precheck litellm "$lt_base" sk-bench); then
    put litellm.skipped "$why"; stop_gracefully "$pid" 30; return
  fi
  measure litellm warmup "$lt_base/v1/chat/completions" bench-plain 0 "$conns" "$warmup" sk-bench >/dev/null
  measure litellm plain32 "$lt_base/v1/chat/completions" bench-plain 0 "$conns" "$duration" sk-bench >/dev/null
  measure litellm stream32 "$lt_base/v1/chat/completions" bench-stream 1 "$conns" "$duration" sk-bench >/dev/null
  measure litellm plain1 "$lt_base/v1/chat/completions" bench-plain 0 1 "$duration" sk-bench >/dev/null
  put litellm.rss_mb "$(peak_rss_mb "$pid")"
  stop_gracefully "$pid" 30
}
run_litellm

# --- report ------------------------------------------------------------------------------------
mkdir -p "$repo/bench/results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
cp "$results" "$repo/bench/results/run-$stamp.env"
docs_arg=()
[ "$update_docs" = 1 ] && docs_arg=("$repo/docs/benchmarks.md")
echo
"$repo/.venv/bin/python" "$repo/bench/report.py" "$results" "$repo/bench/results/latest.md" "${docs_arg[@]}"
cp "$repo/bench/results/latest.md" "$repo/bench/results/run-$stamp.md"
echo
echo "report: $repo/bench/results/latest.md (raw numbers and wrk output: $tmp)"
