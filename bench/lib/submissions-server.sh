# Sourced by bench/ingest.sh and bench/phones.sh: a release server on 127.0.0.1:$port in a fresh
# directory (or PostgreSQL database) with the demo account (the Burkina Faso pyramid, its types in
# the project) and the corpus's repeat-group form published. Sets bin, base, password, token,
# form, version, unit, and writes submission.xml (bench/submission.xml with the version) in $work.
# Expects: backend, port, and the repository root as the current directory.
corpus="$PWD/../shared/data/xlsform-corpus"
template_source="$PWD/bench/submission.xml"
# BENCH_BIN runs another build (an earlier commit's, to compare) instead of this tree's.
if [ -n "${BENCH_BIN:-}" ]; then
    bin="$BENCH_BIN"
else
    cargo build --release --quiet
    bin="$PWD/target/release/hygeia"
fi
work="$(mktemp -d)"
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
unset HYGEIA_TEST_POSTGRES_URL
if [ "$backend" = postgres ]; then
    psql -q -h 127.0.0.1 -U postgres -d test -c 'DROP DATABASE IF EXISTS hygeia_bench_submissions' \
        -c 'CREATE DATABASE hygeia_bench_submissions'
    export HYGEIA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/hygeia_bench_submissions
fi
export HYGEIA_LOG="${BENCH_LOG:-warn}"
seeded=$("$bin" seed-demo --account Bench)
password=$(echo "$seeded" | sed -nE 's/.*with password ([^ ]+).*/\1/p')
"$bin" serve --bind "127.0.0.1:$port" &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$base/health/" >/dev/null && break; sleep 0.1; done
token=$(curl -sf -X POST "$base/api/token/" -H 'Content-Type: application/json' \
    -d "{\"username\":\"bench-admin\",\"password\":\"$password\"}" | sed -E 's/.*"access":"([^"]+)".*/\1/')
auth="Authorization: Bearer $token"
project=$(curl -sf -H "$auth" "$base/api/projects/" | sed -E 's/.*"projects":\[\{"id":([0-9]+).*/\1/')
form=$(curl -sf -H "$auth" -H 'Content-Type: application/json' -X POST "$base/api/forms/" \
    -d "{\"name\":\"Child Programme\",\"project_ids\":[$project],\"device_field\":\"deviceid\"}" | sed -E 's/^\{"id":([0-9]+).*/\1/')
version=$(curl -sf -H "$auth" -F "form_id=$form" -F "xls_file=@$corpus/iaso_repeat_group_form.xlsx" "$base/api/formversions/" \
    | sed -E 's/.*"version_id":"([^"]+)".*/\1/')
unit=$(curl -sf -H "$auth" "$base/api/orgunits/?limit=1&order=-id" | sed -E 's/.*"orgunits":\[\{"id":([0-9]+).*/\1/')
sed "s/{version}/$version/" "$template_source" > submission.xml
