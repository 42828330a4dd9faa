#!/bin/sh
# asan.sh PROGRAM [ARGS...]: run a test program built with
# -fsanitize=address,undefined, as the asan_<test> CTest entries do
# (c-tests/cmake/reliability.cmake sets ASAN_OPTIONS and UBSAN_OPTIONS).
#
# Passes when the program exits 0 and no sanitizer reported anything in its
# process: no AddressSanitizer error, no LeakSanitizer leak, no UBSan
# runtime error; and no process it forked reported an AddressSanitizer
# error or undefined behaviour.
#
# Why a script: LeakSanitizer runs at exit() in every process, forked
# children included (the library's children end with _exit, but a test's
# callback may call exit() on purpose). A forked child holds a copy of its
# parent's heap, including memory that only the parent's other threads
# (absent in the child) point to, and LeakSanitizer reports that, then ends
# the child with status 23 before stdio is flushed, changing what the
# library reports and what the test reads. So leak reports are made
# harmless (LSAN_OPTIONS=exitcode=0), every process writes its reports to
# its own file, and this script decides: leaks count in the test's own
# process only, as with valgrind.sh. (exitcode=0 also applies to ASan's own
# errors, which the script therefore reads from the reports too.)
set -u
logs=$(mktemp -d "${TMPDIR:-/tmp}/lk-asan.XXXXXX")
trap 'rm -rf "$logs"' EXIT
ASAN_OPTIONS="${ASAN_OPTIONS:-}:log_path=$logs/asan"
UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:log_path=$logs/ubsan"
LSAN_OPTIONS="${LSAN_OPTIONS:-}:exitcode=0"
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

"$@" &
pid=$!
wait "$pid"
rc=$?

status=0
if [ "$rc" -ne 0 ]; then
    echo "asan.sh: the test exited with status $rc" >&2
    status=1
fi
for f in "$logs"/*; do
    [ -e "$f" ] || continue
    p=${f##*.}
    if [ "$p" = "$pid" ]; then
        if grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error' "$f"; then
            echo "== sanitizer report of the test process ($p):" >&2
            cat "$f" >&2
            status=1
        fi
    elif grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error' "$f"; then
        echo "== sanitizer report of a forked child ($p):" >&2
        cat "$f" >&2
        status=1
    fi
done
[ "$status" -eq 0 ] || echo "asan.sh: FAILED ($*)" >&2
exit "$status"
