"""numba @cfunc range functions (lk_range_fn): called directly with an
lk_range made here (no library needed), then through range invokers. The
invoker tests need a library with range maps (lk_invoker_options.range_func):
until it has them they FAIL with "needs range maps", never skip."""

import ctypes

import numpy as np
import pytest
from numba import carray, cfunc

import lkparallel as lk
from lkparallel.numba import range_bounds, range_fail, range_seed, range_signature


@cfunc(range_signature(arg=np.float64, result=np.float64))
def cube_range(model, args, results, rng):
    begin, end = range_bounds(rng)
    for i in range(end - begin):
        x = args[i]
        if x == -999.0:
            range_fail(rng, begin + i)
            return 4
        results[i] = x * x * x
    return 0


@cfunc(range_signature(result=np.uint64))
def range_info(model, args, results, rng):
    begin, end = range_bounds(rng)
    out = carray(results, (end - begin, 3))
    for i in range(end - begin):
        out[i, 0] = begin
        out[i, 1] = end
        out[i, 2] = range_seed(rng, begin + i)
    return 0


def range_invoker(**kwargs):
    """A range invoker; fails the test, saying why, on a library without range maps."""
    try:
        return lk.Invoker(**kwargs)
    except lk.LkError as e:
        if e.status == lk.Status.ERR_INVALID:
            pytest.fail("needs range maps: the library (%s, %s) refused lk_invoker_options.range_func: %s"
                        % (lk.version(), lk.library_path, e.message))
        raise


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_range_function_results(n_jobs):
    args = np.linspace(-3, 3, 10_001)
    with range_invoker(range_func=cube_range, n_jobs=n_jobs) as inv:
        np.testing.assert_array_equal(inv.map(args), args * args * args)


def test_range_function_failure_names_the_item():
    args = np.ones(5000)
    args[3210] = -999.0
    with range_invoker(range_func=cube_range, n_jobs=2) as inv:
        with pytest.raises(lk.LkError) as info:
            inv.map(args)
    assert info.value.status == lk.Status.ERR_CALLBACK
    assert "3210" in info.value.message


def test_range_grain_and_seeds(ops):
    n, grain = 1000, 64
    lk.seed_init(5)
    with lk.Invoker(ops.lkpy_seed, n_jobs=2) as inv:
        item_seeds = inv.map(None, np.uint64, count=n)
    lk.seed_init(5)
    with range_invoker(range_func=range_info, n_jobs=2, grain=grain) as inv:
        info = inv.map(None, (np.uint64, 3), count=n)
    begins, ends = info[:, 0], info[:, 1]
    assert (begins <= np.arange(n)).all() and (np.arange(n) < ends).all()
    sizes = ends - begins
    assert ((sizes >= grain) | (ends == n)).all()
    np.testing.assert_array_equal(info[:, 2], item_seeds)  # lk_range_seed == task->seed


def test_range_function_called_directly():
    # No library call: the helpers read and write an lk_range laid out as in C.
    args = np.array([1.0, 2.0, -999.0, 4.0])
    results = np.zeros(4)
    rng = lk.Range(begin=100, end=104, failed=100)
    dp = ctypes.POINTER(ctypes.c_double)
    code = cube_range.ctypes(None, args.ctypes.data_as(dp), results.ctypes.data_as(dp), ctypes.byref(rng))
    assert code == 4 and rng.failed == 102
    assert results.tolist() == [1.0, 8.0, 0.0, 0.0]
    info = np.zeros((3, 3), np.uint64)
    up = ctypes.POINTER(ctypes.c_uint64)
    for seeds, base in ((1, 12345), (0, 12345)):
        rng = lk.Range(begin=7, end=10, seeds=seeds, seed_base=base)
        assert range_info.ctypes(None, None, info.ctypes.data_as(up), ctypes.byref(rng)) == 0
        assert info[:, 0].tolist() == [7] * 3 and info[:, 1].tolist() == [10] * 3
        expected = [lk.derive_seed(base, i) if seeds else 0 for i in (7, 8, 9)]
        assert info[:, 2].tolist() == expected
