#!/usr/bin/env bash
# The top-level CMakeLists.txt builds lkparallel from source inside another
# project, both ways a vendoring project uses it: add_subdirectory of the
# source tree, and FetchContent of a source tarball (made here from the
# working tree, fetched through a file:// URL with its SHA256). Each time the
# consumer programs (C and C++, shared and static) build and run, and the
# shared ones load the library from the consumer's build tree.
source "$(dirname "$0")/lib.sh"
command -v cargo >/dev/null || fail "cargo is not on PATH"
[ -n "${CARGO_TARGET_DIR:-}" ] || fail "CARGO_TARGET_DIR (the build the other tests use) must be set"

# subproject_consumer <build> <lib dir> [-D...]: configure, build and run.
subproject_consumer() {
    local build=$1 libdir=$2; shift 2
    rm -rf "$build"
    run_logged "$build.configure.log" "$LK_CMAKE" -S "$LK_ROOT/c-tests/package/subproject" -B "$build" \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
        -DLK_EXPECT_VERSION="$VERSION" "$@"
    run_logged "$build.build.log" "$LK_CMAKE" --build "$build" --parallel 2
    [ -f "$libdir/$SONAME" ] || fail "the library is not staged as $libdir/$SONAME"
    soname=$(LC_ALL=C readelf -d "$libdir/$SONAME" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$soname" = "$SONAME" ] || fail "$libdir/$SONAME has SONAME '$soname'"
    run_consumers "$build" "$libdir"
}

step "add_subdirectory($LK_ROOT), cargo sharing the tests' target folder"
# The same sources and profile as the library the other tests use: cargo finds it fresh.
subproject_consumer "$LK_WORK/subdir" "$LK_WORK/subdir/lkparallel/lib" \
    -DLK_MODE=add_subdirectory -DLK_SOURCE_DIR="$LK_ROOT" -DLKPARALLEL_CARGO_TARGET_DIR="$CARGO_TARGET_DIR"
grep -q "cargo build --profile release" "$LK_WORK/subdir.build.log" || fail "the build did not run cargo"

step "FetchContent from a source tarball (file:// URL, SHA256 checked), cargo in the consumer's build"
tarball=$LK_WORK/lkparallel-$VERSION.tar.gz
# What a release tarball holds: the tracked and new files, none that git ignores.
(cd "$LK_ROOT" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - --transform "s,^,lkparallel-$VERSION/," -czf "$tarball")
hash=$(sha256sum "$tarball" | cut -d' ' -f1)
subproject_consumer "$LK_WORK/fetch" "$LK_WORK/fetch/_deps/lkparallel-build/lib" \
    -DLK_MODE=fetchcontent -DLK_URL="file://$tarball" -DLK_URL_HASH="SHA256=$hash"
[ -f "$LK_WORK/fetch/_deps/lkparallel-src/Cargo.toml" ] || fail "FetchContent did not unpack the tarball"
[ -d "$LK_WORK/fetch/_deps/lkparallel-build/cargo/release" ] || fail "cargo did not build in the consumer's build folder"

step "a wrong URL_HASH is refused"
if "$LK_CMAKE" -S "$LK_ROOT/c-tests/package/subproject" -B "$LK_WORK/badhash" -DLK_MODE=fetchcontent \
    -DLK_URL="file://$tarball" -DLK_URL_HASH="SHA256=$(printf '0%.0s' {1..64})" >"$LK_WORK/badhash.log" 2>&1; then
    fail "a tarball with the wrong hash was accepted"
fi

echo "PASS: $TEST_NAME"
