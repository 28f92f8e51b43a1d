#!/usr/bin/env bash
# Instructions per request of each Relay.finish observer, counted by callgrind (stable on a busy host):
#   bench/observers_instr.sh [N]     # (run with N calls) - (run with 0 calls), divided by N
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
export PYTHONHASHSEED=0  # the same dict and set layouts in both runs: the difference is the calls alone
count() {  # total instructions of one run of bench/observers.py
  local out; out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" .venv/bin/python bench/observers.py "$1" "$2" >/dev/null 2>&1
  grep -h '^summary:' "$out"* | awk '{s += $2} END {print s}'
  rm -f "$out"*
}
for name in ${NAMES:-baseline meter access-off direct-json direct-text access-json ${TRACES:+traces}}; do
  zero=$(count 0 "$name"); many=$(count "$n" "$name")
  printf '%-12s %10d instructions/request\n' "$name" $(((many - zero) / n))
done
