"""Benchmark: the speed-up of a numba @cfunc map at n_jobs 2 over n_jobs 1.

The workload of numba_map.py (CPU-bound items: a best item among 2,000 for
each user). Runs both settings alternately, REPS times each, and prints
the medians and their ratio (time at n_jobs 1 / time at n_jobs 2). A speed
target belongs here, as a ratio, not in the test suite.

    python bench_numba.py [n_users] [reps]
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lkparallel as lk  # noqa: E402
from numba_map import check, make_data, recommend  # noqa: E402


def main(argv):
    n_users = int(argv[1]) if len(argv) > 1 else 8000
    reps = int(argv[2]) if len(argv) > 2 else 5
    items, users = make_data(n_users)
    check(items, users, recommend(items, users, 2))  # warm up (and compile)
    times = {1: [], 2: []}
    for _ in range(reps):
        for n_jobs in (1, 2):
            start = time.perf_counter()
            recommend(items, users, n_jobs)
            times[n_jobs].append(time.perf_counter() - start)
    t1, t2 = statistics.median(times[1]), statistics.median(times[2])
    print("bench_numba: %d users, %d CPUs usable, medians of %d: n_jobs 1 %.3f s, n_jobs 2 %.3f s"
          % (n_users, lk.cpu_count(), reps, t1, t2))
    print("speed-up n_jobs 2 / n_jobs 1: %.2fx" % (t1 / t2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
