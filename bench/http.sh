#!/usr/bin/env bash
# HTTP throughput and latency of a release build on 127.0.0.1, with wrk (apt-get install wrk).
#
#   bench/http.sh [sqlite|postgres] [runs]
#
# Creates a throw-away installation (SQLite file in a temp dir, or a fresh PostgreSQL database named
# hygeia_bench on 127.0.0.1:5432), one account and user, starts `hygeia serve`, then measures
# GET /health/, GET /api/profiles/me/ (Bearer token) and POST /api/token/ (Argon2 verification) `runs`
# times each and prints every run; BENCHMARKS.md quotes the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
runs="${2:-5}"
port=18181
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

cargo build --release --quiet
bin="$PWD/target/release/hygeia"
work="$(mktemp -d)"
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
unset HYGEIA_TEST_POSTGRES_URL
if [ "$backend" = postgres ]; then
    psql -q -h 127.0.0.1 -U postgres -d test -c 'DROP DATABASE IF EXISTS hygeia_bench' -c 'CREATE DATABASE hygeia_bench'
    export HYGEIA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/hygeia_bench
fi
export HYGEIA_LOG=warn
"$bin" create-account Bench >/dev/null
echo 'bench password 1' | "$bin" create-user --account Bench --username bench --permission iaso_forms --password-stdin >/dev/null
"$bin" serve --bind "127.0.0.1:$port" &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/" >/dev/null && break; sleep 0.1; done

token=$(curl -sf -X POST "http://127.0.0.1:$port/api/token/" -H 'Content-Type: application/json' \
    -d '{"username":"bench","password":"bench password 1"}' | sed -E 's/.*"access":"([^"]+)".*/\1/')
cat > token.lua <<'LUA'
wrk.method = "POST"
wrk.body = '{"username":"bench","password":"bench password 1"}'
wrk.headers["Content-Type"] = "application/json"
LUA

echo "backend=$backend cpu=$(nproc)x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for i in $(seq "$runs"); do
    echo "-- run $i"
    wrk -t1 -c32 -d10s "http://127.0.0.1:$port/health/" | grep -E 'Requests/sec|Latency|Non-2xx'
    wrk -t1 -c32 -d10s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/profiles/me/" | grep -E 'Requests/sec|Latency|Non-2xx'
    wrk -t1 -c1 -d10s -s token.lua "http://127.0.0.1:$port/api/token/" | grep -E 'Requests/sec|Latency|Non-2xx'
done
