#!/usr/bin/env bash
# The first `./scripts/run` on a fresh machine: a fresh clone of this checkout's HEAD, no .venv, an
# empty pip cache, a new data dir; times it until the gateway answers /health/ready.
#   bench/first_run.sh            # prints wall seconds to ready, and the install's CPU seconds
# PORT (default 18790) and DEMO_PORT (18791) keep it off a gateway already running on 8790.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
port=${PORT:-18790}
work=$(mktemp -d /tmp/relaygate-first-run.XXXX)
pid=
trap '[ -n "$pid" ] && pkill -P "$pid" 2>/dev/null; rm -rf "$work"' EXIT
git clone -q "$src" "$work/relaygate"
export PIP_CACHE_DIR="$work/pip-cache" RELAYGATE_DATA_DIR="$work/data" RELAYGATE_PORT=$port \
  RELAYGATE_DEMO_PORT=${DEMO_PORT:-18791} RELAYGATE_FIRST_RUN_OUTPUT=file
unset PYTHONDONTWRITEBYTECODE  # a user's machine writes bytecode
start=$(date +%s.%N)
( cd "$work/relaygate" && exec /usr/bin/time -f '%U %S' -o "$work/cpu" ./scripts/run ) >"$work/log" 2>&1 &
pid=$!
until curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/log"; echo "first run failed" >&2; exit 1; }
  sleep 0.2
done
end=$(date +%s.%N)
printf 'first ./scripts/run until /health/ready: %.1f s wall\n' "$(echo "$end - $start" | bc -l)"
pkill -INT -P "$pid" || true  # the gateway (time runs it as its child)
wait "$pid" 2>/dev/null || true
read -r u s <"$work/cpu" || true
printf 'CPU of ./scripts/run and the gateway it started (user+sys): %.1f s\n' "$(echo "${u:-0} + ${s:-0}" | bc -l)"
printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
