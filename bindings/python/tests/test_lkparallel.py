"""Tests of the Python binding (bindings/python/lkparallel), run by CTest
(c-tests/cmake/python.cmake) with:

- LKPARALLEL_LIB: the library under test;
- LKPARALLEL_TEST_OPS: the C operations of tests/lkpy_ops.c, built by CMake.

Run by hand: build c-tests (scripts/test does), then
    LKPARALLEL_TEST_OPS=build/c-tests/liblkpy_ops.so PYTHONPATH=bindings/python \\
        python3 -m unittest discover -s bindings/python/tests -v
"""

import array
import ctypes
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import lkparallel as lk

OPS_PATH = os.environ.get("LKPARALLEL_TEST_OPS")
if not OPS_PATH:
    raise RuntimeError("LKPARALLEL_TEST_OPS must name the test operations library (tests/lkpy_ops.c)")
# The operations library links liblkparallel by SONAME; lkparallel is loaded
# first, so both use the same copy of the library.
ops = ctypes.CDLL(OPS_PATH)

PACKAGE_DIR = os.path.dirname(os.path.abspath(lk.__file__))


class Basics(unittest.TestCase):
    def test_version(self):
        self.assertEqual(lk.version(), lk.__version__)
        self.assertTrue(os.path.exists(lk.library_path) or lk.library_found_in == "the system loader")

    def test_proc_count(self):
        self.assertGreaterEqual(lk.proc_count(), 1)
        self.assertLessEqual(lk.proc_count(2, 4), 4)
        self.assertGreaterEqual(lk.cpu_count(), 1)
        self.assertEqual(lk.proc_count(None, None, 0), 1)

    def test_proc_count_env(self):
        old = os.environ.get("LK_NUM_PROCS")
        os.environ["LK_NUM_PROCS"] = "7,3"
        try:
            self.assertEqual(lk.proc_count(), 7)
            self.assertEqual(lk.proc_count(level=1), 3)
            self.assertEqual(lk.proc_count(level=2), 1)
        finally:
            if old is None:
                del os.environ["LK_NUM_PROCS"]
            else:
                os.environ["LK_NUM_PROCS"] = old

    def test_seeds(self):
        self.assertFalse(lk.is_worker())
        lk.seed_init(42)
        self.assertEqual(lk.root_seed(), 42)
        self.assertNotEqual(lk.derive_seed(1, 2), lk.derive_seed(1, 3))


class Map(unittest.TestCase):
    def test_array_in_array_out(self):
        args = array.array("d", [float(i) for i in range(1000)])
        with lk.Invoker(ops.lkpy_square_f64, n_jobs=4) as inv:
            out = inv.map(args)
        self.assertIsInstance(out, array.array)
        self.assertEqual(out.typecode, "d")
        self.assertEqual(list(out), [float(i * i) for i in range(1000)])

    def test_model_buffer_and_ctypes(self):
        args = array.array("d", [1.0, 2.0, 3.0])
        scale = ctypes.c_double(2.0)
        with lk.Invoker(ops.lkpy_square_f64, model=scale, n_jobs=2) as inv:
            self.assertEqual(list(inv.map(args)), [2.0, 8.0, 18.0])
        # A buffer model (array.array) and a bytes model.
        with lk.Invoker(ops.lkpy_add_i64, model=array.array("q", [100]), n_jobs=2) as inv:
            self.assertEqual(list(inv.map(array.array("q", [1, 2]))), [101, 102])
        with lk.Invoker(ops.lkpy_add_i64, model=struct.pack("q", -5), n_jobs=1) as inv:
            self.assertEqual(list(inv.map(array.array("q", [5]))), [0])

    def test_result_kinds(self):
        args = array.array("d", [3.0])
        with lk.Invoker(ops.lkpy_square_f64, n_jobs=2) as inv:
            raw = inv.map(args, result=8)
            self.assertIsInstance(raw, bytearray)
            self.assertEqual(struct.unpack("d", raw), (9.0,))
            out = array.array("d", [0.0])
            self.assertIs(inv.map(args, out=out), out)
            self.assertEqual(out[0], 9.0)
            self.assertEqual(len(inv.map(array.array("d"))), 0)

    def test_records_from_bytes(self):
        # Fixed-size records in bytes: element size given by arg_size.
        records = b"".join(struct.pack("ii", a, b) for a, b in [(1, 2), (9, 3), (-4, 8)])
        with lk.Invoker(ops.lkpy_ratio, n_jobs=3) as inv:
            out = inv.map(records, "d", arg_size=8)
            self.assertEqual(list(out), [0.5, 3.0, -0.5])
            # memoryview and bytearray inputs too.
            self.assertEqual(list(inv.map(memoryview(records), "d", arg_size=8)), [0.5, 3.0, -0.5])
            self.assertEqual(list(inv.map(bytearray(records), "d", arg_size=8)), [0.5, 3.0, -0.5])
            with self.assertRaises(ValueError):
                inv.map(records[:-1], "d", arg_size=8)

    def test_no_arguments(self):
        with lk.Invoker(ops.lkpy_index, n_jobs=2) as inv:
            self.assertEqual(list(inv.map(None, "Q", count=50)), list(range(50)))

    def test_seeds_reproducible(self):
        def run(jobs):
            lk.seed_init(1234)
            with lk.Invoker(ops.lkpy_seed, n_jobs=jobs) as inv:
                return list(inv.map(None, "Q", count=64))

        one, four = run(1), run(4)
        self.assertEqual(one, four)
        self.assertEqual(len(set(one)), 64)

    def test_function_forms(self):
        address = ctypes.cast(ops.lkpy_square_f64, ctypes.c_void_p).value
        for func in (ops.lkpy_square_f64, address, lk.OP_FN(address)):
            with lk.Invoker(func, n_jobs=1) as inv:
                self.assertEqual(list(inv.map(array.array("d", [4.0]))), [16.0])
        with self.assertRaises(TypeError):
            lk.Invoker(lambda *a: 0)
        with self.assertRaises(ValueError):
            lk.Invoker(0)

    def test_worker_flag(self):
        with lk.Invoker(ops.lkpy_is_worker, n_jobs=2) as inv:
            self.assertEqual(set(inv.map(None, "i", count=20)), {1})
        with lk.Invoker(ops.lkpy_is_worker, n_jobs=1) as inv:
            self.assertEqual(set(inv.map(None, "i", count=20)), {0})

    def test_concurrent_maps_release_the_gil(self):
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
            self.assertEqual(list(results[k]), [k] * 40)

    def test_processes(self):
        try:
            inv = lk.Invoker(ops.lkpy_square_f64, model=ctypes.c_double(3.0), n_jobs=2, backend="processes")
        except lk.LkError as e:
            self.assertEqual(e.status, lk.Status.ERR_UNSUPPORTED)
            return
        with inv:
            self.assertEqual(list(inv.map(array.array("d", [1.0, 2.0]))), [3.0, 12.0])


class Errors(unittest.TestCase):
    def test_callback_failure(self):
        with lk.Invoker(ops.lkpy_fail_on_7, n_jobs=1) as inv:
            with self.assertRaises(lk.LkError) as cm:
                inv.map(array.array("i", range(20)))
            self.assertEqual(cm.exception.status, lk.Status.ERR_CALLBACK)
            self.assertIn("7", cm.exception.message)
            self.assertIn("ERR_CALLBACK", str(cm.exception))
            # Still usable.
            self.assertEqual(list(inv.map(array.array("i", [1, 2]))), [1, 2])

    def test_bad_arguments(self):
        with self.assertRaises(lk.LkError) as cm:
            lk.Invoker(ops.lkpy_square_f64, n_jobs=-5)
        self.assertEqual(cm.exception.status, lk.Status.ERR_INVALID)
        self.assertTrue(cm.exception.message)
        with self.assertRaises(ValueError):
            lk.Invoker(ops.lkpy_square_f64, backend="gpu")
        with self.assertRaises(lk.LkError):
            lk.Invoker(ops.lkpy_square_f64, backend=77)
        inv = lk.Invoker(ops.lkpy_square_f64, n_jobs=2)
        inv.shutdown()
        inv.shutdown()
        with self.assertRaises(lk.LkError) as cm:
            inv.map(array.array("d", [1.0]))
        self.assertEqual(cm.exception.status, lk.Status.ERR_INVALID)
        with self.assertRaises(TypeError):
            lk.Invoker(ops.lkpy_square_f64).map(b"12345678")  # no result kind

    def test_progress(self):
        seen = []
        with lk.Invoker(ops.lkpy_slow, n_jobs=2, progress=lambda d, t: seen.append((d, t))) as inv:
            inv.map(array.array("i", range(100)))
        self.assertTrue(seen)
        self.assertEqual(seen[-1], (100, 100))

    def test_progress_raises(self):
        def bad(done, total):
            raise KeyError("stop here")

        with lk.Invoker(ops.lkpy_slow, n_jobs=2, progress=bad) as inv:
            with self.assertRaises(KeyError):
                inv.map(array.array("i", range(2000)))

    def test_cancel(self):
        with lk.Invoker(ops.lkpy_slow, n_jobs=2) as inv:
            timer = threading.Timer(0.1, inv.cancel)
            timer.start()
            start = time.monotonic()
            with self.assertRaises(lk.LkError) as cm:
                inv.map(array.array("i", range(20000)))
            timer.join()
            self.assertEqual(cm.exception.status, lk.Status.ERR_CANCELLED)
            self.assertLess(time.monotonic() - start, 8)
            self.assertEqual(list(inv.map(array.array("i", [3]))), [3])


class RunSp(unittest.TestCase):
    def test_bytes_back(self):
        self.assertEqual(lk.run_sp(ops.lkpy_sp_echo, b"hello\0"), b"hello (child)")
        arg = ctypes.create_string_buffer(b"ctypes")
        self.assertEqual(lk.run_sp(ops.lkpy_sp_echo, arg), b"ctypes (child)")

    def test_large(self):
        n = 5_000_000
        got = lk.run_sp(ops.lkpy_sp_pattern, ctypes.c_uint64(n))
        self.assertEqual(len(got), n)
        self.assertEqual(got[:3], bytes([0, 1, 2]))
        self.assertEqual(got[n - 1], (n - 1) % 251)
        self.assertEqual(lk.run_sp(ops.lkpy_sp_pattern, ctypes.c_uint64(0)), b"")

    def test_child_is_isolated(self):
        value = ctypes.c_int64(10)
        self.assertEqual(lk.run_sp(ops.lkpy_sp_clobber, value), b"")
        self.assertEqual(value.value, 10)
        self.assertEqual(lk.run_sp(ops.lkpy_sp_is_worker), b"\x01")

    def test_failures(self):
        with self.assertRaises(lk.LkError) as cm:
            lk.run_sp(ops.lkpy_sp_fail)
        self.assertEqual(cm.exception.status, lk.Status.ERR_CALLBACK)
        self.assertIn("5", cm.exception.message)
        with self.assertRaises(lk.LkError) as cm:
            lk.run_sp(ops.lkpy_sp_die)
        self.assertEqual(cm.exception.status, lk.Status.ERR_WORKER_DIED)
        start = time.monotonic()
        with self.assertRaises(lk.LkError) as cm:
            lk.run_sp(ops.lkpy_sp_hang, timeout=0.2)
        self.assertEqual(cm.exception.status, lk.Status.ERR_TIMEOUT)
        self.assertLess(time.monotonic() - start, 8)


def _import_in_subprocess(env, cwd):
    """Import lkparallel in a fresh interpreter; returns (ok, output)."""
    code = "import lkparallel as lk; print(lk.library_found_in + '|' + lk.library_path)"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


class Loading(unittest.TestCase):
    def base_env(self, pythonpath):
        env = {k: v for k, v in os.environ.items() if k not in ("LKPARALLEL_LIB", "LD_LIBRARY_PATH")}
        env["PYTHONPATH"] = pythonpath
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def test_env_wins_and_bad_env_fails(self):
        env = self.base_env(os.path.dirname(PACKAGE_DIR))
        env["LKPARALLEL_LIB"] = lk.library_path
        ok, out = _import_in_subprocess(env, tempfile.gettempdir())
        self.assertTrue(ok, out)
        self.assertTrue(out.startswith("LKPARALLEL_LIB|"), out)
        env["LKPARALLEL_LIB"] = "/nonexistent/liblkparallel.so"
        ok, out = _import_in_subprocess(env, tempfile.gettempdir())
        self.assertFalse(ok)
        self.assertIn("LKPARALLEL_LIB", out)

    def test_next_to_the_package(self):
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "lkparallel")
            shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
            shutil.copy(lk.library_path, os.path.join(copy, "liblkparallel.so"))
            ok, out = _import_in_subprocess(self.base_env(tmp), tmp)
            self.assertTrue(ok, out)
            self.assertEqual(out, "the package folder|" + os.path.join(copy, "liblkparallel.so"))

    def test_repository_build(self):
        repo_lib = os.path.normpath(os.path.join(PACKAGE_DIR, "..", "..", "..", "target", "release", "liblkparallel.so"))
        if not os.path.exists(repo_lib):
            self.fail("expected the repository build at %s (scripts/test builds it)" % repo_lib)
        ok, out = _import_in_subprocess(self.base_env(os.path.dirname(PACKAGE_DIR)), tempfile.gettempdir())
        self.assertTrue(ok, out)
        self.assertEqual(out, "the repository build|" + repo_lib)

    def test_system_loader(self):
        # A copy of the package without a library, and LD_LIBRARY_PATH naming the library's folder.
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "pkg", "lkparallel")
            shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
            libdir = os.path.join(tmp, "lib")
            os.mkdir(libdir)
            shutil.copy(lk.library_path, os.path.join(libdir, "liblkparallel.so.0.1"))
            env = self.base_env(os.path.join(tmp, "pkg"))
            env["LD_LIBRARY_PATH"] = libdir
            ok, out = _import_in_subprocess(env, tmp)
            self.assertTrue(ok, out)
            self.assertEqual(out, "the system loader|liblkparallel.so.0.1")


if __name__ == "__main__":
    unittest.main()
