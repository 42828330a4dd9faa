#!/bin/sh
# run.sh: build and run the reproductions of library bugs found by the
# reliability work that are still open (docs/reliability.md, "Bugs found").
# Not part of the test command: each shows a bug as it is today. The bugs
# already fixed have regression tests instead (fault_status_internal,
# fault_forksafety_child_log_callback).
# Usage: c-tests/reliability/repro/run.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
lib="$root/target/release"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -std=c11 -Wall -I "$root/include" "$here/exit_destructor_error.c" -o "$out/exit_destructor_error" \
    -L "$lib" -llkparallel -pthread -Wl,-rpath,"$lib"
echo "== exit_destructor_error (expected: two non-empty messages, nothing lost)"
valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite \
    "$out/exit_destructor_error" 2>&1 | grep -v -e '^==[0-9]*==    ' -e '^==[0-9]*== *$'
