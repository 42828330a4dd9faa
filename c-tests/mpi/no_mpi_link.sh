#!/usr/bin/env bash
# no_mpi_link.sh <liblkparallel.so>: the library never links MPI. It has no
# NEEDED entry for an MPI library and neither defines nor uses an MPI symbol;
# MPI reaches it only through the lk_comm_ops table lkparallel_mpi.h fills.
set -euo pipefail
lib=$1
[ -f "$lib" ] || { echo "FAIL: $lib is missing" >&2; exit 1; }
needed=$(LC_ALL=C readelf -dW "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "NEEDED: $(echo $needed)"
if echo "$needed" | grep -Ei 'mpi|open-pal|open-rte|pmix|ucx|fabric' >/dev/null; then
    echo "FAIL: $lib needs an MPI library" >&2
    exit 1
fi
syms=$(LC_ALL=C nm -D "$lib" | grep -E ' (MPI|PMPI|ompi|MPIR|MPID)_' || true)
if [ -n "$syms" ]; then
    echo "FAIL: $lib has MPI symbols:" >&2
    echo "$syms" | head >&2
    exit 1
fi
# The table's entry points are there, so the check above looked at the right file.
LC_ALL=C nm -D --defined-only "$lib" | grep -q ' T lk_comm_new$' || { echo "FAIL: no lk_comm_new in $lib" >&2; exit 1; }
echo "no_mpi_link: ok ($lib)"
