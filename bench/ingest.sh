#!/usr/bin/env bash
# Sustained submission ingest: CLIENTS concurrent phones on 127.0.0.1, each sending one
# submission after another for SECONDS (`hygeia bench ingest`), against a release build with the
# demo account (Burkina Faso pyramid) and the corpus's repeat-group form; one submission = the
# XML of bench/submission.xml (two repeat instances, ~900 bytes).
#
#   bench/ingest.sh [sqlite|postgres] [runs] [clients] [seconds] [openrosa|iaso]
#
# Each run prints submissions/s, p50/p99/max latency, errors, and the submission count the
# server lists before and after (a lost submission fails the run). BENCHMARKS.md quotes medians.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
runs="${2:-3}"
clients="${3:-50}"
seconds="${4:-20}"
protocol="${5:-openrosa}"
port=18183
source bench/lib/submissions-server.sh
echo "backend=$backend clients=$clients seconds=$seconds protocol=$protocol form=$form version=$version org_unit=$unit cpu=$(nproc)x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for i in $(seq "$runs"); do
    # This machine's PostgreSQL runs with autovacuum off (its CI configuration). Without it each run
    # reads the dead rows of the ones before, and plans cached while the tables were small (seq scans,
    # counted in pg_stat_user_tables) stay as the tables grow: vacuum before each run and analyze
    # every 10 s during it, as autovacuum would.
    analyzer=0
    if [ "$backend" = postgres ]; then
        pg="psql -q -h 127.0.0.1 -U postgres -d hygeia_bench_submissions"
        $pg -c 'VACUUM ANALYZE'
        (while sleep 10; do $pg -c 'ANALYZE submissions, submission_payloads'; done) &
        analyzer=$!
    fi
    echo -n "run $i: "
    "$bin" bench ingest --url "$base" --app-id bench.hygeia --username bench-admin --password "$password" \
        --template submission.xml --protocol "$protocol" --clients "$clients" --seconds "$seconds" --form "$form" --org-unit "$unit"
    if [ "$analyzer" != 0 ]; then kill "$analyzer"; wait "$analyzer" 2>/dev/null || true; fi
done
echo "server RSS: $(ps -o rss= -p "$server") KB"
if [ "$backend" = sqlite ]; then du -sh data | sed 's/^/database and files: /'; fi
