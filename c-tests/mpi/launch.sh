#!/usr/bin/env bash
# launch.sh <seconds> <np> <program> [args...]
#
# Run an MPI program on this machine only, the way every MPI test does:
# loopback networking, shared memory between ranks, oversubscription allowed
# (np may exceed the CPUs), root allowed (containers), ranks not bound to
# cores (lkparallel's threads need the CPUs). Under `timeout`: if the job is
# still running after <seconds>, the stacks of its processes are dumped
# (gdb, else /proc) before it is killed, and the exit status is 124.
set -uo pipefail

[ $# -ge 3 ] || { echo "usage: $0 <seconds> <np> <program> [args...]" >&2; exit 2; }
limit=$1 np=$2
shift 2

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_oob_tcp_if_include=lo
# Copy-in/copy-out shared memory: the single-copy path (CMA) is very slow,
# or refused, in many containers.
export OMPI_MCA_btl_vader_single_copy_mechanism=none

name=$(basename "$1")

# The job's processes: mpirun (under timeout) and its children, the ranks.
job_pids() {
    local mpirun
    mpirun=$(pgrep -x mpirun -P "$job" 2>/dev/null) || return 0
    echo "$mpirun"
    pgrep -P "$mpirun" 2>/dev/null
}

dump_stacks() {
    echo "== $name (np $np) still running after ${limit}s: stacks of its processes" >&2
    local p out
    out=$(mktemp)
    for p in "$@"; do
        echo "---- pid $p: $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null)" >&2
        if command -v gdb >/dev/null 2>&1 &&
            gdb -p "$p" -batch -nx -ex "set pagination off" -ex "thread apply all bt" >"$out" 2>&1 &&
            grep -q '^#0' "$out"; then
            grep -v '^\[New LWP\|^\[Thread debugging\|^Using host libthread' "$out" | head -150 >&2
        else
            for t in /proc/"$p"/task/*; do
                echo "  thread ${t##*/}: $(cat "$t"/comm 2>/dev/null) wchan=$(cat "$t"/wchan 2>/dev/null)" >&2
                head -20 "$t"/stack 2>/dev/null | sed 's/^/    /' >&2
            done
        fi
    done
    rm -f "$out"
}

timeout -k 5 "$((limit + 10))" mpirun --bind-to none -np "$np" "$@" &
job=$!
start=$SECONDS
rc=
while kill -0 "$job" 2>/dev/null; do
    if [ $((SECONDS - start)) -ge "$limit" ]; then
        pids=$(job_pids)
        # shellcheck disable=SC2086
        dump_stacks $pids
        kill -TERM "$job" 2>/dev/null
        sleep 2
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null
        wait "$job" 2>/dev/null
        rc=124
        break
    fi
    sleep 0.1
done
if [ -z "$rc" ]; then
    wait "$job"
    rc=$?
fi
exit "$rc"
