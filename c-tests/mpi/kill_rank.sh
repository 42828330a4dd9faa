#!/usr/bin/env bash
# kill_rank.sh <np> <mpi_kill program>: a rank SIGKILLed mid-map ends the
# whole job with a non-zero status within 10 seconds, and no process of it
# is left behind.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
np=$1 prog=$2
name=$(basename "$prog")
t0=$(date +%s.%N)
"$here/launch.sh" 30 "$np" "$prog"
rc=$?
t=$(echo "$(date +%s.%N) - $t0" | bc)
echo "kill_rank: the job ended with status $rc after ${t} s (np $np)"
[ "$rc" -ne 0 ] || { echo "FAIL: the job exited 0 although a rank died" >&2; exit 1; }
[ "$rc" -ne 124 ] || { echo "FAIL: the job hung after a rank died" >&2; exit 1; }
awk -v t="$t" 'BEGIN { exit !(t < 10) }' || { echo "FAIL: took ${t} s (limit 10)" >&2; exit 1; }
# Live processes only: a rank's zombie, reparented when mpirun ended first,
# is dead already (where PID 1 does not reap, as in some containers, it stays).
live() { ps -C "${name:0:15}" -o pid=,stat= | awk '$2 !~ /^Z/ { print $1 }'; }
for _ in $(seq 1 20); do
    [ -z "$(live)" ] && break
    sleep 0.1
done
left=$(live)
[ -z "$left" ] || { echo "FAIL: processes left behind: $left" >&2; ps -fp $left >&2; exit 1; }
echo "kill_rank: ok"
