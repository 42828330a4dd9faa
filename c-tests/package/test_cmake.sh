#!/usr/bin/env bash
# A separate consumer project finds an installed prefix with
# find_package(lkparallel 0.1 CONFIG REQUIRED) and builds and runs programs
# linked to both targets (C and C++, shared and static) - then the same after
# the prefix has been moved elsewhere, with the old place gone.
source "$(dirname "$0")/lib.sh"

A=$LK_WORK/prefix-a
B=$LK_WORK/moved/prefix-b
step "install into $A and build the consumer"
install_prefix "$A"
cmake_consumer "$A" "$LK_WORK/build-a" lib

step "move $A to $B and build the consumer again"
mkdir -p "$(dirname "$B")"
mv "$A" "$B"
[ ! -e "$A" ] || fail "$A still exists"
cmake_consumer "$B" "$LK_WORK/build-b" lib

echo "PASS: $TEST_NAME"
