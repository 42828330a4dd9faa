"""lk.shared_zeros: NumPy arrays in lk_shared_alloc memory, which the
worker processes of an Invoker made afterwards use in place."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lkparallel as lk


def test_zeroed_shaped_and_aligned():
    a = lk.shared_zeros((3, 4), np.int32)
    assert a.shape == (3, 4) and a.dtype == np.int32 and a.flags.c_contiguous and a.flags.writeable
    assert not a.any()
    assert a.ctypes.data % 64 == 0
    a[1, 2] = 7
    assert a.sum() == 7
    assert lk.shared_zeros(0).shape == (0,)
    with pytest.raises(ValueError):
        lk.shared_zeros(-1)
    with pytest.raises(TypeError):
        lk.shared_zeros(3, object)


def test_processes_use_shared_arrays_in_place(ops):
    """Arguments and results in shared memory reach the workers as the
    caller's own slots; a model there is seen as it is now."""
    model = lk.shared_zeros(1, np.int64)
    model[0] = 5
    args = lk.shared_zeros(10_000, np.int64)
    args[:] = np.arange(10_000)
    with lk.Invoker(ops.lkpy_add_i64, model=model, n_jobs=2, backend="processes") as inv:
        model[0] = 1000  # after the workers were forked
        out = lk.shared_zeros(10_000, np.int64)
        assert inv.map(args, out=out) is out
        np.testing.assert_array_equal(out, np.arange(10_000) + 1000)
    with lk.Invoker(ops.lkpy_arg_address, n_jobs=2, backend="processes") as inv:
        addresses = inv.map(args, result=np.uint64)
        np.testing.assert_array_equal(addresses, args.ctypes.data + 8 * np.arange(10_000, dtype=np.uint64))
        # A private array goes through the ring: the workers see copies.
        private = np.arange(10_000, dtype=np.int64)
        assert not np.array_equal(inv.map(private, result=np.uint64),
                                  private.ctypes.data + 8 * np.arange(10_000, dtype=np.uint64))


def test_arrays_are_freed_with_their_last_view():
    """In a fresh interpreter with a 12 MiB region, 200 arrays of 8 MiB one
    after the other fit only if each is freed when dropped; one that is
    still viewed is not freed; the region's end is ERR_SYSTEM."""
    script = textwrap.dedent("""
        import numpy as np, lkparallel as lk
        for _ in range(200):
            a = lk.shared_zeros(1 << 20, np.int64)
            a[-1] = 1
            del a
        view = lk.shared_zeros(1 << 20, np.int64)[10:]
        try:
            lk.shared_zeros(1 << 20, np.int64)
            raise SystemExit("the viewed array was freed")
        except lk.LkError as e:
            assert e.status == lk.Status.ERR_SYSTEM, e
        del view
        lk.shared_zeros(1 << 20, np.int64)
        print("ok")
    """)
    env = dict(os.environ, LK_SHARED_MEMORY="12M")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
