#!/bin/sh
# run.sh: build and run the reproductions of the library bugs found by the
# reliability work (docs/reliability.md, "Bugs found"). Not part of the test
# command: each shows a bug as it is today and fails (abort, hang, leaked
# threads) until the library is fixed. Usage: c-tests/reliability/repro/run.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
lib="$root/target/release"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -std=c11 -Wall -I "$root/include" "$here/tls_abort.c" -o "$out/tls_abort" -L "$lib" -llkparallel -pthread -Wl,-rpath,"$lib"
cc -std=c11 -Wall -I "$root/include" "$here/child_set_log_callback.c" -o "$out/child_set_log_callback" -L "$lib" -llkparallel -pthread -Wl,-rpath,"$lib"
c++ -std=c++17 -Wall -I "$root/include" "$here/tls_thread_local_invoker.cpp" -o "$out/tls_thread_local_invoker" -L "$lib" -llkparallel -pthread -Wl,-rpath,"$lib"
for p in tls_abort tls_thread_local_invoker child_set_log_callback; do
    echo "== $p"
    RUST_BACKTRACE=0 timeout 90 "$out/$p" > "$out/$p.log" 2>&1
    status=$?
    grep -v '^ *[0-9]*: \|^ *at ' "$out/$p.log" | tail -5
    echo "exit status: $status"
done
