#!/bin/sh
# Installs the build into a temporary DESTDIR, then checks what a user gets:
# pkg-config finds the library, a consumer program compiles and runs, the
# shared object carries the soname and exports only the public mlp_ API, and
# the public header compiles alone as C99, C11 and C++, and a deprecated
# call warns.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
here=$2
cc=${CC:-cc}
cxx=${CXX:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >/dev/null
pc=$(find "$tmp/root" -name mlpnet.pc | head -n 1)
[ -n "$pc" ] || { echo "mlpnet.pc not installed"; exit 1; }
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR="$tmp/root"
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
flags=$(pkg-config --cflags --libs mlpnet)
echo "pkg-config mlpnet: $flags"

"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror "$here/consumer.c" $flags -o "$tmp/consumer"
so=$(find "$tmp/root" -name 'libmlpnet.so.0' | head -n 1)
[ -n "$so" ] || { echo "libmlpnet.so.0 not installed"; exit 1; }
LD_LIBRARY_PATH=$(dirname "$so") "$tmp/consumer"

soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libmlpnet.so.0" ] || { echo "soname is '$soname'"; exit 1; }
# Defined symbols but the version nodes (type A, MLPNET_x.y), without versions.
exported=$(nm -D --defined-only "$so" | awk '$2 != "A" {sub(/@.*/, "", $3); print $3}')
extra=$(echo "$exported" | grep -v '^mlp_' || true)
[ -z "$extra" ] || { echo "exported symbols outside the API: $extra"; exit 1; }
unversioned=$(nm -D --defined-only "$so" | awk '$2 != "A" && $3 !~ /@MLPNET_/ {print $3}')
[ -z "$unversioned" ] || { echo "symbols without a version node: $unversioned"; exit 1; }
echo "soname $soname; $(echo "$exported" | wc -l) exported symbols, all mlp_*, all versioned"

cflags=$(pkg-config --cflags mlpnet)
for std in c99 c11; do
    "$cc" -std=$std -Wall -Wextra -Wpedantic -Werror -c -x c "$here/header_alone.c" \
        $cflags -o "$tmp/h.o"
done
if command -v "$cxx" >/dev/null 2>&1; then
    "$cxx" -std=c++11 -Wall -Wextra -Wpedantic -Werror -c -x c++ "$here/header_alone.c" \
        $cflags -o "$tmp/h.o"
fi
# The headers' documentation comments name the parameters their functions
# have, and every @deprecated has its attribute (clang checks both).
if command -v clang >/dev/null 2>&1; then
    clang -std=c11 -Wdocumentation -Werror -fsyntax-only -x c "$here/header_alone.c" $cflags
fi
echo "header compiles alone as C99, C11 and C++"

# A call of a deprecated function warns, naming its replacement, unless the
# program asks for quiet (MLPNET_NO_DEPRECATION_WARNINGS).
printf '#include <mlpnet/mlpnet.h>\nint f(mlp_layer **l) { return (int)mlp_layer_create_dropout(l, 0.5f); }\n' \
    >"$tmp/old.c"
if "$cc" -std=c11 -Werror -c "$tmp/old.c" $cflags -o "$tmp/old.o" 2>"$tmp/old.err"; then
    echo "a call of mlp_layer_create_dropout compiled without a deprecation warning"
    exit 1
fi
grep -q "mlp_layer_create_dropout_p" "$tmp/old.err" ||
    { cat "$tmp/old.err"; echo "the deprecation warning names no replacement"; exit 1; }
"$cc" -std=c11 -Werror -DMLPNET_NO_DEPRECATION_WARNINGS -c "$tmp/old.c" $cflags -o "$tmp/old.o"
echo "deprecated calls warn, and MLPNET_NO_DEPRECATION_WARNINGS quiets them"

# The command and its manual page, when the examples were built.
cli=$(find "$tmp/root" -path '*/bin/mlpnet' | head -n 1)
if [ -n "$cli" ]; then
    LD_LIBRARY_PATH=$(dirname "$so") "$cli" --help >/dev/null
    find "$tmp/root" -name mlpnet.1 | grep -q . || { echo "mlpnet.1 not installed"; exit 1; }
    echo "mlpnet command and manual page installed"
fi
