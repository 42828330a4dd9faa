#!/usr/bin/env bash
# A fully static program: `cc -static app.c $(pkg-config --static --cflags --libs lkparallel)`
# links (no -lgcc_s, which has no static form, in Libs.private), has no
# dynamic section, and runs: a thread-pool map and a run_sp child. The same
# for C++ with g++. The CMake package names no gcc_s either.
source "$(dirname "$0")/lib.sh"
command -v pkg-config >/dev/null || fail "pkg-config is not installed"
libc_a=$("$CC" -print-file-name=libc.a)
[ -f "$libc_a" ] || fail "no static libc ($CC -print-file-name=libc.a: '$libc_a'); Debian: libc6-dev"

P=$LK_WORK/prefix
install_prefix "$P"
export PKG_CONFIG_PATH=$P/lib/pkgconfig
! pkg-config --static --libs lkparallel | grep -q -e '-lgcc_s' || fail "pkg-config --static names -lgcc_s"
! grep -n 'gcc_s' "$P/lib/cmake/lkparallel/lkparallelConfig.cmake" || fail "the CMake package names gcc_s"

# expect_fully_static <exe>: no dynamic section, no interpreter; then it runs.
expect_fully_static() {
    if LC_ALL=C readelf -d "$1" | grep -q 'Dynamic section'; then fail "$1 has a dynamic section: $(readelf -d "$1" | head)"; fi
    if LC_ALL=C readelf -l "$1" | grep -q 'INTERP'; then fail "$1 asks for a program interpreter"; fi
    has_symbol "$1" lk_invoker_map || fail "$1 does not contain lk_invoker_map"
    run_consumer "$1"
}

step "cc -static (the command from the issue, verbatim)"
# shellcheck disable=SC2046
run_logged "$LK_WORK/static-c.log" "$CC" -static "$LK_ROOT/c-tests/package/consumer/consumer.c" \
    $(pkg-config --static --cflags --libs lkparallel) -o "$LK_WORK/consumer_static_c"
expect_fully_static "$LK_WORK/consumer_static_c"

step "c++ -static"
# shellcheck disable=SC2046
run_logged "$LK_WORK/static-cxx.log" "$CXX" -std=c++17 -static "$LK_ROOT/c-tests/package/consumer/consumer.cpp" \
    $(pkg-config --static --cflags --libs lkparallel) -o "$LK_WORK/consumer_static_cxx"
expect_fully_static "$LK_WORK/consumer_static_cxx"

echo "PASS: $TEST_NAME"
