#!/usr/bin/env bash
# Mutation testing of lib/: apply each mutation of tests/mutation/catalogue.txt
# to a scratch copy of the source tree, one at a time, rebuild, run the unit
# suites, and report which mutations the suites kill. Mutations of room mpi
# (lib/mpi/, libmlpnet-mpi, which no unit suite links) run the mpi suite
# instead; without MPI they are reported as skipped. Mutations of room
# portable (the matrix product built without OpenBLAS, which a build with it
# does not compile) run the unit suites of a second scratch build, set up
# with -Dblas=disabled when the first such mutation comes. Mutations of
# room large (code that only the suite `large` reaches, text beyond 2 GiB)
# run that suite.
#
#   tests/mutation/run.sh [-o REPORT] [ID...]
#
# With IDs only those mutations run. A benchmark-style command (about 15 s
# per mutation on 2 cores), not part of every CI run. Environment:
#   MUTATION_TIMEOUT   seconds allowed for one run of the unit suites (120)
#   MUTATION_SETUP     extra `meson setup` arguments for the scratch build
# Verdicts: killed (a suite failed or timed out), survived (all passed),
# skipped (every test of the suite skipped: no MPI), no-compile (the mutated tree does not build: a catalogue error,
# not a kill). Exit status: 0 when every mutation applied and compiled.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
catalogue=$here/catalogue.txt
report=
if [ "${1:-}" = "-o" ]; then
    report=$2
    shift 2
fi
timeout_s=${MUTATION_TIMEOUT:-120}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mlpnet-mutation.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# The catalogue reader (catalogue.py): `mut list` prints "id room file" per
# mutation; `mut apply ID ROOT` edits ROOT/lib/<file> in place (exit 2 if a
# find text does not occur exactly once).
mut() {
    python3 "$here/catalogue.py" "$catalogue" "$@"
}

echo "mutation: copying the tree to $scratch"
mkdir "$scratch/src"
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
     tar --null -T - -cf -) | tar -C "$scratch/src" -xf -
# shellcheck disable=SC2086
meson setup "$scratch/build" "$scratch/src" -Dexamples=false ${MUTATION_SETUP:-} \
    >"$scratch/setup.log" 2>&1 || { cat "$scratch/setup.log"; exit 1; }
build=$scratch/build # the build that `unit` runs
unit() { # run the unit suites (or the suite named $1); 0 when all pass
    CK_DEFAULT_TIMEOUT=$timeout_s timeout "$((timeout_s + 30))" \
        meson test -C "$build" --suite "${1:-unit}" --no-rebuild \
        --timeout-multiplier "$(python3 -c "print($timeout_s / 300)")" \
        >"$scratch/test.log" 2>&1
}
failed_suites() {
    python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
bad = []
try:
    for line in open(sys.argv[1]):
        r = json.loads(line)
        if r["result"] not in ("OK", "SKIP", "EXPECTEDFAIL"):
            bad.append(r["name"] + ("(timeout)" if r["result"] == "TIMEOUT" else ""))
except FileNotFoundError:
    bad.append("?")
print(",".join(bad) or "timeout")
PY
}
all_skipped() { # 0 when the last run only skipped (the mpi suite without MPI)
    python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
sys.exit(any(json.loads(l)["result"] != "SKIP" for l in open(sys.argv[1])))
PY
}
mpi_checked=0 portable_made=0
ninja -C "$scratch/build" >"$scratch/build.log" 2>&1 || { cat "$scratch/build.log"; exit 1; }
unit || { echo "mutation: the unmodified unit suites fail"; cat "$scratch/test.log"; exit 1; }

if [ $# -gt 0 ]; then
    ids=("$@")
else
    mapfile -t ids < <(mut list | cut -d' ' -f1)
fi
results=$scratch/results
: >"$results"
start=$(date +%s)
for id in "${ids[@]}"; do
    read -r _ room file < <(mut list | grep "^$id ") || { echo "unknown id $id"; exit 2; }
    f=$scratch/src/lib/$file
    suite=unit
    build=$scratch/build
    if [ "$room" = portable ]; then
        build=$scratch/build-portable
        if [ $portable_made = 0 ]; then
            # shellcheck disable=SC2086
            meson setup "$build" "$scratch/src" -Dexamples=false -Dblas=disabled \
                ${MUTATION_SETUP:-} >"$scratch/setup.log" 2>&1 &&
                ninja -C "$build" >"$scratch/build.log" 2>&1 ||
                { cat "$scratch/setup.log" "$scratch/build.log"; exit 1; }
            unit || { echo "mutation: the unmodified unit suites fail without OpenBLAS"
                      cat "$scratch/test.log"; exit 1; }
            portable_made=1
        fi
    fi
    if [ "$room" = large ]; then
        suite=large
    fi
    if [ "$room" = mpi ]; then
        suite=mpi
        if [ $mpi_checked = 0 ]; then
            unit mpi || { echo "mutation: the unmodified mpi suite fails"
                          cat "$scratch/test.log"; exit 1; }
            mpi_checked=1
        fi
    fi
    cp -p "$f" "$scratch/orig"
    t0=$(date +%s)
    if ! mut apply "$id" "$scratch/src"; then
        verdict=bad-catalogue detail=-
    elif ! ninja -C "$build" >"$scratch/build.log" 2>&1; then
        verdict=no-compile detail=-
    elif unit "$suite"; then
        verdict=survived detail=-
        if all_skipped; then verdict=skipped; fi
    else
        verdict=killed detail=$(failed_suites)
    fi
    cp "$scratch/orig" "$f" # a new mtime: the next build recompiles it
    printf '%-32s %-8s %-10s %4ss  %s\n' "$id" "$room" "$verdict" \
        "$(($(date +%s) - t0))" "$detail" | tee -a "$results"
done

{
    echo
    echo "room      killed/total"
    awk '{ total[$2]++; if ($3 == "killed") k[$2]++; all++; if ($3 == "killed") ka++ }
         END { n = split("core tensor backend portable layers losses optim data io model mpi", r, " ")
               for (i = 1; i <= n; i++) if (total[r[i]])
                   printf "%-9s %d/%d\n", r[i], k[r[i]], total[r[i]]
               printf "%-9s %d/%d (%.0f%%)\n", "all", ka, all, all ? 100 * ka / all : 0 }' \
        "$results"
    echo "survived: $(awk '$3 == "survived" { printf "%s ", $1 }' "$results")"
    echo "not compiled / bad catalogue: $(awk '$3 ~ /no-compile|bad-catalogue/ \
        { printf "%s ", $1 }' "$results")"
    echo "time: $(($(date +%s) - start)) s for ${#ids[@]} mutations"
} >"$scratch/summary"
cat "$scratch/summary"
cat "$scratch/summary" >>"$results"
if [ -n "$report" ]; then cp "$results" "$report"; fi
! grep -qE ' (no-compile|bad-catalogue) ' "$results"
