#!/bin/sh
# valgrind.sh PROGRAM [ARGS...]: run a test program under memcheck, as the
# valgrind_<test> CTest entries do (c-tests/cmake/reliability.cmake).
#
# Passes when the program exits 0, its own process has 0 errors, with
# --leak-check=full --errors-for-leak-kinds=definite,indirect (so a single
# byte definitely or indirectly lost is an error), and no process it forked
# has a memory error (invalid access, use of uninitialised memory, bad
# free, bad syscall argument). Suppressions: valgrind.supp beside this
# script, each entry with its reason.
#
# Forked children (lk_run_sp children, the process backend's helper and
# workers) run under memcheck too: fork does not leave valgrind
# (--trace-children concerns exec only). Each process logs to its own file,
# so nothing is added to what the test reads from its own stdout or stderr.
#
# Two deliberate departures from the plain command line
#   valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
# both because valgrind applies its options in forked children as well:
#  - A child ends with _exit holding a copy of its parent's heap, including
#    memory that only the parent's other threads (absent in the child) or the
#    parent's handle table (abandoned in children on purpose) point to; its
#    leak report lists all of that. So leaks count only in the test's own
#    process, where every thread has been joined and everything freed.
#  - --error-exitcode would replace a child's exit status (say _exit(3), which
#    a test expects the library to report as "exit status 3") with 1 because
#    of those reports. So it is not passed; this script reads every
#    process's log instead and decides.
set -u
here=$(cd "$(dirname "$0")" && pwd)
valgrind=${LK_VALGRIND:-valgrind}
logs=$(mktemp -d "${TMPDIR:-/tmp}/lk-valgrind.XXXXXX")
trap 'rm -rf "$logs"' EXIT

"$valgrind" --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect --num-callers=40 \
    --suppressions="$here/valgrind.supp" \
    --child-silent-after-fork=no --trace-children=no \
    --log-file="$logs/%p.log" "$@" &
pid=$!
wait "$pid"
rc=$?

# Lines that are no finding: valgrind 3.19 does not know pidfd_open
# (syscall 434) and says so (the library then falls back to polling
# waitpid, which is what runs under valgrind).
noise() {
    grep -v -e 'unhandled amd64-linux syscall: 434' -e 'You may be able to write your own handler' \
        -e 'README_MISSING_SYSCALL_OR_IOCTL' -e 'Nevertheless we consider this a bug' \
        -e 'valgrind.org/support/bug_reports' "$1"
}
show() {
    echo "== valgrind log of process ${1##*/} ($2):" >&2
    noise "$1" | sed -e '/^==[0-9]*== *$/d' >&2
}

status=0
main="$logs/$pid.log"
if [ "$rc" -ne 0 ]; then
    echo "valgrind.sh: the test exited with status $rc" >&2
    status=1
fi
if [ ! -s "$main" ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$main"; then
    show "$main" "the test process: errors or leaks"
    status=1
fi
for f in "$logs"/*.log; do
    [ "$f" = "$main" ] && continue
    # Tests crash children on purpose by writing through a NULL pointer: an
    # invalid access at address 0x0 that ends the child with SIGSEGV is that,
    # and the test itself checks that the library reported the crash.
    invalid=$(grep -c -e 'Invalid read' -e 'Invalid write' "$f")
    at_null=$(grep -c 'Address 0x0 is not stack' "$f")
    if [ "$invalid" -gt 0 ] && [ "$invalid" -eq "$at_null" ] &&
            grep -q 'Process terminating with default action of signal 11' "$f"; then
        invalid=0
    fi
    if [ "$invalid" -gt 0 ] || noise "$f" | grep -q -e 'Invalid free' \
            -e 'uninitialised' -e 'Mismatched free' -e 'Syscall param' -e 'unaddressable' \
            -e 'Source and destination overlap' -e 'fishy' -e 'Invalid alignment'; then
        show "$f" "a forked child: memory errors"
        status=1
    fi
done
[ "$status" -eq 0 ] || echo "valgrind.sh: FAILED ($*)" >&2
exit "$status"
