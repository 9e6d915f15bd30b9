#!/bin/sh
# Quick start for a fresh Debian 12 machine:
#   1. installs the Debian packages libmlpnet needs (only those missing;
#      as root, or through sudo),
#   2. configures and builds with Meson into ./build,
#   3. trains the baseline MLP for a few epochs on the default data:
#      $MLPNET_DATA_DIR if set, else Debian's Fashion-MNIST package.
# Usage: examples/quickstart.sh [--deps-only] [--epochs N]
set -eu

usage() {
    cat <<EOF
Usage: examples/quickstart.sh [--deps-only] [--epochs N]
Install the Debian packages libmlpnet needs (those missing, with apt-get,
through sudo when not root), build into build/, and train the baseline MLP
on \$MLPNET_DATA_DIR, else on Debian's Fashion-MNIST package.

  --deps-only  install the packages, then stop
  --epochs N   epochs of the baseline MLP (default: 3)
  -h, --help   show this help and exit
EOF
}
usage_error() {
    echo "quickstart.sh: $*" >&2
    echo "Try 'examples/quickstart.sh --help'." >&2
    exit 2
}

deps_only=0
epochs=3
while [ $# -gt 0 ]; do
    case "$1" in
    --deps-only) deps_only=1 ;;
    --epochs)
        [ $# -ge 2 ] || usage_error "--epochs needs a value"
        epochs=$2
        shift
        ;;
    --epochs=*) epochs=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
    esac
    shift
done
case $epochs in '' | *[!0-9]* | 0*) usage_error "--epochs wants a whole number >= 1, not '$epochs'" ;; esac

cd "$(dirname "$0")/.."
# dpkg-dev: Meson asks its dpkg-architecture for Debian's library directory
# (lib/x86_64-linux-gnu); without it `meson install` puts the library in
# /usr/local/lib64, where neither pkg-config nor the loader looks on Debian.
packages="gcc pkgconf meson ninja-build libopenblas-dev zlib1g-dev check dpkg-dev"
if [ -z "${MLPNET_DATA_DIR:-}" ]; then
    packages="$packages dataset-fashion-mnist"
fi

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "quickstart: installing$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    # shellcheck disable=SC2086 # a list of package names
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
fi
[ "$deps_only" -eq 1 ] && exit 0

[ -f build/build.ninja ] || meson setup build
ninja -C build
data=${MLPNET_DATA_DIR:-/usr/share/datasets/fashion-mnist}
echo "quickstart: training the baseline MLP for $epochs epochs on $data"
build/examples/mlpnet-baseline --data-dir "$data" --epochs "$epochs" --out results/quickstart
