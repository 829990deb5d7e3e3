#!/usr/bin/env bash
# One phones' load test (bench/phones.sh, SQLite) with what does not depend on how busy the host is:
# the host probe first, then, 30 s into the run, the server's syscalls and context switches over
# 20 s (perf's software events, which VMs without hardware counters still count). Compare builds
# by running them in turn: BENCH_BIN=old, new, old, new...
#
#   BENCH_BIN=path/to/hygeia bench/phones-counted.sh [users] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
users="${1:-500}"
seconds="${2:-60}"
command -v perf >/dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 1; }
bash bench/lib/host-probe.sh
counts="$(mktemp)"
(
    sleep 30
    server=$(pgrep -f "serve --bind 127.0.0.1:18184" | head -n 1)
    perf stat -e raw_syscalls:sys_enter,context-switches,task-clock -p "$server" -o "$counts" -- sleep 20
) &
bench/phones.sh sqlite "$users" "$seconds" 50 | grep -E "^aggregated|CPU:|^data directory"
wait
grep -E "sys_enter|context-switches|task-clock" "$counts"
rm -f "$counts"
