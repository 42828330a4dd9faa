"""NumPy arrays in and out: any C-contiguous array, structured dtypes too,
used in place (no copy); results as an array of the requested dtype."""

import array
import ctypes

import numpy as np
import pytest

import lkparallel as lk

PAIR = np.dtype([("a", np.int32), ("b", np.int32)])
DIVMOD = np.dtype([("q", np.int32), ("r", np.int32)])


def test_default_result_is_an_array_of_the_args_dtype(ops):
    args = np.arange(1000, dtype=np.float64)
    with lk.Invoker(ops.lkpy_square_f64, n_jobs=2) as inv:
        out = inv.map(args)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (1000,)
    np.testing.assert_array_equal(out, args * args)


def test_args_are_not_copied(ops):
    args = np.arange(64, dtype=np.float64)
    with lk.Invoker(ops.lkpy_arg_address, n_jobs=2) as inv:
        addresses = inv.map(args, result=np.uint64)
        expected = args.ctypes.data + 8 * np.arange(64, dtype=np.uint64)
        np.testing.assert_array_equal(addresses, expected)
        # A read-only array is used in place too.
        args.setflags(write=False)
        np.testing.assert_array_equal(inv.map(args, result=np.uint64), expected)


def test_out_is_written_in_place(ops):
    out = np.zeros(32, dtype=np.uint64)
    with lk.Invoker(ops.lkpy_result_address, n_jobs=2) as inv:
        assert inv.map(np.zeros(32, np.int8), out=out) is out
    np.testing.assert_array_equal(out, out.ctypes.data + 8 * np.arange(32, dtype=np.uint64))


def test_structured_args_and_results(ops):
    pairs = np.array([(7, 2), (9, 3), (-4, 8), (100, 7)], dtype=PAIR)
    with lk.Invoker(ops.lkpy_ratio, n_jobs=2) as inv:
        np.testing.assert_array_equal(inv.map(pairs, result=np.float64), [3.5, 3.0, -0.5, 100 / 7])
    with lk.Invoker(ops.lkpy_divmod, n_jobs=2) as inv:
        out = inv.map(pairs, result=DIVMOD)
    assert out.dtype == DIVMOD
    assert out["q"].tolist() == [3, 3, 0, 14] and out["r"].tolist() == [1, 0, -4, 2]


def test_rows_of_a_2d_array_are_items(ops):
    pairs = np.array([[7, 2], [9, 3], [1, 4]], dtype=np.int32)  # each row is one {a, b}
    with lk.Invoker(ops.lkpy_ratio, n_jobs=2) as inv:
        np.testing.assert_array_equal(inv.map(pairs, result="<f8"), [3.5, 3.0, 0.25])
        with pytest.raises(TypeError, match="needs result="):
            inv.map(pairs)
    # A result dtype with a shape gives a 2-D array.
    with lk.Invoker(ops.lkpy_divmod, n_jobs=2) as inv:
        out = inv.map(pairs, result=(np.int32, 2))
    assert out.shape == (3, 2) and out.tolist() == [[3, 1], [3, 0], [0, 1]]


def test_numpy_model(ops):
    with lk.Invoker(ops.lkpy_square_f64, model=np.array([2.0]), n_jobs=2) as inv:
        np.testing.assert_array_equal(inv.map(np.array([1.0, 3.0])), [2.0, 18.0])


def test_array_array_still_works(ops):
    with lk.Invoker(ops.lkpy_square_f64, n_jobs=2) as inv:
        out = inv.map(array.array("d", [1.0, 2.0]))
    assert isinstance(out, array.array) and list(out) == [1.0, 4.0]


def test_mixed_numpy_and_array_array(ops):
    with lk.Invoker(ops.lkpy_square_f64, n_jobs=2) as inv:
        out = array.array("d", [0.0, 0.0])
        inv.map(np.array([3.0, 4.0]), out=out)
        assert list(out) == [9.0, 16.0]
        assert inv.map(array.array("d", [5.0]), result=np.float64).tolist() == [25.0]


def test_refused_arrays(ops):
    with lk.Invoker(ops.lkpy_square_f64, n_jobs=2) as inv:
        with pytest.raises(ValueError, match="not C-contiguous"):
            inv.map(np.arange(10.0)[::2])
        with pytest.raises(ValueError, match="not C-contiguous"):
            inv.map(np.asfortranarray(np.ones((3, 4))), result=np.float64)
        with pytest.raises(TypeError, match="Python objects"):
            inv.map(np.array([1.0, "x"], dtype=object), result=np.float64)
        with pytest.raises(TypeError, match="Python objects"):
            inv.map(np.arange(2.0), result=object)
        readonly = np.zeros(3)
        readonly.setflags(write=False)
        with pytest.raises(TypeError, match="read-only"):
            inv.map(np.arange(3.0), out=readonly)
        with pytest.raises(ValueError, match="multiple"):
            inv.map(np.arange(3.0), out=np.zeros(4))


def test_empty_and_zero_sized(ops):
    with lk.Invoker(ops.lkpy_square_f64, n_jobs=2) as inv:
        out = inv.map(np.zeros(0))
        assert out.shape == (0,) and out.dtype == np.float64
    with lk.Invoker(ops.lkpy_index, n_jobs=2) as inv:
        assert inv.map(None, np.uint64, count=5).tolist() == [0, 1, 2, 3, 4]


def test_python_function_with_numpy():
    def scale(model, arg, result, task):
        row = np.frombuffer(arg, dtype=np.float64)  # a typed view of the item's row
        result[0] = float(row.sum()) * model

    rows = np.arange(12.0).reshape(4, 3)
    with lk.Invoker(scale, model=2.0, n_jobs=2) as inv:
        out = inv.map(rows, result=np.float64)
    np.testing.assert_array_equal(out, rows.sum(axis=1) * 2.0)


def test_python_function_with_structured_rows():
    def divide(model, arg, result, task):
        rec = np.frombuffer(arg, dtype=PAIR)[0]
        out = np.frombuffer(result, dtype=DIVMOD)
        out[0] = (rec["a"] // rec["b"], rec["a"] % rec["b"])

    pairs = np.array([(7, 2), (9, 4)], dtype=PAIR)
    with lk.Invoker(divide, n_jobs=2) as inv:
        out = inv.map(pairs, result=DIVMOD)
    assert out.tolist() == [(3, 1), (2, 1)]


def test_ctypes_array_args(ops):
    buf = (ctypes.c_double * 3)(1.0, 2.0, 3.0)
    with lk.Invoker(ops.lkpy_square_f64, n_jobs=2) as inv:
        assert inv.map(buf, result=np.float64).tolist() == [1.0, 4.0, 9.0]
