"""Python item functions: they work (under the GIL, on the threads backend),
and they never fail silently: an exception is re-raised naming the item.
Where Python cannot run (a worker process or run_sp child forked by the
library) a Python callable is refused with a clear TypeError."""

import array
import ctypes
import threading

import pytest

import lkparallel as lk


def square(model, arg, result, task):
    result[0] = arg[0] * arg[0] * (model if model is not None else 1)


@pytest.mark.parametrize("n_jobs", [1, 2, 4])
def test_python_function_works(n_jobs):
    args = array.array("d", range(200))
    with lk.Invoker(square, model=3, n_jobs=n_jobs) as inv:
        out = inv.map(args)
    assert list(out) == [3.0 * i * i for i in range(200)]


def test_views_and_task():
    seen = {}

    def record(model, arg, result, task):
        assert arg.readonly and not result.readonly
        assert arg.format == "q" and result.format == "Q"
        seen[task.index] = (arg[0], task.seed)
        result[0] = task.index * 10

    lk.seed_init(7)
    with lk.Invoker(record, n_jobs=2) as inv:
        out = inv.map(array.array("q", [5, 6, 7]), result="Q")
    assert list(out) == [0, 10, 20]
    assert {i: a for i, (a, _) in seen.items()} == {0: 5, 1: 6, 2: 7}
    assert len({s for _, s in seen.values()}) == 3


def test_no_args_no_results():
    count = []
    with lk.Invoker(lambda m, a, r, t: count.append((a, r, t.index)), n_jobs=2) as inv:
        assert inv.map(None, 0, count=10) is None
    assert sorted(count) == [(None, None, i) for i in range(10)]


def test_raised_exception_names_the_item(capfd):
    def fail_on_7(model, arg, result, task):
        if arg[0] == 7:
            raise ValueError("seven is not allowed")
        result[0] = arg[0]

    with lk.Invoker(fail_on_7, n_jobs=2) as inv:
        with pytest.raises(lk.ItemError) as info:
            inv.map(array.array("i", range(50)))
        err = info.value
        assert err.index == 7
        assert err.code == lk.PYTHON_EXCEPTION_CODE
        assert err.status == lk.Status.ERR_CALLBACK
        assert isinstance(err.__cause__, ValueError)
        assert "item 7 raised ValueError: seven is not allowed" in str(err)
        # Still usable afterwards.
        assert list(inv.map(array.array("i", [1, 2]))) == [1, 2]
    captured = capfd.readouterr()
    assert "Exception ignored" not in captured.err  # ctypes never sees an exception


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_lowest_failing_index(n_jobs):
    def fail_some(model, arg, result, task):
        if arg[0] in (5, 9, 30):
            raise KeyError(arg[0])

    with lk.Invoker(fail_some, n_jobs=n_jobs, error_mode="keep_going") as inv:
        with pytest.raises(lk.ItemError) as info:
            inv.map(array.array("i", range(40)), result=4)
    assert info.value.index == 5
    assert [f[0] for f in info.value.failures] == [5, 9, 30]
    assert "3 items failed" in str(info.value)


def test_returned_code():
    with lk.Invoker(lambda m, a, r, t: 42 if t.index == 3 else None, n_jobs=2) as inv:
        with pytest.raises(lk.ItemError) as info:
            inv.map(None, count=10)
    assert info.value.index == 3 and info.value.code == 42
    assert info.value.__cause__ is None
    assert "item 3 failed with code 42" in str(info.value)


def test_bad_return_value():
    with lk.Invoker(lambda m, a, r, t: "yes", n_jobs=1) as inv:
        with pytest.raises(lk.ItemError) as info:
            inv.map(None, count=2)
    assert isinstance(info.value.__cause__, TypeError)


def test_keyboard_interrupt_passes_through():
    def interrupt(model, arg, result, task):
        raise KeyboardInterrupt

    with lk.Invoker(interrupt, n_jobs=1) as inv:
        with pytest.raises(KeyboardInterrupt):
            inv.map(None, count=3)


def test_concurrent_maps_on_one_invoker():
    def slow_copy(model, arg, result, task):
        result[0] = arg[0]

    inv = lk.Invoker(slow_copy, n_jobs=2)
    results = {}

    def work(k):
        results[k] = inv.map(array.array("i", [k] * 300))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    inv.shutdown()
    assert {k: set(v) for k, v in results.items()} == {k: {k} for k in range(4)}


def test_nested_map_on_the_same_invoker():
    holder = {}

    def outer(model, arg, result, task):
        if arg[0] >= 0:
            inner = holder["inv"].map(array.array("i", [-1] * 3))
            result[0] = arg[0] + sum(inner)
        else:
            result[0] = 1

    with lk.Invoker(outer, n_jobs=2) as inv:
        holder["inv"] = inv
        assert list(inv.map(array.array("i", [10, 20]))) == [13, 23]


def test_processes_backend_refuses_python():
    with pytest.raises(TypeError, match="backend='processes'"):
        lk.Invoker(square, n_jobs=2, backend="processes")


def test_ctypes_wrapped_python_is_refused():
    wrapped = lk.OP_FN(lambda m, a, r, t: 0)
    with pytest.raises(TypeError, match="Pass the Python function itself"):
        lk.Invoker(wrapped)
    sp_wrapped = lk.SP_FN(lambda a, out: 0)
    with pytest.raises(TypeError, match="Pass the Python function itself"):
        lk.run_sp(sp_wrapped)


def test_run_sp_refuses_python():
    with pytest.raises(TypeError, match="run_sp needs a compiled function"):
        lk.run_sp(lambda arg, out: 0)


def test_range_func_must_be_compiled():
    with pytest.raises(TypeError, match="range_func must be compiled"):
        lk.Invoker(range_func=lambda m, a, r, rng: 0)


def test_python_and_c_give_the_same(ops):
    args = array.array("d", [0.5 * i for i in range(100)])
    with lk.Invoker(ops.lkpy_square_f64, model=ctypes.c_double(2.0), n_jobs=2) as inv:
        expected = list(inv.map(args))
    with lk.Invoker(lambda m, a, r, t: r.__setitem__(0, 2.0 * a[0] * a[0]), n_jobs=2) as inv:
        assert list(inv.map(args)) == expected
