#!/usr/bin/env bash
# cancel_signal.sh <np> <mpi_cancel program>: the documented way to cancel a
# distributed map. SIGUSR1 sent to mpirun reaches every rank (mpirun forwards
# it); each rank's handler calls lk_invoker_cancel; every rank's map returns
# LK_ERR_CANCELLED within seconds, and the job exits 0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
np=$1 prog=$2
ready=$(mktemp -u "${TMPDIR:-/tmp}/lk-cancel-ready.XXXXXX")
"$here/launch.sh" 30 "$np" "$prog" signal "$ready" &
launcher=$!
for _ in $(seq 1 200); do
    [ -e "$ready" ] && break
    sleep 0.05
done
[ -e "$ready" ] || { echo "the map never started" >&2; kill "$launcher"; exit 1; }
rm -f "$ready"
sent=$SECONDS
# launch.sh's child is `timeout`, whose child is mpirun.
mpirun_pid=$(pgrep -x mpirun -P "$(pgrep -x timeout -P "$launcher")")
kill -USR1 "$mpirun_pid"
wait "$launcher"
echo "cancel_signal: every rank cancelled within $((SECONDS - sent)) s of SIGUSR1 to mpirun (np $np)"
