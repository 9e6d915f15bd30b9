#!/bin/sh
# --distributed of the mlpnet command and of an example program under mpirun
# with 2 ranks, on data made here (a generated CSV table; make_toy's images):
# - `mlpnet train --distributed` saves a model that evaluates as the model of
#   one process does; only rank 0 prints and writes (every rank runs in a
#   directory of its own and saves to a relative path: rank 1's stays empty);
#   `mlpnet eval --distributed` prints one process's report;
# - a bad flag value, a data file missing on rank 1 only, a shorter table on
#   rank 1 and a model file that rank 0 cannot write end every rank with a non-zero status and one
#   message, without a hang (each mpirun runs under `timeout`);
# - mlpnet-convnets --distributed (run conv2: no batch norm, no dropout)
#   writes the files of a single process once, and its CSV matches one
#   process's within the tolerance of summation order.
# Usage: distributed_test.sh MLPNET MLPNET-CONVNETS MAKE-TOY MPIRUN
# (as root, Open MPI needs OMPI_ALLOW_RUN_AS_ROOT{,_CONFIRM}=1: meson sets them)
set -eu
abspath() { # the ranks run in directories of their own
    case $1 in
    /*) echo "$1" ;;
    *) echo "$(pwd)/$1" ;;
    esac
}
MLPNET=$(abspath "$1")
CONVNETS=$(abspath "$2")
MAKE_TOY=$(abspath "$3")
MPIRUN=$4
T=$(mktemp -d "${TMPDIR:-/tmp}/mlpnet-mpi.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
LIMIT=240 # seconds for one mpirun: far above a run's, below meson's timeout

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# mpirun -np 2 of `sh -c SCRIPT` with the arguments after the script: every
# rank runs SCRIPT in $T/rankR (R its rank), its stdout and stderr going to
# $T/rankR.out and $T/rankR.err. Sets $rc (124: the job hung).
on_two_ranks() {
    rm -rf "$T/rank0" "$T/rank1"
    mkdir "$T/rank0" "$T/rank1"
    set +e
    # shellcheck disable=SC2016 # the script is for the ranks' shells
    timeout "$LIMIT" "$MPIRUN" --oversubscribe -np 2 sh -c '
        r=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-${PMIX_RANK:-x}}}
        cd "$0/rank$r" || exit 9
        script=$1
        shift
        eval "$script" >"$0/rank$r.out" 2>"$0/rank$r.err"' "$T" "$@" \
        >"$T/mpirun.log" 2>&1
    rc=$?
    set -e
    [ "$rc" -ne 124 ] || fail "mpirun did not end within $LIMIT s: $(cat "$T/mpirun.log")"
}

rank1_silent() {
    if [ -s "$T/rank1.out" ] || [ -s "$T/rank1.err" ]; then
        fail "rank 1 printed: $(cat "$T/rank1.out" "$T/rank1.err")"
    fi
}

# A table of 3 classes in 2 features (class c around (2c, c)), 300 rows to
# train and 90 to test, the same on every run.
awk 'BEGIN {
    print "x1,x2,label"
    s = 12345
    for (i = 0; i < 390; i++) {
        c = i % 3
        s = (s * 1103515245 + 12345) % 2147483648; a = s / 2147483648 - 0.5
        s = (s * 1103515245 + 12345) % 2147483648; b = s / 2147483648 - 0.5
        printf "%.4f,%.4f,%s\n", 2 * c + 4 * a, c + 4 * b, substr("ABC", c + 1, 1)
    }
}' >"$T/all.csv"
head -n 301 "$T/all.csv" >"$T/train.csv"
{
    head -n 1 "$T/all.csv"
    tail -n +302 "$T/all.csv"
} >"$T/test.csv"
TRAIN="--csv $T/train.csv --target label --task classify --arch dense:16,relu,dense:3"
TRAIN="$TRAIN --rule sgd --lr 0.1 --epochs 15 --batch-size 30 --threads 1"
EX="--data-dir $T/toy --dataset toy --run conv2 --epochs 2 --threads 1 --quiet"
export MLPNET CONVNETS TRAIN EX # for the ranks' shells

# ---- 1. the model of 2 ranks evaluates as one process's ---------------------------
# shellcheck disable=SC2086 # $TRAIN is a list of words
"$MLPNET" train $TRAIN --save "$T/one.mlpn" >"$T/one.out" 2>&1 ||
    { cat "$T/one.out" >&2; fail "one process"; }
# shellcheck disable=SC2016 # $MLPNET and $TRAIN expand in the ranks' shell
on_two_ranks '"$MLPNET" train --distributed $TRAIN --save m.mlpn'
[ "$rc" -eq 0 ] || fail "2 ranks: exit $rc: $(cat "$T"/rank*.err "$T/mpirun.log")"
[ -s "$T/rank0/m.mlpn" ] || fail "rank 0 wrote no model file"
[ -z "$(ls -A "$T/rank1")" ] || fail "rank 1 wrote files: $(ls -A "$T/rank1")"
[ "$(ls -A "$T/rank0")" = m.mlpn ] || fail "rank 0 left other files: $(ls -A "$T/rank0")"
rank1_silent
grep -q 'epoch  15 .*all-reduce wait [0-9.]* s' "$T/rank0.out" ||
    fail "no per-epoch all-reduce wait: $(cat "$T/rank0.out")"
[ "$(grep -c '^best epoch' "$T/rank0.out")" -eq 1 ] || fail "summary line: $(cat "$T/rank0.out")"
for m in one "rank0/m"; do
    "$MLPNET" eval --model "$T/$m.mlpn" --csv "$T/test.csv" --target label |
        awk '/^accuracy/ { print $2 }' >"$T/$(basename "$m").acc"
done
acc1=$(cat "$T/one.acc")
acc2=$(cat "$T/m.acc")
echo "test accuracy: 1 process $acc1, 2 ranks $acc2"
awk -v a="$acc1" -v b="$acc2" 'BEGIN { d = a - b; exit !(a > 0.5 && d < 0.012 && d > -0.012) }' ||
    fail "test accuracy $acc2 on 2 ranks, $acc1 on one process"

# eval --distributed: each rank its share of the rows, the same report.
"$MLPNET" eval --model "$T/one.mlpn" --csv "$T/test.csv" --target label >"$T/eval1.out"
export TEST_CSV="$T/test.csv" MODEL="$T/one.mlpn"
# shellcheck disable=SC2016
on_two_ranks '"$MLPNET" eval --distributed --model "$MODEL" --csv "$TEST_CSV" --target label'
[ "$rc" -eq 0 ] || fail "eval on 2 ranks: exit $rc: $(cat "$T"/rank*.err)"
cmp -s "$T/eval1.out" "$T/rank0.out" ||
    fail "eval on 2 ranks: $(cat "$T/rank0.out") / one process: $(cat "$T/eval1.out")"
rank1_silent

# ---- 2. failures end every rank, with one message ----------------------------------
# A bad flag value: every rank finds it; exit 2; the message once.
# shellcheck disable=SC2016
on_two_ranks '"$MLPNET" train --distributed $TRAIN --save m.mlpn --momentum x'
[ "$rc" -eq 2 ] || fail "bad flag value: exit $rc, want 2"
[ "$(cat "$T"/rank*.err | grep -c "momentum: 'x' is not a number")" -eq 1 ] ||
    fail "bad flag value: want the message once: $(cat "$T"/rank*.err)"
# A data file missing on rank 1 only: rank 0 reports it, naming the rank.
# shellcheck disable=SC2016
on_two_ranks '
    if [ "$r" = 1 ]; then t=$(echo "$TRAIN" | sed "s|train.csv|missing.csv|"); else t=$TRAIN; fi
    "$MLPNET" train --distributed $t --save m.mlpn'
[ "$rc" -eq 1 ] || fail "file missing on rank 1: exit $rc, want 1"
grep -q '^rank 1: mlpnet train: reading .*missing.csv' "$T/rank0.err" ||
    fail "file missing on rank 1: rank 0 says: $(cat "$T/rank0.err")"
[ -z "$(find "$T/rank0" "$T/rank1" -name '*.mlpn')" ] || fail "a model file was written"
# Rank 1 reads a shorter table: the ranks would run different collectives
# (and hang); they find out before training and stop.
head -n 200 "$T/train.csv" >"$T/short.csv"
# shellcheck disable=SC2016
on_two_ranks '
    if [ "$r" = 1 ]; then t=$(echo "$TRAIN" | sed "s|train.csv|short.csv|"); else t=$TRAIN; fi
    "$MLPNET" train --distributed $t --save m.mlpn'
[ "$rc" -eq 1 ] || fail "different data on rank 1: exit $rc, want 1"
[ "$(grep -c 'the ranks disagree on the rows of the data' "$T/rank0.err")" -eq 1 ] ||
    fail "different data on rank 1: rank 0 says: $(cat "$T/rank0.err")"
rank1_silent
# Rank 0 cannot write the model file: every rank stops, rank 0 says why. A
# missing directory is found before the data are read (rank 0 checks --save
# first); a name longer than a file name can be (255 bytes at most) is
# found only when the first epoch saves.
# shellcheck disable=SC2016
on_two_ranks '"$MLPNET" train --distributed $TRAIN --save no/m.mlpn'
[ "$rc" -eq 1 ] || fail "unwritable model file: exit $rc, want 1"
grep -q -- '--save no/m.mlpn: cannot write in no' "$T/rank0.err" ||
    fail "unwritable file: $(cat "$T/rank0.err")"
[ ! -s "$T/rank1.err" ] || fail "rank 1 printed: $(cat "$T/rank1.err")"
LONG=$(printf '%0251d' 0).mlpn
export LONG
# shellcheck disable=SC2016
on_two_ranks '"$MLPNET" train --distributed $TRAIN --save "$LONG"'
[ "$rc" -eq 1 ] || fail "unsavable model file: exit $rc, want 1"
grep -q "saving $LONG" "$T/rank0.err" || fail "unsavable file: $(cat "$T/rank0.err")"
[ ! -s "$T/rank1.err" ] || fail "rank 1 printed: $(cat "$T/rank1.err")"

# ---- 3. an example program: its files once, its CSV as one process's ----------------
mkdir "$T/toy"
"$MAKE_TOY" "$T/toy"
# shellcheck disable=SC2086
(cd "$T" && "$CONVNETS" $EX --out single >"$T/single.log" 2>&1) ||
    { cat "$T/single.log" >&2; fail "mlpnet-convnets, one process"; }
# shellcheck disable=SC2016
on_two_ranks '"$CONVNETS" --distributed $EX --out out'
[ "$rc" -eq 0 ] || fail "mlpnet-convnets on 2 ranks: exit $rc: $(cat "$T"/rank*.err)"
[ -z "$(ls -A "$T/rank1")" ] || fail "rank 1 wrote: $(ls -AR "$T/rank1")"
rank1_silent
[ "$(ls "$T/single")" = "$(ls "$T/rank0/out")" ] ||
    fail "files differ: $(ls "$T/single") / $(ls "$T/rank0/out")"
[ -z "$(find "$T/rank0/out" -name '*.tmp')" ] || fail "temporary files left"
[ "$(grep -c '^Results in' "$T/rank0.out")" -eq 1 ] || fail "summary: $(cat "$T/rank0.out")"
csv=conv2-adam-lr0.001.csv
[ -s "$T/single/$csv" ] || fail "no $csv"
# Columns: epoch, train_error, train_acc, valid_error, valid_acc, seconds.
paste -d, "$T/single/$csv" "$T/rank0/out/$csv" | awk -F, '
    NR == 1 { next }
    {
        n++
        for (c = 2; c <= 5; c++) {
            d = $c - $(c + 6); if (d < 0) d = -d
            if (d > 2e-3) { printf "epoch %s column %d: %s vs %s\n", $1, c, $c, $(c + 6); bad = 1 }
        }
    }
    END { exit bad || n != 2 }' || fail "the CSV of 2 ranks differs from one process's"
echo "PASS"
