#!/bin/bash
# The README's path for a new user, on a fresh Debian 12: a minimal system
# (debootstrap's minbase, with sudo), a user who is not root, a copy of
# the project's tracked files and no data set anywhere. In it, as that
# user and as the README says:
#   1. examples/quickstart.sh installs what is missing (through sudo),
#      builds, and trains the baseline on Debian's Fashion-MNIST package;
#      its test accuracy must be that of a trained model (>= 0.75);
#   2. the README's test command passes;
#   3. the library installs (`meson install`, then `ldconfig`), and the
#      README's minimal program, taken from README.md, compiles with the
#      pkg-config line the README gives and runs: it trains on
#      Fashion-MNIST and prints a test accuracy >= 0.75;
#   4. examples/quickstart.sh again installs nothing;
#   5. the installed `mlpnet` command trains, evaluates and predicts on
#      CSV tables made here, with the README's command lines (accuracy
#      >= 0.95 on three classes that lie apart).
# CI's machine has every package and the data at hand, so a build
# dependency missing from quickstart.sh's list, or a step of the README
# that needs more than it says, would pass there and fail here.
# Needs root (debootstrap, chroot, mounts), debootstrap and unshare, and
# Debian's archive (the mirror apt uses, or MLPNET_FRESH_MIRROR). The
# system's mounts (/proc, /sys, /dev) live in a mount namespace of their
# own (unshare), so they end with it, and nothing under the system is
# removed while anything is mounted there.
# Usage: tests/fresh/run.sh (MLPNET_FRESH_KEEP=1: keep the system, to
# look into a failure, in the directory printed at the end)
# Exit status: 0 passed, 1 failed, 77 skipped (a tool missing, not root,
# the archive out of reach, at the start or during the quick start's
# apt-get, or mounts refused: the reason is printed).
set -u

src=$(cd "$(dirname "$0")/../.." && pwd)
skip() {
    echo "fresh: skipped: $*"
    exit 77
}
fail() {
    echo "fresh: FAILED: $*"
    exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, mount)"
for c in debootstrap unshare chroot findmnt git tar; do
    command -v "$c" >/dev/null || skip "$c is missing"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mlpnet-fresh.XXXXXX")
root=$work/root
cleanup() {
    if [ -n "${MLPNET_FRESH_KEEP:-}" ]; then
        echo "fresh: the system is kept in $root (MLPNET_FRESH_KEEP)"
        return
    fi
    # The mounts were made in unshare's namespace and ended with it; a
    # directory still mounted is left alone rather than emptied.
    if findmnt -rn -o TARGET | grep -q "^$root"; then
        echo "fresh: $root still has mounts; left in place"
        return
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM # cleanup still runs

mirror=${MLPNET_FRESH_MIRROR:-$(apt-cache policy 2>/dev/null |
    awk '$3 ~ /^bookworm\/main$/ && $2 ~ /^https?:/ { print $2; exit }')}
mirror=${mirror:-http://deb.debian.org/debian}

t0=$(date +%s)
echo "fresh: a minimal Debian 12 from $mirror"
if ! debootstrap --variant=minbase --include=sudo bookworm "$root" "$mirror" \
    >"$work/debootstrap.log" 2>&1; then
    tail -n 5 "$work/debootstrap.log"
    skip "debootstrap failed (the archive out of reach?)"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
# sudo looks the machine's name up (the system shares the host's)
echo "127.0.1.1 $(hostname)" >>"$root/etc/hosts"
chroot "$root" useradd -m -s /bin/bash user || fail "useradd"
echo 'user ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/user"
chmod 440 "$root/etc/sudoers.d/user"
# The tracked files as they are in the tree (a clone's files, in CI).
(cd "$src" && git ls-files -z | tar --null -T - -cf -) |
    (mkdir "$root/home/user/libmlpnet" && tar -xf - -C "$root/home/user/libmlpnet") ||
    fail "copying the project's files"
chroot "$root" chown -R user:user /home/user/libmlpnet || fail "chown"

# What the user types, after the README (its minimal program cut from
# README.md: the first ```c block after "## A minimal program").
cat >"$root/home/user/steps.sh" <<'EOF'
set -euo pipefail
cd ~/libmlpnet
step() { echo "fresh: step $*"; }
accuracy() { # the number after "test_acc" or "test accuracy" in file $1
    sed -n 's/.*\(test_acc\|test accuracy\) \([0-9.]*\)$/\2/p' "$1" | tail -n 1
}
at_least() { # number, bar
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b) }'
}
step 1: examples/quickstart.sh
examples/quickstart.sh 2>&1 | tee ~/quickstart.log
acc=$(accuracy ~/quickstart.log)
echo "fresh: quick start test accuracy ${acc:-none}"
at_least "$acc" 0.75 || { echo "fresh: the quick start's accuracy is below 0.75"; exit 1; }
step 2: meson test -C build --print-errorlogs
meson test -C build --print-errorlogs >~/tests.log 2>&1 || { cat ~/tests.log; exit 1; }
grep -E '^(Ok|Fail|Skipped|Timeout): ' ~/tests.log | tr -s ' ' | paste -sd ' ' |
    sed 's/^/fresh: README test command: /'
step 3: meson install, ldconfig, the README\'s minimal program
sudo meson install -C build >~/install.log 2>&1 || { cat ~/install.log; exit 1; }
sudo ldconfig
mkdir -p ~/prog
awk '/^## A minimal program/ { s = 1 } s && /^```c$/ { p = 1; next } p && /^```$/ { exit }
     p { print }' README.md >~/prog/prog.c
[ -s ~/prog/prog.c ] || { echo "fresh: no C block after '## A minimal program' in README.md"; exit 1; }
cd ~/prog
cc -std=c11 prog.c $(pkg-config --cflags --libs mlpnet) -o prog
./prog | tee ~/prog.log
acc=$(accuracy ~/prog.log)
echo "fresh: the README's minimal program: test accuracy ${acc:-none}"
at_least "$acc" 0.75 || { echo "fresh: the minimal program's accuracy is below 0.75"; exit 1; }
step 4: examples/quickstart.sh again
cd ~/libmlpnet
examples/quickstart.sh --epochs 1 >~/quickstart2.log 2>&1 || { cat ~/quickstart2.log; exit 1; }
if grep 'quickstart: installing' ~/quickstart2.log; then
    echo "fresh: the second quick start installed packages again"
    exit 1
fi
echo "fresh: the second quick start installed nothing"
step 5: the installed mlpnet command on CSV tables, as the README shows
mkdir -p ~/csv
cd ~/csv
table() { # seed rows: three classes of two features, apart by 2 or more
    awk -v seed="$1" -v n="$2" 'BEGIN { srand(seed); print "x1,x2,kind"
        for (i = 0; i < n; i++) { c = i % 3
            printf "%.3f,%.3f,%s\n", 3 * c + rand(), 3 * (c == 1) + rand(), substr("abc", c + 1, 1) } }'
}
table 7 300 >train.csv
table 8 90 >test.csv
cut -d, -f1,2 test.csv >new-rows.csv
command -v mlpnet
mlpnet train --csv train.csv --target kind --task classify --arch dense:16,relu,dense:3 \
    --save kinds.mlpn >train.log
mlpnet eval --model kinds.mlpn --csv test.csv --target kind >eval.log
acc=$(sed -n 's/^accuracy \([0-9.]*\) .*/\1/p' eval.log)
echo "fresh: mlpnet eval on the CSV table: accuracy ${acc:-none}"
at_least "$acc" 0.95 || { cat train.log eval.log; echo "fresh: mlpnet's accuracy is below 0.95"; exit 1; }
mlpnet predict --model kinds.mlpn --csv new-rows.csv >predict.log
rows=$(awk '$3 ~ /^[abc]$/' predict.log | wc -l)
echo "fresh: mlpnet predict: $rows of 90 rows with a class name"
[ "$rows" = 90 ] || { cat predict.log; exit 1; }
EOF

echo "fresh: the README's steps as a user who is not root"
# shellcheck disable=SC2016 # expanded by the namespace's shell
unshare --mount --propagation private sh -c '
    root=$0
    mount -t proc proc "$root/proc" && mount -t sysfs sys "$root/sys" &&
        mount --rbind /dev "$root/dev" || exit 90
    exec chroot "$root" /usr/bin/env -i HOME=/home/user USER=user LOGNAME=user \
        PATH=/usr/local/bin:/usr/bin:/bin TERM=dumb LANG=C.UTF-8 \
        /usr/bin/setpriv --reuid=user --regid=user --init-groups \
        /bin/bash /home/user/steps.sh' "$root" >"$work/steps.log" 2>&1
rc=$?
grep -a '^fresh: ' "$work/steps.log"
case $rc in
0) echo "fresh: passed in $(($(date +%s) - t0)) s" ;;
90) skip "mounting /proc, /sys or /dev in the new system was refused" ;;
*)
    tail -n 60 "$work/steps.log"
    # apt's words when the archive cannot be reached (not when a package
    # is unknown: "Unable to locate package" fails, as it should)
    if grep -q 'Temporary failure resolving\|Could not connect to\|Failed to fetch' \
        "$work/steps.log"; then
        skip "the archive went out of reach during the README's steps; log above"
    fi
    fail "the README's steps (exit status $rc); log above"
    ;;
esac
