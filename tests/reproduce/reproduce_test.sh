#!/bin/sh
# End-to-end test of examples/reproduce.sh in --quick mode on a generated
# dataset (make_toy): every promised file is written and REPORT.md has every
# section; a second invocation redoes nothing; a failing run is reported in
# REPORT.md without stopping the others, and a rerun redoes only that run;
# an interrupted run stops its programs and resumes where it stopped; a tie in
# validation accuracy names the run whose model was saved; bad
# command lines exit with 2; the programs' --help tells the truth;
# quickstart.sh's command line is checked before it installs anything.
# Usage: reproduce_test.sh BUILD-ROOT SOURCE-ROOT MAKE-TOY
set -eu
BUILD=$1
SRC=$2
MAKE_TOY=$3
REPRODUCE=$SRC/examples/reproduce.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/mlpnet-reproduce.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
must_exist() {
    for f in "$@"; do
        [ -s "$f" ] || fail "missing or empty: ${f#"$T"/}"
    done
}

mkdir "$T/data"
"$MAKE_TOY" "$T/data"

reproduce() { # build out [more options]
    b=$1
    o=$2
    shift 2
    bash "$REPRODUCE" --build "$b" --quick --data-dir "$T/data" --dataset toy --jobs 2 \
        --out "$o" "$@"
}

# ---- 1. A whole quick run writes everything it promises ---------------------------
OUT=$T/out
reproduce "$BUILD" "$OUT" >"$T/log1" 2>&1 || { cat "$T/log1" >&2; fail "first run failed"; }
must_exist "$OUT/REPORT.md" "$OUT/manifest.tsv" "$OUT/models/test-results.tsv"
for fig in fig1-baseline-lr fig2-baseline-depth fig3-baseline-activation fig4-learning-rules \
    fig5-batchnorm fig6-convnets; do
    must_exist "$OUT/figures/$fig.svg"
    grep -q '</svg>' "$OUT/figures/$fig.svg" || fail "$fig.svg is not a whole SVG file"
done
for exp in baseline learning-rules batchnorm convnets; do
    must_exist "$OUT/models/$exp.mlpn"
    grep -q "^$exp	" "$OUT/models/test-results.tsv" || fail "no test result for $exp"
done
# The test accuracies were measured (a number, not "-").
awk -F'\t' 'NR > 1 && $5 !~ /^[01]\.[0-9]+$/ { bad = 1 } END { exit bad }' \
    "$OUT/models/test-results.tsv" || fail "a test accuracy is missing: $(cat "$OUT/models/test-results.tsv")"
# Every task wrote its summary, and every run its CSV and two SVG curves.
tasks=0
for d in "$OUT"/runs/*/; do
    tasks=$((tasks + 1))
    must_exist "$d/summary.csv" "$d/summary.md" "$d/.done"
    awk -F, 'NR > 1 { print $1 }' "$d/summary.csv" >"$T/runs"
    while read -r run; do
        must_exist "$d/$run.csv" "$d/$run-error.svg" "$d/$run-accuracy.svg"
    done <"$T/runs"
done
[ "$tasks" -ge 9 ] || fail "only $tasks task folders"
# A ConvNet task without the baseline run (--run conv1) does not title its
# plots with a baseline MLP it did not train, nor compare with it in NaNs.
for f in compare-valid_acc.svg compare-valid_error.svg compare-valid_acc-time.svg; do
    ! grep -qi 'baseline MLP' "$OUT/runs/conv-conv1/$f" ||
        fail "runs/conv-conv1/$f names a baseline MLP that --run conv1 did not train"
done
! grep -q 'nan' "$OUT/runs/conv-conv1/summary.md" || fail "runs/conv-conv1/summary.md shows nan"
for section in '## Report said / we measured' '## 1. Baseline' '## 2. Learning rules' \
    '## 3. Batch normalisation' '## 4. ConvNets' '## 5. Final test-set results' \
    '## Seconds per epoch of every run' '## Runs that failed' 'Every run finished.'; do
    grep -qF "$section" "$OUT/REPORT.md" || fail "REPORT.md lacks '$section'"
done
for fig in fig1-baseline-lr fig4-learning-rules fig6-convnets; do
    grep -qF "(figures/$fig.svg)" "$OUT/REPORT.md" || fail "REPORT.md does not show $fig"
done

# ---- 2. A second invocation redoes nothing --------------------------------------------
ls -l --time-style=full-iso "$OUT"/runs/*/summary.csv "$OUT"/runs/*/*.mlpn >"$T/before"
reproduce "$BUILD" "$OUT" >"$T/log2" 2>&1 || { cat "$T/log2" >&2; fail "second run failed"; }
grep -q '^reproduce.sh: 0 task(s) run' "$T/log2" || { cat "$T/log2" >&2; fail "second run redid tasks"; }
ls -l --time-style=full-iso "$OUT"/runs/*/summary.csv "$OUT"/runs/*/*.mlpn >"$T/after"
cmp -s "$T/before" "$T/after" || fail "second run rewrote finished runs"
must_exist "$OUT/REPORT.md"

# A build folder DIR/examples for reproduce.sh --build: links to the real
# programs named and to mlpnet; the caller writes the program it replaces.
link_build() { # examples-dir program...
    dir=$1
    shift
    mkdir -p "$dir/cli"
    for p in "$@"; do
        ln -s "$BUILD/examples/$p" "$dir/$p"
    done
    ln -s "$BUILD/examples/cli/mlpnet" "$dir/cli/mlpnet"
}

# ---- 3. A failing run is reported and does not stop the others -----------------------
# A build folder whose ConvNet program fails for the conv1 run only.
FB=$T/failing-build/examples
link_build "$FB" mlpnet-baseline mlpnet-learning-rules mlpnet-batchnorm mlpnet-report
cat >"$FB/mlpnet-convnets" <<EOF
#!/bin/sh
case " \$* " in *" conv1 "*) echo "simulated failure" >&2; exit 3 ;; esac
exec "$BUILD/examples/mlpnet-convnets" "\$@"
EOF
chmod +x "$FB/mlpnet-convnets"
OUT2=$T/out2
set +e
reproduce "$T/failing-build" "$OUT2" >"$T/log3" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat "$T/log3" >&2; fail "a failed run should exit 1, got $rc"; }
grep -q 'conv-conv1: FAILED (exit 3)' "$T/log3" || fail "the failure was not announced"
must_exist "$OUT2/REPORT.md" "$OUT2/runs/conv-convnet/.done" "$OUT2/runs/batchnorm/.done" \
    "$OUT2/models/convnets.mlpn" "$OUT2/runs/conv-conv1/log.txt"
[ ! -e "$OUT2/runs/conv-conv1/.done" ] || fail "the failed run is marked done"
grep -q 'simulated failure' "$OUT2/runs/conv-conv1/log.txt" || fail "the log lacks the error"
sed -n '/^## Runs that failed/,$p' "$OUT2/REPORT.md" >"$T/failed-section"
grep -q 'conv-conv1' "$T/failed-section" || fail "REPORT.md does not list the failed run"
grep -q 'runs/conv-conv1/log.txt' "$T/failed-section" || fail "REPORT.md does not link the log"
! grep -q 'Every run finished' "$T/failed-section" || fail "REPORT.md says every run finished"

# Rerun with the working build: only the failed run is redone.
reproduce "$BUILD" "$OUT2" >"$T/log4" 2>&1 || { cat "$T/log4" >&2; fail "the rerun failed"; }
grep -q '^reproduce.sh: 1 task(s) run' "$T/log4" || { cat "$T/log4" >&2; fail "the rerun did not redo exactly the failed run"; }
grep -q 'Every run finished.' "$OUT2/REPORT.md" || fail "REPORT.md still lists a failure"

# ---- 4. An interrupted run resumes ---------------------------------------------------
# A build folder whose conv1 run takes a minute: stop the driver while it
# runs, then rerun with the working build, which redoes that run only.
SB=$T/slow-build/examples
link_build "$SB" mlpnet-baseline mlpnet-learning-rules mlpnet-batchnorm mlpnet-report
# The slow program reports its pid through a FIFO, which the test holds
# open for reading and writing, so neither side blocks on opening it.
mkfifo "$T/slow.fifo" "$T/progress"
exec 4<>"$T/slow.fifo"
cat >"$SB/mlpnet-convnets" <<EOF
#!/bin/sh
case " \$* " in *" conv1 "*) echo \$\$ >"$T/slow.fifo"; exec sleep 67 ;; esac
exec "$BUILD/examples/mlpnet-convnets" "\$@"
EOF
chmod +x "$SB/mlpnet-convnets"
OUT3=$T/out3
# The driver's progress lines come through a FIFO: wait for the eight
# other runs' "finished" lines, then for the slow program's pid, each wait
# bounded by timeout(1), instead of polling with fixed delays. The lines are
# read by sh's read, which takes no more than a line from a pipe (awk and
# head may wait to fill a buffer); the test runs under dash, whose read
# has no -t.
bash "$REPRODUCE" --build "$T/slow-build" --quick --data-dir "$T/data" --dataset toy --jobs 2 \
    --out "$OUT3" >"$T/progress" 2>"$T/log5" &
driver=$!
exec 3<"$T/progress"
# shellcheck disable=SC2016 # expanded by the inner sh
if ! timeout 300 sh -c 'n=0
    while [ "$n" -lt 8 ] && IFS= read -r line; do
        printf "%s\n" "$line"
        case "$line" in *": finished") n=$((n + 1)) ;; esac
    done
    [ "$n" -eq 8 ]' <&3 >>"$T/log5.out"; then
    kill "$driver"
    fail "the other runs did not finish: $(cat "$T/log5.out" "$T/log5" 2>/dev/null)"
fi
# shellcheck disable=SC2016
slow=$(timeout 300 sh -c 'IFS= read -r pid && echo "$pid"' <&4) ||
    { kill "$driver"; fail "the slow conv1 run did not start"; }
kill -TERM "$driver"
cat <&3 >>"$T/log5.out" # to the end, so the driver never writes to a closed pipe
exec 3<&- 4<&-
set +e
wait "$driver"
rc=$?
set -e
cat "$T/log5.out" >>"$T/log5"
[ "$rc" -eq 130 ] || { cat "$T/log5" >&2; fail "an interrupted driver should exit 130, got $rc"; }
grep -q 'interrupted; rerun the same command to resume' "$T/log5" || fail "no resume hint"
if [ -e "$OUT3/runs/conv-conv1/.done" ] || [ -e "$OUT3/runs/conv-conv1/.status" ]; then
    fail "the interrupted run left a .done or .status"
fi
# The driver waits for its tasks, and each task for the program it stopped:
# once the driver has exited, the program is gone (no delay needed).
! kill -0 "$slow" 2>/dev/null || fail "the interrupted run's program ($slow) is still running"
reproduce "$BUILD" "$OUT3" >"$T/log6" 2>&1 || { cat "$T/log6" >&2; fail "the resumed run failed"; }
grep -q '^reproduce.sh: 1 task(s) run, 8 kept from before' "$T/log6" ||
    { cat "$T/log6" >&2; fail "the resumed run did not redo exactly the interrupted run"; }
grep -q 'Every run finished.' "$OUT3/REPORT.md" || fail "the resumed REPORT.md lists a failure"

# ---- 5. A tie in best validation accuracy names the run whose model was saved ----------
# A program saves the first run that reaches its best validation accuracy
# (--save). A build folder whose batchnorm program reports two runs at the
# same best accuracy, the first plain-lr0.1, and saves a model: the final
# test results must name plain-lr0.1, the run that model is, not bn-lr0.1.
TB=$T/tie-build/examples
link_build "$TB" mlpnet-baseline mlpnet-learning-rules mlpnet-convnets mlpnet-report
cat >"$TB/mlpnet-batchnorm" <<EOF
#!/bin/sh
out= save=
while [ \$# -gt 0 ]; do
    case \$1 in --out) out=\$2; shift ;; --save) save=\$2; shift ;; esac
    shift
done
mkdir -p "\$out" || exit 1
printf '%s\n' run,epochs,train_acc,valid_acc,best_valid_acc,test_acc,seconds_per_epoch \
    plain-lr0.1,2,0.6,0.6,0.7,0.61,0.01 bn-lr0.1,2,0.6,0.6,0.7,0.62,0.01 >"\$out/summary.csv"
cp "$OUT/models/baseline.mlpn" "\$save"
EOF
chmod +x "$TB/mlpnet-batchnorm"
OUT4=$T/out4
reproduce "$T/tie-build" "$OUT4" >"$T/log7" 2>&1 || { cat "$T/log7" >&2; fail "the tie run failed"; }
awk -F'\t' '$1 == "batchnorm" { print $3 }' "$OUT4/models/test-results.tsv" >"$T/tie-run"
[ "$(cat "$T/tie-run")" = plain-lr0.1 ] ||
    fail "a tie names $(cat "$T/tie-run") for batchnorm's model, which is plain-lr0.1's"

# ---- 6. Bad command lines -------------------------------------------------------------
for args in "--jobs 0" "--jobs 00" "--jobs 08" "--jobs x" "--epochs 0" "--epochs 00" \
    "--no-such-option" "--out"; do
    set +e
    # shellcheck disable=SC2086 # the words are split on purpose
    bash "$REPRODUCE" --build "$BUILD" $args >"$T/out-usage" 2>&1
    rc=$?
    set -e
    [ "$rc" -eq 2 ] || fail "'$args' should exit 2, got $rc"
done
set +e
bash "$REPRODUCE" --build "$T/nowhere" --out "$T/out3" >"$T/out-nobuild" 2>&1
rc=$?
set -e
if [ "$rc" -ne 1 ] || ! grep -q 'build first' "$T/out-nobuild"; then
    fail "a missing build should exit 1 with a hint"
fi
bash "$REPRODUCE" --help | grep -q '^Usage: examples/reproduce.sh' || fail "--help"

# ---- 7. The programs' --help says what their flags do -----------------------------------
# The entry of one flag in a program's --help, its wrapped lines joined.
help_entry() { # program flag
    "$BUILD/examples/$1" --help | awk -v flag="$2" '
        $1 == flag { on = 1; printf "%s", $0; next }
        on && /^  -/ { exit }
        on && NF { sub(/^ +/, " "); printf "%s", $0 }
        on && !NF { exit }'
}
# mlpnet-learning-rules has no --learning-rule, and its RMSProp runs are
# plain RMSProp: --momentum is for the momentum and nesterov runs.
e=$(help_entry mlpnet-learning-rules --momentum)
case $e in *learning-rule* | *rmsprop*) fail "learning-rules --help: $e" ;; '') fail "no --momentum" ;; esac
e=$(help_entry mlpnet-baseline --momentum)
case $e in *"--learning-rule sgd, a value above 0 selects"*) ;; *) fail "baseline --help: $e" ;; esac
# A hyper-parameter that none of the compared rules has is refused before any
# data are read (it was ignored: --decay without an RMSProp run); one that a
# compared rule has is taken (and the missing data are the error).
for args in "--rules sgd --decay 0.8:--decay applies to none of the rules compared (--rules sgd); it is a hyper-parameter of rmsprop" \
    "--rules rmsprop,adam --momentum 0.5:--momentum applies to none of the rules compared (--rules rmsprop,adam); it is a hyper-parameter of momentum, nesterov" \
    "--rules sgd --epsilon 1e-7:--epsilon applies to none" \
    "--rules sgd,adam --epsilon 1e-7 --beta1 0.8:no dataset in"; do
    set +e
    # shellcheck disable=SC2086 # the flags of one case
    "$BUILD/examples/mlpnet-learning-rules" ${args%%:*} --data-dir "$T/nothing" \
        >"$T/out-rules" 2>&1
    rc=$?
    set -e
    want=2
    case ${args#*:} in "no dataset in") want=1 ;; esac
    [ "$rc" -eq "$want" ] && grep -qF -- "${args#*:}" "$T/out-rules" ||
        fail "learning-rules ${args%%:*}: exit $rc, $(cat "$T/out-rules")"
done
# mlpnet-tabular trains at 3e-3 whatever the rule, and refuses the image
# programs' --dataset, --train-size and --valid-size: its help says so.
e=$(help_entry mlpnet-tabular --lr)
case $e in *"the rule's"* | *"0.1 for sgd"*) fail "tabular --help: $e" ;; *"(default: 0.003)") ;; *) fail "tabular --help: $e" ;; esac
for flag in --dataset --train-size --valid-size; do
    [ -z "$(help_entry mlpnet-tabular $flag)" ] || fail "tabular --help lists $flag, which it refuses"
    set +e
    "$BUILD/examples/mlpnet-tabular" "$flag" 1 >"$T/out-tab" 2>&1
    rc=$?
    set -e
    [ "$rc" -eq 2 ] && grep -q 'are for the image programs' "$T/out-tab" ||
        fail "tabular $flag: exit $rc, $(cat "$T/out-tab")"
done
e=$(help_entry mlpnet-tabular --data-dir)
case $e in *fashion-mnist*) fail "tabular --help: $e" ;; esac
e=$(help_entry mlpnet-baseline --dataset)
[ -n "$e" ] || fail "baseline --help lacks --dataset"
# ---- 8. examples/quickstart.sh's command line (checked before it installs anything) ----
QUICKSTART=$SRC/examples/quickstart.sh
sh "$QUICKSTART" --help >"$T/qs-help" 2>&1 || fail "quickstart.sh --help exits $?: $(cat "$T/qs-help")"
grep -q '^Usage: examples/quickstart.sh' "$T/qs-help" || fail "quickstart.sh --help: $(cat "$T/qs-help")"
for args in "--epochs" "--epochs 0" "--epochs x" "--no-such-option"; do
    set +e
    # shellcheck disable=SC2086 # the words are split on purpose
    sh "$QUICKSTART" $args >"$T/qs-out" 2>&1
    rc=$?
    set -e
    [ "$rc" -eq 2 ] || fail "quickstart.sh $args should exit 2, got $rc: $(cat "$T/qs-out")"
    grep -q "^quickstart.sh: " "$T/qs-out" || fail "quickstart.sh $args: $(cat "$T/qs-out")"
done
echo "reproduce.sh: all checks passed"
