"""Finding and declaring the lkparallel C library (ctypes).

Search order, first hit wins:

1. ``LKPARALLEL_LIB``: the path of the shared library (an error if it cannot
   be loaded: an explicit choice is never silently replaced);
2. the library bundled in this package: ``lkparallel/_liblkparallel*.so``,
   which ``pip install ./bindings/python`` builds and puts there (or a
   ``liblkparallel.so*`` copied in by hand);
3. the repository's build, ``target/release/liblkparallel.so``, when the
   package is used in place from a checkout (``PYTHONPATH=bindings/python``);
4. the system loader: ``liblkparallel.so.<major>.<minor>`` (an installed
   library, found through ``ld.so.conf`` or ``LD_LIBRARY_PATH``).

The library must have this package's major.minor version (the ABI).
"""

import ctypes
import ctypes.util
import glob
import os
import re
from typing import Iterator, Optional, Tuple

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))


def _read_version() -> Optional[str]:
    """This package's version: written at build time from Cargo.toml, or
    read from the repository's Cargo.toml when used in place."""
    try:
        from ._version import VERSION  # type: ignore[import-not-found]

        return str(VERSION)
    except ImportError:
        pass
    try:
        with open(os.path.join(_REPO, "Cargo.toml"), encoding="utf-8") as f:
            section = None
            for line in f:
                line = line.strip()
                if line.startswith("["):
                    section = line
                elif section == "[package]":
                    m = re.match(r'version\s*=\s*"(\d+\.\d+\.\d+)"', line)
                    if m:
                        return m.group(1)
    except OSError:
        pass
    return None


#: This package's version (Cargo.toml's), or None when it cannot be known
#: (a copy of the package outside a repository, not installed by pip).
VERSION = _read_version()


def _abi(version: str) -> Tuple[int, int]:
    major, minor = (int(p) for p in version.split(".")[:2])
    return major, minor


def soname(abi: Tuple[int, int]) -> str:
    """The SONAME of the library with this (major, minor)."""
    return "liblkparallel.so.0.%d" % abi[1] if abi[0] == 0 else "liblkparallel.so.%d" % abi[0]


def _candidates(abi: Optional[Tuple[int, int]]) -> Iterator[Tuple[str, str, bool]]:
    env = os.environ.get("LKPARALLEL_LIB")
    if env:
        yield "LKPARALLEL_LIB", env, True
        return
    seen = set()
    names = ["_liblkparallel*.so", "liblkparallel.so"]
    if abi is not None:
        names.append(soname(abi))
    names.append("liblkparallel.so.*")
    for pattern in names:
        for path in sorted(glob.glob(os.path.join(_HERE, pattern))):
            if path not in seen and not path.endswith(".debug"):
                seen.add(path)
                yield "the package folder", path, False
    path = os.path.join(_REPO, "target", "release", "liblkparallel.so")
    if os.path.exists(path) and os.path.exists(os.path.join(_REPO, "Cargo.toml")):
        yield "the repository build", path, False
    if abi is not None:
        yield "the system loader", soname(abi), False
    found = ctypes.util.find_library("lkparallel")
    if found:
        yield "the system loader", found, False


def load() -> Tuple[ctypes.CDLL, str, str]:
    """Load the library; returns (CDLL, path, where). Raises ImportError."""
    abi = _abi(VERSION) if VERSION else None
    tried = []
    for where, path, explicit in _candidates(abi):
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            if explicit:
                raise ImportError("lkparallel: LKPARALLEL_LIB=%s cannot be loaded: %s" % (path, e)) from e
            tried.append("%s (%s): %s" % (path, where, e))
            continue
        _declare(lib)
        version = lib.lk_version().decode()
        if abi is not None and _abi(version) != abi:
            raise ImportError(
                "lkparallel: %s (%s) is version %s, but this package (%s) needs %d.%d.x"
                % (path, where, version, VERSION, abi[0], abi[1])
            )
        return lib, path, where
    raise ImportError(
        "lkparallel: the C library was not found; reinstall the package (pip install ./bindings/python "
        "builds it in), set LKPARALLEL_LIB to liblkparallel.so, build it (cargo build --release) or install "
        "it (scripts/install). Tried:\n  " + "\n  ".join(tried)
    )


# ---- C types (include/lkparallel.h) -----------------------------------------


class Task(ctypes.Structure):
    """lk_task: what an item function learns about its item."""

    _fields_ = [("index", ctypes.c_size_t), ("seed", ctypes.c_uint64), ("worker", ctypes.c_uint32)]


class Range(ctypes.Structure):
    """lk_range: what a range function learns about its range (LP64 layout).

    ``begin``/``end``: task indices begin .. end-1; ``failed``: set by the
    function when it returns non-zero; the rest is the library's."""

    _fields_ = [
        ("begin", ctypes.c_size_t),
        ("end", ctypes.c_size_t),
        ("failed", ctypes.c_size_t),
        ("worker", ctypes.c_uint32),
        ("seeds", ctypes.c_uint32),
        ("seed_base", ctypes.c_uint64),
        ("offset", ctypes.c_size_t),
        ("stop_at", ctypes.c_void_p),
        ("cancel_word", ctypes.c_void_p),
        ("cancel_epoch", ctypes.c_uint64),
    ]


class Buffer(ctypes.Structure):
    """lk_buffer: bytes owned by the library until lk_buffer_free."""

    _fields_ = [
        ("data", ctypes.POINTER(ctypes.c_uint8)),
        ("len", ctypes.c_size_t),
        ("cap", ctypes.c_size_t),
        ("priv", ctypes.c_void_p),
    ]


OP_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(Task))
RANGE_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(Range))
PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p)
SP_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(Buffer))
#: lk_source_fn: ``source(user, args, capacity, &n_filled) -> 0 | code``.
SOURCE_FN = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)
)
#: lk_sink_fn: ``sink(user, first, results, item_status, n) -> 0 | code``.
SINK_FN = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t
)


class InvokerOptions(ctypes.Structure):
    """lk_invoker_options, with the range-map fields (range_func, grain).

    The struct carries its size: the binding passes the size up to
    ``seeds`` (ITEM_OPTIONS_SIZE) unless it sets a range function, so a
    library without range maps reads the options it knows."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("n_jobs", ctypes.c_int32),
        ("backend", ctypes.c_int32),
        ("error_mode", ctypes.c_int32),
        ("progress", PROGRESS_FN),
        ("progress_user", ctypes.c_void_p),
        ("worker_init", ctypes.c_void_p),
        ("worker_init_user", ctypes.c_void_p),
        ("recycle_after_items", ctypes.c_uint64),
        ("recycle_above_rss", ctypes.c_uint64),
        ("comm", ctypes.c_void_p),
        ("seeds", ctypes.c_int32),
        ("reserved0", ctypes.c_uint32),  # the explicit padding before range_func
        ("range_func", RANGE_FN),
        ("grain", ctypes.c_size_t),
    ]


#: sizeof the options up to and including `seeds` (with its padding): what a
#: library without range maps knows.
ITEM_OPTIONS_SIZE = InvokerOptions.range_func.offset


class StreamOptions(ctypes.Structure):
    """lk_stream_options."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("reserved0", ctypes.c_uint32),
        ("window", ctypes.c_size_t),
        ("index_base", ctypes.c_size_t),
    ]


class SpOptions(ctypes.Structure):
    """lk_sp_options."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("grace_ms", ctypes.c_uint32),
        ("timeout_ms", ctypes.c_uint64),
        ("memory_limit", ctypes.c_uint64),
    ]


def _declare(lib: ctypes.CDLL) -> None:
    c_status = ctypes.c_int  # enum lk_status
    inv_p = ctypes.c_void_p
    sigs = {
        "lk_last_error": (ctypes.c_char_p, []),
        "lk_version": (ctypes.c_char_p, []),
        "lk_proc_count": (ctypes.c_int32, [ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]),
        "lk_cpu_count": (ctypes.c_int32, []),
        "lk_inner_threads": (ctypes.c_int32, []),
        "lk_is_worker": (ctypes.c_int32, []),
        "lk_seed_init": (None, [ctypes.c_uint64]),
        "lk_root_seed": (ctypes.c_uint64, []),
        "lk_derive_seed": (ctypes.c_uint64, [ctypes.c_uint64, ctypes.c_uint64]),
        "lk_invoker_options_init": (None, [ctypes.POINTER(InvokerOptions), ctypes.c_size_t]),
        "lk_invoker_new_with": (
            c_status,
            [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(InvokerOptions), ctypes.POINTER(inv_p)],
        ),
        "lk_invoker_map": (
            c_status,
            [inv_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t],
        ),
        "lk_invoker_cancel": (c_status, [inv_p]),
        "lk_invoker_shutdown": (c_status, [inv_p]),
        "lk_sp_options_init": (None, [ctypes.POINTER(SpOptions), ctypes.c_size_t]),
        "lk_run_sp_with": (
            c_status,
            [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(SpOptions), ctypes.POINTER(Buffer)],
        ),
        "lk_buffer_free": (None, [ctypes.POINTER(Buffer)]),
        # For compiled run_sp functions written in Python (numba can call it).
        "lk_buffer_append": (c_status, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    # Streams and shared memory: declared when the library has them (their
    # callers say so otherwise).
    optional = {
        "lk_shared_alloc": (c_status, [ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]),
        "lk_shared_free": (c_status, [ctypes.c_void_p]),
        "lk_stream_options_init": (None, [ctypes.POINTER(StreamOptions), ctypes.c_size_t]),
        "lk_invoker_stream": (
            c_status,
            [inv_p, SOURCE_FN, SINK_FN, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t,
             ctypes.POINTER(StreamOptions)],
        ),
    }
    for name, (restype, argtypes) in optional.items():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = restype
            fn.argtypes = argtypes


def has_streams(lib: ctypes.CDLL) -> bool:
    """Whether the library has streaming maps (lk_invoker_stream)."""
    return getattr(lib, "lk_invoker_stream", None) is not None
