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
    # This machine's PostgreSQL runs with autovacuum off (its CI configuration): do between runs what
    # autovacuum would, or each run reads the dead rows and stale statistics of the ones before.
    if [ "$backend" = postgres ]; then psql -q -h 127.0.0.1 -U postgres -d hygeia_bench_submissions -c 'VACUUM ANALYZE'; fi
    echo -n "run $i: "
    "$bin" bench ingest --url "$base" --app-id bench.hygeia --username bench-admin --password "$password" \
        --template submission.xml --protocol "$protocol" --clients "$clients" --seconds "$seconds" --form "$form" --org-unit "$unit"
done
echo "server RSS: $(ps -o rss= -p "$server") KB"
if [ "$backend" = sqlite ]; then du -sh data | sed 's/^/database and files: /'; fi
