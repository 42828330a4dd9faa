"""The installed package: the library bundled by pip, found with no
environment variable; python -m lkparallel; type hints and help(); where
the library comes from in each other case."""

import importlib.metadata
import os
import pydoc
import shutil
import subprocess
import sys
import tempfile

import pytest

import lkparallel as lk

PACKAGE_DIR = os.path.dirname(os.path.abspath(lk.__file__))
INSTALLED = os.environ.get("LKPARALLEL_TEST_INSTALLED") == "1"  # set by scripts/test-python


def run_python(code, env, cwd):
    """Run code in a fresh interpreter; returns (ok, output)."""
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def clean_env(pythonpath=None):
    env = {k: v for k, v in os.environ.items() if k not in ("LKPARALLEL_LIB", "LD_LIBRARY_PATH", "PYTHONPATH")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


WHERE = "import lkparallel as lk; print(lk.library_found_in + '|' + lk.library_path)"


@pytest.mark.skipif(not INSTALLED, reason="needs the pip-installed package (scripts/test-python)")
def test_pip_install_bundles_the_library(repo_version):
    # Under scripts/test-python this never skips: it sets LKPARALLEL_TEST_INSTALLED=1.
    assert "site-packages" in PACKAGE_DIR
    assert importlib.metadata.version("lkparallel") == repo_version
    ok, out = run_python(WHERE, clean_env(), tempfile.gettempdir())
    assert ok, out
    where, path = out.split("|")
    assert where == "the package folder"
    assert os.path.dirname(path) == PACKAGE_DIR
    assert os.path.basename(path).startswith("_liblkparallel")
    # Stripped of debug info, and with its SONAME.
    sections = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True).stdout
    assert ".debug_info" not in sections
    dynamic = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    assert "liblkparallel.so.%s.%s" % tuple(repo_version.split(".")[:2]) in dynamic
    for name in ("py.typed", "_version.py", "include/lkparallel.h"):
        assert os.path.exists(os.path.join(PACKAGE_DIR, name)), name


def test_python_m_lkparallel():
    proc = subprocess.run([sys.executable, "-m", "lkparallel"], capture_output=True, text=True, timeout=120,
                          env=clean_env(os.path.dirname(PACKAGE_DIR) if not INSTALLED else None))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "lkparallel %s" % lk.__version__ in out
    assert "usable CPUs: %d" % lk.cpu_count() in out
    assert lk.library_path in out


def help_text(obj):
    """What help(obj) shows, with the line breaks and margins folded away."""
    return " ".join(pydoc.render_doc(obj, renderer=pydoc.plaintext).replace("|", " ").split())


def test_help_and_hints():
    assert os.path.exists(os.path.join(PACKAGE_DIR, "py.typed"))
    text = help_text(lk.Invoker)
    assert "under the GIL" in text and "numba" in text and "ItemError" in text
    assert "NumPy array" in help_text(lk.Invoker.map)
    assert "A Python callable is refused" in help_text(lk.run_sp)
    assert "python -m lkparallel" in help_text(lk)
    assert lk.Invoker.map.__annotations__ and lk.run_sp.__annotations__
    for name in lk.__all__:
        assert hasattr(lk, name), name


def test_numpy_not_imported():
    ok, out = run_python("import sys, lkparallel; print('numpy' in sys.modules, 'numba' in sys.modules)",
                         clean_env(os.path.dirname(PACKAGE_DIR) if not INSTALLED else None), tempfile.gettempdir())
    assert ok, out
    assert out == "False False"


def copy_package(dest):
    """A copy of the package without its bundled library, with its version."""
    shutil.copytree(PACKAGE_DIR, dest, ignore=shutil.ignore_patterns("__pycache__", "_liblkparallel*", "*.so*"))
    with open(os.path.join(dest, "_version.py"), "w") as f:
        f.write('VERSION = "%s"\n' % lk.__version__)


def test_env_wins_and_bad_env_fails():
    with tempfile.TemporaryDirectory() as tmp:
        copy_package(os.path.join(tmp, "lkparallel"))
        env = clean_env(tmp)
        env["LKPARALLEL_LIB"] = lk.library_path
        ok, out = run_python(WHERE, env, tmp)
        assert ok, out
        assert out == "LKPARALLEL_LIB|" + lk.library_path
        env["LKPARALLEL_LIB"] = "/nonexistent/liblkparallel.so"
        ok, out = run_python(WHERE, env, tmp)
        assert not ok
        assert "LKPARALLEL_LIB" in out


def test_next_to_the_package():
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "lkparallel")
        copy_package(copy)
        shutil.copy(lk.library_path, os.path.join(copy, "liblkparallel.so"))
        ok, out = run_python(WHERE, clean_env(tmp), tmp)
        assert ok, out
        assert out == "the package folder|" + os.path.join(copy, "liblkparallel.so")


def test_repository_build():
    # A checkout: <repo>/bindings/python/lkparallel and <repo>/target/release.
    with tempfile.TemporaryDirectory() as tmp:
        copy_package(os.path.join(tmp, "bindings", "python", "lkparallel"))
        os.makedirs(os.path.join(tmp, "target", "release"))
        lib = os.path.join(tmp, "target", "release", "liblkparallel.so")
        shutil.copy(lk.library_path, lib)
        with open(os.path.join(tmp, "Cargo.toml"), "w") as f:
            f.write('[package]\nname = "lkparallel"\nversion = "%s"\n' % lk.__version__)
        ok, out = run_python(WHERE, clean_env(os.path.join(tmp, "bindings", "python")), tmp)
        assert ok, out
        assert out == "the repository build|" + lib


def test_system_loader():
    major, minor = lk.__version__.split(".")[:2]
    soname = "liblkparallel.so.0.%s" % minor if major == "0" else "liblkparallel.so.%s" % major
    with tempfile.TemporaryDirectory() as tmp:
        copy_package(os.path.join(tmp, "pkg", "lkparallel"))
        libdir = os.path.join(tmp, "lib")
        os.mkdir(libdir)
        shutil.copy(lk.library_path, os.path.join(libdir, soname))
        env = clean_env(os.path.join(tmp, "pkg"))
        env["LD_LIBRARY_PATH"] = libdir
        ok, out = run_python(WHERE, env, tmp)
        assert ok, out
        assert out == "the system loader|" + soname


def test_wrong_version_is_refused():
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "lkparallel")
        copy_package(copy)
        with open(os.path.join(copy, "_version.py"), "w") as f:
            f.write('VERSION = "99.0.0"\n')
        shutil.copy(lk.library_path, os.path.join(copy, "liblkparallel.so"))
        ok, out = run_python(WHERE, clean_env(tmp), tmp)
        assert not ok
        assert "needs 99.0.x" in out


def test_type_hints_reach_users(tmp_path):
    # py.typed: a type checker reads the package's hints (a wrong use is caught),
    # and the package itself type-checks.
    user = tmp_path / "user.py"
    user.write_text("import lkparallel as lk\nn: int = lk.cpu_count()\nwrong: str = lk.proc_count()\n")
    env = clean_env(os.path.dirname(PACKAGE_DIR) if not INSTALLED else None)
    env["MYPY_CACHE_DIR"] = str(tmp_path / "cache")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports", str(user)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'user.py:3: error: Incompatible types in assignment (expression has type "int"' in proc.stdout
    assert "user.py:2" not in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports", "-p", "lkparallel"],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
