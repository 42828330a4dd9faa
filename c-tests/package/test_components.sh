#!/usr/bin/env bash
# Components: OPTIONAL_COMPONENTS mpi never breaks the core targets and
# defines lkparallel::mpi exactly when it reports the component found;
# COMPONENTS mpi is found exactly when lkparallel_mpi.h is installed and
# MPI for C is found (and then a program with lkparallel_mpi.h builds through
# lkparallel::mpi); an unknown component is refused.
source "$(dirname "$0")/lib.sh"

P=$LK_WORK/prefix
install_prefix "$P"

step "OPTIONAL_COMPONENTS mpi"
run_logged "$LK_WORK/optional.log" cmake_configure "$LK_ROOT/c-tests/package/components" "$LK_WORK/optional" "$P" -DLK_MODE=optional
[ "$(cache_value "$LK_WORK/optional" lkparallel_DIR)" = "$P/lib/cmake/lkparallel" ] || fail "found the wrong lkparallel"
run_logged "$LK_WORK/optional-build.log" "$LK_CMAKE" --build "$LK_WORK/optional"
run_consumer "$LK_WORK/optional/core_consumer"
grep 'LK_MPI_FOUND=' "$LK_WORK/optional.log" | sed 's/^-- /   /'

step "COMPONENTS mpi"
run_logged "$LK_WORK/required.log" cmake_configure "$LK_ROOT/c-tests/package/components" "$LK_WORK/required" "$P" -DLK_MODE=required -DLK_PREFIX="$P"
grep 'LK_MPI_FOUND=' "$LK_WORK/required.log" | sed 's/^-- /   /'
run_logged "$LK_WORK/required-build.log" "$LK_CMAKE" --build "$LK_WORK/required"

step "REQUIRED COMPONENTS nonsense is refused"
if cmake_configure "$LK_ROOT/c-tests/package/components" "$LK_WORK/unknown" "$P" -DLK_MODE=unknown >"$LK_WORK/unknown.log" 2>&1; then
    cat "$LK_WORK/unknown.log" >&2
    fail "an unknown component was accepted"
fi
grep -q "nonsense" "$LK_WORK/unknown.log" || { cat "$LK_WORK/unknown.log" >&2; fail "the refusal does not name the component"; }

echo "PASS: $TEST_NAME"
