#!/usr/bin/env bash
# Georegistry read paths on a synthetic tree of 100,000 org units (4 levels, points) plus the US
# nation > 56 states > 3,231 counties with their boundaries (us-atlas), release build, wrk on
# 127.0.0.1 with 8 connections.
#
#   bench/georegistry.sh [sqlite|postgres] [runs] [units]
#
# Prints, per endpoint and run, wrk's latency distribution (p50, p99) and requests/s, and the
# server's resident memory at the end. BENCHMARKS.md quotes the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
runs="${2:-3}"
units="${3:-100000}"
port=18182
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

cargo build --release --quiet
bin="$PWD/target/release/hygeia"
counties="$PWD/../shared/data/boundaries/us_atlas/counties-10m.json"
work="$(mktemp -d)"
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
unset HYGEIA_TEST_POSTGRES_URL
if [ "$backend" = postgres ]; then
    psql -q -h 127.0.0.1 -U postgres -d test -c 'DROP DATABASE IF EXISTS hygeia_bench_geo' -c 'CREATE DATABASE hygeia_bench_geo'
    export HYGEIA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/hygeia_bench_geo
fi
export HYGEIA_LOG=warn
"$bin" create-account Bench >/dev/null
echo 'bench password 1' | "$bin" create-user --account Bench --username bench --superuser --password-stdin >/dev/null
/usr/bin/time -f "seeding: %e s, %M KB max RSS" "$bin" bench seed-tree --account Bench --units "$units" \
    --counties "$counties" 2>&1 | grep -v '^skipped' 
"$bin" serve --bind "127.0.0.1:$port" &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/" >/dev/null && break; sleep 0.1; done
token=$(curl -sf -X POST "http://127.0.0.1:$port/api/token/" -H 'Content-Type: application/json' \
    -d '{"username":"bench","password":"bench password 1"}' | sed -E 's/.*"access":"([^"]+)".*/\1/')
api="http://127.0.0.1:$port/api/orgunits"
region=$(curl -sf -H "Authorization: Bearer $token" "$api/?search=Region%205&limit=1" | sed -E 's/.*"orgunits":\[\{"id":([0-9]+).*/\1/')
facility=$(curl -sf -H "Authorization: Bearer $token" "$api/?search=Facility%205-5-5-5&limit=1" | sed -E 's/.*"orgunits":\[\{"id":([0-9]+).*/\1/')
declare -A paths=(
    [list]="/?limit=50&page=1"
    [search]="/?search=facility%203-4-5&limit=50&page=1"
    [detail]="/$facility/"
    [tree_children]="/tree/?parent_id=$region"
    [bbox_geojson]="/geojson/?bbox=-1.0,12.0,-0.5,12.5&geography=location"
    [county_shapes]="/geojson/?bbox=-90,35,-85,40&geography=shape"
)
echo "backend=$backend units=$units cpu=$(nproc)x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for name in list search detail tree_children bbox_geojson county_shapes; do
    url="$api${paths[$name]}"
    curl -sf -o /dev/null -H "Authorization: Bearer $token" "$url" || { echo "$name: $url failed" >&2; exit 1; }
    for i in $(seq "$runs"); do
        out=$(wrk -t1 -c8 -d10s --latency -H "Authorization: Bearer $token" "$url")
        p50=$(echo "$out" | awk '$1=="50%"{print $2}')
        p99=$(echo "$out" | awk '$1=="99%"{print $2}')
        rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
        errors=$(echo "$out" | awk '/Non-2xx/{print $NF}')
        echo "$name run $i: p50 $p50 p99 $p99 req/s $rps ${errors:+non-2xx $errors}"
    done
done
echo "server RSS: $(ps -o rss= -p "$server") KB"
