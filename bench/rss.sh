#!/usr/bin/env bash
# RSS of `relaygate serve` (one worker, SQLite) at rest and its peak (VmHWM) after each of the large.sh
# scenarios in turn, 32 requests at a time through bench/drive.py; no pinning, no timing: memory only.
#   bench/rss.sh                     # the tree this script is in
#   SRC=/path/to/other/tree/src bench/rss.sh    # another tree's code with this venv (a before/after)
# Needs the rig's mock on :9100 and the large mock on :9101 (bench/start-mock-big.sh starts it).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd); cd "$repo"
port=${RELAYGATE_RSS_PORT:-8794}
[ -n "${SRC:-}" ] && export PYTHONPATH=$SRC
tmp=$(mktemp -d /tmp/relaygate-bench-rss.XXXXXX)
PIN=0 bash "$repo/bench/start-mock-big.sh" >/dev/null || exit 1
export RELAYGATE_SECRETS_KEY=$(.venv/bin/python -c 'from relaygate.core.secrets import new_key; print(new_key())')
key=$(.venv/bin/python bench/setup_db.py "sqlite+aiosqlite:///$tmp/bench.db" http://127.0.0.1:9100 http://127.0.0.1:9101 \
      | sed -n 's/^KEY=//p')
RELAYGATE_DATABASE_URL="sqlite+aiosqlite:///$tmp/bench.db" RELAYGATE_DATA_DIR="$tmp/data" RELAYGATE_DEMO_UPSTREAM=false \
  RELAYGATE_LOG_LEVEL=warning .venv/bin/relaygate serve --port "$port" --no-demo > "$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
sleep 1
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
echo "at rest: $(( $(kb VmRSS) / 1024 )) MB"
P=/tmp/relaygate-bench/payloads
run() {  # path model requests body dialect stream
  .venv/bin/python bench/drive.py "http://127.0.0.1:$port$1" "$key" "$2" "$3" 32 "$4" "$5" "$6" || echo "$2: requests failed"
  echo "after $3 × $2: peak $(( $(kb VmHWM) / 1024 )) MB, now $(( $(kb VmRSS) / 1024 )) MB"
}
run /v1/chat/completions bench-plain 2000 "" openai 0
run /v1/chat/completions bench-large 600 $P/chat200k.json openai 0
run /v1/messages bench-large-claude-pass 600 $P/claude200k.json anthropic 0
run /v1/messages bench-large-claude 400 $P/claude200k.json anthropic 0
run /v1/chat/completions bench-big 300 $P/chat200k.json openai 0
run /v1/chat/completions bench-bigstream 300 $P/chat200k.json openai 1
run /v1/messages bench-agent-pass 400 $P/claudecode.json anthropic 1
kill -TERM "$pid"; wait "$pid"; rm -rf "$tmp"
