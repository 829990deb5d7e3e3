#!/usr/bin/env bash
# Task-system throughput: workers claiming, reporting one progress step and completing no-op tasks.
#
#   bench/tasks.sh [sqlite|postgres] [runs] [tasks]
#
# For 1 and 4 workers, prints per run the time to queue the tasks and the claim+complete throughput.
# BENCHMARKS.md quotes the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
runs="${2:-3}"
tasks="${3:-2000}"
cargo build --release --quiet
bin="$PWD/target/release/hygeia"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
unset HYGEIA_TEST_POSTGRES_URL
if [ "$backend" = postgres ]; then
    psql -q -h 127.0.0.1 -U postgres -d test -c 'DROP DATABASE IF EXISTS hygeia_bench_tasks' -c 'CREATE DATABASE hygeia_bench_tasks'
    export HYGEIA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/hygeia_bench_tasks
fi
export HYGEIA_LOG=warn
"$bin" create-account Bench >/dev/null
for workers in 1 4; do
    for i in $(seq "$runs"); do
        "$bin" bench tasks --account Bench --tasks "$tasks" --workers "$workers"
    done
done
