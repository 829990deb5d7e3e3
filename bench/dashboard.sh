#!/usr/bin/env bash
# The org-unit page of the dashboard with 100,000 units (bench seed-tree: 4 levels, facilities
# with points), loaded cold in headless Chromium under Chromium's 3G emulation (web/tests/page-load.mjs):
# first contentful paint, load, map drawn, and bytes transferred. Release build, SQLite.
#
#   bench/dashboard.sh [runs] [profile: 3g|slow-3g|none] [path]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
profile="${2:-3g}"
path="${3:-/orgunits}"
port=18185
chromium="${HYGEIA_TEST_CHROMIUM:-$(command -v chromium)}"
[ -x "$chromium" ] || { echo "chromium is missing: apt-get install chromium" >&2; exit 1; }

cargo build --release --quiet
bin="$PWD/target/release/hygeia"
web="$PWD/web"
work="$(mktemp -d)"
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
unset HYGEIA_TEST_POSTGRES_URL HYGEIA_DATABASE_URL
export HYGEIA_LOG=warn
"$bin" create-account Bench >/dev/null
echo 'bench password 1' | "$bin" create-user --account Bench --username bench --superuser --password-stdin >/dev/null
"$bin" bench seed-tree --account Bench --units 100000 2>&1 | tail -n 1
"$bin" serve --bind "127.0.0.1:$port" &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/" >/dev/null && break; sleep 0.1; done
echo "page=$path profile=$profile cpu=$(nproc)x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for i in $(seq "$runs"); do
    HYGEIA_PAGE="{\"base\":\"http://127.0.0.1:$port\",\"path\":\"$path\",\"username\":\"bench\",\"password\":\"bench password 1\",\"chromium\":\"$chromium\",\"profile\":\"$profile\"}" \
        node "$web/tests/page-load.mjs"
done
