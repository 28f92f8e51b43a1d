#!/usr/bin/env bash
# Real agent traffic, side by side in one run: the floor (bench/floor.py, bare Python) vs relaygate with
# memory counters, with Redis, and --workers 2 + Redis on PostgreSQL, on large bodies, 1 MB answers and
# agent-shaped turns. Figures: req/s at 32 connections, added p50 at 1, CPU per request, peak RSS, Redis
# round trips per request (INFO commandstats of a private redis-server), time to first byte.
#
#   bench/large.sh                    # ~8 min; report in bench/results/large-latest.md
#
# Knobs: DURATION (5s), CONNS (32), VARIANTS ("floor memory redis pg1 pg2"), SCENARIOS (all),
# PG_ADMIN_URL (postgresql://postgres@127.0.0.1:5432/postgres), REDIS_PORT (6390), RELAYGATE_BENCH_PORT (8790),
# FLOOR_PORT / FLOOR_PORT2 (8791 / 8792), GATEWAY_ENV (extra VAR=value for the gateway), TTFB_N (200).
# Pinning as bench/run.sh: every gateway (both workers of pg2 too) on core 1, nginx, wrk and Redis on core 0.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rig=${RIG:-/work/shared/bench}
duration=${DURATION:-5s}
conns=${CONNS:-32}
port=${RELAYGATE_BENCH_PORT:-8790}
redis_port=${REDIS_PORT:-6390}
floor_port=${FLOOR_PORT:-8791}; floor_port2=${FLOOR_PORT2:-8792}  # the floor towards :9101 and towards :9100
pg_admin=${PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
variants=${VARIANTS:-direct floor memory redis pg1 pg2}
payloads=/tmp/relaygate-bench/payloads
tmp=$(mktemp -d /tmp/relaygate-bench-large.XXXXXX)
results="$tmp/results.env"
: > "$results"
pids=()
# one secrets key for the run: setup_db.py seals the channels' secrets with it, every gateway opens them
RELAYGATE_SECRETS_KEY=$("$repo/.venv/bin/python" -c 'from relaygate.core.secrets import new_key; print(new_key())')
export RELAYGATE_SECRETS_KEY
log() { printf '[large %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
put() { printf '%s=%s\n' "$1" "$2" >> "$results"; }
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done; redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1; }
trap cleanup EXIT

PIN=0 bash "$rig/start-mock.sh" >&2 || exit 1
PIN=0 bash "$repo/bench/start-mock-big.sh" >&2 || exit 1
for f in /tmp/relaygate-bench/mock-upstream.pid /tmp/relaygate-bench/mock-big.pid; do
  m=$(cat "$f"); for p in "$m" $(pgrep -P "$m"); do taskset -a -cp 0 "$p" >/dev/null 2>&1; done
done
taskset -c 0 redis-server --port "$redis_port" --save '' --appendonly no --daemonize yes \
  --logfile "$tmp/redis.log" >/dev/null || exit 1
sleep 0.3

put date "$(date -u '+%Y-%m-%d %H:%M UTC')"
put machine "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
put commit "$(git -C "$repo" rev-parse --short HEAD)$([ -n "$(git -C "$repo" status --porcelain -- src)" ] && echo ' + uncommitted')"
put loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
put duration "$duration"; put conns "$conns"

# scenario: name lua body model stream path (path is the relaygate path; the floor gets upstream paths)
scenarios=(
  "small plain.lua - bench-plain 0 /v1/chat/completions 9100/plain/v1/chat/completions"
  "stream plain.lua - bench-stream 1 /v1/chat/completions 9100/stream/v1/chat/completions"
  "chat200k body.lua chat200k.json bench-large 0 /v1/chat/completions 9101/plain/v1/chat/completions"
  "claude200k_pass body.lua claude200k.json bench-large-claude-pass 0 /v1/messages 9101/anthropic/v1/messages"
  "claude200k_xlate body.lua claude200k.json bench-large-claude 0 /v1/messages 9101/plain/v1/chat/completions"
  "big1m body.lua chat200k.json bench-big 0 /v1/chat/completions 9101/big/v1/chat/completions"
  "bigstream1m body.lua chat200k.json bench-bigstream 1 /v1/chat/completions 9101/bigstream/v1/chat/completions"
  "agent_pass body.lua claudecode.json bench-agent-pass 1 /v1/messages 9101/agent/v1/messages"
  "agent_xlate body.lua claudecode.json bench-agent-xlate 1 /v1/messages 9101/agentx/v1/chat/completions"
  "codex body.lua codex.json bench-codex 1 /v1/responses 9101/codex/v1/responses"
)
wanted=${SCENARIOS:-all}

cpu_ticks() { local t=0 p; for p in "$1" $(pgrep -P "$1"); do
  t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13}'))); done; echo $t; }
evalsha() { redis-cli -p "$redis_port" info commandstats | tr -d '\r' | awk -F'[=,:]' '
  /^cmdstat_(evalsha|eval):/ {s += $3} /^cmdstat_/ {c += $3} END {print s+0, c+0}'; }

rss_mb() { local t=0 p; for p in "$1" $(pgrep -P "$1") $(for c in $(pgrep -P "$1"); do pgrep -P "$c"; done); do
  t=$((t + $(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done
  awk -v k="$t" 'BEGIN {printf "%.0f", k / 1024}'; }

# run VARIANT SCENARIO CONNS: one wrk run against the gateway (or the floor) in $gw_pid
run() {
  local v=$1 line=$2 c=$3 name lua body model stream path up url out
  read -r name lua body model stream path up <<<"$line"
  if [ "$v" = direct ]; then url="http://127.0.0.1:$up"
  elif [ "$v" = floor ]; then url="http://127.0.0.1:$floor_port/${up#*/}"; [ "${up%%/*}" = 9100 ] && url="http://127.0.0.1:$floor_port2/${up#*/}"
  else url="http://127.0.0.1:$port$path"; fi
  local script="$repo/bench/$lua" dialect=openai
  [ "$lua" = plain.lua ] && script="$rig/post.lua"
  [ "$path" = /v1/messages ] && dialect=anthropic
  out="$tmp/wrk-$v-$name-$c.txt"
  local t0 r0 c0 t1 r1 c1
  t0=$(cpu_ticks "$gw_pid"); read -r r0 c0 < <(evalsha)
  KEY=$key MODEL=$model STREAM=$stream BODY="$payloads/$body" DIALECT=$dialect \
    taskset -c 0 wrk -t1 -c"$c" -d"$duration" --timeout 30s -s "$script" "$url" > "$out" 2>&1
  t1=$(cpu_ticks "$gw_pid"); read -r r1 c1 < <(evalsha)
  local res n
  res=$(grep '^RESULT ' "$out" | tail -1)
  n=$(grep -oE '^ *[0-9]+ requests in' "$out" | grep -oE '[0-9]+' | head -1)
  local k="$v.$name.c$c"
  put "$k.result" "${res#RESULT }"
  put "$k.requests" "${n:-0}"
  put "$k.cpu_us" "$(awk -v t=$((t1 - t0)) -v n="${n:-0}" 'BEGIN {printf "%.0f", n ? t * 10000 / n : 0}')"
  put "$k.redis_scripts" "$((r1 - r0))"; put "$k.redis_cmds" "$((c1 - c0))"
  [ "$v" != direct ] && put "$k.hwm_mb" "$(rss_mb "$gw_pid")"  # the peak so far: which scenario raised it
  log "$k: ${res#RESULT } n=${n:-0} peak=$(rss_mb "$gw_pid")MB cpu/req=$(awk -v t=$((t1 - t0)) -v n="${n:-0}" 'BEGIN {printf "%.0f", n ? t * 10000 / n : 0}')us redis scripts=$((r1 - r0))"
}

# ttfb VARIANT SCENARIO: time to the first byte of the answer, one request at a time (bench/ttfb.py)
ttfb() {
  local v=$1 line=$2 name lua body model stream path up url dialect=openai out
  read -r name lua body model stream path up <<<"$line"
  if [ "$v" = direct ]; then url="http://127.0.0.1:$up"
  elif [ "$v" = floor ]; then url="http://127.0.0.1:$floor_port/${up#*/}"
  else url="http://127.0.0.1:$port$path"; fi
  [ "$path" = /v1/messages ] && dialect=anthropic
  out=$(cd "$repo/bench" && taskset -c 0 ../.venv/bin/python ttfb.py "$url" "$key" "$model" "$payloads/$body" "$dialect" \
        "${TTFB_N:-200}" 2>&1 | tail -1)
  put "$v.$name.ttfb" "$out"; log "$v.$name: $out"
}

serve_relaygate() {  # VARIANT
  local v=$1 db_url redis_url="" workers=1
  case "$v" in
    memory) db_url="sqlite+aiosqlite:///$tmp/$v.db" ;;
    redis) db_url="sqlite+aiosqlite:///$tmp/$v.db"; redis_url="redis://127.0.0.1:$redis_port/0" ;;
    pg1|pg2)
      psql "$pg_admin" -qc "drop database if exists rg_bench_large" -qc "create database rg_bench_large" >/dev/null || return 1
      db_url="postgresql+asyncpg://${pg_admin#postgresql://}"; db_url="${db_url%/*}/rg_bench_large"
      redis_url="redis://127.0.0.1:$redis_port/0"; [ "$v" = pg2 ] && workers=2 ;;
  esac
  redis-cli -p "$redis_port" flushall >/dev/null
  local setup
  setup=$(cd "$repo" && .venv/bin/python bench/setup_db.py "$db_url" http://127.0.0.1:9100 http://127.0.0.1:9101 2>"$tmp/$v-setup.err")
  key=$(sed -n 's/^KEY=//p' <<<"$setup")
  [ -n "$key" ] || { log "$v: setup_db failed: $(tail -1 "$tmp/$v-setup.err")"; return 1; }
  (cd "$repo" && exec env ${GATEWAY_ENV:-} RELAYGATE_DATABASE_URL="$db_url" ${redis_url:+REDIS_URL=$redis_url} RELAYGATE_DATA_DIR="$tmp/$v-data" \
     RELAYGATE_DEMO_UPSTREAM=false RELAYGATE_LOG_LEVEL=warning RELAYGATE_BENCH=1 \
     taskset -c 1 .venv/bin/relaygate serve --port "$port" --no-demo --workers "$workers") > "$tmp/$v.log" 2>&1 &
  gw_pid=$!; pids+=("$gw_pid")
  for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && return 0; sleep 0.1; done
  log "$v did not start: $(tail -2 "$tmp/$v.log")"; return 1
}

for v in $variants; do
  key=sk-bench
  if [ "$v" = direct ]; then
    gw_pid=$(cat /tmp/relaygate-bench/mock-big.pid)
  elif [ "$v" = floor ]; then
    (cd "$repo" && exec taskset -c 1 .venv/bin/python bench/floor.py "$floor_port" http://127.0.0.1:9101) > "$tmp/floor.log" 2>&1 &
    gw_pid=$!; pids+=("$gw_pid")
    (cd "$repo" && exec taskset -c 1 .venv/bin/python bench/floor.py "$floor_port2" http://127.0.0.1:9100) > "$tmp/floor2.log" 2>&1 &
    floor2=$!; pids+=("$floor2")
    for _ in $(seq 1 100); do
      curl -sf -o /dev/null -XPOST "http://127.0.0.1:$floor_port/plain/v1/chat/completions" -d '{}' &&
        curl -sf -o /dev/null -XPOST "http://127.0.0.1:$floor_port2/plain/v1/chat/completions" -d '{}' && break
      sleep 0.1
    done
  else
    serve_relaygate "$v" || { put "$v.skipped" "did not start"; continue; }
  fi
  log "variant $v (pid $gw_pid)"
  for line in "${scenarios[@]}"; do
    name=${line%% *}
    [ "$wanted" = all ] || [[ " $wanted " == *" $name "* ]] || continue
    [ "$v" = floor ] && [[ "${line##* }" == 9100/* ]] && gw_pid_save=$gw_pid && gw_pid=$floor2
    run "$v" "$line" "$conns" > /dev/null
    case "$name" in small|chat200k|claude200k_pass|agent_pass|codex) run "$v" "$line" 1 > /dev/null ;; esac
    case "$name" in agent_pass|agent_xlate|codex) ttfb "$v" "$line" ;; esac
    [ -n "${gw_pid_save:-}" ] && gw_pid=$gw_pid_save && gw_pid_save=""
  done
  [ "$v" = direct ] && continue
  put "$v.rss_mb" "$(rss_mb "$gw_pid")"
  kill -TERM "$gw_pid" 2>/dev/null; [ "$v" = floor ] && kill -TERM "$floor2" 2>/dev/null
  wait "$gw_pid" 2>/dev/null; sleep 0.5
done
redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1
mkdir -p "$repo/bench/results"
cp "$results" "$repo/bench/results/large-$(date -u +%Y%m%dT%H%M%SZ).env"
"$repo/.venv/bin/python" "$repo/bench/large_report.py" "$results" | tee "$repo/bench/results/large-latest.md"
