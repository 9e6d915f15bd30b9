#!/usr/bin/env bash
# The library's AVX-512 code on an emulated AVX-512 CPU.
#
#   tests/avx512/run.sh BUILD_DIR           run the suites built in BUILD_DIR
#   tests/avx512/run.sh --native BUILD_DIR  run them on this CPU (AVX-512)
#   tests/avx512/run.sh --targets           print their ninja targets
#
# Boots Debian's kernel under Bochs, emulating an Intel Core i7-7800X
# (Skylake-X: AVX-512 F, CD, BW, DQ and VL), and runs there the unit suites
# that hold the library's AVX-512 code to its other code or to reference
# loops: the direct correlation's AVX-512 builds (conv suite, tag `wide`),
# the compiler's AVX-512 clones of the element passes (layers, norm, optim,
# loss, tensor) and the matrix products with OpenBLAS's AVX-512 kernels
# (backend). On a CPU without AVX-512 nothing else runs this code.
#
# Bochs interprets every instruction, far slower than the CPU, so the
# suites are the fast ones; the whole run takes some minutes, the boot
# under one of them. It checks bits, not speed.
#
# Needs (Debian 12): bochs bochs-term bochsbios vgabios isolinux
# syslinux-common xorriso cpio busybox-static (or busybox), python3, a C
# compiler and ld that build 32-bit code (gcc and binutils do), and
# apt-get to fetch the kernel package (linux-image-amd64's). The kernel,
# and the flat image of it that the guest boots (flat_kernel.py,
# pvh_boot.c), are kept in $MLPNET_AVX512_CACHE (default
# ~/.cache/mlpnet-avx512).
#   MLPNET_AVX512_KERNEL   a vmlinuz to boot instead
#   MLPNET_AVX512_JOBS     other suites, as `jobs` below, separated by ';'
#   MLPNET_AVX512_TIMEOUT  seconds to wait for the guest (1500)
# Exit status: 0 passed, 1 a suite failed, 77 skipped (a tool or the
# kernel could not be had, or --native on a CPU without AVX-512).
#
# --native: on a CPU with AVX-512 the unit suites run the library's AVX-512
# code already, but with OpenBLAS on the kernels the environment pins
# (OPENBLAS_CORETYPE: CI's machines pin Haswell's, which are not AVX-512
# ones); this runs the same suites on this CPU with OpenBLAS on the kernels
# the emulated Skylake-X gets (SkylakeX), so that a machine with AVX-512
# checks what the emulated run checks elsewhere, in seconds.
#
# What the guest needs, with the reasons:
#  - clearcpuid=xsaves,xsavec: Bochs 2.7 reports the standard XSAVE area's
#    size for the compacted one (CPUID 0xD.1 EBX), and Linux then turns
#    XSAVE, and with it AVX, off. Without XSAVES and XSAVEC Linux uses the
#    standard format, whose sizes Bochs reports right.
#  - LD_BIND_NOW=1 for its programs: see the comment at /init below.
#  - emu_gap.c, preloaded: Bochs 2.7 refuses AVX-512 gathers and scatters
#    indexed by zmm16-31, which OpenBLAS's small-matrix kernels use.
#    emu_gap.so runs them in Bochs's place, and gather_check.c, run first,
#    holds it to Bochs's own gathers and scatters and to a loop. One it
#    cannot decode ends the test as a gap of the emulator, reported, not
#    passed.
#  - The boot by the kernel's PVH entry (flat_kernel.py, pvh_boot.c): not
#    needed, but the bzImage's own unpacking took 75 to 90 s of each
#    boot, two thirds of it.
set -euo pipefail

usage="usage: tests/avx512/run.sh BUILD_DIR | --native BUILD_DIR | --targets"
native=0
if [ $# = 2 ] && [ "$1" = --native ]; then
    native=1
    shift
fi
[ $# = 1 ] || {
    echo "$usage" >&2
    exit 2
}
src=$(cd "$(dirname "$0")/../.." && pwd)
cache=${MLPNET_AVX512_CACHE:-$HOME/.cache/mlpnet-avx512}
timeout_s=${MLPNET_AVX512_TIMEOUT:-1500}

skip() {
    echo "avx512: skipped: $*"
    exit 77
}

# What runs in the guest: "suite environment...". OpenBLAS picks its
# kernels from the emulated CPU (SkylakeX).
jobs=(
    "conv CK_INCLUDE_TAGS=wide"
    "layers"
    "norm"
    "optim"
    "loss"
    "tensor"
    "backend"
)
if [ -n "${MLPNET_AVX512_JOBS:-}" ]; then
    IFS=';' read -r -a jobs <<<"$MLPNET_AVX512_JOBS"
fi
# --targets: the ninja targets of the suites above, to build them first.
if [ "$1" = --targets ]; then
    for j in "${jobs[@]}"; do
        echo "tests/check_${j%% *}"
    done
    exit 0
fi
build=$(cd "$1" && pwd)

if [ "$native" = 1 ]; then
    grep -qw avx512f /proc/cpuinfo 2>/dev/null || skip "this CPU has no AVX-512 (--native)"
    for j in "${jobs[@]}"; do
        [ -x "$build/tests/check_${j%% *}" ] || skip "$build/tests/check_${j%% *} is not built"
    done
    status=0
    for j in "${jobs[@]}"; do
        s=${j%% *}
        read -r -a job_env <<<"${j#"$s"}"
        rc=0
        out=$(env "${job_env[@]}" OPENBLAS_CORETYPE=SkylakeX "$build/tests/check_$s" 2>&1) ||
            rc=$?
        echo "avx512: native: suite $s rc=$rc $(grep -E '^[0-9]+%' <<<"$out")"
        if [ "$rc" != 0 ]; then
            grep -v -E '^Running suite|^[0-9]+%' <<<"$out" | head -n 40
            status=1
        fi
    done
    exit $status
fi

bios=/usr/share/bochs/BIOS-bochs-latest
vgabios=/usr/share/vgabios/vgabios.bin
isolinux=/usr/lib/ISOLINUX/isolinux.bin
c32=/usr/lib/syslinux/modules/bios
busybox=/bin/busybox
for f in "$bios" "$vgabios" "$isolinux" "$c32/ldlinux.c32" "$c32/mboot.c32" "$c32/libcom32.c32" \
    "$busybox"; do
    [ -f "$f" ] || skip "$f is missing"
done
for c in bochs xorriso cpio cc ld python3; do
    command -v "$c" >/dev/null || skip "$c is missing"
done
for j in "${jobs[@]}"; do
    [ -x "$build/tests/check_${j%% *}" ] || skip "$build/tests/check_${j%% *} is not built"
done

# The kernel: Debian's, from the package linux-image-amd64 depends on.
mkdir -p "$cache"
kernel=${MLPNET_AVX512_KERNEL:-}
if [ -z "$kernel" ]; then
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [ -n "$pkg" ] || skip "apt-cache knows no linux-image-amd64"
    kernel=$cache/vmlinuz-${pkg#linux-image-}
    if [ ! -f "$kernel" ]; then
        (cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1) ||
            skip "apt-get download $pkg failed"
        deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
        dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards './boot/vmlinuz-*' >"$kernel.part"
        mv "$kernel.part" "$kernel"
        rm -f "$deb"
    fi
fi
[ -s "$kernel" ] || skip "no kernel at $kernel"

work=$(mktemp -d)
trap 'kill "${bochs_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

# The kernel unpacked on the host, once (flat_kernel.py; the name says
# the format's version), and the boot loader that starts it by its PVH
# entry (pvh_boot.c).
flat=$cache/$(basename "$kernel").flat-v1
[ -z "${MLPNET_AVX512_KERNEL:-}" ] || flat=$work/kernel.flat
if [ ! -s "$flat" ]; then
    python3 "$src/tests/avx512/flat_kernel.py" "$kernel" "$flat" ||
        skip "flat_kernel.py could not unpack $kernel"
fi
cc -m32 -march=i686 -O2 -ffreestanding -fno-pic -fno-pie -fno-stack-protector -fno-builtin \
    -fno-asynchronous-unwind-tables -mgeneral-regs-only -c -o "$work/pvh_boot.o" \
    "$src/tests/avx512/pvh_boot.c" || skip "cc cannot build 32-bit code"
ld -m elf_i386 -nostdlib --build-id=none --no-warn-rwx-segments -T "$src/tests/avx512/pvh_boot.ld" \
    -o "$work/pvh_boot.elf" "$work/pvh_boot.o" || skip "ld cannot link 32-bit code"

# The initial RAM disk: busybox, the suites, their libraries and /init.
root=$work/root
mkdir -p "$root"/{bin,lib,lib64,t,proc,sys,dev,tmp}
cp "$busybox" "$root/bin/busybox"
libs_of() { # executable: copy the libraries it loads into the guest's /lib
    { ldd "$1" 2>/dev/null || true; } | awk '/=> \// { print $3 }' | while read -r l; do
        cp -L "$l" "$root/lib/"
    done
}
libs_of "$busybox" # none for busybox-static
for a in sh mount grep date tr echo cat poweroff sleep head; do
    ln -s busybox "$root/bin/$a"
done
cc -O1 -shared -fPIC -o "$root/lib/emu_gap.so" "$src/tests/avx512/emu_gap.c"
cc -O1 -mavx512f -mavx512vl -o "$root/t/gather_check" "$src/tests/avx512/gather_check.c"
for j in "${jobs[@]}"; do
    s=${j%% *}
    [ -f "$root/t/check_$s" ] && continue
    cp "$build/tests/check_$s" "$root/t/"
    libs_of "$build/tests/check_$s"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
{
    echo '#!/bin/sh'
    echo 'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev'
    # shellcheck disable=SC2016 # these lines are the guest's to expand
    echo 'echo "avx512: guest up: $(grep -m1 -o -w avx512f /proc/cpuinfo || echo no-avx512f)"'
    # The guest's clock counts 200 million instructions a second (ips
    # below), some 20 times fewer than a real Skylake-X runs: Check's
    # timeouts, in the guest's seconds, stretch to match.
    # LD_BIND_NOW: glibc's lazy binding saves the vector registers with
    # XSAVEC, whose compacted layout Bochs 2.7 gets wrong (clearcpuid
    # below keeps the kernel off it; CPUID still offers it to programs).
    # gather_check, which uses zmm16-31, crashed inside ld.so (a null
    # pointer) until its symbols were bound at load.
    echo 'export LD_LIBRARY_PATH=/lib LD_PRELOAD=/lib/emu_gap.so TMPDIR=/tmp LD_BIND_NOW=1'
    echo 'export CK_TIMEOUT_MULTIPLIER=20 CK_DEFAULT_TIMEOUT=120'
    echo '/t/gather_check; echo "avx512: gather_check rc=$?"'
    for j in "${jobs[@]}"; do
        s=${j%% *}
        envs=${j#"$s"}
        echo "echo \"avx512: start $s\""
        echo "env $envs /t/check_$s > /tmp/out 2>&1; rc=\$?"
        echo "grep -v -E '^Running suite|^[0-9]+%' /tmp/out | head -n 40"
        echo "echo \"avx512: suite $s rc=\$rc \$(grep -E '^[0-9]+%' /tmp/out)\""
    done
    echo 'echo "avx512: guest done"'
    echo 'sleep 1; poweroff -f'
} >"$root/init"
chmod +x "$root/init"

iso=$work/iso
mkdir -p "$iso/isolinux"
# Not compressed: mboot.c32 would unpack a gzipped one itself, slowly.
(cd "$root" && find . | cpio -o -H newc 2>/dev/null) >"$iso/isolinux/initrd"
cp "$flat" "$iso/isolinux/kernel.flat"
cp "$work/pvh_boot.elf" "$isolinux" "$c32/ldlinux.c32" "$c32/mboot.c32" "$c32/libcom32.c32" \
    "$iso/isolinux/"
# mboot.c32 loads pvh_boot.elf, then its modules (separated by ---): the
# kernel, whose string holds the kernel's command line, and the RAM disk.
cat >"$iso/isolinux/isolinux.cfg" <<'EOF'
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL mboot.c32
  APPEND pvh_boot.elf --- kernel.flat console=ttyS0,115200 quiet loglevel=3 panic=-1 mitigations=off clearcpuid=xsaves,xsavec --- initrd
EOF
xorriso -as mkisofs -quiet -o "$work/guest.iso" -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table "$iso" 2>/dev/null

# The machine: 1 CPU, 768 MB, a CD drive, the serial port to a file; the
# guest's time passes as instructions do, not as the host's (clock). The
# display is Bochs's VNC server, which does not wait for a viewer; Debian's
# build starts in its debugger, so `c` (continue) goes in first.
cat >"$work/bochsrc" <<EOF
megs: 768
cpu: model=corei7_skylake_x, ips=200000000
romimage: file=$bios
vgaromimage: file=$vgabios
display_library: rfb, options="timeout=0"
ata0-master: type=cdrom, path=$work/guest.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=$work/serial.txt
log: $work/bochs.log
panic: action=fatal
info: action=ignore
clock: sync=none
EOF
echo c >"$work/debugger.rc"

echo "avx512: booting Debian's $(basename "$kernel") under Bochs (Skylake-X)"
t0=$(date +%s)
bochs -q -f "$work/bochsrc" -rc "$work/debugger.rc" >"$work/bochs.out" 2>&1 </dev/null &
bochs_pid=$!
timed_out=0
while kill -0 "$bochs_pid" 2>/dev/null; do
    sleep 2
    # Done, or stopped: the boot loader's error, or a kernel panic (the
    # guest would boot again, panic=-1).
    grep -q 'avx512: guest done\|^pvh_boot: .*(stopped)\|Kernel panic' "$work/serial.txt" 2>/dev/null &&
        break
    if [ $(($(date +%s) - t0)) -gt "$timeout_s" ]; then
        timed_out=1
        break
    fi
done
kill "$bochs_pid" 2>/dev/null || true
wait "$bochs_pid" 2>/dev/null || true
bochs_pid=

# The serial console ends its lines with \r\n.
serial=$work/serial.log
tr -d '\r' <"$work/serial.txt" >"$serial" 2>/dev/null || true
touch "$serial"
grep -a '^avx512: \|^pvh_boot: \|emu_gap: \|gather_check: \|:[EF]:' "$serial" || true
echo "avx512: $(($(date +%s) - t0)) s"

if ! grep -aq 'avx512: guest up: avx512f' "$serial"; then
    tail -n 20 "$work/bochs.out" "$serial"
    echo "avx512: the guest did not come up with AVX-512"
    exit 1
fi
status=0
grep -aq '^avx512: gather_check rc=0$' "$serial" || {
    echo "avx512: emu_gap.so's gathers and scatters are not Bochs's and the loop's (gather_check)"
    status=1
}
[ "$timed_out" = 0 ] || {
    echo "avx512: timed out after $timeout_s s"
    status=1
}
for j in "${jobs[@]}"; do
    s=${j%% *}
    line=$(grep -a "^avx512: suite $s rc=" "$serial" || true)
    case $line in
    *" rc=0 "*) ;;
    "")
        echo "avx512: $s did not finish"
        status=1
        ;;
    *)
        # A suite whose only errors are the emulator's gaps (exit 99 from
        # emu_gap.so) is reported, not failed.
        out=$(sed -n "/^avx512: start $s\$/,/^avx512: suite $s /p" "$serial")
        errors=$(grep -ac ':[EF]:' <<<"$out" || true)
        gaps=$(grep -a ':E:' <<<"$out" | grep -ac 'Early exit with return value 99' || true)
        if [ "$errors" -gt 0 ] && [ "$errors" = "$gaps" ]; then
            echo "avx512: $s: its $gaps errors are all the emulator's gaps"
        else
            echo "avx512: $s failed"
            status=1
        fi
        ;;
    esac
done
exit $status
