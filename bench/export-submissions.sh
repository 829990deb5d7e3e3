#!/usr/bin/env bash
# CSV export of COUNT submissions of the corpus's repeat-group form (two households each, so 2 x
# 7 flattened repeat columns), release build, SQLite or PostgreSQL: the submissions are written
# straight through the store (`hygeia bench seed-submissions`), then exported RUNS times with
# curl over 127.0.0.1. Prints time, bytes, rows, and the server's resident memory before the
# first export and its peak (VmHWM) after each.
#
#   bench/export-submissions.sh [sqlite|postgres] [count] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
count="${2:-1000000}"
runs="${3:-3}"
port=18185
source bench/lib/submissions-server.sh
echo "backend=$backend count=$count form=$form cpu=$(nproc)x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
/usr/bin/time -f "seeding: %e s, %M KB max RSS" "$bin" bench seed-submissions --account Bench --form "$form" --count "$count" | tail -n 1
echo "server RSS before exporting: $(ps -o rss= -p "$server") KB"
for i in $(seq "$runs"); do
    out=$(curl -sf -o export.csv -w '%{time_total} s, %{size_download} bytes, first byte after %{time_starttransfer} s' \
        -H "Authorization: Bearer $token" "$base/api/instances/?form_ids=$form&csv=true")
    echo "run $i: $out, $(($(wc -l < export.csv) - 1)) rows, server peak RSS $(grep VmHWM /proc/$server/status | awk '{print $2}') KB"
done
head -c 600 export.csv | head -n 2
