#!/usr/bin/env bash
# Iaso's phone load test (bench/locustfile.py) against a release build with the demo account:
# USERS phones, started at SPAWN per second, for SECONDS, on 127.0.0.1; locust runs headless
# beside the server on the same machine.
#
#   bench/phones.sh [sqlite|postgres] [users] [seconds] [spawn]
#
# Prints locust's aggregated figures (requests/s, p50/p95/p99, failures) and the per-endpoint
# table, the submissions counted afterwards, and the server's resident memory.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
users="${2:-500}"
seconds="${3:-120}"
spawn="${4:-50}"
port=18184
locustfile="$PWD/bench/locustfile.py"
command -v locust >/dev/null || { echo "locust is missing: pip install locust" >&2; exit 1; }
source bench/lib/submissions-server.sh
echo "backend=$backend users=$users seconds=$seconds spawn=$spawn form=$form cpu=$(nproc)x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
HYGEIA_APP_ID=bench.hygeia HYGEIA_USERNAME=bench-admin HYGEIA_PASSWORD="$password" HYGEIA_FORM="$form" \
    HYGEIA_TEMPLATE="$work/submission.xml" \
    locust -f "$locustfile" --headless --host "$base" -u "$users" -r "$spawn" -t "${seconds}s" \
    --csv "$work/phones" --only-summary --loglevel WARNING 2>&1 | tail -n 40
echo
python3 - "$work/phones_stats.csv" <<'PY'
import csv, sys
for row in csv.DictReader(open(sys.argv[1])):
    if row["Name"] == "Aggregated":
        print(f"aggregated: {row['Request Count']} requests, {row['Failure Count']} failures, "
              f"{float(row['Requests/s']):.0f} req/s, p50 {row['50%']} ms, p95 {row['95%']} ms, p99 {row['99%']} ms")
PY
count=$(curl -sf -H "Authorization: Bearer $token" "$base/api/instances/?limit=1" | sed -E 's/^\{"count":([0-9]+).*/\1/')
echo "submissions listed afterwards: $count"
echo "server RSS: $(ps -o rss= -p "$server") KB"
