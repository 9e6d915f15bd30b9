#!/bin/sh
# Smoke test of the mlpnet command: a toy dataset of 8x8 IDX images (class 0
# bright on top, class 1 bright below, label map A/B) is generated here, then
# every subcommand runs and its output and exit status are checked.
# Usage: smoke_test.sh PATH-TO-mlpnet [mpi|no-mpi [MANUAL-PAGE]]
# (the second argument: whether mlpnet was built with MPI, for --distributed;
# runs under mpirun are tests/mpi/distributed_test.sh; the third, mlpnet.1,
# whose version must be the command's)
# The binary files are written with printf escapes in its format argument:
# shellcheck disable=SC2059
set -eu
MLPNET=$1
BUILT_WITH=${2:-}
MAN=${3:-}
T=$(mktemp -d "${TMPDIR:-/tmp}/mlpnet-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Run a command that must exit with status $1; its output goes to $T/out.
expect_status() {
    want=$1
    shift
    set +e
    "$@" >"$T/out" 2>&1
    rc=$?
    set -e
    [ "$rc" -eq "$want" ] || { cat "$T/out" >&2; fail "exit $rc, want $want: $*"; }
}

# Four big-endian bytes of $1.
be32() {
    printf "\\$(printf %03o $((($1 >> 24) & 255)))\\$(printf %03o $((($1 >> 16) & 255)))"
    printf "\\$(printf %03o $((($1 >> 8) & 255)))\\$(printf %03o $(($1 & 255)))"
}

BRIGHT='\377\377\377\377\377\377\377\377'
DARK='\000\000\000\000\000\000\000\000'
TOP="$BRIGHT$BRIGHT$BRIGHT$BRIGHT$DARK$DARK$DARK$DARK"
BOTTOM="$DARK$DARK$DARK$DARK$BRIGHT$BRIGHT$BRIGHT$BRIGHT"

labels_file() { # count classes: labels 0, 1, .., classes - 1, 0, 1, .. (classes <= 8)
    printf '\000\000\010\001'
    be32 "$1"
    i=0
    while [ "$i" -lt "$1" ]; do
        printf "\\00$((i % $2))"
        i=$((i + 1))
    done
}

make_split() { # name count
    {
        printf '\000\000\010\003'
        be32 "$2"
        be32 8
        be32 8
        i=0
        while [ "$i" -lt "$2" ]; do
            if [ $((i % 2)) -eq 0 ]; then printf "$TOP"; else printf "$BOTTOM"; fi
            i=$((i + 1))
        done
    } >"$T/toy-$1-images-idx3-ubyte"
    labels_file "$2" 2 >"$T/toy-$1-labels-idx1-ubyte"
}
make_split train 200
make_split test 60
printf '0 65\n1 66\n' >"$T/toy-mapping.txt"

# Help and usage errors.
"$MLPNET" --help | grep -q 'Usage: mlpnet COMMAND' || fail "mlpnet --help"
if [ -n "$MAN" ]; then
    version=$("$MLPNET" --version | cut -d' ' -f2)
    grep -q "^\.TH MLPNET 1 \"[^\"]*\" \"libmlpnet $version\"" "$MAN" ||
        fail "$MAN: not the page of mlpnet $version: $(head -1 "$MAN")"
fi
for c in train eval predict info; do
    "$MLPNET" "$c" --help | grep -q "Usage: mlpnet $c" || fail "mlpnet $c --help"
done
expect_status 2 "$MLPNET"
expect_status 2 "$MLPNET" bogus
# Output that cannot be written is a failure (a full disk: /dev/full).
if [ -w /dev/full ]; then
    for c in --help --version 'train --help'; do
        # shellcheck disable=SC2086 # a command and its flag
        "$MLPNET" $c >/dev/full 2>"$T/out" && fail "mlpnet $c >/dev/full: exit 0"
        grep -q 'cannot write the output: No space left on device' "$T/out" ||
            fail "mlpnet $c >/dev/full: $(cat "$T/out")"
    done
fi
expect_status 2 "$MLPNET" train --no-such-flag
"$MLPNET" train --help | grep -q -- '--distributed' || fail "train --help: no --distributed"
expect_status 2 "$MLPNET" predict --distributed --model "$T/x" --images "$T/x"
grep -q "unknown option '--distributed'" "$T/out" || fail "predict --distributed: $(cat "$T/out")"
if [ "$BUILT_WITH" = no-mpi ]; then
    expect_status 2 "$MLPNET" train --distributed --arch dense:2 --save "$T/x"
    grep -q 'this mlpnet was built without MPI' "$T/out" || fail "no MPI: $(cat "$T/out")"
    [ -e "$T/x" ] && fail "--distributed without MPI wrote a file"
fi
expect_status 2 "$MLPNET" train --arch dense:x --data-dir "$T" --dataset toy --save "$T/x"
grep -q "layer 1 'dense:x'" "$T/out" || fail "bad SPEC message: $(cat "$T/out")"
# An empty layer, between two commas or at an end, is refused by its position.
for spec in 'flatten,,dense:2 2' 'flatten,dense:2, 3' ' ,flatten,dense:2 1'; do
    expect_status 2 "$MLPNET" train --arch "${spec% *}" --data-dir "$T" --dataset toy \
        --epochs 1 --valid-size 40 --save "$T/x"
    grep -qF "layer ${spec##* } of '${spec% *}' is empty" "$T/out" ||
        fail "empty layer in '${spec% *}': $(cat "$T/out")"
    [ ! -e "$T/x" ] || fail "--arch '${spec% *}' trained a model"
done
expect_status 2 "$MLPNET" train --arch flatten,dense:3 --data-dir "$T" --dataset toy \
    --valid-size 40 --save "$T/x"
grep -q 'dense:2' "$T/out" || fail "class-count message: $(cat "$T/out")"
expect_status 2 "$MLPNET" train --arch maxpool:9 --data-dir "$T" --dataset toy \
    --valid-size 40 --save "$T/x"

# --save naming a file of the dataset being read is refused, and the file is
# left as it was: an IDX file raw or by another spelling, and the label map.
cp "$T/toy-test-labels-idx1-ubyte" "$T/labels.copy"
cp "$T/toy-mapping.txt" "$T/mapping.copy"
for f in toy-test-labels-idx1-ubyte ./toy-test-labels-idx1-ubyte toy-mapping.txt; do
    expect_status 2 "$MLPNET" train --arch flatten,dense:2 --data-dir "$T" --dataset toy \
        --epochs 1 --valid-size 40 --save "$T/$f"
    grep -qF "is a file of the dataset toy in $T; saving would replace it" "$T/out" ||
        fail "--save over the dataset's $f: $(cat "$T/out")"
done
if ! cmp -s "$T/toy-test-labels-idx1-ubyte" "$T/labels.copy" ||
    ! cmp -s "$T/toy-mapping.txt" "$T/mapping.copy"; then
    fail "--save changed the dataset"
fi

# Train a small ConvNet with every kind of SPEC token that fits 8x8 images.
M="$T/toy.mlpnet"
"$MLPNET" train --arch 'conv:4x3x3/p1,bn,relu,maxpool:2,conv:4x3/s1/p1/d1,elu:0.5,avgpool:2/s2,flatten,dropout:0.1,dense:8,leaky_relu,dense:6,tanh,dense:4,selu,dense:3,sigmoid,dense:2' \
    --data-dir "$T" --dataset toy --epochs 3 --batch-size 20 --valid-size 40 \
    --rule adam --lr 0.01 --seed 7 --threads 1 --save "$M" >"$T/train.out" ||
    { cat "$T/train.out" >&2; fail "train"; }
grep -q '^best epoch [1-3]: valid accuracy' "$T/train.out" || fail "train summary"
[ -s "$M" ] || fail "no model file"
"$MLPNET" train --arch 'flatten,dense:16,relu,gap' --data-dir "$T" --dataset toy \
    --valid-size 40 --save "$T/x" >/dev/null 2>&1 && fail "gap after flatten must fail"
"$MLPNET" train --arch 'conv:2x3,gap,dense:2' --data-dir "$T" --dataset toy --epochs 1 \
    --valid-size 40 --rule momentum --momentum 0.8 --weight-decay 1e-4 --quiet \
    --save "$T/gap.mlpnet" >/dev/null || fail "gap model"

# 160 training images in batches of 53 end with a batch of one, on which batch
# norm cannot train: the error says so and names --drop-last, which leaves
# that batch out.
BN_ARCH='flatten,dense:4,bn,relu,dense:2'
expect_status 1 "$MLPNET" train --arch "$BN_ARCH" --data-dir "$T" --dataset toy \
    --epochs 1 --batch-size 53 --valid-size 40 --save "$T/x"
grep -q 'epoch 1, batch 4: batch norm: a batch of 1' "$T/out" &&
    grep -q -- '--drop-last leaves that batch out' "$T/out" ||
    fail "short last batch: $(cat "$T/out")"
[ -e "$T/x" ] && fail "a failed training saved a model"
"$MLPNET" train --arch "$BN_ARCH" --data-dir "$T" --dataset toy --epochs 2 \
    --batch-size 53 --valid-size 40 --drop-last --quiet --save "$T/x" >"$T/out" 2>&1 ||
    { cat "$T/out" >&2; fail "train --drop-last"; }
[ -s "$T/x" ] || fail "train --drop-last saved no model"
rm -f "$T/x"

# --max-train-loss: a bound below the first batch's loss (about ln 2 for
# two classes) stops training in the first epoch, with the guard's message
# and no model saved; the value must be > 0.
expect_status 1 "$MLPNET" train --arch 'flatten,dense:2' --data-dir "$T" --dataset toy \
    --epochs 2 --valid-size 40 --max-train-loss 0.001 --save "$T/x"
grep -q 'epoch 1, batch 1: the training loss .* exceeds max_train_loss 0.001' "$T/out" ||
    fail "--max-train-loss: $(cat "$T/out")"
[ -e "$T/x" ] && fail "a diverged first epoch saved a model"
expect_status 2 "$MLPNET" train --arch 'flatten,dense:2' --data-dir "$T" --dataset toy \
    --max-train-loss 0 --save "$T/x"
grep -q -- '--max-train-loss 0: want a number > 0' "$T/out" ||
    fail "--max-train-loss 0: $(cat "$T/out")"

# info
"$MLPNET" info --model "$M" >"$T/info.out" || fail "info"
if [ -w /dev/full ]; then
    # shellcheck disable=SC2016 # expanded by the inner shell
    expect_status 1 sh -c '"$0" info --model "$1" >/dev/full' "$MLPNET" "$M"
    grep -q '^mlpnet info: cannot write the output' "$T/out" || fail "info >/dev/full: $(cat "$T/out")"
fi
grep -q '^format version 1$' "$T/info.out" || fail "info: format version"
[ "$(grep -c 'parameters: [0-9][0-9]*$' "$T/info.out")" -eq 1 ] ||
    fail "info: the parameter count once: $(cat "$T/info.out")"
grep -q 'conv2d' "$T/info.out" || fail "info: summary"
# The arch line rebuilds the model: kernels, strides, padding, dilation and
# the dropout rate are all there, and a model trained from it has the same
# layers, shapes and parameter counts.
ARCH=$(sed -n 's/^arch //p' "$T/info.out")
[ "$ARCH" = 'conv:4x3x3/s1/p1/d1,bn,relu,maxpool:2/s2/p0,conv:4x3x3/s1/p1/d1,elu:0.5,avgpool:2/s2/p0,flatten,dropout:0.1,dense:8,leaky_relu:0.01,dense:6,tanh,dense:4,selu,dense:3,sigmoid,dense:2' ] ||
    fail "info: arch line: $ARCH"
grep -q '^note:' "$T/info.out" && fail "info: unexpected note: $(cat "$T/info.out")"
"$MLPNET" train --arch "$ARCH" --data-dir "$T" --dataset toy --epochs 1 --batch-size 20 \
    --valid-size 40 --seed 9 --save "$T/again.mlpnet" >"$T/again.out" ||
    { cat "$T/again.out" >&2; fail "train from the arch line"; }
grep -q ', 1 epoch$' "$T/again.out" || fail "train: '1 epoch': $(cat "$T/again.out")"
"$MLPNET" info --model "$T/again.mlpnet" >"$T/info2.out" || fail "info of the rebuilt model"
sed -n '/^layer/,/^arch/p' "$T/info.out" >"$T/arch1"
sed -n '/^layer/,/^arch/p' "$T/info2.out" >"$T/arch2"
cmp -s "$T/arch1" "$T/arch2" ||
    fail "the rebuilt model differs: $(diff "$T/arch1" "$T/arch2")"
# --threads defaults to 1, as the library and the README advise.
"$MLPNET" train --help | grep -q -- '--threads N.*\[1\]$' || fail "train --threads default"

# eval on the named split and on explicit files: same accuracy line.
"$MLPNET" eval --model "$M" --data-dir "$T" --dataset toy --split test --valid-size 40 \
    >"$T/eval1.out" ||
    fail "eval --dataset"
grep -Eq '^accuracy [01]\.[0-9]{4} \([0-9]+/60\)$' "$T/eval1.out" ||
    fail "eval accuracy line: $(head -1 "$T/eval1.out")"
grep -Eq '^error [0-9]+\.[0-9]{4}$' "$T/eval1.out" || fail "eval error line"
grep -q 'per-class accuracy' "$T/eval1.out" || fail "eval per-class"
grep -Eq '^ +0 A +[0-9]+ +30 ' "$T/eval1.out" || fail "eval class names"
grep -q 'most confused pairs' "$T/eval1.out" || fail "eval confusions"
"$MLPNET" eval --model "$M" --images "$T/toy-test-images-idx3-ubyte" \
    --labels "$T/toy-test-labels-idx1-ubyte" >"$T/eval2.out" 2>"$T/eval2.err" ||
    fail "eval --images"
[ "$(head -1 "$T/eval1.out")" = "$(head -1 "$T/eval2.out")" ] || fail "eval paths disagree"
# The same images as .npz archives (the course's format: inputs.npy and
# targets.npy), written with Python's standard library (meson's own
# interpreter): every split reads as from the IDX files, the validation
# images carved off the end of the training file whether or not the command
# asks for them.
python3 - "$T" <<'PY'
import struct, sys, zipfile
d = sys.argv[1]
def npy(descr, shape, data):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h += " " * (-(10 + len(h) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + data
for split in ("train", "test"):
    img = open("%s/toy-%s-images-idx3-ubyte" % (d, split), "rb").read()
    lab = open("%s/toy-%s-labels-idx1-ubyte" % (d, split), "rb").read()
    n = struct.unpack(">I", img[4:8])[0]
    with zipfile.ZipFile("%s/toynpz-%s.npz" % (d, split), "w") as z:
        z.writestr("inputs.npy", npy("|u1", "(%d, 8, 8)" % n, img[16:]))
        z.writestr("targets.npy", npy("<i8", "(%d,)" % n, struct.pack("<%dq" % n, *lab[8:])))
PY
cp "$T/toy-mapping.txt" "$T/toynpz-mapping.txt"
for split in train valid test; do
    for name in toy toynpz; do
        "$MLPNET" eval --model "$M" --data-dir "$T" --dataset $name --split $split \
            --valid-size 40 >"$T/$name.out" || fail "eval --dataset $name --split $split"
    done
    [ "$(head -1 "$T/toy.out")" = "$(head -1 "$T/toynpz.out")" ] ||
        fail "eval --split $split: IDX $(head -1 "$T/toy.out"), .npz $(head -1 "$T/toynpz.out")"
    grep -Eq '^ +1 B ' "$T/toynpz.out" || fail "eval .npz --split $split: class names"
done
"$MLPNET" eval --model "$M" --data-dir "$T" --dataset toynpz --split train --valid-size 40 |
    grep -Eq '^accuracy [01]\.[0-9]{4} \([0-9]+/160\)$' || fail "eval .npz --split train: 160 images"
# An archive named by --images: the same figures and predictions as the IDX
# files, the classes named from the map beside it (toynpz-mapping.txt).
"$MLPNET" eval --model "$M" --images "$T/toynpz-test.npz" >"$T/npz-eval.out" ||
    fail "eval --images .npz"
[ "$(head -1 "$T/npz-eval.out")" = "$(head -1 "$T/eval1.out")" ] ||
    fail "eval --images .npz: $(head -1 "$T/npz-eval.out"), IDX $(head -1 "$T/eval1.out")"
"$MLPNET" predict --model "$M" --images "$T/toynpz-test.npz" >"$T/npz-pred.out" ||
    fail "predict --images .npz"
"$MLPNET" predict --model "$M" --images "$T/toy-test-images-idx3-ubyte" >"$T/idx-pred.out" ||
    fail "predict --images"
cmp -s "$T/npz-pred.out" "$T/idx-pred.out" || fail "predict: .npz and IDX disagree"
grep -Eq '^0 [01] [AB] [01]\.[0-9]{4}$' "$T/npz-pred.out" ||
    fail "predict .npz: class names: $(head -1 "$T/npz-pred.out")"
"$MLPNET" train --arch flatten,dense:2 --data-dir "$T" --dataset toynpz --epochs 1 \
    --batch-size 20 --valid-size 40 --save "$T/npz.mlpnet" >"$T/out" 2>&1 ||
    { cat "$T/out" >&2; fail "train on .npz"; }
expect_status 2 "$MLPNET" eval --model "$M" --data-dir "$T" --dataset toynpz --split train \
    --valid-size 200

# Data unlike the model's: labels of one class only, other class names.
# Notes, not errors; the model's own test data give none.
grep -q 'note:' "$T/eval2.err" && fail "eval of the model's own data: $(cat "$T/eval2.err")"
labels_file 60 1 >"$T/zeros-labels"
printf '0 67\n1 68\n' >"$T/other-mapping.txt"
expect_status 0 "$MLPNET" eval --model "$M" --images "$T/toy-test-images-idx3-ubyte" \
    --labels "$T/zeros-labels" --mapping "$T/other-mapping.txt"
grep -q "note: the labels name 1 of the model's 2 classes (the largest is 0)" "$T/out" ||
    fail "eval of one class: $(cat "$T/out")"
grep -q 'note: class 0 is "A" in the model but "C" in the data' "$T/out" ||
    fail "eval with other names: $(cat "$T/out")"
grep -Eq '^accuracy ' "$T/out" || fail "eval of one class: no accuracy"
expect_status 2 "$MLPNET" eval --model "$M" --images "$T/toy-test-images-idx3-ubyte"
# A flag that the data named would not read is refused, not ignored.
for extra in "--valid-size 40" "--data-dir $T"; do
    # shellcheck disable=SC2086 # $extra: two words
    expect_status 2 "$MLPNET" eval --model "$M" --images "$T/toy-test-images-idx3-ubyte" \
        --labels "$T/toy-test-labels-idx1-ubyte" $extra
    grep -q "give either --images or a dataset's split" "$T/out" ||
        fail "eval --images $extra: $(cat "$T/out")"
done
expect_status 2 "$MLPNET" eval --model "$M" --data-dir "$T" --dataset toy --valid-size 40 \
    --labels "$T/toy-test-labels-idx1-ubyte"
grep -q -- '--labels needs --images' "$T/out" || fail "eval --labels alone: $(cat "$T/out")"

# predict: one line per image, with the guessed label map's characters.
"$MLPNET" predict --model "$M" --images "$T/toy-test-images-idx3-ubyte" >"$T/pred.out" ||
    fail "predict"
[ "$(wc -l <"$T/pred.out")" -eq 60 ] || fail "predict: $(wc -l <"$T/pred.out") lines"
grep -Eq '^0 [01] [AB] [01]\.[0-9]{4}$' "$T/pred.out" || fail "predict line: $(head -1 "$T/pred.out")"
# Without data, predict asks for either of its inputs, as its usage line.
expect_status 2 "$MLPNET" predict --model "$M"
grep -q -- '--images F or --csv F is required' "$T/out" || fail "predict without data: $(cat "$T/out")"
# gzip-compressed images give the same predictions (the library reads both).
if command -v gzip >/dev/null 2>&1; then
    gzip -c "$T/toy-test-images-idx3-ubyte" >"$T/toy-test-images.gz"
    "$MLPNET" predict --model "$M" --images "$T/toy-test-images.gz" \
        --mapping "$T/toy-mapping.txt" >"$T/predgz.out" || fail "predict .gz"
    cmp -s "$T/pred.out" "$T/predgz.out" || fail "predict .gz differs"
fi

# Runtime failures exit with 1 and say why.
expect_status 1 "$MLPNET" info --model "$T/missing.mlpnet"
head -c 100 "$M" >"$T/cut.mlpnet"
expect_status 1 "$MLPNET" eval --model "$T/cut.mlpnet" --data-dir "$T" --dataset toy \
    --valid-size 40
grep -q 'bad file format' "$T/out" || fail "truncated model message: $(cat "$T/out")"
expect_status 1 "$MLPNET" predict --model "$M" --images "$T/toy-mapping.txt"
grep -q 'not an IDX image file (magic 0x' "$T/out" || fail "text as images: $(cat "$T/out")"
# A labels file given as images is named as such, not read as dimensions.
expect_status 1 "$MLPNET" predict --model "$M" --images "$T/toy-test-labels-idx1-ubyte"
grep -q 'a labels file (idx1, ubyte: magic 0x00000801), expected an images file (idx3' "$T/out" ||
    fail "labels as images: $(cat "$T/out")"

# ---- CSV tables ---------------------------------------------------------------
# A classification table sorted by class (all "blue" rows, then all "red":
# the carved validation rows must be drawn at random), a regression table,
# and rows to predict without the target column.
awk 'BEGIN { srand(3); print "x1,x2,colour"
    for (k = 0; k < 2; k++) for (i = 0; i < 100; i++) {
        do { a = rand() * 4 - 2; b = rand() * 4 - 2 } while ((a + b > 0) != k)
        printf "%.4f,%.4f,%s\n", a, b, k ? "red" : "blue" } }' >"$T/cls.csv"
awk 'BEGIN { srand(4); print "x1,x2,colour"
    for (i = 0; i < 40; i++) { a = rand() * 4 - 2; b = rand() * 4 - 2
        printf "%.4f,%.4f,%s\n", a, b, (a + b > 0) ? "red" : "blue" } }' >"$T/cls-test.csv"
cut -d, -f1,2 "$T/cls-test.csv" >"$T/cls-rows.csv"
for n in 1 2; do
    awk -v seed="$n" 'BEGIN { srand(seed); print "a;b;y"
        for (i = 0; i < 150; i++) { a = rand() * 10; b = rand() * 100
            printf "%.4f;%.4f;%.4f\n", a, b, 3 * a - 0.2 * b + 5 } }' >"$T/reg$n.csv"
done

C="$T/cls.mlpnet"
"$MLPNET" train --csv "$T/cls.csv" --target colour --task classify --arch dense:8,relu,dense:2 \
    --epochs 40 --valid-fraction 0.2 --save "$C" >"$T/ctrain.out" 2>"$T/ctrain.err" ||
    { cat "$T/ctrain.out" "$T/ctrain.err" >&2; fail "train --csv classify"; }
[ ! -s "$T/ctrain.err" ] || fail "train --csv classify said: $(cat "$T/ctrain.err")"
grep -q '^table .*: 160 train, 40 valid (carved) rows of 2 features, target colour, 2 classes' \
    "$T/ctrain.out" || fail "train --csv header: $(head -1 "$T/ctrain.out")"
grep -Eq '^best epoch [0-9]+: valid accuracy (0\.9|1\.0)' "$T/ctrain.out" ||
    fail "train --csv summary: $(tail -1 "$T/ctrain.out")"
grep -Eq '^0 +standardize' "$T/ctrain.out" || fail "train --csv: no standardize layer first"
# The same table without its header row: its first row becomes the header,
# which the command notes (the numbers as feature names), and trains on.
tail -n +2 "$T/cls.csv" >"$T/nohead.csv"
"$MLPNET" train --csv "$T/nohead.csv" --target 2 --task classify --arch dense:2 \
    --epochs 2 --quiet --save "$T/x" >"$T/out" 2>"$T/nohead.err" ||
    { cat "$T/out" "$T/nohead.err" >&2; fail "train --csv without a header"; }
grep -q 'every feature column of .*nohead.csv is named by a number' "$T/nohead.err" ||
    fail "train --csv without a header said: $(cat "$T/nohead.err")"
rm -f "$T/x"
"$MLPNET" eval --model "$C" --csv "$T/cls-test.csv" --target colour >"$T/ceval.out" ||
    fail "eval --csv"
grep -Eq '^accuracy (0\.9|1\.0)[0-9]* \([0-9]+/40\)$' "$T/ceval.out" ||
    fail "eval --csv accuracy: $(head -1 "$T/ceval.out")"
grep -Eq '^ +[01] (blue|red) ' "$T/ceval.out" || fail "eval --csv class names"
expect_status 2 "$MLPNET" eval --model "$C" --csv "$T/cls-test.csv" --target colour \
    --valid-size 40
grep -q 'give either --csv or images' "$T/out" || fail "eval --csv --valid-size: $(cat "$T/out")"
# The target column by its 0-based index gives the same figures.
"$MLPNET" eval --model "$C" --csv "$T/cls-test.csv" --target 2 >"$T/ceval2.out" ||
    fail "eval --csv --target 2"
cmp -s "$T/ceval.out" "$T/ceval2.out" || fail "--target by index differs"
"$MLPNET" predict --model "$C" --csv "$T/cls-test.csv" --target colour >"$T/cpred.out" ||
    fail "predict --csv"
[ "$(wc -l <"$T/cpred.out")" -eq 40 ] || fail "predict --csv: $(wc -l <"$T/cpred.out") lines"
grep -Eq '^0 [01] (blue|red) [01]\.[0-9]{4}$' "$T/cpred.out" ||
    fail "predict --csv line: $(head -1 "$T/cpred.out")"
"$MLPNET" predict --model "$C" --csv "$T/cls-rows.csv" >"$T/cpred2.out" ||
    fail "predict --csv without a target column"
cmp -s "$T/cpred.out" "$T/cpred2.out" || fail "predict with and without the target differ"
# Rows still to label: the target column named is left out unread, blank.
sed '2,$s/,[a-z]*$/,/' "$T/cls-test.csv" >"$T/cls-blank.csv"
"$MLPNET" predict --model "$C" --csv "$T/cls-blank.csv" --target colour >"$T/cpred3.out" ||
    fail "predict --csv with blank target cells"
cmp -s "$T/cpred.out" "$T/cpred3.out" || fail "predict with blank target cells differs"
# The model takes its columns by name: a table that still holds its target
# column, not named, is read as well.
"$MLPNET" predict --model "$C" --csv "$T/cls-test.csv" >"$T/cpred5.out" ||
    fail "predict --csv, the target column left in"
cmp -s "$T/cpred.out" "$T/cpred5.out" || fail "predict with the target column left in differs"
# A model without feature names (a header that names two columns alike)
# takes the columns in order: a table that still holds its target column,
# not named, is refused, and the message says how to skip it.
sed '1s/x2/x1/' "$T/cls.csv" >"$T/cls-dup.csv"
"$MLPNET" train --csv "$T/cls-dup.csv" --target colour --task classify --arch dense:2 \
    --epochs 1 --quiet --save "$T/dup.mlpnet" >/dev/null 2>"$T/dup.err" ||
    fail "train, a header with a name twice"
grep -q "note: the header of $T/cls-dup.csv does not give each feature column a name of its own" \
    "$T/dup.err" || fail "no note on a header without feature names: $(cat "$T/dup.err")"
"$MLPNET" info --model "$T/dup.mlpnet" >"$T/out" || fail "info, a model without feature names"
if grep -q '^features' "$T/out"; then fail "a model with features named twice: $(cat "$T/out")"; fi
expect_status 1 "$MLPNET" predict --model "$T/dup.mlpnet" --csv "$T/cls-test.csv"
grep -q 'name it with --target' "$T/out" || fail "predict --csv, target kept: $(cat "$T/out")"
# Data meant for another model: the shapes are compared first, before labels
# or a label map meet the model's classes (2 here: a label 2 is out of range,
# which used to be the error, hiding the real mismatch).
cp "$T/toy-test-images-idx3-ubyte" "$T/tri-test-images-idx3-ubyte"
printf '0 65\n1 66\n2 67\n' >"$T/tri-mapping.txt"
labels_file 60 3 >"$T/tri-test-labels-idx1-ubyte"
SHAPES="ubyte: samples of shape [1,8,8] (64 values), but the model's input is [2] (2 values)"
expect_status 1 "$MLPNET" predict --model "$C" --images "$T/tri-test-images-idx3-ubyte"
grep -qF "$SHAPES" "$T/out" || fail "predict, images of another shape: $(cat "$T/out")"
expect_status 1 "$MLPNET" eval --model "$C" --images "$T/tri-test-images-idx3-ubyte" \
    --labels "$T/tri-test-labels-idx1-ubyte"
grep -qF "$SHAPES" "$T/out" || fail "eval, images of another shape: $(cat "$T/out")"
# The model keeps the training table's column names: a table with its
# columns in another order, or with more columns, is read by them and
# scored alike; one that lacks a column is refused naming it.
awk -F, 'BEGIN { OFS = "," } { print $3, $2, "extra", $1 }' "$T/cls-test.csv" >"$T/cls-moved.csv"
"$MLPNET" eval --model "$C" --csv "$T/cls-moved.csv" --target colour >"$T/ceval3.out" ||
    fail "eval --csv, columns in another order"
cmp -s "$T/ceval.out" "$T/ceval3.out" || fail "eval, columns in another order: figures differ"
"$MLPNET" predict --model "$C" --csv "$T/cls-moved.csv" --target colour >"$T/cpred4.out" ||
    fail "predict --csv, columns in another order"
cmp -s "$T/cpred.out" "$T/cpred4.out" || fail "predict, columns in another order: rows differ"
expect_status 2 "$MLPNET" eval --model "$C" --csv "$T/cls-moved.csv" --target x2
grep -qF -- '--target x2: the model reads column "x2" as a feature (its input 1)' "$T/out" ||
    fail "--target naming a feature: $(cat "$T/out")"
cut -d, -f2,3 "$T/cls-test.csv" >"$T/cls-no-x1.csv"
expect_status 1 "$MLPNET" eval --model "$C" --csv "$T/cls-no-x1.csv" --target colour
grep -qF 'no feature column named "x1" (the header'"'"'s: x2, colour)' "$T/out" ||
    fail "eval, a table without a column: $(cat "$T/out")"
# Labels out of range with samples that fit: the library's message stays.
expect_status 1 "$MLPNET" eval --model "$M" --images "$T/tri-test-images-idx3-ubyte" \
    --labels "$T/tri-test-labels-idx1-ubyte"
grep -q 'label 2 at byte offset 10 is out of range for 2 classes' "$T/out" ||
    fail "eval, a label out of range: $(cat "$T/out")"

# --mapping names the classes of images: with --csv it is refused as such
# (the class names are the model's), and a --mapping that does not exist is
# an error before anything is read, not skipped as a guessed map is.
for c in eval predict; do
    expect_status 2 "$MLPNET" "$c" --model "$C" --csv "$T/cls-test.csv" --target colour \
        --mapping "$T/toy-mapping.txt"
    grep -q -- '--mapping names the classes of images; with --csv the class names are' \
        "$T/out" || fail "$c --csv --mapping: $(cat "$T/out")"
done
expect_status 1 "$MLPNET" predict --model "$M" --images "$T/toy-test-images-idx3-ubyte" \
    --mapping "$T/no-mapping.txt"
grep -qF -- "--mapping $T/no-mapping.txt: No such file or directory" "$T/out" ||
    fail "predict --mapping missing: $(cat "$T/out")"
expect_status 1 "$MLPNET" eval --model "$M" --data-dir "$T" --dataset toy --valid-size 40 \
    --mapping "$T"
grep -qF -- "--mapping $T: not a regular file" "$T/out" || fail "eval --mapping DIR: $(cat "$T/out")"
"$MLPNET" info --model "$C" >"$T/cinfo.out" || fail "info of a CSV model"
grep -q '^arch standardize,dense:8,relu,dense:2$' "$T/cinfo.out" || fail "info arch: $(cat "$T/cinfo.out")"
grep -q '^loss softmax_xent (task classify)$' "$T/cinfo.out" || fail "info loss"
grep -q '^classes 2: blue red$' "$T/cinfo.out" || fail "info classes"
grep -q '^features 2: x1 x2$' "$T/cinfo.out" || fail "info features: $(cat "$T/cinfo.out")"
# Names that hold a blank are quoted where a line lists them.
sed 's/,blue$/,light blue/; 1s/x2/"x ""2"""/' "$T/cls.csv" >"$T/cls-blank-names.csv"
"$MLPNET" train --csv "$T/cls-blank-names.csv" --target colour --task classify --arch dense:2 \
    --epochs 1 --quiet --save "$T/cb.mlpnet" >/dev/null || fail "train, names with blanks"
"$MLPNET" info --model "$T/cb.mlpnet" >"$T/cbinfo.out" || fail "info, names with blanks"
grep -q '^classes 2: "light blue" red$' "$T/cbinfo.out" || fail "info quoted classes: $(cat "$T/cbinfo.out")"
grep -q '^features 2: x1 "x \\"2\\""$' "$T/cbinfo.out" || fail "info quoted features: $(cat "$T/cbinfo.out")"

R="$T/reg.mlpnet"
"$MLPNET" train --csv "$T/reg1.csv" --separator ';' --target y --task regress \
    --arch dense:16,relu,dense:1 --loss huber --valid-csv "$T/reg2.csv" --lr 0.01 --epochs 100 \
    --quiet --save "$R" >"$T/rtrain.out" || { cat "$T/rtrain.out" >&2; fail "train --csv regress"; }
grep -Eq '^best epoch [0-9]+: valid loss .*, rmse .*, r2 (0\.9|1\.0)' "$T/rtrain.out" ||
    fail "train --csv regress summary: $(cat "$T/rtrain.out")"
# A table's layers are numbered as --arch has them, the standardize layer
# the command puts first left out.
expect_status 2 "$MLPNET" train --csv "$T/cls.csv" --target colour --task classify \
    --arch dense:4,conv:2x3,dense:2 --save "$T/x.mlpnet"
grep -q -- "--arch: layer 2 'conv:2x3' does not fit" "$T/out" ||
    fail "train --csv, a layer that does not fit: $(cat "$T/out")"
# A standardize layer is a table's first layer, which train fits; anywhere
# else, or on images, it would stay the identity: refused. A blank before
# the first one does not add a second.
expect_status 2 "$MLPNET" train --csv "$T/cls.csv" --target colour --task classify \
    --arch dense:8,standardize,dense:2 --save "$T/x"
grep -qF "layer 2 'standardize': standardize comes first" "$T/out" ||
    fail "standardize second: $(cat "$T/out")"
expect_status 2 "$MLPNET" train --arch standardize,flatten,dense:2 --data-dir "$T" \
    --dataset toy --valid-size 40 --save "$T/x"
grep -qF "standardize is for --csv tables" "$T/out" || fail "standardize on images: $(cat "$T/out")"
"$MLPNET" train --csv "$T/cls.csv" --target colour --task classify \
    --arch ' standardize,dense:2' --epochs 2 --quiet --save "$T/std.mlpnet" >/dev/null ||
    fail "train with a blank before standardize"
"$MLPNET" info --model "$T/std.mlpnet" | grep -q '^arch standardize,dense:2$' ||
    fail "a blank before standardize: $("$MLPNET" info --model "$T/std.mlpnet" | grep arch)"
# A class column with a single class is refused before training.
printf 'a,b,c\n1,2,x\n3,4,x\n5,6,x\n7,8,x\n' >"$T/one.csv"
expect_status 1 "$MLPNET" train --csv "$T/one.csv" --target c --task classify --arch dense:2 \
    --save "$T/one.mlpnet"
grep -qF "one.csv: every row's target is \"x\"; a classifier needs at least 2 classes" \
    "$T/out" || fail "a single class: $(cat "$T/out")"
[ ! -e "$T/one.mlpnet" ] || fail "a single class saved a model"
# A training that diverges after its first epoch keeps its best epoch: it
# says so, saves that epoch's model and exits 0 (SGD at 0.1 overflows in
# epoch 2 on these rows).
rm -f "$T/div.mlpnet"
"$MLPNET" train --csv "$T/reg1.csv" --separator ';' --target y --task regress \
    --arch dense:16,relu,dense:1 --rule sgd --lr 0.1 --epochs 30 --quiet \
    --save "$T/div.mlpnet" >"$T/out" 2>&1 || { cat "$T/out" >&2; fail "train that diverges"; }
grep -Eq 'training diverged \(.*epoch [2-9].*\); keeping epoch [1-9]' "$T/out" ||
    fail "a divergence keeps its best epoch: $(cat "$T/out")"
"$MLPNET" eval --model "$T/div.mlpnet" --csv "$T/reg2.csv" --separator ';' --target y \
    >/dev/null || fail "the best epoch's model before a divergence"
# Per-epoch lines of a regression, and --test-csv: the figures train gives
# for the table are those eval gives for the saved model, for a regression
# and for a classification.
"$MLPNET" train --csv "$T/reg1.csv" --separator ';' --target y --task regress \
    --arch dense:8,relu,dense:1 --valid-csv "$T/reg2.csv" --test-csv "$T/reg2.csv" \
    --epochs 3 --save "$T/rt.mlpnet" >"$T/rt.out" || { cat "$T/rt.out" >&2; fail "train --test-csv"; }
grep -Eq '^epoch +3  train loss [0-9.]+ rmse [0-9.]+  valid loss [0-9.]+ rmse [0-9.]+ r2 -?[0-9.]+ ' \
    "$T/rt.out" || fail "train --csv regress, epoch line: $(grep '^epoch' "$T/rt.out" | tail -1)"
said=$(sed -n 's/.*, test rmse \([0-9.]*\), mae \([0-9.]*\), r2 \(-\{0,1\}[0-9.]*\) .*/\1 \2 \3/p' "$T/rt.out")
"$MLPNET" eval --model "$T/rt.mlpnet" --csv "$T/reg2.csv" --separator ';' --target y >"$T/rt-eval.out" ||
    fail "eval of train --test-csv's model"
found=$(awk '$1 == "rmse" { r = $2 } $1 == "mae" { m = $2 } $1 == "r2" { q = $2 }
    END { print r, m, q }' "$T/rt-eval.out")
if [ -z "$said" ] || [ "$said" != "$found" ]; then
    fail "test figures: train said '$said', eval '$found'"
fi
"$MLPNET" train --csv "$T/cls.csv" --target colour --task classify --arch dense:4,relu,dense:2 \
    --test-csv "$T/cls-test.csv" --epochs 2 --save "$T/ct.mlpnet" >"$T/ct.out" ||
    { cat "$T/ct.out" >&2; fail "train --csv classify --test-csv"; }
said=$(sed -n 's/.*, test accuracy \([0-9.]*\), error \([0-9.]*\) .*/\1 \2/p' "$T/ct.out")
"$MLPNET" eval --model "$T/ct.mlpnet" --csv "$T/cls-test.csv" --target colour >"$T/ct-eval.out" ||
    fail "eval of train --test-csv's classifier"
found=$(awk '$1 == "accuracy" { a = $2 } $1 == "error" { e = $2 } END { print a, e }' \
    "$T/ct-eval.out")
if [ -z "$said" ] || [ "$said" != "$found" ]; then
    fail "test figures: train said '$said', eval '$found'"
fi
"$MLPNET" eval --model "$R" --csv "$T/reg2.csv" --separator ';' --target y >"$T/reval.out" ||
    fail "eval --csv regress"
for w in rmse mae; do
    grep -Eq "^$w [0-9]+\.[0-9]{4}$" "$T/reval.out" || fail "eval: no $w line: $(cat "$T/reval.out")"
done
grep -Eq '^r2 (0\.9|1\.0)[0-9]{3}$' "$T/reval.out" || fail "eval: r2: $(cat "$T/reval.out")"
expect_status 2 "$MLPNET" eval --model "$R" --csv "$T/reg2.csv" --separator ';' --target y \
    --top 3
grep -qF -- "--top: $R is a regression model" "$T/out" || fail "eval --top, regression: $(cat "$T/out")"
"$MLPNET" predict --model "$R" --csv "$T/reg2.csv" --separator ';' --target y >"$T/rpred.out" ||
    fail "predict --csv regress"
[ "$(wc -l <"$T/rpred.out")" -eq 150 ] || fail "predict regress lines"
grep -Eq '^0 -?[0-9.e+-]+$' "$T/rpred.out" || fail "predict regress: $(head -1 "$T/rpred.out")"
"$MLPNET" info --model "$R" | grep -q '^loss huber (delta 1) (task regress)$' ||
    fail "info: regression loss"
"$MLPNET" train --csv "$T/reg1.csv" --separator ';' --target y --task regress \
    --arch dense:1 --loss huber --huber-delta 0.25 --epochs 2 --quiet --save "$T/h.mlpnet" \
    >/dev/null || fail "train --huber-delta"
"$MLPNET" info --model "$T/h.mlpnet" | grep -q '^loss huber (delta 0.25) (task regress)$' ||
    fail "info: the Huber delta"
expect_status 2 "$MLPNET" train --csv "$T/reg1.csv" --separator ';' --target y --task regress \
    --arch dense:1 --huber-delta 0.5 --save "$T/x"
grep -q 'huber-delta needs --loss huber' "$T/out" || fail "--huber-delta without huber"
expect_status 2 "$MLPNET" train --csv "$T/reg1.csv" --separator ';' --target y --task regress \
    --arch dense:1 --loss huber --huber-delta -1 --save "$T/x"
[ -e "$T/x" ] && fail "a usage error left a model file"

# Usage errors (exit 2) leave no file.
rm -f "$T/x"
expect_status 2 "$MLPNET" train --csv "$T/cls.csv" --target colour --arch dense:2 --save "$T/x"
grep -q -- '--task classify or --task regress is required' "$T/out" || fail "no --task: $(cat "$T/out")"
expect_status 2 "$MLPNET" train --csv "$T/cls.csv" --target colour --task regress \
    --loss softmax_xent --arch dense:1 --save "$T/x"
grep -q 'does not fit --task regress' "$T/out" || fail "loss for task: $(cat "$T/out")"
expect_status 2 "$MLPNET" train --csv "$T/cls.csv" --target colour --task classify \
    --arch dense:8,relu,dense:3 --save "$T/x"
grep -q 'the target has 2 classes (end the SPEC with dense:2)' "$T/out" ||
    fail "output size message: $(cat "$T/out")"
expect_status 2 "$MLPNET" train --csv "$T/cls.csv" --target colour --task classify \
    --arch dense:2 --valid-fraction 0.999 --save "$T/x"
[ -e "$T/x" ] && fail "a usage error left a model file"

# refused STATUS PHRASE ARGS...: `mlpnet ARGS...` exits with STATUS, says
# PHRASE and writes no $T/x.
refused() {
    want=$1 phrase=$2
    shift 2
    rm -f "$T/x"
    expect_status "$want" "$MLPNET" "$@"
    grep -qF -- "$phrase" "$T/out" || fail "want '$phrase' from $*: $(cat "$T/out")"
    [ ! -e "$T/x" ] || fail "$* left a file"
}
# A value typed for a number is used or refused, never taken for "unset":
# rates below 0, --epochs or --batch-size below 1, NaN or infinity.
CT="train --csv $T/cls.csv --target colour --task classify --arch dense:2 --save $T/x"
# shellcheck disable=SC2086 # $CT: words without spaces ($T has none)
{
    refused 2 '--lr -2: want a learning rate >= 0' $CT --lr -2
    refused 2 '--momentum -0.5: want a number in [0, 1)' $CT --rule momentum --momentum -0.5
    refused 2 '--momentum 1: want a number in [0, 1)' $CT --rule momentum --momentum 1
    refused 2 '--weight-decay -1: want a number >= 0' $CT --weight-decay -1
    refused 2 '--epochs 0: want a number >= 1' $CT --epochs 0
    refused 2 '--batch-size 0: want a number >= 1' $CT --batch-size 0
    refused 2 "--lr: 'nan' is not a finite number" $CT --lr nan
    refused 2 "--weight-decay: 'inf' is not a finite number" $CT --weight-decay inf
    refused 2 "--lr: '1e999' is out of range" $CT --lr 1e999
}
# --valid-size INT32_MIN was the "not given" mark: now a value like any other.
refused 2 '--valid-size -2147483648: want a number >= 1' train --arch flatten,dense:2 \
    --data-dir "$T" --dataset toy --valid-size -2147483648 --save "$T/x"
# A rate of 0 and a momentum for a rule that has one are taken as typed.
# shellcheck disable=SC2086 # $CT, as above
"$MLPNET" $CT --epochs 1 --lr 0 --rule momentum --momentum 0 >"$T/out" 2>&1 ||
    { cat "$T/out" >&2; fail "train --lr 0 --momentum 0"; }
grep -q 'learning rate 0, batch 16, 1 epoch$' "$T/out" || fail "--lr 0 not used: $(cat "$T/out")"
rm -f "$T/x"

# --save is checked before the data are read and the training runs: a name,
# an existing directory, not a directory itself, not an input table. 2000
# epochs would print 2000 lines; a failure here prints no epoch at all.
CT2="train --csv $T/cls.csv --target colour --task classify --arch dense:2 --epochs 2000"
# shellcheck disable=SC2086 # $CT2: words without spaces ($T has none)
{
    refused 1 "--save $T/no/dir/x: cannot write in $T/no/dir: No such file or directory" \
        $CT2 --save "$T/no/dir/x"
    ! grep -q epoch "$T/out" || fail "trained before refusing --save: $(cat "$T/out")"
    refused 2 '--save: the file name is empty' $CT2 --save ''
    refused 1 "--save $T: a directory, not a regular file" $CT2 --save "$T"
    refused 2 "--save $T/cls.csv is the table of --csv" $CT2 --save "$T/cls.csv"
    refused 2 "--save $T/./cls-test.csv is the table of --test-csv" $CT2 \
        --test-csv "$T/cls-test.csv" --save "$T/./cls-test.csv"
}
! grep -q epoch "$T/out" || fail "trained before refusing --save: $(cat "$T/out")"
for f in cls cls-test; do
    [ "$(head -1 "$T/$f.csv")" = x1,x2,colour ] || fail "--save overwrote $f.csv"
done
refused 1 "--save $T/no/dir/x: cannot write in" train --arch flatten,dense:2 \
    --data-dir "$T" --dataset toy --valid-size 40 --save "$T/no/dir/x"
grep -q '^epoch' "$T/out" && fail "trained before refusing --save: $(cat "$T/out")"

# Bad tables (exit 1): the library's message names file:line:column; no model file.
printf 'x1,x2,colour\n1,2,red\n3,4,blue\n5,6\n' >"$T/ragged.csv"
printf 'x1,x2,colour\n1,2,red\n3,abc,blue\n' >"$T/text.csv"
printf 'x1,x2,colour\n1,2,red\n3,4,green\n' >"$T/green.csv"
expect_status 1 "$MLPNET" train --csv "$T/ragged.csv" --target colour --task classify \
    --arch dense:2 --save "$T/x"
grep -q "ragged.csv:4:3 (colour): 2 fields, but the first record has 3" "$T/out" ||
    fail "ragged message: $(cat "$T/out")"
expect_status 1 "$MLPNET" train --csv "$T/text.csv" --target colour --task classify \
    --arch dense:2 --save "$T/x"
grep -q 'text.csv:3:2 (x2)' "$T/out" || fail "text feature message: $(cat "$T/out")"
expect_status 1 "$MLPNET" train --csv "$T/cls.csv" --target hue --task classify \
    --arch dense:2 --save "$T/x"
grep -q 'cls.csv:1' "$T/out" || fail "missing target message: $(cat "$T/out")"
[ -e "$T/x" ] && fail "a bad table left a model file"
expect_status 1 "$MLPNET" eval --model "$C" --csv "$T/green.csv" --target colour
grep -q 'green.csv:3:3 (colour)' "$T/out" || fail "unknown label message: $(cat "$T/out")"
# A path holding an escape sequence is printed with '?' for the escape.
ESC=$(printf '\033')
expect_status 1 "$MLPNET" info --model "$T/no${ESC}[31mfile.mlpnet"
grep -qF "no?[31mfile.mlpnet" "$T/out" || fail "a path with an escape: $(cat "$T/out")"
if grep -q "$ESC" "$T/out"; then fail "an escape character reached the terminal"; fi
# (a regression table whose feature columns have the classifier's names)
sed '1s/.*/x1;x2;y/' "$T/reg1.csv" >"$T/reg-x.csv"
expect_status 1 "$MLPNET" eval --model "$C" --csv "$T/reg-x.csv" --separator ';' --target y
grep -q 'reg-x.csv:2:3 (y)' "$T/out" || fail "regression target for a classifier: $(cat "$T/out")"
sed '1s/.*/a,b,colour/' "$T/cls.csv" >"$T/cls-ab.csv"
expect_status 1 "$MLPNET" eval --model "$R" --csv "$T/cls-ab.csv" --target colour
grep -q 'cls-ab.csv:2:3 (colour)' "$T/out" || fail "class labels for a regression: $(cat "$T/out")"
expect_status 1 "$MLPNET" predict --model "$C" --csv "$T/reg1.csv" --separator ';'
grep -qF 'reg1.csv:1: no feature column named "x1" (the header'"'"'s: a, b, y)' "$T/out" ||
    fail "a table without the model's columns: $(cat "$T/out")"
if grep -q 'with --target' "$T/out"; then fail "the --target hint for columns by name"; fi
expect_status 1 "$MLPNET" predict --model "$T/dup.mlpnet" --csv "$T/reg1.csv" --separator ';'
grep -q 'rows of 3 features, but the model takes 2' "$T/out" || fail "feature count: $(cat "$T/out")"

# export: an ONNX file (protobuf: its first field is ir_version, tag 0x08), from
# an image model and a CSV model; usage errors and a bad path leave no file.
"$MLPNET" export --model "$M" --onnx "$T/m.onnx" >"$T/out" || fail "export"
grep -q "^wrote $T/m.onnx (" "$T/out" || fail "export output: $(cat "$T/out")"
[ "$(od -An -tx1 -N1 "$T/m.onnx" | tr -d ' ')" = 08 ] || fail "export: not an ONNX model"
"$MLPNET" export --model "$R" --onnx "$T/r.onnx" >/dev/null || fail "export of a regression"
expect_status 2 "$MLPNET" export --model "$M"
expect_status 2 "$MLPNET" export --onnx "$T/x.onnx"
expect_status 1 "$MLPNET" export --model "$T/missing.mlpnet" --onnx "$T/x.onnx"
expect_status 1 "$MLPNET" export --model "$M" --onnx "$T/no/such/dir/x.onnx"
[ -e "$T/x.onnx" ] && fail "a failed export left a file"
# The output must not be the input, whatever its spelling or links.
cp "$M" "$T/keep.mlpnet"
ln -s toy.mlpnet "$T/link.onnx"
ln "$M" "$T/hard.onnx"
for out in "$M" "$T/./toy.mlpnet" "$T/link.onnx" "$T/hard.onnx"; do
    expect_status 2 "$MLPNET" export --model "$M" --onnx "$out"
    grep -qF -- "--onnx $out is the model file of --model" "$T/out" ||
        fail "export over the model ($out): $(cat "$T/out")"
done
cmp -s "$M" "$T/keep.mlpnet" || fail "export overwrote the model"
expect_status 2 "$MLPNET" export --model "$M" --onnx ''
grep -qF -- '--onnx: the file name is empty' "$T/out" || fail "export --onnx '': $(cat "$T/out")"

echo "cli smoke test: all checks passed"
