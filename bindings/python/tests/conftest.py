"""Shared set-up of the Python tests: the C test operations (lkpy_ops.c),
compiled here with the system C compiler against the library that
``import lkparallel`` loaded, so the tests need nothing but the installed
package, a C compiler and this folder. ``LKPARALLEL_TEST_OPS`` may name a
build of lkpy_ops.c instead.

Run: ``pytest bindings/python/tests`` (scripts/test-python makes a fresh
venv, pip installs ./bindings/python[test] and runs exactly that)."""

import ctypes
import os
import shutil
import subprocess
import tempfile

import pytest

import lkparallel as lk

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
_OPS = None


def build_ops():
    """The loaded test operations library (ctypes.CDLL), built once per session."""
    global _OPS
    if _OPS is not None:
        return _OPS
    path = os.environ.get("LKPARALLEL_TEST_OPS")
    if not path:
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if not cc:
            raise RuntimeError("the Python tests need a C compiler (cc) for tests/lkpy_ops.c")
        out = tempfile.mkdtemp(prefix="lkpy-ops-")
        path = os.path.join(out, "liblkpy_ops.so")
        # Linked against the very file the package loaded: the DT_NEEDED entry
        # is its SONAME, which the loader matches with the copy already loaded.
        cmd = [cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
               "-I" + lk.get_include(), os.path.join(HERE, "lkpy_ops.c"), lk.library_path, "-o", path]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError("compiling lkpy_ops.c failed:\n%s\n%s" % (" ".join(cmd), proc.stderr))
    _OPS = ctypes.CDLL(path)
    return _OPS


@pytest.fixture(scope="session")
def ops():
    return build_ops()


@pytest.fixture(scope="session")
def repo_version():
    """The [package] version of the repository's Cargo.toml (the one version source)."""
    import re

    section = None
    with open(os.path.join(REPO, "Cargo.toml"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[package]":
                m = re.match(r'version\s*=\s*"(\d+\.\d+\.\d+)"', line)
                if m:
                    return m.group(1)
    raise AssertionError("no version in Cargo.toml")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With LKPARALLEL_TEST_NO_SKIP=1 (scripts/test-python) a skip is a failure:
    the test command skips nothing silently."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("LKPARALLEL_TEST_NO_SKIP") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = "skipped under LKPARALLEL_TEST_NO_SKIP=1: %s" % (report.longrepr,)
