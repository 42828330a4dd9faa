#!/usr/bin/env bash
# An install with a Debian multiarch libdir (lib/<triple>, here lib/x86_64-linux-gnu)
# is found by find_package (which searches <prefix>/lib/<arch>/cmake) and by
# pkg-config, also after the prefix has been moved.
source "$(dirname "$0")/lib.sh"

arch=${LK_MULTIARCH:-}
[ -n "$arch" ] || fail "CMake reports no multiarch triple (CMAKE_LIBRARY_ARCHITECTURE) for this compiler"
libdir=lib/$arch
A=$LK_WORK/prefix-a
B=$LK_WORK/moved/prefix-b

step "install into $A with --libdir $libdir"
install_prefix "$A" --libdir "$libdir"
for f in "$libdir/liblkparallel.so.$VERSION" "$libdir/$SONAME" "$libdir/liblkparallel.so" "$libdir/liblkparallel.a" \
         "$libdir/cmake/lkparallel/lkparallelConfig.cmake" "$libdir/cmake/lkparallel/lkparallelConfigVersion.cmake" \
         "$libdir/pkgconfig/lkparallel.pc" include/lkparallel.h include/lkparallel.hpp; do
    [ -e "$A/$f" ] || fail "missing $f"
done
[ ! -e "$A/lib/liblkparallel.so" ] && [ ! -e "$A/lib/cmake" ] || fail "files landed in lib/ as well"
cmake_consumer "$A" "$LK_WORK/build-a" "$libdir"
pkgconfig_consumer "$A" "$libdir" "$LK_WORK/pc-a"

step "move to $B"
mkdir -p "$(dirname "$B")"
mv "$A" "$B"
cmake_consumer "$B" "$LK_WORK/build-b" "$libdir"
pkgconfig_consumer "$B" "$libdir" "$LK_WORK/pc-b"

echo "PASS: $TEST_NAME"
