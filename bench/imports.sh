#!/usr/bin/env bash
# Imports and exports of whole trees, release build, each run on a fresh database:
#   - the DRC schools (Iaso's testdata/schools.csv with data_dict.json: 6,687 units),
#   - the US nation > 56 states > 3,231 counties with boundaries, as a GeoPackage in Iaso's format
#     (made from the shared data's us-atlas GeoPackage with ogr2ogr),
#   - a synthetic CSV of 100,000 facilities under 10 regions > 100 districts > 1,000 areas,
#   - the CSV and GeoPackage exports of that 101,110-unit version.
#
#   bench/imports.sh [sqlite|postgres] [runs]
#
# Prints wall time and peak RSS (GNU time) per run; BENCHMARKS.md quotes the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
runs="${2:-3}"
command -v ogr2ogr >/dev/null || { echo "ogr2ogr is missing: apt-get install gdal-bin" >&2; exit 1; }
cargo build --release --quiet
bin="$PWD/target/release/hygeia"
data="${HYGEIA_SHARED_DATA:-$PWD/../shared/data}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export HYGEIA_LOG=warn
unset HYGEIA_TEST_POSTGRES_URL

# The counties in Iaso's GeoPackage layout: level-1-Nation, level-2-State, level-3-County.
us="$data/boundaries/us_atlas/us_admin_from_us-atlas.gpkg"
counties="$work/us_counties_iaso.gpkg"
ogr2ogr -f GPKG "$counties" "$us" -nln "level-1-Nation" -sql "SELECT geom, 'US' AS ref, 'United States' AS name, '' AS parent_ref FROM nation"
ogr2ogr -update -f GPKG "$counties" "$us" -nln "level-2-State" -sql "SELECT geom, id AS ref, name, 'US' AS parent_ref FROM states"
ogr2ogr -update -f GPKG "$counties" "$us" -nln "level-3-County" \
    -sql "SELECT geom, id AS ref, name, substr(id, 1, 2) AS parent_ref FROM counties WHERE substr(id, 1, 2) IN (SELECT id FROM states)"

# 100,000 facilities: region r, district r.d, area r.d.a, facility with a point.
synthetic="$work/synthetic.csv"
python3 - "$synthetic" <<'PY'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as out:
    out.write("Region;District;Area;Facility;Lat;Lon;Ref\n")
    for i in range(100_000):
        r, d, a = i % 10, (i // 10) % 10, (i // 100) % 10
        out.write(f"Region {r};District {r}.{d};Area {r}.{d}.{a};Facility {i};{random.uniform(-30, 30):.6f};{random.uniform(-20, 50):.6f};F{i}\n")
PY
dict="$work/dict.json"
echo '{"name": "Facility", "parents": ["Region", "District", "Area"], "latitude": "Lat", "longitude": "Lon", "source_ref": "Ref"}' > "$dict"

fresh() {
    if [ "$backend" = postgres ]; then
        psql -q -h 127.0.0.1 -U postgres -d test -c 'DROP DATABASE IF EXISTS hygeia_bench_imports' -c 'CREATE DATABASE hygeia_bench_imports'
        export HYGEIA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/hygeia_bench_imports
    else
        rm -rf "$work/db"; mkdir -p "$work/db"
        export HYGEIA_DATABASE_URL="sqlite://$work/db/hygeia.db"
    fi
    "$bin" create-account Bench >/dev/null
}

timed() {
    local label="$1"; shift
    /usr/bin/time -f "$label: %e s, %M KB max RSS" "$@" 2>&1 >/dev/null | grep -E "^$label:"
}

for run in $(seq "$runs"); do
    echo "== run $run ($backend)"
    fresh
    timed "schools.csv import" "$bin" import csv "$data/iaso/testdata/schools.csv" --account Bench --source schools \
        --data-dict "$data/iaso/testdata/data_dict.json" --leaf-type School
    timed "US counties GeoPackage import" "$bin" import gpkg "$counties" --account Bench --source us
    timed "100,000-unit CSV import" "$bin" import csv "$synthetic" --account Bench --source synthetic \
        --data-dict "$dict" --leaf-type Facility
    timed "101,110-unit CSV export" "$bin" export csv --account Bench --source synthetic -o "$work/out.csv"
    timed "101,110-unit GeoPackage export" "$bin" export gpkg --account Bench --source synthetic -o "$work/out.gpkg"
    timed "US counties GeoPackage export" "$bin" export gpkg --account Bench --source us -o "$work/us.gpkg"
done
wc -l "$work/out.csv" | sed 's/^/exported CSV lines: /'
ogrinfo -so "$work/out.gpkg" | grep -E '^[0-9]+:' | sed 's/^/exported layer /'
