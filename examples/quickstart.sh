#!/bin/sh
# Quick start for a fresh Debian 12 machine:
#   1. installs the Debian packages libmlpnet needs (only those missing;
#      as root, or through sudo),
#   2. configures and builds with Meson into ./build,
#   3. trains the baseline MLP for a few epochs on the default data:
#      $MLPNET_DATA_DIR if set, else Debian's Fashion-MNIST package.
# Usage: examples/quickstart.sh [--deps-only] [--epochs N]
set -eu
cd "$(dirname "$0")/.."

packages="gcc pkgconf meson ninja-build libopenblas-dev zlib1g-dev check"
deps_only=0
epochs=3
while [ $# -gt 0 ]; do
    case "$1" in
    --deps-only) deps_only=1 ;;
    --epochs) epochs=$2; shift ;;
    *) echo "usage: $0 [--deps-only] [--epochs N]" >&2; exit 2 ;;
    esac
    shift
done
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
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
fi
[ "$deps_only" -eq 1 ] && exit 0

[ -f build/build.ninja ] || meson setup build
ninja -C build
data=${MLPNET_DATA_DIR:-/usr/share/datasets/fashion-mnist}
echo "quickstart: training the baseline MLP for $epochs epochs on $data"
build/examples/mlpnet-baseline --data-dir "$data" --epochs "$epochs" --out results/quickstart
