"""A map whose item function is written in Python and compiled by numba.

The job: for every user of a matrix-factorisation model, the best item and
its score (the user's factors dotted with every item's). The item function
is a numba @cfunc with the signature lkparallel.numba.item_signature gives:
machine code, so lkparallel runs it without the GIL, on every worker.

    python numba_map.py [n_users] [n_jobs]

Prints the time and checks every result against NumPy.
"""

import sys
import time

import numpy as np
from numba import carray, cfunc

import lkparallel as lk
from lkparallel.numba import item_signature

N_ITEMS = 2000  # the model: N_ITEMS x K item factors (numba reads these as constants)
K = 32
BEST = np.dtype([("item", np.int64), ("score", np.float64)])


@cfunc(item_signature(arg=np.float64, result=BEST))
def best_item(model, user, best, task):
    """model: the item factors; user: a row of K factors; best: one BEST record."""
    items = carray(model, (N_ITEMS, K), np.float64)
    top, top_score = -1, -np.inf
    for i in range(N_ITEMS):
        s = 0.0
        for f in range(K):
            s += items[i, f] * user[f]
        if s > top_score:
            top, top_score = i, s
    out = carray(best, 1)
    out[0].item = top
    out[0].score = top_score
    return 0


def make_data(n_users, seed=42):
    rng = np.random.default_rng(seed)
    items = rng.standard_normal((N_ITEMS, K))
    users = rng.standard_normal((n_users, K))
    return items, users


def recommend(items, users, n_jobs):
    """The best item of every user: one item per row of ``users``."""
    with lk.Invoker(best_item, model=items, n_jobs=n_jobs) as inv:
        return inv.map(users, result=BEST)


def check(items, users, best):
    scores = users @ items.T
    if not np.allclose(best["score"], scores.max(axis=1), rtol=1e-9, atol=1e-9):
        raise AssertionError("a best score differs from NumPy's")
    chosen = scores[np.arange(len(users)), best["item"]]
    if not np.allclose(chosen, scores.max(axis=1), rtol=1e-9, atol=1e-9):
        raise AssertionError("a chosen item is not a best item")


def main(argv):
    n_users = int(argv[1]) if len(argv) > 1 else 4000
    n_jobs = int(argv[2]) if len(argv) > 2 else 0
    items, users = make_data(n_users)
    start = time.perf_counter()
    best = recommend(items, users, n_jobs)
    elapsed = time.perf_counter() - start
    check(items, users, best)
    print("numba_map: %d users x %d items, n_jobs %d: %.3f s; every result checked against NumPy"
          % (n_users, N_ITEMS, n_jobs or lk.proc_count(2, 4), elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
