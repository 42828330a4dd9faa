"""lkparallel: LensKit's parallel invoker as a native library, from Python.

A thin ctypes binding of the C library (include/lkparallel.h); nothing to
compile and no dependencies. The operation a map applies is a C function
(an ``lk_op_fn``), typically taken from a ctypes-loaded library, so maps run
truly in parallel with the GIL released::

    import array, ctypes, lkparallel

    ops = ctypes.CDLL("./libmyops.so")         # int32_t score(const void *model, const void *arg,
                                               #               void *result, const lk_task *task)
    users = array.array("q", range(1000))
    with lkparallel.Invoker(ops.score, model=weights, n_jobs=4) as inv:
        scores = inv.map(users, result="d")     # array('d'): scores[i] belongs to users[i]

    blob = lkparallel.run_sp(ops.train, arg=config)   # bytes, made in an isolated child

Failures raise :class:`LkError`, carrying the :class:`Status` and the
library's message. See :mod:`lkparallel._native` for how the library is found.
"""

import array
import ctypes
import enum
import math
import threading

from . import _native

__all__ = [
    "Status",
    "LkError",
    "Invoker",
    "run_sp",
    "proc_count",
    "cpu_count",
    "version",
    "is_worker",
    "seed_init",
    "root_seed",
    "derive_seed",
    "Task",
    "Buffer",
    "OP_FN",
    "SP_FN",
    "library",
    "library_path",
]

__version__ = "0.1.0"

library, library_path, library_found_in = _native.load()
_lib = library

Task = _native.Task
Buffer = _native.Buffer
OP_FN = _native.OP_FN
SP_FN = _native.SP_FN

BACKENDS = {"threads": 0, "processes": 1}
ERROR_MODES = {"fail_fast": 0, "keep_going": 1}


class Status(enum.IntEnum):
    """lk_status."""

    OK = 0
    ERR_INVALID = 1
    ERR_CALLBACK = 2
    ERR_WORKER_DIED = 3
    ERR_TIMEOUT = 4
    ERR_CANCELLED = 5
    ERR_SYSTEM = 6
    ERR_INTERNAL = 7
    ERR_UNSUPPORTED = 8
    ERR_COMM = 9


class LkError(Exception):
    """A failed lkparallel call: ``status`` (a :class:`Status`, or an int the
    binding does not know) and ``message`` (the library's lk_last_error())."""

    def __init__(self, status, message):
        try:
            status = Status(status)
        except ValueError:
            pass
        self.status = status
        self.message = message
        name = status.name if isinstance(status, Status) else "status %d" % status
        super().__init__("%s: %s" % (name, message))


def _check(status):
    if status != 0:
        message = _lib.lk_last_error()
        raise LkError(status, message.decode("utf-8", "replace") if message else "")


# ---- Small functions ----------------------------------------------------------


def version():
    """The C library's version, e.g. ``"0.1.0"``."""
    return _lib.lk_version().decode()


def proc_count(core_div=2, max_default=None, level=0):
    """LensKit's ``proc_count``: how many workers to use (honours ``LK_NUM_PROCS``)."""
    return _lib.lk_proc_count(
        0 if core_div is None else int(core_div), 0 if max_default is None else int(max_default), int(level)
    )


def cpu_count():
    """The CPUs this process may run on (affinity and cgroup quota), at least 1."""
    return _lib.lk_cpu_count()


def is_worker():
    """True in a worker (see lk_is_worker); False in ordinary Python code."""
    return bool(_lib.lk_is_worker())


def seed_init(seed):
    """Set the root seed (and restart the seed counters)."""
    _lib.lk_seed_init(int(seed))


def root_seed():
    """The root seed."""
    return _lib.lk_root_seed()


def derive_seed(base, key):
    """Derive a seed from ``base`` and ``key`` (as a task's seed comes from its index)."""
    return _lib.lk_derive_seed(int(base), int(key))


# ---- Pointers from Python objects ------------------------------------------------

_CDATA = (ctypes._SimpleCData, ctypes.Structure, ctypes.Union, ctypes.Array)


def _address(obj, writable=False, what="argument"):
    """(address or None, size in bytes or None, object to keep alive) for:
    None, an int address, a ctypes object or pointer, or a C-contiguous buffer.
    A read-only buffer is copied (refused when ``writable``)."""
    if obj is None:
        return None, 0, None
    if isinstance(obj, bool):
        raise TypeError("%s: a bool is not an address" % what)
    if isinstance(obj, int):
        return obj, None, None
    if isinstance(obj, (ctypes._Pointer, ctypes.c_void_p)):  # a pointer: its value
        return ctypes.cast(obj, ctypes.c_void_p).value, None, obj
    if isinstance(obj, _CDATA):  # a C object: its address
        return ctypes.addressof(obj), ctypes.sizeof(obj), obj
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(
            "%s: expected None, an address, a ctypes object or a buffer, got %s" % (what, type(obj).__name__)
        ) from None
    if not view.c_contiguous:
        raise ValueError("%s: the buffer is not C-contiguous" % what)
    nbytes = view.nbytes
    if nbytes == 0:
        return None, 0, view
    raw = view.cast("B") if view.format != "B" or view.ndim != 1 else view
    if not raw.readonly:
        cbuf = (ctypes.c_char * nbytes).from_buffer(raw)
        return ctypes.addressof(cbuf), nbytes, cbuf
    if writable:
        raise TypeError("%s: the buffer is read-only" % what)
    if isinstance(obj, bytes):
        return ctypes.cast(ctypes.c_char_p(obj), ctypes.c_void_p).value, nbytes, obj
    cbuf = (ctypes.c_char * nbytes).from_buffer_copy(raw)
    return ctypes.addressof(cbuf), nbytes, cbuf


def _function(func, fntype, what):
    """A ctypes function pointer of ``fntype`` for a C function: a ctypes
    function (from a CDLL, or a CFUNCTYPE object) or an int address."""
    if isinstance(func, bool) or func is None:
        raise TypeError("%s must be a C function" % what)
    if isinstance(func, int):
        if func == 0:
            raise ValueError("%s is NULL" % what)
        return fntype(func)
    if isinstance(func, ctypes._CFuncPtr):
        if isinstance(func, fntype):
            return func
        address = ctypes.cast(func, ctypes.c_void_p).value
        if not address:
            raise ValueError("%s is NULL" % what)
        return fntype(address)
    raise TypeError(
        "%s must be a C function (a ctypes function from a loaded library, a CFUNCTYPE object "
        "or an address), got %s" % (what, type(func).__name__)
    )


# ---- Invoker ------------------------------------------------------------------------


class Invoker:
    """An invoker: a C operation ``func`` applied to ``model`` and each item of a map.

    ``func``: an ``lk_op_fn`` -- ``int32_t f(const void *model, const void *arg,
    void *result, const lk_task *task)`` -- as a ctypes function from a loaded
    library (``ctypes.CDLL(path).name``), a ``OP_FN`` object or an address.

    ``model``: passed to ``func`` as a pointer: None (NULL), an address, a
    ctypes object, or a buffer (bytes, bytearray, array.array, memoryview);
    the invoker keeps a reference. A read-only buffer other than ``bytes`` is
    copied once.

    ``n_jobs``: 0 the default (``proc_count(2, 4)``), -1 every usable CPU,
    1 in order on the calling thread, n > 1 a pool of n workers.
    ``backend``: ``"threads"`` or ``"processes"``. ``error_mode``:
    ``"fail_fast"`` or ``"keep_going"``. ``progress``: a Python callable
    ``progress(done, total)``, called on the thread that maps; if it raises,
    the maps in flight are cancelled and the map re-raises it.

    Use it as a context manager, or call :meth:`shutdown`. Several threads may
    map on one invoker at once; maps release the GIL.
    """

    def __init__(self, func, model=None, n_jobs=0, backend="threads", error_mode="fail_fast", progress=None):
        self._handle = None
        self._func = _function(func, OP_FN, "func")
        self._model_address, _, self._model_keep = _address(model, what="model")
        try:
            backend_value = BACKENDS[backend] if isinstance(backend, str) else int(backend)
            error_value = ERROR_MODES[error_mode] if isinstance(error_mode, str) else int(error_mode)
        except KeyError as e:
            raise ValueError("unknown backend or error_mode %s" % e) from None
        opts = _native.InvokerOptions()
        _lib.lk_invoker_options_init(ctypes.byref(opts), ctypes.sizeof(opts))
        opts.n_jobs = int(n_jobs)
        opts.backend = backend_value
        opts.error_mode = error_value
        self._progress = None
        self._progress_errors = threading.local()
        if progress is not None:
            if not callable(progress):
                raise TypeError("progress must be callable")
            self._progress = _native.PROGRESS_FN(self._progress_trampoline(progress))
            opts.progress = self._progress
        handle = ctypes.c_void_p()
        _check(_lib.lk_invoker_new_with(self._model_address, self._func, ctypes.byref(opts), ctypes.byref(handle)))
        self._handle = handle

    def _progress_trampoline(self, progress):
        def call(done, total, user):
            try:
                progress(done, total)
            except BaseException as e:  # never into C: keep it for the map to raise
                if getattr(self._progress_errors, "error", None) is None:
                    self._progress_errors.error = e
                if self._handle is not None:
                    _lib.lk_invoker_cancel(self._handle)

        return call

    def map(self, args, result=None, *, arg_size=None, count=None, out=None):
        """Apply the operation to every element of ``args``; return the results.

        ``args``: a buffer of fixed-size elements (array.array, bytes,
        bytearray, memoryview, ctypes array); the element size is
        ``arg_size``, else the buffer's itemsize. ``args=None`` with
        ``count=n`` maps n items with NULL arguments.

        Results, ``result_size`` bytes each, go to:

        - ``out``: a writable buffer of ``n`` elements (``result`` is ignored),
          which is returned;
        - else ``result``: an array.array typecode (``"d"``) gives a new
          array.array; an int gives a new bytearray of ``n * result`` bytes;
          0 gives no results (None);
        - else, when ``args`` is an array.array, a new array of its typecode.

        Raises :class:`LkError` (for example ERR_CALLBACK naming the lowest
        failing index and its code).
        """
        if self._handle is None:
            raise LkError(Status.ERR_INVALID, "the invoker was shut down")
        # Arguments.
        if args is None:
            if count is None:
                raise TypeError("map(None) needs count=")
            n, arg_size, args_address, args_keep = int(count), 0, None, None
        else:
            args_address, nbytes, args_keep = _address(args, what="args")
            if nbytes is None:
                raise TypeError("args must be a buffer or a ctypes array, not an address")
            if arg_size is None:
                arg_size = memoryview(args).itemsize if not isinstance(args, _CDATA) else _ctypes_itemsize(args)
            arg_size = int(arg_size)
            if arg_size <= 0:
                raise ValueError("arg_size must be positive")
            if nbytes % arg_size:
                raise ValueError("args has %d bytes, not a multiple of arg_size %d" % (nbytes, arg_size))
            n = nbytes // arg_size
            if count is not None and int(count) != n:
                raise ValueError("count=%d but args holds %d elements" % (count, n))
        # Results.
        if out is not None:
            results_address, out_bytes, results_keep = _address(out, writable=True, what="out")
            if out_bytes is None:
                raise TypeError("out must be a buffer or a ctypes array")
            if n == 0:
                result_size = 0
            elif out_bytes % n:
                raise ValueError("out has %d bytes, not a multiple of %d items" % (out_bytes, n))
            else:
                result_size = out_bytes // n
            returned = out
        else:
            if result is None:
                if isinstance(args, array.array):
                    result = args.typecode
                else:
                    raise TypeError("map needs result= (a typecode or a size in bytes) or out=")
            if isinstance(result, str):
                returned = array.array(result)
                result_size = returned.itemsize
                returned.frombytes(bytes(n * result_size))
            elif isinstance(result, int) and not isinstance(result, bool) and result >= 0:
                result_size = result
                returned = bytearray(n * result_size) if result_size else None
            else:
                raise TypeError("result must be an array typecode or a size in bytes, not %r" % (result,))
            results_address, _, results_keep = _address(returned, writable=True, what="result")
        self._progress_errors.error = None
        status = _lib.lk_invoker_map(self._handle, args_address, n, arg_size, results_address, result_size)
        error = self._progress_errors.error
        self._progress_errors.error = None
        del args_keep, results_keep
        if error is not None:
            raise error
        _check(status)
        return returned

    def cancel(self):
        """Make the maps in flight raise LkError(ERR_CANCELLED) promptly."""
        if self._handle is not None:
            _lib.lk_invoker_cancel(self._handle)

    def shutdown(self):
        """Wait for maps in flight and free the workers. Safe to repeat."""
        handle, self._handle = self._handle, None
        if handle is not None:
            _check(_lib.lk_invoker_shutdown(handle))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
        return False

    def __del__(self):
        try:
            self.shutdown()
        except Exception:
            pass


def _ctypes_itemsize(obj):
    if isinstance(obj, ctypes.Array):
        return ctypes.sizeof(obj._type_)
    return ctypes.sizeof(obj)


# ---- Subprocess isolation ---------------------------------------------------------


def run_sp(func, arg=None, *, timeout=None, memory_limit=None):
    """Run the C function ``func(arg, out)`` (an ``lk_sp_fn``) in a forked child
    and return the bytes it appended to ``out`` (with ``lk_buffer_append``).

    ``arg``: as an Invoker's model (None, an address, a ctypes object or a
    buffer); the child sees a copy-on-write snapshot. ``timeout``: seconds
    (None or 0: none; the child is killed past it: ERR_TIMEOUT). ``memory_limit``: bytes of
    address space for the child.

    Raises :class:`LkError`: ERR_CALLBACK (``func`` returned non-zero; the
    code is in the message), ERR_WORKER_DIED (the child died or exited
    without answering), ERR_TIMEOUT, ERR_SYSTEM.
    """
    fn = _function(func, SP_FN, "func")
    address, _, keep = _address(arg, what="arg")
    opts = _native.SpOptions()
    _lib.lk_sp_options_init(ctypes.byref(opts), ctypes.sizeof(opts))
    if timeout is not None:
        if timeout < 0:
            raise ValueError("timeout must be >= 0")
        opts.timeout_ms = max(1, int(math.ceil(timeout * 1000))) if timeout > 0 else 0
    if memory_limit is not None:
        if memory_limit < 0:
            raise ValueError("memory_limit must be >= 0")
        opts.memory_limit = int(memory_limit)
    buf = Buffer()
    status = _lib.lk_run_sp_with(fn, address, ctypes.byref(opts), ctypes.byref(buf))
    del keep
    try:
        _check(status)
        return ctypes.string_at(buf.data, buf.len) if buf.len else b""
    finally:
        _lib.lk_buffer_free(ctypes.byref(buf))
