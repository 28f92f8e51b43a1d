#!/usr/bin/env bash
# Start-up cost of every CLI command group: its --help and a real read command, on a fresh SQLite
# database in a temporary RELAYGATE_DATA_DIR.
#   bench/cli_start.sh                 # CPU seconds (user+sys, best of ROUNDS=3) and wall (best) per command
#   INSTR=1 bench/cli_start.sh         # also instructions (callgrind; ~30 s per command, stable on a busy host)
#   ONLY="keys list|--help" bench/cli_start.sh    # a subset (an extended regex on the command)
#   SRC=/work/main/src bench/cli_start.sh         # another tree's code with this venv (before/after)
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-3}
tmp=$(mktemp -d /tmp/relaygate-cli-start.XXXX)
trap 'rm -rf "$tmp"' EXIT
unset PYTHONDONTWRITEBYTECODE  # a user's venv keeps bytecode: measure that, not compiling
export RELAYGATE_DATA_DIR="$tmp/data" RELAYGATE_DATABASE_URL= RELAYGATE_LANG=en COLUMNS=100
[ -n "${SRC:-}" ] && export PYTHONPATH="$SRC"
rg=("$repo/.venv/bin/python" -m relaygate.cli)
"${rg[@]}" --init db upgrade >/dev/null
"${rg[@]}" owners add bench >/dev/null
"${rg[@]}" keys create --name bench --owner bench >/dev/null
"${rg[@]}" >/dev/null 2>&1  # warm the page cache and bytecode
commands=(
  "--help" "db --help"
  "owners --help" "owners list" "groups --help" "groups list" "keys --help" "keys list"
  "channels --help" "channels list" "channels health" "models --help" "models list"
  "logs --help" "logs search" "config --help" "config export" "balance --help" "prices --help" "prices list"
  "migrate --help" "alerts --help" "alerts list" "secrets --help" "secrets status"
  "support --help" "notices --help" "stats --help" "stats" "users --help" "users list"
  "codes --help" "codes list" "media --help" "media prices list" "operators --help" "operators list"
  "admin-tokens --help" "admin-tokens list" "rollout --help" "rollout status"
)
printf '| %-26s | %9s | %8s |%s\n' command "CPU s" "wall s" "${INSTR:+ instructions (M) |}"
printf '|%s|%s|%s|%s\n' "$(printf -- '-%.0s' {1..28})" "----------:" "---------:" "${INSTR:+------------------:|}"
for c in "${commands[@]}"; do
  [[ -n "${ONLY:-}" && ! "$c" =~ ^(${ONLY})$ ]] && continue
  best_cpu=99; best_wall=99
  for _ in $(seq "$rounds"); do
    # shellcheck disable=SC2086
    /usr/bin/time -f '%U %S %e' -o "$tmp/t" "${rg[@]}" $c >/dev/null 2>&1
    read -r u s e <"$tmp/t"
    cpu=$(echo "$u + $s" | bc -l)
    (( $(echo "$cpu < $best_cpu" | bc -l) )) && best_cpu=$cpu
    (( $(echo "$e < $best_wall" | bc -l) )) && best_wall=$e
  done
  instr=""
  if [ -n "${INSTR:-}" ]; then
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "${rg[@]}" $c >/dev/null 2>&1
    instr=$(grep -h '^summary:' "$tmp"/cg.out* | awk '{s += $2} END {printf " %d |", s / 1e6}')
    rm -f "$tmp"/cg.out*
  fi
  printf '| %-26s | %9.2f | %8.2f |%s\n' "\`$c\`" "$best_cpu" "$best_wall" "$instr"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
