#!/usr/bin/env bash
# Start the large/agent mock upstream (nginx on 127.0.0.1:9101) with fresh payloads; PIN=0 pins it.
# Stop it with: kill "$(cat /tmp/relaygate-bench/mock-big.pid)"
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
run=/tmp/relaygate-bench
payloads=$run/payloads
mkdir -p "$run"
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light wrk >/dev/null; }
"$repo/.venv/bin/python" "$repo/bench/make_payloads.py" "$payloads" >/dev/null
printf '%s\n' 'default_type text/event-stream;' 'error_page 405 =200 $uri;' \
  'sub_filter_types text/event-stream;' "sub_filter 'never-present' 'never-present';" > "$run/mock-big-sse.inc"
sed "s#@DIR@#$payloads#g; s#@RUN@#$run#g" "$repo/bench/mock-big.conf.in" > "$run/mock-big.conf"
if [ -f "$run/mock-big.pid" ] && kill -0 "$(cat "$run/mock-big.pid")" 2>/dev/null; then
  nginx -c "$run/mock-big.conf" -s reload
else
  ${PIN:+taskset -c $PIN} nginx -c "$run/mock-big.conf"
fi
sleep 0.3
curl -sf -XPOST http://127.0.0.1:9101/big/v1/chat/completions -d '{}' -o /dev/null && echo "large mock upstream ready on 127.0.0.1:9101"
