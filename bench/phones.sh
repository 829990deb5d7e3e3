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
# CPU seconds (user + system) a process has used so far, from /proc.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
server_cpu_before=$(cpu_seconds "$server")
echo "backend=$backend users=$users seconds=$seconds spawn=$spawn form=$form cpu=$(nproc)x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
HYGEIA_APP_ID=bench.hygeia HYGEIA_USERNAME=bench-admin HYGEIA_PASSWORD="$password" HYGEIA_FORM="$form" \
    HYGEIA_TEMPLATE="$work/submission.xml" \
    /usr/bin/time -f "%U %S" -o "$work/locust-cpu" \
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
server_cpu=$(echo "$(cpu_seconds "$server") - $server_cpu_before" | bc)
python3 - "$work/phones_stats.csv" "$server_cpu" "$work/locust-cpu" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["Name"] == "Aggregated"]
requests = int(rows[0]["Request Count"])
server = float(sys.argv[2])
locust = sum(float(t) for t in open(sys.argv[3]).read().split()[-2:])
for who, cpu in (("server", server), ("locust", locust)):
    print(f"{who} CPU: {cpu:.1f} s, {cpu * 1e6 / requests:.0f} us per request")
PY
# RSS counts the database's mapped pages too (the kernel's, reclaimable); RssAnon is the server's own.
echo "server RSS: $(ps -o rss= -p "$server") KB, of which anonymous: $(awk '/^RssAnon/ { print $2 }' "/proc/$server/status") KB"
if [ "$backend" = sqlite ]; then
    echo "data directory: $(du -sh "$work/data" | cut -f1) (database $(du -h "$work/data/hygeia.db" | cut -f1), files $(find "$work/data" -type f | wc -l))"
fi
