#!/usr/bin/env bash
# scripts/install puts exactly the promised files into a prefix: the library
# under its SONAME with relative symlinks, the archive, the headers, and
# relocatable CMake and pkg-config files with no absolute path in them. Bad
# options are refused.
source "$(dirname "$0")/lib.sh"

P=$LK_WORK/prefix
step "install into $P"
install_prefix "$P"

expect_file() { [ -f "$P/$1" ] && [ ! -L "$P/$1" ] || fail "missing regular file $1"; }
expect_link() {
    [ -L "$P/$1" ] || fail "$1 is not a symlink"
    [ "$(readlink "$P/$1")" = "$2" ] || fail "$1 -> $(readlink "$P/$1"), expected $2 (relative)"
}
expect_file "lib/liblkparallel.so.$VERSION"
expect_link lib/$SONAME "liblkparallel.so.$VERSION"
expect_link lib/liblkparallel.so "$SONAME"
expect_file lib/liblkparallel.a
expect_file include/lkparallel.h
expect_file include/lkparallel.hpp
expect_file lib/cmake/lkparallel/lkparallelConfig.cmake
expect_file lib/cmake/lkparallel/lkparallelConfigVersion.cmake
expect_file lib/pkgconfig/lkparallel.pc
if [ -f "$LK_ROOT/include/lkparallel_mpi.h" ]; then
    expect_file include/lkparallel_mpi.h
    cmp -s "$LK_ROOT/include/lkparallel_mpi.h" "$P/include/lkparallel_mpi.h" || fail "lkparallel_mpi.h differs"
else
    [ ! -e "$P/include/lkparallel_mpi.h" ] || fail "lkparallel_mpi.h installed from nowhere"
fi
cmp -s "$LK_ROOT/include/lkparallel.h" "$P/include/lkparallel.h" || fail "lkparallel.h differs from the repository's"
cmp -s "$LK_ROOT/include/lkparallel.hpp" "$P/include/lkparallel.hpp" || fail "lkparallel.hpp differs"
[ -x "$P/lib/liblkparallel.so.$VERSION" ] || fail "the shared library is not executable"

step "SONAME and exports"
soname=$(LC_ALL=C readelf -d "$P/lib/liblkparallel.so.$VERSION" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "$SONAME" ] || fail "SONAME is '$soname', expected $SONAME"
has_symbol "$P/lib/liblkparallel.so.$VERSION" lk_invoker_new || fail "lk_invoker_new not exported"
has_symbol "$P/lib/liblkparallel.a" lk_invoker_new || fail "lk_invoker_new not in the archive"

step "stripped libraries, debug info split out beside them"
so=$P/lib/liblkparallel.so.$VERSION
expect_file "lib/liblkparallel.so.$VERSION.debug"
sections() { LC_ALL=C readelf -SW "$1" | sed -n 's/^ *\[ *[0-9]*\] \([^ ]*\) .*/\1/p'; }
build_id() { LC_ALL=C readelf -n "$1" | sed -n 's/.*Build ID: \([0-9a-f]*\).*/\1/p'; }
! sections "$so" | grep -qx -e '.debug_info' -e '.symtab' || fail "the installed library is not stripped"
[ "$(LC_ALL=C readelf -p .gnu_debuglink "$so" | sed -n 's/^ *\[ *0\] *//p')" = "liblkparallel.so.$VERSION.debug" ] ||
    fail "the library's .gnu_debuglink does not name liblkparallel.so.$VERSION.debug"
sections "$so.debug" | grep -qx '.debug_info' || fail "the .debug file holds no DWARF"
[ -n "$(build_id "$so")" ] && [ "$(build_id "$so")" = "$(build_id "$so.debug")" ] ||
    fail "build IDs differ: library '$(build_id "$so")', .debug '$(build_id "$so.debug")'"
size_so=$(stat -c %s "$so"); size_built=$(stat -c %s "$CARGO_TARGET_DIR/release/liblkparallel.so")
[ "$size_so" -lt $((size_built / 3)) ] || fail "the installed library ($size_so bytes) is not much smaller than the build ($size_built)"
! sections "$P/lib/liblkparallel.a" | grep -qx '.debug_info' || fail "the archive keeps its debug info"
# A debugger finds the split debug info through the link: a source line for an exported function.
command -v gdb >/dev/null || fail "gdb is not installed"
line=$(gdb -batch -nx -ex 'info line lk_invoker_map' "$so" 2>&1)
echo "$line" | grep -q 'Line [0-9]* of "src/.*\.rs"' || fail "gdb found no line for lk_invoker_map: $line"
step "--no-strip installs the libraries as built, with no .debug file"
U=$LK_WORK/unstripped
install_prefix "$U" --no-strip
[ ! -e "$U/lib/liblkparallel.so.$VERSION.debug" ] || fail "--no-strip installed a .debug file"
cmp -s "$U/lib/liblkparallel.so.$VERSION" "$CARGO_TARGET_DIR/release/liblkparallel.so" || fail "--no-strip changed the library"
install_prefix "$U"
[ -f "$U/lib/liblkparallel.so.$VERSION.debug" ] || fail "installing stripped over an unstripped install made no .debug file"

step "nothing absolute in the package files"
for f in lib/cmake/lkparallel/lkparallelConfig.cmake lib/cmake/lkparallel/lkparallelConfigVersion.cmake lib/pkgconfig/lkparallel.pc; do
    ! grep -n -e "$P" -e "$LK_ROOT" -e "$LK_WORK" "$P/$f" || fail "$f names an absolute path"
    ! grep -n '@[A-Z_]*@' "$P/$f" || fail "$f has an unreplaced placeholder"
done
grep -q "^Version: $VERSION\$" "$P/lib/pkgconfig/lkparallel.pc" || fail "lkparallel.pc has the wrong version"
grep -q "set(PACKAGE_VERSION \"$VERSION\")" "$P/lib/cmake/lkparallel/lkparallelConfigVersion.cmake" ||
    fail "lkparallelConfigVersion.cmake has the wrong version"

step "reinstalling over an install works"
install_prefix "$P"
expect_link lib/$SONAME "liblkparallel.so.$VERSION"

step "DESTDIR stages under DESTDIR, with the same relative files"
DESTDIR=$LK_WORK/stage run_logged "$LK_WORK/destdir.log" "$LK_ROOT/scripts/install" --no-build --prefix /opt/lk
[ -f "$LK_WORK/stage/opt/lk/lib/pkgconfig/lkparallel.pc" ] || fail "DESTDIR install missing"
cmp -s "$LK_WORK/stage/opt/lk/lib/pkgconfig/lkparallel.pc" "$P/lib/pkgconfig/lkparallel.pc" ||
    fail "the .pc depends on the prefix"
cmp -s "$LK_WORK/stage/opt/lk/lib/cmake/lkparallel/lkparallelConfig.cmake" "$P/lib/cmake/lkparallel/lkparallelConfig.cmake" ||
    fail "lkparallelConfig.cmake depends on the prefix"

step "bad options are refused"
refuse() {
    if "$LK_ROOT/scripts/install" --no-build "$@" >"$LK_WORK/refused.log" 2>&1; then
        fail "scripts/install $* succeeded"
    fi
    grep -q error "$LK_WORK/refused.log" || fail "scripts/install $* failed without saying why"
}
refuse --prefix "$LK_WORK/x" --libdir /usr/lib
refuse --prefix "$LK_WORK/x" --libdir ../lib
refuse --prefix "$LK_WORK/x" --libdir lib/./x
refuse --prefix "$LK_WORK/x" --frobnicate
refuse --prefix
[ ! -e "$LK_WORK/x" ] || fail "a refused install wrote files"
"$LK_ROOT/scripts/install" --help | grep -- --prefix >/dev/null || fail "--help says nothing about --prefix"

echo "PASS: $TEST_NAME"
