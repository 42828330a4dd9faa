"""The binding's core: small functions, maps over array.array and bytes with
C operations, failures, run_sp."""

import array
import ctypes
import os
import struct
import threading
import time

import pytest

import lkparallel as lk


def test_version_is_cargo_toml(repo_version):
    assert lk.__version__ == repo_version
    assert lk.version() == repo_version


def test_proc_count():
    assert lk.proc_count() >= 1
    assert lk.proc_count(2, 4) <= 4
    assert lk.cpu_count() >= 1
    assert lk.proc_count(None, None, 0) == 1


def test_proc_count_env(monkeypatch):
    monkeypatch.setenv("LK_NUM_PROCS", "7,3")
    assert lk.proc_count() == 7
    assert lk.proc_count(level=1) == 3
    assert lk.proc_count(level=2) == 1


def test_seeds():
    assert not lk.is_worker()
    lk.seed_init(42)
    assert lk.root_seed() == 42
    assert lk.derive_seed(1, 2) != lk.derive_seed(1, 3)


def test_array_in_array_out(ops):
    args = array.array("d", [float(i) for i in range(1000)])
    with lk.Invoker(ops.lkpy_square_f64, n_jobs=4) as inv:
        out = inv.map(args)
    assert isinstance(out, array.array) and out.typecode == "d"
    assert list(out) == [float(i * i) for i in range(1000)]


def test_model_buffer_and_ctypes(ops):
    args = array.array("d", [1.0, 2.0, 3.0])
    with lk.Invoker(ops.lkpy_square_f64, model=ctypes.c_double(2.0), n_jobs=2) as inv:
        assert list(inv.map(args)) == [2.0, 8.0, 18.0]
    with lk.Invoker(ops.lkpy_add_i64, model=array.array("q", [100]), n_jobs=2) as inv:
        assert list(inv.map(array.array("q", [1, 2]))) == [101, 102]
    with lk.Invoker(ops.lkpy_add_i64, model=struct.pack("q", -5), n_jobs=1) as inv:
        assert list(inv.map(array.array("q", [5]))) == [0]


def test_result_kinds(ops):
    args = array.array("d", [3.0])
    with lk.Invoker(ops.lkpy_square_f64, n_jobs=2) as inv:
        raw = inv.map(args, result=8)
        assert isinstance(raw, bytearray)
        assert struct.unpack("d", raw) == (9.0,)
        out = array.array("d", [0.0])
        assert inv.map(args, out=out) is out
        assert out[0] == 9.0
        assert len(inv.map(array.array("d"))) == 0


def test_records_from_bytes(ops):
    records = b"".join(struct.pack("ii", a, b) for a, b in [(1, 2), (9, 3), (-4, 8)])
    with lk.Invoker(ops.lkpy_ratio, n_jobs=3) as inv:
        assert list(inv.map(records, "d", arg_size=8)) == [0.5, 3.0, -0.5]
        assert list(inv.map(memoryview(records), "d", arg_size=8)) == [0.5, 3.0, -0.5]
        assert list(inv.map(bytearray(records), "d", arg_size=8)) == [0.5, 3.0, -0.5]
        with pytest.raises(ValueError):
            inv.map(records[:-1], "d", arg_size=8)


def test_no_arguments(ops):
    with lk.Invoker(ops.lkpy_index, n_jobs=2) as inv:
        assert list(inv.map(None, "Q", count=50)) == list(range(50))


def test_seeds_reproducible(ops):
    def run(jobs):
        lk.seed_init(1234)
        with lk.Invoker(ops.lkpy_seed, n_jobs=jobs) as inv:
            return list(inv.map(None, "Q", count=64))

    one, four = run(1), run(4)
    assert one == four
    assert len(set(one)) == 64


def test_seeds_off(ops):
    with lk.Invoker(ops.lkpy_seed, n_jobs=2, seeds=False) as inv:
        assert set(inv.map(None, "Q", count=16)) == {0}


def test_function_forms(ops):
    address = ctypes.cast(ops.lkpy_square_f64, ctypes.c_void_p).value
    for func in (ops.lkpy_square_f64, address, lk.OP_FN(address)):
        with lk.Invoker(func, n_jobs=1) as inv:
            assert list(inv.map(array.array("d", [4.0]))) == [16.0]
    with pytest.raises(ValueError):
        lk.Invoker(0)
    with pytest.raises(TypeError):
        lk.Invoker(None)
    with pytest.raises(TypeError):
        lk.Invoker(object())


def test_worker_flag(ops):
    with lk.Invoker(ops.lkpy_is_worker, n_jobs=2) as inv:
        assert set(inv.map(None, "i", count=20)) == {1}
    with lk.Invoker(ops.lkpy_is_worker, n_jobs=1) as inv:
        assert set(inv.map(None, "i", count=20)) == {0}


def test_concurrent_maps_release_the_gil(ops):
    inv = lk.Invoker(ops.lkpy_slow, n_jobs=4)
    results = {}

    def work(k):
        results[k] = inv.map(array.array("i", [k] * 40))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    inv.shutdown()
    for k in range(4):
        assert list(results[k]) == [k] * 40


def test_processes(ops):
    with lk.Invoker(ops.lkpy_square_f64, model=ctypes.c_double(3.0), n_jobs=2, backend="processes") as inv:
        assert list(inv.map(array.array("d", [1.0, 2.0]))) == [3.0, 12.0]


def test_callback_failure(ops):
    with lk.Invoker(ops.lkpy_fail_on_7, n_jobs=1) as inv:
        with pytest.raises(lk.LkError) as info:
            inv.map(array.array("i", range(20)))
        assert info.value.status == lk.Status.ERR_CALLBACK
        assert "7" in info.value.message
        assert "ERR_CALLBACK" in str(info.value)
        assert list(inv.map(array.array("i", [1, 2]))) == [1, 2]  # still usable


def test_bad_arguments(ops):
    with pytest.raises(lk.LkError) as info:
        lk.Invoker(ops.lkpy_square_f64, n_jobs=-5)
    assert info.value.status == lk.Status.ERR_INVALID
    assert info.value.message
    with pytest.raises(ValueError):
        lk.Invoker(ops.lkpy_square_f64, backend="gpu")
    with pytest.raises(lk.LkError):
        lk.Invoker(ops.lkpy_square_f64, backend=77)
    inv = lk.Invoker(ops.lkpy_square_f64, n_jobs=2)
    inv.shutdown()
    inv.shutdown()
    with pytest.raises(lk.LkError) as info:
        inv.map(array.array("d", [1.0]))
    assert info.value.status == lk.Status.ERR_INVALID
    with lk.Invoker(ops.lkpy_square_f64) as inv:
        with pytest.raises(TypeError):
            inv.map(b"12345678")  # no result kind
    with pytest.raises(TypeError):
        lk.Invoker(ops.lkpy_square_f64, range_func=ops.lkpy_square_f64)  # both


def test_progress(ops):
    seen = []
    with lk.Invoker(ops.lkpy_slow, n_jobs=2, progress=lambda d, t: seen.append((d, t))) as inv:
        inv.map(array.array("i", range(100)))
    assert seen and seen[-1] == (100, 100)


def test_progress_raises(ops):
    def bad(done, total):
        raise KeyError("stop here")

    with lk.Invoker(ops.lkpy_slow, n_jobs=2, progress=bad) as inv:
        with pytest.raises(KeyError):
            inv.map(array.array("i", range(2000)))


def test_cancel(ops):
    with lk.Invoker(ops.lkpy_slow, n_jobs=2) as inv:
        timer = threading.Timer(0.1, inv.cancel)
        timer.start()
        start = time.monotonic()
        with pytest.raises(lk.LkError) as info:
            inv.map(array.array("i", range(20000)))
        timer.join()
        assert info.value.status == lk.Status.ERR_CANCELLED
        assert time.monotonic() - start < 8
        assert list(inv.map(array.array("i", [3]))) == [3]


def test_run_sp_bytes_back(ops):
    assert lk.run_sp(ops.lkpy_sp_echo, b"hello\0") == b"hello (child)"
    assert lk.run_sp(ops.lkpy_sp_echo, ctypes.create_string_buffer(b"ctypes")) == b"ctypes (child)"


def test_run_sp_large(ops):
    n = 5_000_000
    got = lk.run_sp(ops.lkpy_sp_pattern, ctypes.c_uint64(n))
    assert len(got) == n
    assert got[:3] == bytes([0, 1, 2])
    assert got[n - 1] == (n - 1) % 251
    assert lk.run_sp(ops.lkpy_sp_pattern, ctypes.c_uint64(0)) == b""


def test_run_sp_child_is_isolated(ops):
    value = ctypes.c_int64(10)
    assert lk.run_sp(ops.lkpy_sp_clobber, value) == b""
    assert value.value == 10
    assert lk.run_sp(ops.lkpy_sp_is_worker) == b"\x01"


def test_run_sp_failures(ops):
    with pytest.raises(lk.LkError) as info:
        lk.run_sp(ops.lkpy_sp_fail)
    assert info.value.status == lk.Status.ERR_CALLBACK
    assert "5" in info.value.message
    with pytest.raises(lk.LkError) as info:
        lk.run_sp(ops.lkpy_sp_die)
    assert info.value.status == lk.Status.ERR_WORKER_DIED
    start = time.monotonic()
    with pytest.raises(lk.LkError) as info:
        lk.run_sp(ops.lkpy_sp_hang, timeout=0.2)
    assert info.value.status == lk.Status.ERR_TIMEOUT
    assert time.monotonic() - start < 8


def test_get_include():
    assert os.path.exists(os.path.join(lk.get_include(), "lkparallel.h"))
