"""numba @cfunc item functions: the signature helpers, results, task
fields, failures, both backends, the example. Range functions:
test_numba_range.py."""

import os
import subprocess
import sys

import numpy as np
import pytest
from numba import carray, cfunc, types

import lkparallel as lk
from lkparallel.numba import (
    RANGE_DTYPE,
    buffer_append,
    sp_signature,
    TASK_DTYPE,
    item_signature,
    range_signature,
    range_type,
    task_index,
    task_seed,
    task_type,
    task_worker,
)

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
PAIR = np.dtype([("a", np.int32), ("b", np.int32)])


@cfunc(item_signature(arg=np.float64, result=np.float64))
def cube(model, arg, result, task):
    x = arg[0]
    result[0] = x * x * x
    return 0


@cfunc(item_signature(result=np.uint64))
def task_fields(model, arg, result, task):
    out = carray(result, 3)  # result is a row of 3 uint64
    out[0] = task_index(task)
    out[1] = task_seed(task)
    out[2] = task_worker(task)
    return 0


@cfunc(item_signature(arg=PAIR, result=np.float64))
def ratio(model, arg, result, task):
    pair = carray(arg, 1)[0]  # a record: read through carray (numba cannot load one from a bare pointer)
    if pair.b == 0:
        return 9
    result[0] = pair.a / pair.b
    return 0


@cfunc(item_signature(arg=np.float64, result=np.float64, model=np.float64))
def scaled(model, arg, result, task):
    result[0] = model[0] * arg[0]
    return 0


def test_signatures_are_the_c_ones():
    assert TASK_DTYPE.itemsize == 24 and RANGE_DTYPE.itemsize == 72
    assert [TASK_DTYPE.fields[f][1] for f in ("index", "seed", "worker")] == [0, 8, 16]
    offsets = [RANGE_DTYPE.fields[f][1] for f in ("begin", "end", "failed", "worker", "seeds", "seed_base",
                                                    "offset", "stop_at", "cancel_word", "cancel_epoch")]
    assert offsets == [0, 8, 16, 24, 28, 32, 40, 48, 56, 64]
    assert item_signature() == types.int32(types.voidptr, types.voidptr, types.voidptr, types.CPointer(task_type))
    assert range_signature() == types.int32(types.voidptr, types.voidptr, types.voidptr, types.CPointer(range_type))
    assert item_signature(arg=np.float64).args[1] == types.CPointer(types.float64)
    assert item_signature(arg=types.int32).args[1] == types.CPointer(types.int32)


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_item_function_results(n_jobs, backend):
    args = np.linspace(-3, 3, 1001)
    with lk.Invoker(cube, n_jobs=n_jobs, backend=backend) as inv:
        np.testing.assert_array_equal(inv.map(args), args * args * args)


def test_cfunc_forms():
    args = np.array([2.0])
    for func in (cube, cube.address, cube.ctypes):
        with lk.Invoker(func, n_jobs=1) as inv:
            assert inv.map(args).tolist() == [8.0]


def test_task_fields_match_the_c_task(ops):
    lk.seed_init(99)
    with lk.Invoker(ops.lkpy_seed, n_jobs=2) as inv:
        c_seeds = inv.map(None, np.uint64, count=100)
    lk.seed_init(99)
    with lk.Invoker(task_fields, n_jobs=2) as inv:
        fields = inv.map(None, (np.uint64, 3), count=100)
    assert fields[:, 0].tolist() == list(range(100))
    np.testing.assert_array_equal(fields[:, 1], c_seeds)
    assert set(fields[:, 2].tolist()) <= {0, 1}


def test_structured_records_and_model():
    pairs = np.array([(7, 2), (9, 3), (1, 4)], dtype=PAIR)
    with lk.Invoker(ratio, n_jobs=2) as inv:
        assert inv.map(pairs, result=np.float64).tolist() == [3.5, 3.0, 0.25]
    with lk.Invoker(scaled, model=np.array([10.0]), n_jobs=2) as inv:
        assert inv.map(np.array([1.0, 2.5])).tolist() == [10.0, 25.0]


def test_failure_code_names_the_item():
    pairs = np.array([(1, 1)] * 10 + [(5, 0)] + [(1, 1)] * 5, dtype=PAIR)
    with lk.Invoker(ratio, n_jobs=2) as inv:
        with pytest.raises(lk.LkError) as info:
            inv.map(pairs, result=np.float64)
    assert info.value.status == lk.Status.ERR_CALLBACK
    assert "10" in info.value.message and "9" in info.value.message


def test_example_runs():
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, "numba_map.py"), "300", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "every result checked against NumPy" in proc.stdout


@cfunc(sp_signature())
def sp_first_five(arg, out):
    if buffer_append(out, arg, 5) != 0:
        return 1
    return 0


@cfunc(sp_signature(arg=np.int32))
def sp_fail_with(arg, out):
    return arg[0]


def test_run_sp_with_a_cfunc():
    assert lk.run_sp(sp_first_five, b"hello world") == b"hello"
    with pytest.raises(lk.LkError) as info:
        lk.run_sp(sp_fail_with, np.array([17], np.int32))
    assert info.value.status == lk.Status.ERR_CALLBACK and "17" in info.value.message
