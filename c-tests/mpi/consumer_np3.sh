#!/usr/bin/env bash
# consumer_np3.sh: scripts/install into a fresh prefix, build the consumer
# project (find_package(lkparallel CONFIG COMPONENTS mpi), lkparallel::mpi)
# against it, and run the consumer on 3 ranks.
# Environment: LK_ROOT (repository), LK_WORK (scratch folder), LK_CMAKE,
# CARGO_TARGET_DIR (where the library was built).
set -euo pipefail
: "${LK_ROOT:?}" "${LK_WORK:?}"
LK_CMAKE=${LK_CMAKE:-cmake}
unset CMAKE_PREFIX_PATH lkparallel_DIR LD_LIBRARY_PATH
rm -rf "$LK_WORK"
mkdir -p "$LK_WORK"
log=$LK_WORK/log
run() { "$@" >>"$log" 2>&1 || { cat "$log" >&2; echo "FAIL: $*" >&2; exit 1; }; }
run "$LK_ROOT/scripts/install" --no-build --prefix "$LK_WORK/prefix"
[ -f "$LK_WORK/prefix/include/lkparallel_mpi.h" ] || { echo "FAIL: lkparallel_mpi.h was not installed" >&2; exit 1; }
run "$LK_CMAKE" -S "$LK_ROOT/c-tests/mpi/consumer" -B "$LK_WORK/build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$LK_WORK/prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
run "$LK_CMAKE" --build "$LK_WORK/build"
"$LK_ROOT/c-tests/mpi/launch.sh" 30 3 "$LK_WORK/build/mpi_consumer"
