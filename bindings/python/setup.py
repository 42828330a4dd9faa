"""Build the wheel: the ctypes package, plus liblkparallel built from the
crate at the repository root by setuptools-rust (cargo must be on PATH).

- The version is Cargo.toml's (the one version source), written into the
  package as ``lkparallel/_version.py``.
- The library is a plain cdylib (``Binding.NoBinding``: not a Python
  extension module), installed as ``lkparallel/_liblkparallel<suffix>.so``
  and loaded with ctypes; it keeps its SONAME. It is stripped of debug
  info (the wheel is ~0.7 MB instead of ~7 MB).
- Cargo builds in ``<repo>/target/python`` unless ``CARGO_TARGET_DIR`` is
  set, so a wheel build never replaces the ``target/release`` library that
  ``cargo build --release`` and the C tests use.
- The wheel is tagged ``py3-none-<platform>``: the library does not use
  Python's C API, so one wheel serves every Python 3 on that platform.

Build from the repository (``pip install ./bindings/python``, ``pip wheel
./bindings/python``): the crate lives two folders up, so an sdist of this
folder alone cannot be built.
"""

import os
import re
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools_rust import Binding, RustExtension, Strip

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
CARGO_TOML = os.path.join(REPO, "Cargo.toml")


def cargo_version():
    """The [package] version of Cargo.toml."""
    if not os.path.exists(CARGO_TOML):
        raise SystemExit(
            "lkparallel: %s is missing: build the Python package from the repository "
            "(pip install ./bindings/python), not from a copy of bindings/python alone" % CARGO_TOML
        )
    section = None
    with open(CARGO_TOML, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[package]":
                m = re.match(r'version\s*=\s*"(\d+\.\d+\.\d+)"', line)
                if m:
                    return m.group(1)
    raise SystemExit("lkparallel: no version X.Y.Z in the [package] of %s" % CARGO_TOML)


VERSION = cargo_version()


class build_py_with_version(build_py):
    """build_py that also writes lkparallel/_version.py (Cargo.toml's
    version) and copies the C headers into lkparallel/include/ (for
    lkparallel.get_include(): C operations compiled against this library)."""

    def run(self):
        super().run()
        package = os.path.join(self.build_lib, "lkparallel")
        os.makedirs(os.path.join(package, "include"), exist_ok=True)
        with open(os.path.join(package, "_version.py"), "w", encoding="utf-8") as f:
            f.write('"""Written by setup.py from Cargo.toml."""\n\nVERSION = "%s"\n' % VERSION)
        for name in ("lkparallel.h", "lkparallel.hpp"):
            shutil.copyfile(os.path.join(REPO, "include", name), os.path.join(package, "include", name))


cmdclass = {"build_py": build_py_with_version}

try:  # setuptools >= 70.1 has its own bdist_wheel; older ones use the wheel package's
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover
    from wheel.bdist_wheel import bdist_wheel


class bdist_wheel_py3_none(bdist_wheel):
    """Tag the wheel py3-none-<platform>: the library is not an extension module."""

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


cmdclass["bdist_wheel"] = bdist_wheel_py3_none

os.environ.setdefault("CARGO_TARGET_DIR", os.path.join(REPO, "target", "python"))

setup(
    version=VERSION,
    cmdclass=cmdclass,
    rust_extensions=[
        RustExtension(
            "lkparallel._liblkparallel",
            path=os.path.relpath(CARGO_TOML, HERE),
            binding=Binding.NoBinding,
            strip=Strip.Debug,
            args=["--locked"],
        )
    ],
)
