"""Invoker.stream: a generator in, an iterator of results out, in order,
exactly once, in bounded memory; failures raised naming the item; an early
close (break, close(), dropping the iterator, shutdown, interpreter exit)
neither hangs nor leaves a thread behind."""

import gc
import os
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import lkparallel as lk


def stream_threads():
    return [t for t in threading.enumerate() if t.name == "lkparallel-stream"]


def no_stream_threads_left():
    gc.collect()
    deadline = time.monotonic() + 10
    while stream_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return not stream_threads()


def square(model, arg, result, task):
    result[0] = arg[0] * arg[0]


@pytest.mark.parametrize("backend", ["threads", "processes"])
@pytest.mark.parametrize("n_jobs", [1, 2, 4])
def test_order_exactly_once_and_window(ops, n_jobs, backend):
    n = 3000
    for window in (5, 64, 0):
        state = {"produced": 0, "consumed": 0, "ahead": 0}

        def items():
            for i in range(n):
                state["ahead"] = max(state["ahead"], state["produced"] - state["consumed"])
                state["produced"] += 1
                yield float(i)

        with lk.Invoker(ops.lkpy_square_f64, n_jobs=n_jobs, backend=backend) as inv:
            out = []
            for r in inv.stream(items(), window=window):
                out.append(r)
                state["consumed"] += 1
        assert out == [float(i * i) for i in range(n)]
        assert state["produced"] == n
        if window:
            # The library's window, plus one batch queued and one being yielded.
            assert state["ahead"] <= 3 * window, state
    assert no_stream_threads_left()


def test_python_item_function():
    with lk.Invoker(square, n_jobs=2) as inv:
        assert list(inv.stream(range(10))) == [i * i for i in range(10)]
        assert list(inv.stream(x / 2 for x in range(4))) == [0.0, 0.25, 1.0, 2.25]
        # A map and a stream at once on one invoker keep their items apart.
        it = inv.stream(range(1000), window=16)
        assert next(it) == 0
        assert list(inv.map(np.arange(100.0))) == [float(i * i) for i in range(100)]
        assert list(it) == [i * i for i in range(1, 1000)]
        # Two streams at once, interleaved.
        a, b = inv.stream(range(500), window=8), inv.stream(range(1000, 1500), window=8)
        got = [(x, y) for x, y in zip(a, b)]
        assert got == [(i * i, (1000 + i) ** 2) for i in range(500)]


def test_argument_and_result_forms(ops):
    with lk.Invoker(ops.lkpy_square_f64, n_jobs=2) as inv:
        # bytes items (their size), a struct format out
        assert list(inv.stream((struct.pack("d", x) for x in (1.0, 3.0)), result="d")) == [1.0, 9.0]
        # an explicit format; bytes results of a size
        assert list(inv.stream([2, 4], arg="d", result=8)) == [struct.pack("d", 4.0), struct.pack("d", 16.0)]
        # NumPy scalars: their dtype, both ways
        out = list(inv.stream(np.arange(3.0)))
        assert all(isinstance(v, np.float64) for v in out) and out == [0.0, 1.0, 4.0]
        assert list(inv.stream([1.5], arg=np.float64, result="<f8")) == [2.25]
        with pytest.raises(TypeError, match="arg="):
            next(inv.stream([object()]))
        with pytest.raises(TypeError, match="result="):
            next(inv.stream([b"12345678"]))
        with pytest.raises(ValueError):
            inv.stream([1.0], window=-1)
        assert list(inv.stream([])) == []
    # Records: struct formats give tuples, structured dtypes records.
    with lk.Invoker(ops.lkpy_divmod, n_jobs=2) as inv:
        assert list(inv.stream([(7, 2), (9, 3)], arg="ii")) == [(3, 1), (3, 0)]
        rec = np.dtype([("a", np.int32), ("b", np.int32)])
        out = list(inv.stream([(17, 5)], arg=rec, result=np.dtype([("q", np.int32), ("r", np.int32)])))
        assert out[0]["q"] == 3 and out[0]["r"] == 2


def test_no_arguments(ops):
    # arg=0: the items only count, and the operation gets a NULL argument
    # (lkpy_index fails with 99 otherwise), as map(None, count=n) gives it;
    # index_base numbers the items.
    with lk.Invoker(ops.lkpy_index, n_jobs=2) as inv:
        assert list(inv.stream(range(5), arg=0, result="Q", index_base=100)) == [100, 101, 102, 103, 104]


def test_seeds_are_a_maps(ops):
    n = 500
    lk.seed_init(11)
    with lk.Invoker(ops.lkpy_seed, n_jobs=2) as inv:
        mapped = inv.map(None, np.uint64, count=n)
    lk.seed_init(11)
    with lk.Invoker(ops.lkpy_seed, n_jobs=2) as inv:
        streamed = list(inv.stream(range(n), arg=0, result=np.uint64, window=32))
    assert streamed == list(mapped)


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_compiled_item_failure(ops, backend):
    items = list(range(100))
    # Fail fast: every result below the failing item, then the failure, naming it.
    with lk.Invoker(ops.lkpy_fail_on_7, n_jobs=2, backend=backend) as inv:
        got = []
        with pytest.raises(lk.LkError) as info:
            for r in inv.stream(items, arg="i", window=16):
                got.append(r)
        assert got == list(range(7))
        assert info.value.status == lk.Status.ERR_CALLBACK
        assert "7" in info.value.message
        assert list(inv.stream([1, 2], arg="i")) == [1, 2]  # still usable
    # Keep going: the iterator raises when it reaches the failing item ...
    with lk.Invoker(ops.lkpy_fail_on_7, n_jobs=2, backend=backend, error_mode="keep_going") as inv:
        got = []
        with pytest.raises(lk.ItemError) as info:
            for r in inv.stream(items, arg="i"):
                got.append(r)
        assert got == list(range(7))
        assert info.value.index == 7 and info.value.code == 7
        # ... or, with statuses=True, yields every item with its status.
        pairs = list(inv.stream(items, arg="i", statuses=True))
        assert [s for _, s in pairs] == [7 if i == 7 else 0 for i in items]
        assert [v for v, s in pairs if s == 0] == [i for i in items if i != 7]


@pytest.mark.parametrize("error_mode", ["fail_fast", "keep_going"])
def test_python_item_exception_names_the_item(error_mode):
    def op(model, arg, result, task):
        if arg[0] in (30, 70):
            raise KeyError("bad %d" % arg[0])
        result[0] = arg[0] + 1

    with lk.Invoker(op, n_jobs=2, error_mode=error_mode) as inv:
        got = []
        with pytest.raises(lk.ItemError) as info:
            for r in inv.stream(range(100), index_base=1000, window=8):
                got.append(r)
    assert got == list(range(1, 31))
    assert info.value.index == 1030
    assert isinstance(info.value.__cause__, KeyError) and "bad 30" in str(info.value.__cause__)
    assert "item 1030" in str(info.value)


def test_input_exception_after_the_results_before_it(ops):
    class Broken(Exception):
        pass

    def items():
        yield from (1.0, 2.0, 3.0)
        raise Broken("input broke")

    with lk.Invoker(ops.lkpy_square_f64, n_jobs=2) as inv:
        got = []
        with pytest.raises(Broken, match="input broke"):
            for r in inv.stream(items(), window=2):
                got.append(r)
        assert got == [1.0, 4.0, 9.0]
        # An item that does not convert ends the input the same way.
        got = []
        with pytest.raises(struct.error, match="item 2"):
            for r in inv.stream([1.0, 2.0, "three", 4.0]):
                got.append(r)
        assert got == [1.0, 4.0]
        # The first item's exception comes at once.
        with pytest.raises(ZeroDivisionError):
            next(inv.stream(1 / 0 for _ in range(3)))


@pytest.mark.parametrize("how", ["close", "break", "drop", "exception"])
def test_early_close(ops, how):
    produced = [0]

    def endless():
        while True:
            produced[0] += 1
            yield 1

    with lk.Invoker(ops.lkpy_slow, n_jobs=2) as inv:
        start = time.monotonic()
        it = inv.stream(endless(), arg="i", window=16)
        if how == "close":
            assert [next(it) for _ in range(3)] == [1, 1, 1]
            it.close()
        elif how == "break":
            for k, _ in enumerate(it):
                if k == 2:
                    break
            del it
        elif how == "drop":
            next(it)
            del it
        else:
            with pytest.raises(RuntimeError):
                for _ in it:
                    raise RuntimeError("consumer gave up")
            del it
        assert no_stream_threads_left()
        assert time.monotonic() - start < 20
        stopped_at = produced[0]
        time.sleep(0.05)
        assert produced[0] == stopped_at  # nothing reads the input any more
        assert stopped_at < 1000  # it read about a window ahead, not the world
        assert list(inv.stream([5, 6], arg="i")) == [5, 6]


def test_an_iterator_never_started_does_nothing(ops):
    pulled = [0]

    def items():
        pulled[0] += 1
        yield 1.0

    with lk.Invoker(ops.lkpy_square_f64, n_jobs=2) as inv:
        it = inv.stream(items())
        del it
    assert pulled[0] == 0 and not stream_threads()


def test_shutdown_stops_a_stream_in_flight(ops):
    inv = lk.Invoker(ops.lkpy_square_f64, n_jobs=2)
    it = inv.stream((float(i) for i in range(10**9)), window=8)
    assert next(it) == 0.0
    inv.shutdown()
    with pytest.raises(lk.LkError) as info:
        list(it)
    assert info.value.status == lk.Status.ERR_CANCELLED
    assert no_stream_threads_left()
    with pytest.raises(lk.LkError):
        inv.stream([1.0])


def test_cancel_and_progress(ops):
    calls = []
    with lk.Invoker(ops.lkpy_square_f64, n_jobs=2, progress=lambda d, t: calls.append((d, t))) as inv:
        assert len(list(inv.stream(float(i) for i in range(2000)))) == 2000
    assert calls and calls[-1] == (2000, 2000)
    assert all(d <= t for d, t in calls)
    with lk.Invoker(ops.lkpy_slow, n_jobs=2) as inv:
        got = 0
        with pytest.raises(lk.LkError) as info:
            for _ in inv.stream(range(10**6), arg="i", window=32):
                got += 1
                if got == 10:
                    inv.cancel()
        assert info.value.status == lk.Status.ERR_CANCELLED
    with lk.Invoker(ops.lkpy_square_f64, n_jobs=2, progress=lambda d, t: 1 / 0) as inv:
        with pytest.raises(ZeroDivisionError):
            list(inv.stream(float(i) for i in range(10000)))


def test_numba_range_function_streams():
    numba = pytest.importorskip("numba")
    from lkparallel.numba import range_bounds, range_signature

    @numba.cfunc(range_signature(arg=np.float64, result=np.float64))
    def halve(model, args, results, rng):
        begin, end = range_bounds(rng)
        for i in range(end - begin):
            results[i] = args[i] / 2
        return 0

    with lk.Invoker(range_func=halve, n_jobs=2) as inv:
        assert list(inv.stream((float(i) for i in range(1000)), window=64)) == [i / 2 for i in range(1000)]


def test_interpreter_exit_with_a_stream_half_read(tmp_path):
    script = tmp_path / "half.py"
    script.write_text(
        "import lkparallel as lk\n"
        "def op(model, arg, result, task):\n"
        "    result[0] = arg[0]\n"
        "inv = lk.Invoker(op, n_jobs=2)\n"
        "it = inv.stream(range(10**9), window=8)\n"
        "print(next(it), next(it), flush=True)\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "1"]
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
