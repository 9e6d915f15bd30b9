#!/usr/bin/env bash
# Reproduce the four experiments of the MLP coursework report in one command:
# every run of sections 2 to 5 (baseline sweeps, learning rules, batch
# normalisation, ConvNets), one figure per section, the best model of each
# experiment evaluated once on the test split, and REPORT.md comparing what
# the report said with what we measured.
#
# Each run is one invocation of an example program (a "task") with its own
# folder OUT/runs/TASK/. A task that finished is marked OUT/runs/TASK/.done
# (holding its command line) and is not redone by a later invocation with
# the same settings; a task that failed, or was interrupted, is redone.
# A failing task does not stop the others: REPORT.md lists it.
#
# Run `examples/reproduce.sh --help` for the options.
set -u

PROG=reproduce.sh
usage() {
    cat <<EOF
Usage: examples/reproduce.sh [OPTION]...
Reproduce the MLP coursework report's experiments (sections 2 to 6) with the
example programs, and write REPORT.md, figures, per-run CSV/SVG files and the
best model of each experiment to --out.

  --build DIR     build directory holding examples/ (default: build)
  --quick         few epochs, small sweeps and 20,000 training images: a smoke
                  run of a few minutes (default: the report's settings)
  --epochs N      epochs of every run (default: each program's own, 20 for
                  the MLPs and 10 for the ConvNets; 2 with --quick)
  --data-dir DIR  dataset directory (default: \$MLPNET_DATA_DIR, else the
                  programs' default, /usr/share/datasets/fashion-mnist)
  --dataset NAME  dataset name (default: the first present of emnist-bymerge47,
                  emnist-balanced and fashion-mnist)
  --out DIR       output folder (default: results/report)
  --jobs N        runs side by side, each with 1/N of the cores' threads
                  (default: the number of cores, $(nproc 2>/dev/null || echo 1))
  -h, --help      show this help and exit

Interrupt at any time: rerunning the same command resumes, and finished runs
are not redone. Exit status: 0 when every run finished, 1 when some failed
(REPORT.md says which), 2 for a bad command line.
EOF
}

die() {
    echo "$PROG: $*" >&2
    exit 1
}
usage_error() {
    echo "$PROG: $*" >&2
    echo "Try 'examples/reproduce.sh --help'." >&2
    exit 2
}

# ---- options ----------------------------------------------------------------
BUILD=build
QUICK=0
EPOCHS=
DATA_DIR=
DATASET=
OUT=results/report
CORES=$(nproc 2>/dev/null || echo 1)
JOBS=$CORES

need_value() {
    if [ $# -lt 2 ] || [ -z "$2" ]; then usage_error "$1 needs a value"; fi
}
while [ $# -gt 0 ]; do
    case $1 in
    --build) need_value "$@"; BUILD=$2; shift 2 ;;
    --build=*) BUILD=${1#*=}; shift ;;
    --quick) QUICK=1; shift ;;
    --epochs) need_value "$@"; EPOCHS=$2; shift 2 ;;
    --epochs=*) EPOCHS=${1#*=}; shift ;;
    --data-dir) need_value "$@"; DATA_DIR=$2; shift 2 ;;
    --data-dir=*) DATA_DIR=${1#*=}; shift ;;
    --dataset) need_value "$@"; DATASET=$2; shift 2 ;;
    --dataset=*) DATASET=${1#*=}; shift ;;
    --out) need_value "$@"; OUT=$2; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --jobs) need_value "$@"; JOBS=$2; shift 2 ;;
    --jobs=*) JOBS=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
    esac
done
# A leading zero is refused too: 00 is 0, and bash reads 08 as a bad octal.
case $JOBS in '' | *[!0-9]* | 0*) usage_error "--jobs wants a whole number >= 1, not '$JOBS'" ;; esac
if [ -n "$EPOCHS" ]; then
    case $EPOCHS in *[!0-9]* | 0*) usage_error "--epochs wants a whole number >= 1, not '$EPOCHS'" ;; esac
fi
[ -z "$EPOCHS" ] && [ "$QUICK" = 1 ] && EPOCHS=2
[ -n "$OUT" ] || usage_error "--out needs a value"
[ -z "$DATA_DIR" ] || [ -d "$DATA_DIR" ] || die "no data directory $DATA_DIR"

EX=$BUILD/examples
for p in mlpnet-baseline mlpnet-learning-rules mlpnet-batchnorm mlpnet-convnets mlpnet-report \
    cli/mlpnet; do
    [ -x "$EX/$p" ] || die "$EX/$p not found: build first (meson setup $BUILD && ninja -C $BUILD), or give --build"
done

# Threads of each run: the cores shared among the runs side by side.
THREADS=$((CORES / JOBS))
[ "$THREADS" -ge 1 ] || THREADS=1

mkdir -p "$OUT/runs" "$OUT/models" || die "cannot create $OUT"

# ---- the runs ---------------------------------------------------------------
# Settings every task shares.
COMMON=(--quiet --threads "$THREADS")
[ -n "$EPOCHS" ] && COMMON+=(--epochs "$EPOCHS")
[ -n "$DATA_DIR" ] && COMMON+=(--data-dir "$DATA_DIR")
[ -n "$DATASET" ] && COMMON+=(--dataset "$DATASET")
[ "$QUICK" = 1 ] && COMMON+=(--train-size 20000)

# Tasks in the order they start: the longest first, so the short ones fill
# the cores at the end. TASKS[i] is "id|sections|program|arguments".
TASKS=()
task() { TASKS+=("$1|$2|$3|$4"); }
if [ "$QUICK" = 1 ]; then
    task conv-convnet convnets mlpnet-convnets "--run convnet"
    task conv-conv1 convnets mlpnet-convnets "--run conv1"
    task batchnorm batchnorm mlpnet-batchnorm ""
    task rules-sgd learning-rules mlpnet-learning-rules "--rules sgd --sgd-lrs 0.1"
    task rules-adam learning-rules mlpnet-learning-rules "--rules adam --adam-lrs 0.001"
    task mlp-elu-3x100-lr0.1 baseline-lr,baseline-depth,baseline-activation mlpnet-baseline "--lr 0.1"
    task mlp-elu-3x100-lr0.05 baseline-lr mlpnet-baseline "--lr 0.05"
    task mlp-elu-2x100-lr0.1 baseline-depth mlpnet-baseline "--hidden-layers 2"
    task mlp-relu-3x100-lr0.1 baseline-activation mlpnet-baseline "--activation relu"
else
    task conv-convnet convnets mlpnet-convnets "--run convnet"
    task conv-conv2-fc convnets mlpnet-convnets "--run conv2-fc"
    task conv-conv2 convnets mlpnet-convnets "--run conv2"
    task conv-conv1 convnets mlpnet-convnets "--run conv1"
    task batchnorm batchnorm mlpnet-batchnorm ""
    for r in sgd momentum rmsprop adam; do
        task "rules-$r" learning-rules mlpnet-learning-rules "--rules $r"
    done
    for a in sigmoid tanh selu relu leaky_relu; do
        task "mlp-$a-3x100-lr0.1" baseline-activation mlpnet-baseline "--activation $a"
    done
    for d in 5 4 2 1; do
        task "mlp-elu-${d}x100-lr0.1" baseline-depth mlpnet-baseline "--hidden-layers $d"
    done
    task mlp-elu-3x100-lr0.1 baseline-lr,baseline-depth,baseline-activation mlpnet-baseline "--lr 0.1"
    for lr in 0.01 0.05 0.2; do
        task "mlp-elu-3x100-lr$lr" baseline-lr mlpnet-baseline "--lr $lr"
    done
fi

# The command line of a task, one word per line, the program without its
# directory: what .done records, so a rebuild elsewhere keeps finished runs.
task_command() { # program arguments dir
    local prog=$1 args=$2 dir=$3
    # shellcheck disable=SC2206 # the arguments are words without spaces
    local words=($args)
    printf '%s\n' "$prog" "${words[@]}" "${COMMON[@]}" --out "$dir" --save "$dir/best.mlpn"
}

# Run one task in the foreground: its output goes to DIR/log.txt, its exit
# status and wall seconds to DIR/.status, and on success its command line
# to DIR/.done.
run_task() { # id program arguments
    local id=$1 prog=$2 args=$3 dir=$OUT/runs/$1
    local cmd start rc end
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    mapfile -t cmd < <(task_command "$prog" "$args" "$dir")
    start=$EPOCHREALTIME
    # In the background, so that a signal to this subshell can stop it.
    "$EX/${cmd[0]}" "${cmd[@]:1}" >"$dir/log.txt" 2>&1 </dev/null &
    CHILD=$!
    wait "$CHILD"
    rc=$?
    CHILD=
    end=$EPOCHREALTIME
    awk -v rc="$rc" -v a="$start" -v b="$end" 'BEGIN { printf "%d %.2f\n", rc, b - a }' \
        >"$dir/.status"
    if [ "$rc" -eq 0 ] && [ -s "$dir/summary.csv" ]; then
        task_command "$prog" "$args" "$dir" >"$dir/.done.tmp" && mv "$dir/.done.tmp" "$dir/.done"
    fi
    return "$rc"
}

is_done() { # id program arguments
    local dir=$OUT/runs/$1
    [ -f "$dir/.done" ] && cmp -s "$dir/.done" <(task_command "$2" "$3" "$dir")
}

# Stop every running task on an interrupt; their folders are redone later.
# shellcheck disable=SC2317 # called by the trap
on_signal() {
    trap - INT TERM
    echo "$PROG: interrupted; rerun the same command to resume" >&2
    local pids
    mapfile -t pids < <(jobs -p)
    [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
    wait
    exit 130
}
trap on_signal INT TERM

T0=$(date +%s)
echo "$PROG: ${#TASKS[@]} tasks, $JOBS at a time with $THREADS thread(s) each, into $OUT"
running=0
ran=0
for t in "${TASKS[@]}"; do
    IFS='|' read -r id _ prog args <<<"$t"
    if is_done "$id" "$prog" "$args"; then
        echo "  $id: done earlier, kept"
        continue
    fi
    while [ "$running" -ge "$JOBS" ]; do
        wait -n
        running=$((running - 1))
    done
    echo "  $id: started"
    (
        # Stopped by the driver: stop the program too (and reap it, so that
        # no zombie outlives the driver), and leave no .status.
        CHILD=
        trap '[ -n "$CHILD" ] && kill "$CHILD" 2>/dev/null && wait "$CHILD"; exit 143' INT TERM
        if run_task "$id" "$prog" "$args"; then
            echo "  $id: finished"
        else
            echo "  $id: FAILED (exit $(cut -d' ' -f1 "$OUT/runs/$id/.status" 2>/dev/null)); see $OUT/runs/$id/log.txt"
        fi
    ) &
    running=$((running + 1))
    ran=$((ran + 1))
done
wait
echo "$PROG: $ran task(s) run, $((${#TASKS[@]} - ran)) kept from before"

# ---- manifest -------------------------------------------------------------------
# One row per (task, section) for mlpnet-report.
MANIFEST=$OUT/manifest.tsv
failed=0
{
    printf 'task\tsection\tstatus\texit\tseconds\tthreads\tcommand\n'
    for t in "${TASKS[@]}"; do
        IFS='|' read -r id sections prog args <<<"$t"
        dir=$OUT/runs/$id
        status=pending rc=- secs=-
        if [ -f "$dir/.status" ]; then
            read -r rc secs <"$dir/.status"
            status=failed
        fi
        is_done "$id" "$prog" "$args" && status="done"
        [ "$status" = "done" ] || failed=$((failed + 1))
        line=$(task_command "$prog" "$args" "$dir" | paste -sd' ')
        IFS=',' read -ra secs_of <<<"$sections"
        for sec in "${secs_of[@]}"; do
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$sec" "$status" "$rc" "$secs" \
                "$THREADS" "$line"
        done
    done
} >"$MANIFEST.tmp" || die "cannot write $MANIFEST"
mv "$MANIFEST.tmp" "$MANIFEST" || die "cannot write $MANIFEST"

# ---- the best model of each experiment, evaluated once on the test split ------
# The best run of an experiment: the highest best_valid_acc in the summaries
# of its finished tasks. Each task saved its best model as best.mlpn: that
# of the first of its runs to reach its best accuracy. So on a tie the first
# run wins, in summary order (and the first task, in manifest order): a
# stable sort, not sort's last resort of comparing the lines, which would
# name a run whose model was not saved.
best_of() { # experiment -> "task run best_valid_acc", or nothing
    awk -F'\t' -v want="$1" \
        'NR > 1 && $3 == "done" && index($2, want) == 1 && !seen[$1]++ { print $1 }' \
        "$MANIFEST" | while read -r id; do
        awk -F, -v id="$id" 'NR > 1 && $5 != "nan" { print id, $1, $5 }' "$OUT/runs/$id/summary.csv"
    done | sort -s -k3,3gr | head -n 1
}

EVAL_ARGS=(--split test --threads "$CORES")
[ -n "$DATA_DIR" ] && EVAL_ARGS+=(--data-dir "$DATA_DIR")
DS=$DATASET
if [ -z "$DS" ]; then # the dataset the programs picked
    # shellcheck disable=SC2016 # the backquotes are Markdown's
    DS=$(sed -n 's/^Dataset `\([^`]*\)`.*/\1/p' "$OUT"/runs/*/summary.md 2>/dev/null | head -n 1)
fi
[ -n "$DS" ] && EVAL_ARGS+=(--dataset "$DS")
RESULTS=$OUT/models/test-results.tsv
{
    printf 'experiment\ttask\trun\tbest_valid_acc\ttest_acc\tmodel\n'
    for exp in baseline learning-rules batchnorm convnets; do
        read -r id run valid <<<"$(best_of "$exp")"
        [ -n "${id:-}" ] || continue
        model=$OUT/models/$exp.mlpn
        test_acc=-
        if cp "$OUT/runs/$id/best.mlpn" "$model.tmp" 2>/dev/null && mv "$model.tmp" "$model"; then
            acc=$("$EX/cli/mlpnet" eval --model "$model" "${EVAL_ARGS[@]}" --top 0 2>"$OUT/models/$exp.eval.log" |
                sed -n 's/^accuracy \([0-9.]*\) .*/\1/p')
            [ -n "$acc" ] && test_acc=$acc
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$exp" "$id" "$run" "$valid" "$test_acc" "models/$exp.mlpn"
    done
} >"$RESULTS.tmp" || die "cannot write $RESULTS"
mv "$RESULTS.tmp" "$RESULTS" || die "cannot write $RESULTS"

# ---- REPORT.md and the figures --------------------------------------------------
# The wall time of the reproduction: that of every invocation that ran
# tasks into this folder (up to here), so a resumed run reports its whole cost.
WALL_FILE=$OUT/.wall-seconds
WALL=$(($(date +%s) - T0))
before=
[ -f "$WALL_FILE" ] && read -r before <"$WALL_FILE"
case $before in '' | *[!0-9]*) before= ;; esac
if [ "$ran" -gt 0 ] || [ -z "$before" ]; then
    WALL=$((${before:-0} + WALL))
    echo "$WALL" >"$WALL_FILE"
    date -u +%Y-%m-%d >"$OUT/.date" # the day the runs last ran, not the day of a re-report
else
    WALL=$before
fi
RAN_ON=$(cat "$OUT/.date" 2>/dev/null || date -u +%Y-%m-%d)
MACHINE="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1), $CORES cores"
REPORT_ARGS=(--out "$OUT" --wall-seconds "$WALL" --date "$RAN_ON" --machine "$MACHINE")
[ "$QUICK" = 1 ] && REPORT_ARGS+=(--quick)
"$EX/mlpnet-report" "${REPORT_ARGS[@]}" || die "mlpnet-report failed"
echo "$PROG: report in $OUT/REPORT.md ($(($(date +%s) - T0)) s now, $WALL s over every invocation)"
if [ "$failed" -gt 0 ]; then
    echo "$PROG: $failed task(s) did not finish; REPORT.md lists them" >&2
    exit 1
fi
exit 0
