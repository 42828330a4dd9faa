# Shared by the packaging tests (test_*.sh), which CTest runs from
# c-tests/cmake/package.cmake. Each test installs lkparallel into prefixes
# under its own work folder, then uses them as a user would. Every check
# fails loudly; nothing is skipped.
# shellcheck shell=bash
set -euo pipefail

: "${LK_ROOT:?LK_ROOT (the repository) must be set}"
: "${LK_WORK:?LK_WORK (the work folder of this test) must be set}"
LK_CMAKE=${LK_CMAKE:-cmake}
CC=${CC:-cc}
CXX=${CXX:-c++}
export CC CXX

# Only the prefixes these tests make may be found.
unset CMAKE_PREFIX_PATH PKG_CONFIG_PATH PKG_CONFIG_LIBDIR lkparallel_DIR LD_LIBRARY_PATH

TEST_NAME=$(basename "$0" .sh)
trap 'echo "FAIL: $TEST_NAME: line $LINENO: $BASH_COMMAND" >&2' ERR

fail() { echo "FAIL: $TEST_NAME: $*" >&2; exit 1; }
step() { echo "== $TEST_NAME: $*"; }

rm -rf "$LK_WORK"
mkdir -p "$LK_WORK"
LK_WORK=$(cd "$LK_WORK" && pwd -P)

# One version source: Cargo.toml, read by scripts/common.sh.
# shellcheck source=../../scripts/common.sh
source "$LK_ROOT/scripts/common.sh"
read -r VERSION SONAME < <(lk_version_soname "$LK_ROOT/Cargo.toml") || fail "no version in Cargo.toml"

# run_logged <log> <command...>: run quietly; on failure show the log and fail.
run_logged() {
    local log=$1; shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        fail "failed: $*"
    fi
}

# install_prefix <prefix> [install options...]: scripts/install what the tests were built against.
install_prefix() {
    local prefix=$1; shift
    run_logged "$LK_WORK/install-$(basename "$prefix").log" "$LK_ROOT/scripts/install" --no-build --prefix "$prefix" "$@"
}

# cmake_configure <source> <build> <prefix> [-D...]: a consumer that may only find lkparallel in <prefix>.
cmake_configure() {
    local src=$1 build=$2 prefix=$3; shift 3
    rm -rf "$build"
    "$LK_CMAKE" -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
        -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF "$@"
}

# cache_value <build> <name>: a value from a CMake cache.
cache_value() { sed -n "s/^$2:[A-Z]*=//p" "$1/CMakeCache.txt"; }

# expect_lib_from <executable> <dir>: the loader takes liblkparallel from <dir>.
expect_lib_from() {
    local exe=$1 dir=$2 line path
    line=$(ldd "$exe" | grep 'liblkparallel' || true)
    [ -n "$line" ] || fail "$exe does not load liblkparallel: $(ldd "$exe")"
    path=$(echo "$line" | awk '{ print $3 }')
    [ -e "$path" ] || fail "$exe: liblkparallel not found by the loader ($line)"
    [ "$(cd "$(dirname "$path")" && pwd -P)" = "$(cd "$dir" && pwd -P)" ] ||
        fail "$exe loads $path, not the one in $dir"
}

# has_symbol <elf file or archive> <name>: defines the global function <name>.
# (readelf, not nm: binutils' nm skips some members of Rust's archive.)
has_symbol() {
    LC_ALL=C readelf -sW "$1" 2>/dev/null | grep -E "FUNC +GLOBAL +DEFAULT +[0-9]+ $2\$" >/dev/null
}

# expect_static <executable>: liblkparallel is linked in, not loaded.
expect_static() {
    if ldd "$1" | grep liblkparallel >/dev/null; then fail "$1 should not load liblkparallel.so: $(ldd "$1")"; fi
    has_symbol "$1" lk_invoker_map || fail "$1 does not contain lk_invoker_map"
}

# run_consumer <executable>: runs and says "consumer ok <version>".
run_consumer() {
    local out
    out=$("$1") || fail "$1 failed: $out"
    [ "$out" = "consumer ok $VERSION" ] || fail "$1 said '$out', expected 'consumer ok $VERSION'"
}

# run_consumers <build> <lib dir>: the four programs of consumer/consumers.cmake
# run; the shared ones load liblkparallel from <lib dir>, the static ones none.
run_consumers() {
    local build=$1 libdir=$2 exe
    for exe in consumer_c_shared consumer_cxx_shared; do
        expect_lib_from "$build/$exe" "$libdir"
        run_consumer "$build/$exe"
    done
    for exe in consumer_c_static consumer_cxx_static; do
        expect_static "$build/$exe"
        run_consumer "$build/$exe"
    done
}

# cmake_consumer <prefix> <build> <libdir>: configure, build and run the consumer project against <prefix>.
cmake_consumer() {
    local prefix=$1 build=$2 libdir=$3 found
    run_logged "$build.configure.log" cmake_configure "$LK_ROOT/c-tests/package/consumer" "$build" "$prefix" \
        -DLK_EXPECT_VERSION="$VERSION"
    found=$(cache_value "$build" lkparallel_DIR)
    [ "$found" = "$prefix/$libdir/cmake/lkparallel" ] ||
        fail "find_package found lkparallel in '$found', expected $prefix/$libdir/cmake/lkparallel"
    run_logged "$build.build.log" "$LK_CMAKE" --build "$build" --parallel 2
    run_consumers "$build" "$prefix/$libdir"
}

# pkgconfig_consumer <prefix> <libdir> <out-dir>: build and run the C consumer with pkg-config alone.
pkgconfig_consumer() {
    local prefix=$1 libdir=$2 out=$3 pcdir
    pcdir=$prefix/$libdir/pkgconfig
    mkdir -p "$out"
    export PKG_CONFIG_PATH=$pcdir
    [ "$(pkg-config --modversion lkparallel)" = "$VERSION" ] || fail "pkg-config --modversion: $(pkg-config --modversion lkparallel)"
    local pc_libdir pc_includedir
    pc_libdir=$(pkg-config --variable=libdir lkparallel)
    pc_includedir=$(pkg-config --variable=includedir lkparallel)
    [ "$(cd "$pc_libdir" && pwd -P)" = "$prefix/$libdir" ] || fail "pkg-config libdir is $pc_libdir, not in $prefix"
    [ "$(cd "$pc_includedir" && pwd -P)" = "$prefix/include" ] || fail "pkg-config includedir is $pc_includedir"
    # Shared: exactly the command the README gives (plus an rpath to run it in place).
    # shellcheck disable=SC2046
    run_logged "$out/shared.log" "$CC" -o "$out/consumer_pc_shared" "$LK_ROOT/c-tests/package/consumer/consumer.c" \
        $(pkg-config --cflags --libs lkparallel) -Wl,-rpath,"$pc_libdir"
    expect_lib_from "$out/consumer_pc_shared" "$prefix/$libdir"
    run_consumer "$out/consumer_pc_shared"
    # Static: the archive, then the system libraries it needs.
    # shellcheck disable=SC2046
    run_logged "$out/static.log" "$CC" -o "$out/consumer_pc_static" "$LK_ROOT/c-tests/package/consumer/consumer.c" \
        $(pkg-config --cflags lkparallel) "$(pkg-config --variable=archive lkparallel)" \
        $(pkg-config --variable=native_static_libs lkparallel)
    expect_static "$out/consumer_pc_static"
    run_consumer "$out/consumer_pc_static"
    unset PKG_CONFIG_PATH
}
