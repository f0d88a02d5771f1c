#!/bin/bash
# Instructions per request, counted by valgrind (callgrind), for one target: repeatable where
# timings are not (this VM's speed drifts 2x within minutes; bare Fastify's count repeated within
# 0.2%). User-space instructions only: syscalls (writev, read) are not counted, so the ratio of
# two counts is not the ratio of req/s; and it misses costs that are not instructions (it
# put Nest's hooks at ~0 where CPU time side by side put them at ~7%): judge changes by the edge
# bench's side-by-side section. Not part of `npm run bench` (minutes per target).
#
#   bash bench/instructions.sh bare|service|SCRIPT WARMUP N PATH [NAME=VALUE ...]
#   e.g. bash bench/instructions.sh service 40000 3000 /ids/segment
#
# The first WARMUP requests run uninstrumented (start-up and JIT warm-up), then N are counted.
# WARMUP >= 40000 for the service: with 10000, TurboFan still compiles inside the window and the
# count swung 112k-213k per request between runs; with 40000 it read 112.9k (bare: 107.0k).
# Needs `npm run build` and Debian's valgrind. Prints: target warmup n instructions/request.
set -euo pipefail
target=$1 warm=$2 n=$3 path=${4:-/ids/segment}; shift 4
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
case $target in
  bare) script=$root/dist/bench/baseline-fastify.js args=$port probe=/ids/segment ;;
  service) script=$root/dist/apps/id-server/main.js args= probe=/health/ready ;;
  *) script=$target args=$port probe=/ids/segment ;;
esac
# valgrind names its control pipe after $USER and $HOST: the same values for it and for
# callgrind_control (the service reads HOST as its bind address too)
export USER=${USER:-root} LOGNAME=${LOGNAME:-root} HOST=127.0.0.1
env "$@" PORT=$port LOG_LEVEL=error WORKERS=1 SQLITE_PATH="$dir/bench.sqlite" \
  valgrind --tool=callgrind --instr-atstart=no --smc-check=all-non-file --callgrind-out-file="$dir/cg" \
  node "$script" $args 2>"$dir/valgrind.log" &
launched=$!
trap 'kill -KILL $launched 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port$probe" >/dev/null && break; sleep 1; done
node "$root/dist/bench/count-client.js" "$port" "$path" "$warm" >/dev/null
vg=$(pgrep -f "valgrind.bin.*$dir/cg" | head -1)
callgrind_control -i on "$vg" >/dev/null 2>&1
node "$root/dist/bench/count-client.js" "$port" "$path" "$n" >"$dir/client.json"
callgrind_control -i off "$vg" >/dev/null 2>&1
kill -TERM "$launched"
wait "$launched" || true
total=$(awk '/Collected/ {print $4}' "$dir/valgrind.log")
echo "$target $path warmup=$warm n=$n instructions/request=$((total / n)) $(cat "$dir/client.json") $*"
