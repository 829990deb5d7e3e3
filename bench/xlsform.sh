#!/usr/bin/env bash
# XLSForm conversion of every corpus form (../shared/data/xlsform-corpus/*.xlsx), by Hygeia and by
# pyxform 4.5.0 (the reference; `pip install pyxform`, used only here), in one process and as a command:
#   - Hygeia in-process: `cargo bench -p hygeia-xlsform` (median of 21 runs per form),
#   - Hygeia command: `hygeia xlsform FORM -o OUT` (release), median of 5 runs per form,
#   - pyxform in-process: `pyxform.xls2xform.convert(..., validate=False)`, median of 5 runs per form,
#   - pyxform command: `xls2xform --skip_validate FORM OUT`, median of 3 runs per form.
# Prints the median over forms of each per-form median. BENCHMARKS.md quotes them.
#
#   bench/xlsform.sh
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${HYGEIA_SHARED_DATA:-$PWD/../shared/data}/xlsform-corpus"
command -v xls2xform >/dev/null || python3 -m pip install --quiet pyxform==4.5.0
cargo build --release --quiet
bin="$PWD/target/release/hygeia"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "== Hygeia, in one process"
cargo bench --quiet -p hygeia-xlsform -- "$corpus" | tail -1

python3 - "$corpus" "$bin" "$out" <<'PY'
import glob, os, statistics, subprocess, sys, time
corpus, binary, out = sys.argv[1:4]
forms = sorted(glob.glob(os.path.join(corpus, "*.xlsx")))

def timed(run, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)

def summary(label, medians):
    print(f"== {label}\n{len(medians)} forms: median {statistics.median(medians):.3f} ms per form, slowest {max(medians):.3f} ms")

env = dict(os.environ, HYGEIA_LOG="warn")
summary("Hygeia, one command per form", [
    timed(lambda f=f: subprocess.run([binary, "xlsform", f, "-o", os.path.join(out, "h.xml")], env=env, capture_output=True), 5)
    for f in forms
])

from pyxform.xls2xform import convert
def pyxform_once(f):
    try:
        convert(xlsform=f, validate=False)
    except Exception:
        pass
summary("pyxform 4.5.0, in one process", [timed(lambda f=f: pyxform_once(f), 5) for f in forms])
summary("pyxform 4.5.0, one command per form (xls2xform --skip_validate)", [
    timed(lambda f=f: subprocess.run(["xls2xform", "--skip_validate", f, os.path.join(out, "p.xml")], capture_output=True), 3)
    for f in forms
])
PY
