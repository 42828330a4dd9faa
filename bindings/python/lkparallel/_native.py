"""Finding and declaring the lkparallel C library (ctypes; nothing to compile).

Search order, first hit wins:

1. ``LKPARALLEL_LIB``: the path of the shared library (an error if it cannot
   be loaded: an explicit choice is never silently replaced);
2. next to this package: ``lkparallel/liblkparallel.so*`` (a bundled copy);
3. the repository's build: ``target/release/liblkparallel.so`` (when the
   package is used from a checkout, ``bindings/python``);
4. the system loader: ``liblkparallel.so.0.1`` (an installed library, found
   through ``ld.so.conf`` or ``LD_LIBRARY_PATH``).
"""

import ctypes
import ctypes.util
import glob
import os

#: The ABI this binding is written against: major.minor of the library.
ABI = (0, 1)
SONAME = "liblkparallel.so.%d.%d" % ABI if ABI[0] == 0 else "liblkparallel.so.%d" % ABI[0]

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("LKPARALLEL_LIB")
    if env:
        yield "LKPARALLEL_LIB", env, True
        return
    for name in ("liblkparallel.so", SONAME):
        path = os.path.join(_HERE, name)
        if os.path.exists(path):
            yield "the package folder", path, False
    for path in sorted(glob.glob(os.path.join(_HERE, "liblkparallel.so.*"))):
        yield "the package folder", path, False
    repo = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))
    path = os.path.join(repo, "target", "release", "liblkparallel.so")
    if os.path.exists(path):
        yield "the repository build", path, False
    yield "the system loader", SONAME, False
    found = ctypes.util.find_library("lkparallel")
    if found:
        yield "the system loader", found, False


def load():
    """Load the library; returns (CDLL, path, where). Raises ImportError."""
    tried = []
    for where, path, explicit in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            if explicit:
                raise ImportError("lkparallel: LKPARALLEL_LIB=%s cannot be loaded: %s" % (path, e)) from e
            tried.append("%s (%s): %s" % (path, where, e))
            continue
        _declare(lib)
        version = lib.lk_version().decode()
        major, minor = (int(p) for p in version.split(".")[:2])
        if (major, minor) != ABI:
            raise ImportError(
                "lkparallel: %s is version %s, but this binding needs %d.%d.x" % (path, version, ABI[0], ABI[1])
            )
        return lib, path, where
    raise ImportError(
        "lkparallel: the C library was not found; set LKPARALLEL_LIB to liblkparallel.so, "
        "build it (cargo build --release) or install it (scripts/install). Tried:\n  " + "\n  ".join(tried)
    )


# ---- C types (include/lkparallel.h) -----------------------------------------


class Task(ctypes.Structure):
    """lk_task: what a callback learns about its item."""

    _fields_ = [("index", ctypes.c_size_t), ("seed", ctypes.c_uint64), ("worker", ctypes.c_uint32)]


class Buffer(ctypes.Structure):
    """lk_buffer: bytes owned by the library until lk_buffer_free."""

    _fields_ = [
        ("data", ctypes.POINTER(ctypes.c_uint8)),
        ("len", ctypes.c_size_t),
        ("cap", ctypes.c_size_t),
        ("priv", ctypes.c_void_p),
    ]


OP_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(Task))
PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p)
SP_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(Buffer))


class InvokerOptions(ctypes.Structure):
    """The leading fields of lk_invoker_options that this binding sets.

    The struct carries its size, so the library reads a shorter one as if the
    fields after it were zero (their defaults)."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("n_jobs", ctypes.c_int32),
        ("backend", ctypes.c_int32),
        ("error_mode", ctypes.c_int32),
        ("progress", PROGRESS_FN),
        ("progress_user", ctypes.c_void_p),
    ]


class SpOptions(ctypes.Structure):
    """lk_sp_options."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("grace_ms", ctypes.c_uint32),
        ("timeout_ms", ctypes.c_uint64),
        ("memory_limit", ctypes.c_uint64),
    ]


def _declare(lib):
    c_status = ctypes.c_int  # enum lk_status
    inv_p = ctypes.c_void_p
    sigs = {
        "lk_last_error": (ctypes.c_char_p, []),
        "lk_version": (ctypes.c_char_p, []),
        "lk_proc_count": (ctypes.c_int32, [ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]),
        "lk_cpu_count": (ctypes.c_int32, []),
        "lk_is_worker": (ctypes.c_int32, []),
        "lk_seed_init": (None, [ctypes.c_uint64]),
        "lk_root_seed": (ctypes.c_uint64, []),
        "lk_derive_seed": (ctypes.c_uint64, [ctypes.c_uint64, ctypes.c_uint64]),
        "lk_invoker_options_init": (None, [ctypes.POINTER(InvokerOptions), ctypes.c_size_t]),
        "lk_invoker_new_with": (
            c_status,
            [ctypes.c_void_p, OP_FN, ctypes.POINTER(InvokerOptions), ctypes.POINTER(inv_p)],
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
            [SP_FN, ctypes.c_void_p, ctypes.POINTER(SpOptions), ctypes.POINTER(Buffer)],
        ),
        "lk_buffer_free": (None, [ctypes.POINTER(Buffer)]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
