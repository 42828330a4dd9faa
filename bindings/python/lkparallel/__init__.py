"""lkparallel: LensKit's parallel invoker as a native library, from Python.

A ctypes binding of liblkparallel, which ``pip install ./bindings/python``
builds from source and bundles in the package. A map applies one operation
to every element of an array, in parallel, with the model shared::

    import numpy as np
    import lkparallel as lk

    users = np.arange(100_000, dtype=np.int64)
    with lk.Invoker(score, model=weights, n_jobs=4) as inv:
        scores = inv.map(users, result=np.float64)   # scores[i] belongs to users[i]

    with lk.Invoker(score, model=weights, n_jobs=4) as inv:   # a generator in, results out in order,
        for s in inv.stream(read_users(), result="d"):         # in bounded memory
            ...

    blob = lk.run_sp(train, arg=config)              # bytes, made in an isolated child

The operation ``score`` may be

- a compiled function with the C signature ``int32_t score(const void *model,
  const void *arg, void *result, const lk_task *task)``: a function from a
  library loaded with ctypes, or a numba ``@cfunc`` (see
  :mod:`lkparallel.numba`). It runs with the GIL released: truly in
  parallel, on threads or in worker processes;
- a Python callable ``score(model, arg, result, task)`` (threads backend
  only). It runs **under the GIL**, so items take turns (it is for
  convenience, not speed), and an exception it raises fails the map and is
  re-raised by :meth:`Invoker.map` as :class:`ItemError` naming the item.

Arrays are NumPy arrays (any C-contiguous array, structured dtypes too;
NumPy is optional and imported only when used), ``array.array``,
``bytes``/``bytearray``/``memoryview`` or ctypes arrays, passed to the
library without copying. Failures raise :class:`LkError`, carrying the
:class:`Status` and the library's message.

``python -m lkparallel`` prints the version, the usable CPU count and the
library's path.
"""

from __future__ import annotations

import array
import collections
import ctypes
import enum
import itertools
import math
import os
import struct
import threading
import weakref
from typing import Any, Callable, Deque, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

from . import _native

__all__ = [
    "Status",
    "LkError",
    "ItemError",
    "Invoker",
    "TaskInfo",
    "run_sp",
    "proc_count",
    "cpu_count",
    "inner_threads",
    "version",
    "is_worker",
    "seed_init",
    "root_seed",
    "derive_seed",
    "get_include",
    "shared_zeros",
    "Task",
    "Range",
    "Buffer",
    "OP_FN",
    "RANGE_FN",
    "SP_FN",
    "PYTHON_EXCEPTION_CODE",
    "ITEM_SKIPPED",
    "ITEM_WORKER_DIED",
    "ITEM_TIMED_OUT",
    "library",
    "library_path",
    "library_found_in",
]

library, library_path, library_found_in = _native.load()
_lib = library

#: This package's version, which is Cargo.toml's (and the library's).
__version__: str = _native.VERSION or _lib.lk_version().decode()

Task = _native.Task
Range = _native.Range
Buffer = _native.Buffer
OP_FN = _native.OP_FN
RANGE_FN = _native.RANGE_FN
SP_FN = _native.SP_FN

BACKENDS = {"threads": 0, "processes": 1}
ERROR_MODES = {"fail_fast": 0, "keep_going": 1}
_SEEDS_OFF = 1

#: Item statuses a stream yields with ``statuses=True`` (as lk_map_options.item_status):
#: the item never ran; its worker process died; it ran past the time limit.
ITEM_SKIPPED = -(2**31)
ITEM_WORKER_DIED = -(2**31) + 1
ITEM_TIMED_OUT = -(2**31) + 2

#: The code a Python item function's exception gives its item (what
#: ``lk_last_error()`` reports; :meth:`Invoker.map` raises the exception).
PYTHON_EXCEPTION_CODE = -1


class Status(enum.IntEnum):
    """lk_status: what a failing call returned."""

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
    """A failed lkparallel call.

    ``status``: a :class:`Status` (or an int this binding does not know);
    ``message``: the library's message (``lk_last_error()``)."""

    def __init__(self, status: int, message: str) -> None:
        try:
            status = Status(status)
        except ValueError:
            pass
        self.status = status
        self.message = message
        name = status.name if isinstance(status, Status) else "status %d" % status
        super().__init__("%s: %s" % (name, message))


class ItemError(LkError):
    """An item failed: in a map, a Python item function raised or returned
    a non-zero code; in a stream (:meth:`Invoker.stream`), any item whose
    failure the iterator reached.

    ``index``: the lowest failing item's index; ``code``: its code
    (:data:`PYTHON_EXCEPTION_CODE` for an exception); ``failures``: every
    failing ``(index, code, exception or None)`` seen, lowest index first.
    The exception the item raised is chained as ``__cause__``."""

    def __init__(
        self, index: int, code: int, message: str, failures: List[Tuple[int, int, Optional[BaseException]]]
    ) -> None:
        super().__init__(Status.ERR_CALLBACK, message)
        self.index = index
        self.code = code
        self.failures = failures


class TaskInfo:
    """What a Python item function learns about its item (as lk_task):
    ``index``, ``seed``, ``worker``."""

    __slots__ = ("index", "seed", "worker")

    def __init__(self, index: int, seed: int, worker: int) -> None:
        self.index = index
        self.seed = seed
        self.worker = worker

    def __repr__(self) -> str:
        return "TaskInfo(index=%d, seed=%d, worker=%d)" % (self.index, self.seed, self.worker)


def _check(status: int) -> None:
    if status != 0:
        message = _lib.lk_last_error()
        raise LkError(status, message.decode("utf-8", "replace") if message else "")


# ---- Small functions ----------------------------------------------------------


def version() -> str:
    """The C library's version, e.g. ``"0.1.0"``."""
    return _lib.lk_version().decode()


def proc_count(core_div: Optional[int] = 2, max_default: Optional[int] = None, level: int = 0) -> int:
    """LensKit's ``proc_count``: how many workers to use (honours ``LK_NUM_PROCS``).

    ``core_div``/``max_default`` None or <= 0 mean "none". Level 0 gets
    ``max(cpus // core_div, 1)`` capped at ``max_default``. The Invoker's
    default (``n_jobs=0``) is ``proc_count(2, 4)``: 1 on a 2-CPU machine."""
    return _lib.lk_proc_count(
        0 if core_div is None else int(core_div), 0 if max_default is None else int(max_default), int(level)
    )


def cpu_count() -> int:
    """The CPUs this process may run on (affinity and cgroup quota), at least 1."""
    return _lib.lk_cpu_count()


def inner_threads() -> int:
    """Inside an item function: the thread budget for nested BLAS/OpenMP work."""
    return _lib.lk_inner_threads()


def is_worker() -> bool:
    """True in a worker (see lk_is_worker); False in ordinary Python code."""
    return bool(_lib.lk_is_worker())


def seed_init(seed: int) -> None:
    """Set the root seed (and restart the seed counters)."""
    _lib.lk_seed_init(int(seed))


def root_seed() -> int:
    """The root seed."""
    return _lib.lk_root_seed()


def derive_seed(base: int, key: int) -> int:
    """Derive a seed from ``base`` and ``key`` (as a task's seed comes from its index)."""
    return _lib.lk_derive_seed(int(base), int(key))


def get_include() -> str:
    """The folder holding ``lkparallel.h``, to compile C operations for this
    library (``cc -shared -fPIC -I$(python -c 'import lkparallel; print(lkparallel.get_include())')``):
    the copy installed with the package, else the repository's ``include/``."""
    for folder in (os.path.join(os.path.dirname(os.path.abspath(__file__)), "include"),
                   os.path.join(_native._REPO, "include")):
        if os.path.exists(os.path.join(folder, "lkparallel.h")):
            return folder
    raise FileNotFoundError("lkparallel.h is neither in the package nor in a repository around it")


# ---- Memory from Python objects ------------------------------------------------

_CDATA = (ctypes._SimpleCData, ctypes.Structure, ctypes.Union, ctypes.Array)
_CFUNCPTR: type = getattr(ctypes, "_CFuncPtr")  # the base of every ctypes function object
# Formats a memoryview can be cast to (one native element each).
_VIEW_FORMATS = set("cbB?hHiIlLqQnNfdeP")


class _Mem(NamedTuple):
    """A block of memory taken from a Python object."""

    address: Optional[int]  # None: NULL
    nbytes: Optional[int]  # None: unknown (a bare address)
    items: Optional[int]  # elements along the first axis, when known
    element: Optional[int]  # bytes per element (first axis), when known
    format: str  # struct format of the element's scalars, "B" when unknown
    keep: Any  # what must stay alive while the memory is used


def _is_array_interface(obj: Any) -> bool:
    return not isinstance(obj, (bytes, bytearray, memoryview, array.array)) and hasattr(
        type(obj), "__array_interface__"
    )


def _from_array_interface(obj: Any, writable: bool, what: str) -> _Mem:
    """A NumPy (or other __array_interface__) array, without copying."""
    ai = obj.__array_interface__
    address, readonly = ai["data"]
    shape = tuple(ai["shape"])
    typestr = ai["typestr"]
    if typestr[1] == "O" or getattr(getattr(obj, "dtype", None), "hasobject", False):
        raise TypeError("%s: an array of Python objects holds no plain data" % what)
    itemsize = int(typestr[2:])
    if writable and readonly:
        raise TypeError("%s: the array is read-only" % what)
    strides = ai.get("strides")
    if strides is not None:
        expected = itemsize
        for dim, stride in zip(reversed(shape), reversed(strides)):
            if dim > 1 and stride != expected:
                raise ValueError("%s: the array is not C-contiguous (use numpy.ascontiguousarray)" % what)
            expected *= dim
    nbytes = itemsize * math.prod(shape)
    count = shape[0] if shape else 1
    element = itemsize * math.prod(shape[1:]) if shape else itemsize
    fmt = "B"
    try:  # the element's scalar format, for typed views in Python item functions
        fmt = memoryview(obj).format
    except (TypeError, ValueError, BufferError):
        pass
    return _Mem(address if nbytes else None, nbytes, count, element, fmt, obj)


def _memory(obj: Any, writable: bool = False, what: str = "argument") -> _Mem:
    """The memory of None, an int address, a ctypes object or pointer, an
    array with ``__array_interface__`` (NumPy) or a C-contiguous buffer.
    Only a read-only buffer that is neither bytes nor an array is copied
    (refused when ``writable``)."""
    if obj is None:
        return _Mem(None, 0, 0, 0, "B", None)
    if isinstance(obj, bool):
        raise TypeError("%s: a bool is not an address" % what)
    if isinstance(obj, int):
        return _Mem(obj, None, None, None, "B", None)
    if isinstance(obj, (ctypes._Pointer, ctypes.c_void_p)):  # a pointer: its value
        return _Mem(ctypes.cast(obj, ctypes.c_void_p).value, None, None, None, "B", obj)
    if isinstance(obj, _CDATA):  # a C object: its address
        if isinstance(obj, ctypes.Array):
            count, element = len(obj), ctypes.sizeof(obj._type_)
        else:
            count, element = 1, ctypes.sizeof(obj)
        return _Mem(ctypes.addressof(obj), ctypes.sizeof(obj), count, element, "B", obj)
    if _is_array_interface(obj):
        return _from_array_interface(obj, writable, what)
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(
            "%s: expected None, an address, a ctypes object, a NumPy array or a buffer, got %s"
            % (what, type(obj).__name__)
        ) from None
    if not view.c_contiguous:
        raise ValueError("%s: the buffer is not C-contiguous" % what)
    nbytes = view.nbytes
    count = view.shape[0] if view.ndim and view.shape else 1
    element = nbytes // count if count else view.itemsize
    fmt = view.format if view.format in _VIEW_FORMATS else "B"
    if nbytes == 0:
        return _Mem(None, 0, count, element, fmt, view)
    raw = view.cast("B") if view.format != "B" or view.ndim != 1 else view
    if not raw.readonly:
        cbuf = (ctypes.c_char * nbytes).from_buffer(raw)
        return _Mem(ctypes.addressof(cbuf), nbytes, count, element, fmt, cbuf)
    if writable:
        raise TypeError("%s: the buffer is read-only" % what)
    if isinstance(obj, bytes):
        return _Mem(ctypes.cast(ctypes.c_char_p(obj), ctypes.c_void_p).value, nbytes, count, element, fmt, obj)
    cbuf = (ctypes.c_char * nbytes).from_buffer_copy(raw)
    return _Mem(ctypes.addressof(cbuf), nbytes, count, element, fmt, cbuf)


# ---- Shared memory ---------------------------------------------------------------


class _SharedBlock:
    """A block of lk_shared_alloc memory, freed when the last array over it goes."""

    def __init__(self, nbytes: int) -> None:
        alloc = getattr(_lib, "lk_shared_alloc", None)
        if alloc is None:
            raise LkError(Status.ERR_UNSUPPORTED, "this liblkparallel has no lk_shared_alloc (an older library?)")
        p = ctypes.c_void_p()
        _check(alloc(nbytes, ctypes.byref(p)))
        self.address: int = p.value or 0
        # Only the process that allocated frees (a forked child's copy of
        # this object must not: the library would refuse it anyway).
        self._pid = os.getpid()

    def __del__(self) -> None:
        if self.address and os.getpid() == self._pid:
            _lib.lk_shared_free(self.address)
            self.address = 0


def shared_zeros(shape: Any, dtype: Any = float) -> Any:
    """A zeroed NumPy array in shared memory (``lk_shared_alloc``), freed
    when the array and every view of it are gone.

    Every process forked after the first such array maps it at the same
    address: the worker processes of a ``backend="processes"`` Invoker made
    afterwards read arguments and write results in it in place (no copies
    through the invoker's ring, so a map moves what it moves on threads),
    and see a model kept in it as it is when the map runs, not as it was
    when the Invoker was made. Raises :class:`LkError` (ERR_SYSTEM: the
    region, the machine's memory or ``LK_SHARED_MEMORY``, has no room;
    ERR_UNSUPPORTED: in a process forked after the first call, or a build
    without fork)."""
    np = _numpy()
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise TypeError("dtype %s holds Python objects, not plain data" % dtype)
    count = 1
    for extent in (shape if isinstance(shape, tuple) else (shape,)):
        if int(extent) < 0:
            raise ValueError("negative dimensions are not allowed: %r" % (shape,))
        count *= int(extent)
    nbytes = count * dtype.itemsize
    if nbytes == 0:
        return np.zeros(shape, dtype)
    block = _SharedBlock(nbytes)
    ctypes.memset(block.address, 0, nbytes)
    raw = (ctypes.c_char * nbytes).from_address(block.address)
    raw._lk_block = block  # type: ignore[attr-defined]  # the block lives as long as the memory's views
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)


# ---- Functions -------------------------------------------------------------------


def _wraps_python(func: Any) -> bool:
    """A ctypes function object made from a Python callable (CFUNCTYPE(f))."""
    objects = getattr(func, "_objects", None)
    return isinstance(objects, dict) and any(type(o).__name__ == "CThunkObject" for o in objects.values())


def _compiled_address(func: Any, what: str) -> Optional[int]:
    """The address of a compiled function, or None for a Python callable.

    Compiled: a ctypes function from a loaded library, a CFUNCTYPE object
    made from an address, an int address, or an object with an integer
    ``address`` (a numba ``@cfunc``)."""
    if func is None or isinstance(func, bool):
        raise TypeError("%s must be a function" % what)
    if isinstance(func, int):
        if func == 0:
            raise ValueError("%s is NULL" % what)
        return func
    if isinstance(func, _CFUNCPTR):
        if _wraps_python(func):
            raise TypeError(
                "%s is a ctypes callback made from a Python function: ctypes would lose its exceptions. "
                "Pass the Python function itself (lkparallel wraps it and re-raises its exceptions), "
                "or a compiled function (a C function, a numba @cfunc)" % what
            )
        address = ctypes.cast(func, ctypes.c_void_p).value  # type: ignore[arg-type]
        if not address:
            raise ValueError("%s is NULL" % what)
        return address
    address = getattr(func, "address", None)
    if isinstance(address, int) and not isinstance(address, bool):
        if address == 0:
            raise ValueError("%s is NULL" % what)
        return address
    if callable(func):
        return None
    raise TypeError(
        "%s must be a C function (from a loaded library, a CFUNCTYPE object, an address or a numba "
        "@cfunc) or a Python callable, got %s" % (what, type(func).__name__)
    )


class _PyMap:
    """One map (or stream) in flight through a Python item function: where
    its arguments and results are, and the failures seen. A map is found by
    its results memory; a stream by its window's argument memory
    (``spans``, which its source records before handing items over)."""

    __slots__ = ("results", "n", "result_size", "real_results", "arg_size", "arg_format", "result_format",
                 "failures", "spans")

    def __init__(self, results: int, n: int, result_size: int, real_results: bool, arg_size: int,
                 arg_format: str, result_format: str, stream: bool = False) -> None:
        self.results = results
        self.n = n
        self.result_size = result_size
        self.real_results = real_results
        self.arg_size = arg_size
        self.arg_format = arg_format
        self.result_format = result_format
        self.failures: List[Tuple[int, int, Optional[BaseException]]] = []
        self.spans: Optional[List[Tuple[int, int]]] = [] if stream else None

    def holds(self, result: int, arg: int) -> bool:
        if self.spans is None:
            return self.results <= result < self.results + self.n * self.result_size
        if self.arg_size == 0:
            return arg == 0
        return any(lo <= arg < hi for lo, hi in self.spans)


def _view(address: int, size: int, fmt: str, readonly: bool) -> memoryview:
    view = memoryview((ctypes.c_char * size).from_address(address)).cast("B")
    if fmt != "B" and size % struct.calcsize(fmt) == 0:
        view = view.cast(fmt)  # type: ignore[call-overload]
    return view.toreadonly() if readonly else view


class _PythonOp:
    """The C trampoline of a Python item function. Maps are told apart by
    their results memory (each map in flight has its own)."""

    def __init__(self, func: Callable[..., Any], model: Any) -> None:
        self.func = func
        self.model = model
        self.lock = threading.Lock()
        self.maps: List[_PyMap] = []
        self.cfunc = OP_FN(self._call)
        self.address = ctypes.cast(self.cfunc, ctypes.c_void_p).value

    def begin(self, m: _PyMap) -> None:
        with self.lock:
            self.maps.append(m)

    def end(self, m: _PyMap) -> None:
        with self.lock:
            self.maps.remove(m)

    def begin_stream(self, m: _PyMap) -> None:
        with self.lock:
            if m.arg_size == 0 and any(s.spans is not None and s.arg_size == 0 for s in self.maps):
                # Their items could not be told apart (no argument memory).
                raise LkError(
                    Status.ERR_UNSUPPORTED,
                    "a Python item function runs one stream without arguments (arg=0) at a time",
                )
            self.maps.append(m)

    def note_window(self, m: _PyMap, address: int, nbytes: int) -> None:
        with self.lock:
            spans = m.spans
            if spans is not None and nbytes > 0:
                lo, hi = address, address + nbytes
                keep = []
                for s in spans:
                    if s[0] <= hi and lo <= s[1]:
                        lo, hi = min(lo, s[0]), max(hi, s[1])
                    else:
                        keep.append(s)
                keep.append((lo, hi))
                m.spans = keep

    def _find(self, result: int, arg: int) -> Optional[_PyMap]:
        with self.lock:
            for m in self.maps:
                if m.holds(result, arg):
                    return m
        return None

    def _call(self, model: Any, arg: Optional[int], result: Optional[int], task: Any) -> int:
        # Never let anything escape into C: ctypes would print it and return garbage.
        m = None
        index = -1
        try:
            t = task.contents
            index = t.index
            m = self._find(result or 0, arg or 0)
            if m is None:
                return PYTHON_EXCEPTION_CODE  # cannot happen: every map registers first
            arg_view = _view(arg, m.arg_size, m.arg_format, True) if arg else None
            result_view = _view(result, m.result_size, m.result_format, False) if m.real_results and result else None
            code = self.func(self.model, arg_view, result_view, TaskInfo(t.index, t.seed, t.worker))
            if code is None:
                return 0
            if isinstance(code, bool) or not isinstance(code, int):
                raise TypeError(
                    "a Python item function must return None or an int code, not %s" % type(code).__name__
                )
            if code != 0:
                code = max(-(2**31), min(2**31 - 1, code))
                with self.lock:
                    m.failures.append((index, code, None))
            return code
        except BaseException as e:  # noqa: B902 - everything, KeyboardInterrupt included
            if m is not None:
                with self.lock:
                    m.failures.append((index, PYTHON_EXCEPTION_CODE, e))
            return PYTHON_EXCEPTION_CODE


# ---- Invoker ------------------------------------------------------------------------


class Invoker:
    """An invoker: one operation applied to ``model`` and each item of a map.

    ``func``: the item function, one of

    - compiled, ``int32_t f(const void *model, const void *arg, void *result,
      const lk_task *task)``: a ctypes function from a loaded library
      (``ctypes.CDLL(path).name``), an ``OP_FN`` object made from an
      address, an int address, or a numba ``@cfunc`` (signature types:
      :func:`lkparallel.numba.item_signature`). Runs without the GIL, in
      parallel, on either backend.
    - a Python callable ``f(model, arg, result, task)``: ``model`` is the
      object given here; ``arg`` a read-only memoryview of the item's
      argument (cast to the element format of ``args`` when it is a plain
      one, e.g. ``"d"``, else bytes; None for ``map(None, count=n)``);
      ``result`` a writable memoryview of its result slot (likewise; None
      when there are no results); ``task`` a :class:`TaskInfo`. Return None
      (or 0) for success, or a non-zero int code to fail the item; an
      exception fails the item too, and :meth:`map` re-raises it as
      :class:`ItemError` naming the item. The threads backend runs it under
      the GIL, so items take turns; the processes backend refuses it
      (TypeError): Python cannot run in a worker forked by the library.

    ``range_func`` (instead of ``func``): a compiled range function,
    ``int32_t f(const void *model, const void *args, void *results,
    lk_range *range)``, called once per contiguous range of at least
    ``grain`` items (0: the library chooses); see
    :func:`lkparallel.numba.range_signature`. Needs a library with range maps.

    ``model``: passed to ``func`` as a pointer (None: NULL; an address; a
    ctypes object; a NumPy array or other buffer, used in place); the
    invoker keeps a reference. A Python item function gets the object itself.

    ``n_jobs``: 0 the default, ``proc_count(2, 4)`` (1 on a 2-CPU machine);
    -1 every usable CPU; 1 in order on the calling thread; n > 1 a pool of
    n workers. ``backend``: ``"threads"`` or ``"processes"``. ``error_mode``:
    ``"fail_fast"`` or ``"keep_going"``. ``progress``: a Python callable
    ``progress(done, total)``, called on the thread that maps; if it raises,
    the map is cancelled and re-raises it. ``seeds=False`` gives every task
    seed 0 (saves ~1 ns per item).

    Use it as a context manager, or call :meth:`shutdown`. Several threads
    may map on one invoker at once; maps release the GIL.
    """

    def __init__(
        self,
        func: Any = None,
        model: Any = None,
        n_jobs: int = 0,
        backend: Union[str, int] = "threads",
        error_mode: Union[str, int] = "fail_fast",
        progress: Optional[Callable[[int, int], Any]] = None,
        *,
        range_func: Any = None,
        grain: int = 0,
        seeds: bool = True,
    ) -> None:
        self._handle: Optional[ctypes.c_void_p] = None
        self._python_op: Optional[_PythonOp] = None
        self._streams: "weakref.WeakSet[_StreamRun]" = weakref.WeakSet()
        try:
            backend_value = BACKENDS[backend] if isinstance(backend, str) else int(backend)
            error_value = ERROR_MODES[error_mode] if isinstance(error_mode, str) else int(error_mode)
        except KeyError as e:
            raise ValueError("unknown backend or error_mode %s" % e) from None
        if (func is None) == (range_func is None):
            raise TypeError("give exactly one of func (an item function) and range_func (a range function)")
        self._model_keep = model
        opts = _native.InvokerOptions()
        size = ctypes.sizeof(opts) if range_func is not None else _native.ITEM_OPTIONS_SIZE
        _lib.lk_invoker_options_init(ctypes.byref(opts), size)
        func_address = None
        model_address = None
        if range_func is not None:
            address = _compiled_address(range_func, "range_func")
            if address is None:
                raise TypeError(
                    "range_func must be compiled (a C function or a numba @cfunc with "
                    "lkparallel.numba.range_signature()); for a Python callable use func="
                )
            self._range_func = RANGE_FN(address)
            opts.range_func = self._range_func
            opts.grain = int(grain)
            model_address = _memory(model, what="model").address
        else:
            func_address = _compiled_address(func, "func")
            if func_address is not None:
                model_address = _memory(model, what="model").address
            else:
                if backend_value == BACKENDS["processes"]:
                    raise TypeError(
                        "a Python item function cannot run with backend='processes': the library forks the "
                        "workers, and the Python interpreter cannot run safely in such a child. Use "
                        "backend='threads' (it runs under the GIL), or a compiled function (a C function, "
                        "a numba @cfunc)"
                    )
                self._python_op = _PythonOp(func, model)
                func_address = self._python_op.address
        self._func = func
        opts.n_jobs = int(n_jobs)
        opts.backend = backend_value
        opts.error_mode = error_value
        if not seeds:
            opts.seeds = _SEEDS_OFF
        self._progress = None
        self._progress_errors = threading.local()
        if progress is not None:
            if not callable(progress):
                raise TypeError("progress must be callable")
            self._progress = _native.PROGRESS_FN(self._progress_trampoline(progress))
            opts.progress = self._progress
        handle = ctypes.c_void_p()
        _check(_lib.lk_invoker_new_with(model_address, func_address, ctypes.byref(opts), ctypes.byref(handle)))
        self._handle = handle

    def _progress_trampoline(self, progress: Callable[[int, int], Any]) -> Callable[[int, int, Any], None]:
        def call(done: int, total: int, user: Any) -> None:
            try:
                progress(done, total)
            except BaseException as e:  # never into C: keep it for the map to raise
                if getattr(self._progress_errors, "error", None) is None:
                    self._progress_errors.error = e
                if self._handle is not None:
                    _lib.lk_invoker_cancel(self._handle)

        return call

    def map(
        self,
        args: Any,
        result: Any = None,
        *,
        arg_size: Optional[int] = None,
        count: Optional[int] = None,
        out: Any = None,
    ) -> Any:
        """Apply the operation to every element of ``args``; return the results.

        ``args``: an array of fixed-size elements, used in place: a NumPy
        array (C-contiguous; any dtype but object, structured too; an
        element is one entry along the first axis, so a row of a 2-D
        array), array.array, bytes, bytearray, memoryview or ctypes array.
        The element size is ``arg_size`` when given, else the array's.
        ``args=None`` with ``count=n`` maps n items with NULL arguments.

        Results go to:

        - ``out``: a writable array (NumPy, array.array, bytearray, ...) of
          ``n`` elements, written in place and returned;
        - else ``result``: an array.array typecode (one character, ``"d"``)
          gives a new array.array; anything else NumPy reads as a dtype
          (``np.float64``, ``"<f8"``, a structured dtype, ``(np.float64, 3)``)
          a new NumPy array of ``n`` such elements; an int a new bytearray
          of that many bytes per item (0: no results, None returned);
        - else the type of ``args``: a 1-D NumPy array gives a NumPy array of
          its dtype, an array.array one of its typecode; ``args=None`` gives
          no results (None).

        Results of items that did not run are zero. Raises :class:`LkError`
        (ERR_CALLBACK naming the lowest failing index and its code,
        ERR_CANCELLED, ...) or, for a Python item function,
        :class:`ItemError` (or the KeyboardInterrupt/SystemExit it raised).
        """
        if self._handle is None:
            raise LkError(Status.ERR_INVALID, "the invoker was shut down")
        # Arguments.
        if args is None:
            if count is None:
                raise TypeError("map(None) needs count=")
            n, arg_size_v, args_mem = int(count), 0, _Mem(None, 0, 0, 0, "B", None)
        else:
            args_mem = _memory(args, what="args")
            if args_mem.nbytes is None:
                raise TypeError("args must be an array or a buffer, not an address")
            arg_size_v = int(arg_size) if arg_size is not None else (args_mem.element or 0)
            if arg_size_v <= 0:
                raise ValueError("arg_size must be positive")
            if args_mem.nbytes % arg_size_v:
                raise ValueError("args has %d bytes, not a multiple of arg_size %d" % (args_mem.nbytes, arg_size_v))
            n = args_mem.nbytes // arg_size_v
            if count is not None and int(count) != n:
                raise ValueError("count=%d but args holds %d elements" % (count, n))
        # Results.
        if out is not None:
            res_mem = _memory(out, writable=True, what="out")
            if res_mem.nbytes is None:
                raise TypeError("out must be an array or a buffer")
            if n == 0:
                result_size = 0
            elif res_mem.nbytes % n:
                raise ValueError("out has %d bytes, not a multiple of %d items" % (res_mem.nbytes, n))
            else:
                result_size = res_mem.nbytes // n
            returned = out
        else:
            returned, result_size = _new_results(args, result, n)
            res_mem = _memory(returned, writable=True, what="result")
        results_address = res_mem.address
        op = self._python_op
        pymap = None
        if op is not None and n > 0:
            # Each map in flight needs its own results memory, to be told apart.
            real_results = result_size > 0
            if not real_results:
                dummy = bytearray(n)
                res_mem = _memory(dummy, writable=True, what="result")
                result_size_c = 1
            else:
                result_size_c = result_size
            pymap = _PyMap(res_mem.address or 0, n, result_size_c, real_results, arg_size_v,
                           _element_format(args_mem, arg_size_v), _element_format(res_mem, result_size_c))
            results_address = res_mem.address
            op.begin(pymap)
        else:
            result_size_c = result_size
        self._progress_errors.error = None
        try:
            status = _lib.lk_invoker_map(
                self._handle, args_mem.address, n, arg_size_v, results_address, result_size_c
            )
        finally:
            if pymap is not None and op is not None:
                op.end(pymap)
        error = self._progress_errors.error
        self._progress_errors.error = None
        if error is not None:
            raise error
        if pymap is not None and pymap.failures and status != 0:
            _raise_item_error(pymap.failures)
        _check(status)
        return returned

    def stream(
        self,
        items: Iterable[Any],
        result: Any = None,
        *,
        arg: Any = None,
        window: int = 0,
        index_base: int = 0,
        statuses: bool = False,
    ) -> Iterator[Any]:
        """Stream ``items`` through the operation; return an iterator of the
        results, in order, computed while you consume them, holding at most
        about ``window`` items (``lk_invoker_stream``): a batch bigger than
        memory, a generator in and an iterator out::

            with lk.Invoker(score, n_jobs=4) as inv:
                for user, s in zip(users(), inv.stream(users(), "d")):
                    out.write("%d %f\\n" % (user, s))

        ``items``: any iterable (a generator, a file's lines parsed, a
        range, a list); it is read once, in order, on a thread the stream
        starts, as the window has room. Each item becomes one argument as
        ``arg`` says:

        - a ``struct`` format (an array typecode is one: ``"d"``, ``"q"``;
          ``"qd"`` for records, whose items are tuples);
        - an int: a size in bytes, each item a bytes-like object of exactly
          that size (0: no arguments; the items only count);
        - anything else NumPy reads as a dtype (``np.float64``, a structured
          dtype, ``(np.float64, 3)``): each item converted with NumPy;
        - None (default): from the first item: an int is ``"q"``, a float
          ``"d"``, a bytes-like object its size in bytes, a NumPy scalar or
          array its dtype (and shape).

        ``result`` says what comes back, in the same forms: a ``struct``
        format gives Python values (a tuple for several fields), a size in
        bytes gives ``bytes`` (0: ``None`` for each item), a dtype gives
        NumPy scalars (rows for ``(dtype, n)``, records for structured
        dtypes). None (default): ``arg``'s form (it must then be typed).

        ``window``: the most items read and not yet handed back by the
        library (0: it chooses); the iterator holds at most one more batch.
        ``index_base``: the first item's index (the task's ``index``, and
        the ``index`` of an :class:`ItemError`). Seeds are those a map in the
        same place would give.

        Failures, in index order: when the iterator reaches an item whose
        operation failed it raises :class:`ItemError` naming it (a Python
        item function's exception chained) -- under keep-going, every item
        before it has been yielded; with ``statuses=True`` it yields
        ``(result, status)`` pairs instead and raises for no single item (a
        failed item's result is zeros). An exception raised by ``items``
        ends the input: the items read before it are still computed and
        yielded, then that exception is raised, as the builtin ``map``
        does. Otherwise :class:`LkError` (ERR_CANCELLED, ERR_WORKER_DIED,
        ...) once the results before it have been yielded.

        Closing the iterator early (``break``, ``close()``, dropping it)
        stops the stream: items not yet started are skipped, the call waits
        for those running (at most a window), and nothing is left running.
        The stream starts at the first ``next()``; one that is never
        iterated does nothing. Only this invoker's maps may not run from
        inside ``items`` (ERR_UNSUPPORTED).
        """
        if self._handle is None:
            raise LkError(Status.ERR_INVALID, "the invoker was shut down")
        if not _native.has_streams(_lib):
            raise LkError(Status.ERR_UNSUPPORTED, "the library (%s) has no streaming maps" % version())
        window, index_base = int(window), int(index_base)
        if window < 0 or index_base < 0:
            raise ValueError("window and index_base must be >= 0")
        arg_codec = None if arg is None else _codec(arg, "arg")
        result_codec = None if result is None else _codec(result, "result")
        if result_codec is None and arg_codec is not None:
            result_codec = _default_result(arg_codec)
        return self._stream(iter(items), arg_codec, result_codec, window, index_base, bool(statuses))

    def _stream(self, items: Iterator[Any], arg_codec: Optional["_Codec"], result_codec: Optional["_Codec"],
                window: int, index_base: int, statuses: bool) -> Iterator[Any]:
        first: List[Any] = []
        try:
            first.append(next(items))
        except StopIteration:
            pass
        if arg_codec is None:
            arg_codec = _infer_codec(first[0]) if first else _BytesCodec(0)
        if result_codec is None:
            result_codec = _default_result(arg_codec) if first else _BytesCodec(0)
        run = _StreamRun(self, itertools.chain(first, items), arg_codec, result_codec, window, index_base)
        run.start()
        try:
            while True:
                batch = run.take()
                if batch is None:
                    break
                start, values, codes = batch
                for k, value in enumerate(values):
                    code = codes[k]
                    if statuses:
                        yield value, code
                    elif code != 0:
                        run.item_failed(start + k, code)  # raises
                    else:
                        yield value
            run.finish(statuses)
        finally:
            run.close()

    def cancel(self) -> None:
        """Make the maps in flight raise LkError(ERR_CANCELLED) promptly."""
        if self._handle is not None:
            _lib.lk_invoker_cancel(self._handle)

    def shutdown(self) -> None:
        """Wait for maps in flight and free the workers. Safe to repeat.
        Streams not yet consumed to their end are stopped first (their
        iterators then raise ERR_CANCELLED)."""
        for run in list(getattr(self, "_streams", ())):
            run.close("the invoker was shut down while the stream ran")
        handle, self._handle = self._handle, None
        if handle is not None:
            _check(_lib.lk_invoker_shutdown(handle))

    def __enter__(self) -> "Invoker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    def __del__(self) -> None:
        try:
            self.shutdown()
        except Exception:
            pass


# ---- Streams ---------------------------------------------------------------------


class _Codec:
    """How a stream's items become argument bytes, or result bytes Python values."""

    size = 0
    format = "B"  # the element format for a Python item function's views

    def pack(self, address: int, items: List[Any]) -> None:
        raise NotImplementedError

    def unpack(self, address: int, n: int) -> List[Any]:
        raise NotImplementedError


class _StructCodec(_Codec):
    def __init__(self, fmt: str) -> None:
        self.struct = struct.Struct(fmt)
        self.size = self.struct.size
        self.single = len(self.struct.unpack(bytes(self.size))) == 1
        self.format = fmt if fmt in _VIEW_FORMATS else "B"

    def pack(self, address: int, items: List[Any]) -> None:
        buf = (ctypes.c_char * (len(items) * self.size)).from_address(address)
        s, size = self.struct, self.size
        for k, item in enumerate(items):
            if self.single:
                s.pack_into(buf, k * size, item)
            else:
                s.pack_into(buf, k * size, *item)

    def unpack(self, address: int, n: int) -> List[Any]:
        data = ctypes.string_at(address, n * self.size)
        if self.single:
            return [t[0] for t in self.struct.iter_unpack(data)]
        return list(self.struct.iter_unpack(data))


class _BytesCodec(_Codec):
    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("a size in bytes must be >= 0")
        self.size = size

    def pack(self, address: int, items: List[Any]) -> None:
        size = self.size
        if size == 0:
            return
        for k, item in enumerate(items):
            view = memoryview(item).cast("B")
            if view.nbytes != size:
                raise ValueError("an item of %d bytes, not %d" % (view.nbytes, size))
            ctypes.memmove(address + k * size, bytes(view), size)

    def unpack(self, address: int, n: int) -> List[Any]:
        size = self.size
        if size == 0:
            return [None] * n
        data = ctypes.string_at(address, n * size)
        return [data[k * size:(k + 1) * size] for k in range(n)]


class _NumpyCodec(_Codec):
    def __init__(self, dtype: Any) -> None:
        if dtype.hasobject:
            raise TypeError("dtype %s holds Python objects, not plain data" % dtype)
        self.dtype = dtype
        self.size = dtype.itemsize
        base = dtype.base if dtype.subdtype is not None else dtype
        try:
            fmt = memoryview(_numpy().zeros(1, base)).format
        except (TypeError, ValueError):
            fmt = "B"
        self.format = fmt if fmt in _VIEW_FORMATS else "B"

    def pack(self, address: int, items: List[Any]) -> None:
        packed = _numpy().array(items, dtype=self.dtype)
        if packed.nbytes != len(items) * self.size:
            raise ValueError("items do not convert to %d elements of %s" % (len(items), self.dtype))
        packed = _numpy().ascontiguousarray(packed)
        ctypes.memmove(address, packed.ctypes.data, packed.nbytes)

    def unpack(self, address: int, n: int) -> List[Any]:
        np = _numpy()
        data = ctypes.string_at(address, n * self.size)
        arr = np.frombuffer(data, dtype=self.dtype, count=n).copy()
        return list(arr)


def _codec(spec: Any, what: str) -> _Codec:
    """A codec from ``arg=`` or ``result=``: a struct format, a size in bytes or a dtype."""
    if isinstance(spec, str):
        try:
            return _StructCodec(spec)
        except struct.error:
            pass  # maybe a NumPy dtype string, such as "<f8" or "f8,i4"
    if isinstance(spec, int) and not isinstance(spec, bool):
        return _BytesCodec(spec)
    np = _numpy()
    try:
        dtype = np.dtype(spec)
    except TypeError:
        raise TypeError(
            "%s must be a struct format, a size in bytes or a NumPy dtype, not %r" % (what, spec)
        ) from None
    return _NumpyCodec(dtype)


def _infer_codec(item: Any) -> _Codec:
    """The argument codec for items like ``item`` (a stream's first)."""
    dtype = getattr(item, "dtype", None)
    if dtype is not None and type(item).__module__ == "numpy":  # before float: np.float64 is one
        shape = tuple(getattr(item, "shape", ()))
        return _NumpyCodec(_numpy().dtype((dtype, shape)) if shape else dtype)
    if isinstance(item, bool):
        return _StructCodec("?")
    if isinstance(item, int):
        return _StructCodec("q")
    if isinstance(item, float):
        return _StructCodec("d")
    if isinstance(item, (bytes, bytearray, memoryview)):
        return _BytesCodec(memoryview(item).nbytes)
    raise TypeError(
        "stream cannot tell how to pass items of type %s: give arg= (a struct format such as \"d\" or "
        "\"qd\", a NumPy dtype, or a size in bytes)" % type(item).__name__
    )


def _default_result(arg: _Codec) -> _Codec:
    if isinstance(arg, _BytesCodec):
        raise TypeError("stream of bytes items needs result= (a struct format, a NumPy dtype or a size in bytes)")
    return arg


class _StreamRun:
    """One stream in flight: a thread calls lk_invoker_stream, whose source
    reads the items and whose sink hands batches of results to the consumer
    (the iterator), one batch ahead at most."""

    def __init__(self, inv: "Invoker", items: Iterator[Any], arg: _Codec, result: _Codec, window: int,
                 index_base: int) -> None:
        self.inv = inv
        self.items = items
        self.arg = arg
        self.result = result
        self.window = window
        self.index_base = index_base
        self.cond = threading.Condition()
        self.batches: Deque[Tuple[int, List[Any], List[int]]] = collections.deque()
        self.closed = False  # the consumer is gone (or the invoker shut down): stop
        self.closed_because: Optional[str] = None
        self.done = False  # lk_invoker_stream returned
        self.input_ended = False
        self.sourced = 0
        self.delivered = 0
        self.source_error: Optional[BaseException] = None
        self.internal_error: Optional[BaseException] = None
        self.progress_error: Optional[BaseException] = None
        self.status = 0
        self.message = ""
        self.thread: Optional[threading.Thread] = None
        op = inv._python_op
        self.op = op
        self.pymap: Optional[_PyMap] = None
        if op is not None:
            self.pymap = _PyMap(0, 0, result.size, result.size > 0, arg.size, arg.format, result.format, stream=True)
            op.begin_stream(self.pymap)
        self.source_fn = _native.SOURCE_FN(self._source)
        self.sink_fn = _native.SINK_FN(self._sink)

    def start(self) -> None:
        # Not a daemon: at interpreter exit the sink sees the main thread
        # gone and ends the stream, and exit waits for it.
        self.thread = threading.Thread(target=self._run, name="lkparallel-stream", daemon=False)
        try:
            self.thread.start()
        except BaseException:
            self._end_op()
            raise
        self.inv._streams.add(self)

    def _run(self) -> None:
        inv = self.inv
        try:
            opts = _native.StreamOptions()
            _lib.lk_stream_options_init(ctypes.byref(opts), ctypes.sizeof(opts))
            opts.window = self.window
            opts.index_base = self.index_base
            inv._progress_errors.error = None
            handle = inv._handle
            if handle is None:
                self.status, self.message = Status.ERR_INVALID, "the invoker was shut down"
            else:
                self.status = _lib.lk_invoker_stream(handle, self.source_fn, self.sink_fn, None, self.arg.size,
                                                     self.result.size, ctypes.byref(opts))
                if self.status != 0:
                    message = _lib.lk_last_error()
                    self.message = message.decode("utf-8", "replace") if message else ""
            self.progress_error = getattr(inv._progress_errors, "error", None)
            inv._progress_errors.error = None
        except BaseException as e:  # a bug here: never lose it
            self.internal_error = e
        finally:
            self._end_op()
            with self.cond:
                self.done = True
                self.cond.notify_all()

    def _end_op(self) -> None:
        if self.op is not None and self.pymap is not None:
            self.op.end(self.pymap)
            self.op = None

    # -- on the stream's thread, called by the library ------------------------

    def _source(self, user: Any, args: Optional[int], capacity: int, n_filled: Any) -> int:
        try:
            if self.closed:
                return 1
            items: List[Any] = []
            if not self.input_ended:
                for _ in range(capacity):
                    try:
                        items.append(next(self.items))
                    except StopIteration:
                        self.input_ended = True
                        break
                    except BaseException as e:  # ends the input; raised after the results before it
                        self.input_ended = True
                        self.source_error = e
                        break
            if items and self.arg.size:
                if self.op is not None and self.pymap is not None:
                    self.op.note_window(self.pymap, args or 0, capacity * self.arg.size)
                try:
                    self.arg.pack(args or 0, items)
                except Exception:
                    items = self._pack_each(args or 0, items)
            n_filled[0] = len(items)
            self.sourced += len(items)
            return 0
        except BaseException as e:
            self.internal_error = e
            return 1

    def _pack_each(self, address: int, items: List[Any]) -> List[Any]:
        """Pack one by one up to the first item that does not convert, which ends the input."""
        for k, item in enumerate(items):
            try:
                self.arg.pack(address + k * self.arg.size, [item])
            except Exception as e:
                index = self.index_base + self.sourced + k
                error = type(e)("item %d cannot be passed as the stream's argument: %s" % (index, e))
                error.__cause__ = e
                self.input_ended = True
                self.source_error = error
                return items[:k]
        return items

    def _sink(self, user: Any, first: int, results: Optional[int], item_status: Any, n: int) -> int:
        try:
            values = self.result.unpack(results or 0, n) if self.result.size else [None] * n
            codes = item_status[:n]
            with self.cond:
                while self.batches and not self.closed:
                    self.cond.wait(0.25)
                    if not threading.main_thread().is_alive():  # the interpreter is exiting
                        self.closed = True
                if self.closed:
                    return 1
                self.batches.append((first, values, codes))
                self.delivered += n
                self.cond.notify_all()
            return 0
        except BaseException as e:
            self.internal_error = e
            return 1

    # -- on the consumer's thread ------------------------------------------------

    def take(self) -> Optional[Tuple[int, List[Any], List[int]]]:
        """The next batch, or None once the stream has ended and all were taken."""
        with self.cond:
            while not self.batches and not self.done:
                self.cond.wait()
            if self.batches:
                batch = self.batches.popleft()
                self.cond.notify_all()
                return batch
            return None

    def close(self, reason: Optional[str] = None) -> None:
        """Stop the stream (if it runs) and wait for its thread. ``reason``:
        why, when it is not the consumer's doing (the consumer raises it)."""
        with self.cond:
            if reason is not None and not self.closed:
                self.closed_because = reason
            self.closed = True
            self.cond.notify_all()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()
        self._end_op()
        self.inv._streams.discard(self)

    def _failure(self, index: int) -> Optional[BaseException]:
        for i, _, e in self.pymap.failures if self.pymap is not None else []:
            if i == index:
                return e
        return None

    def item_failed(self, index: int, code: int) -> None:
        """Raise for item ``index``, which failed with ``code`` (reached by the consumer)."""
        exc = self._failure(index)
        if exc is not None and not isinstance(exc, Exception):
            raise exc  # KeyboardInterrupt, SystemExit: as they are
        if exc is not None:
            message = "item %d raised %s: %s" % (index, type(exc).__name__, exc)
        elif code == ITEM_WORKER_DIED:
            raise LkError(Status.ERR_WORKER_DIED, "item %d: its worker process died" % index)
        elif code == ITEM_TIMED_OUT:
            raise LkError(Status.ERR_TIMEOUT, "item %d ran past the time limit" % index)
        else:
            message = "item %d failed with code %d" % (index, code)
        raise ItemError(index, code, message, [(index, code, exc)]) from exc

    def finish(self, statuses: bool) -> None:
        """Every batch was taken: raise what ended the stream, if anything did."""
        if self.thread is not None:
            self.thread.join()
        if self.internal_error is not None:
            raise self.internal_error
        if self.closed_because is not None:
            raise LkError(Status.ERR_CANCELLED, self.closed_because)
        status = self.status
        if status == 0 and self.source_error is None and self.delivered < self.sourced:
            # Defensive: an item the consumer never got, with no status to say why, failed.
            index = self.index_base + self.delivered
            failures = self.pymap.failures if self.pymap is not None else []
            if failures:
                _raise_item_error(failures)
            raise LkError(Status.ERR_CALLBACK, "item %d failed: the stream ended before it reached the consumer"
                          % index)
        if status != 0:
            item_status = status in (Status.ERR_CALLBACK, Status.ERR_WORKER_DIED, Status.ERR_TIMEOUT)
            if statuses and item_status and self.delivered == self.sourced:
                pass  # keep-going: every item came with its status
            elif self.pymap is not None and self.pymap.failures and status == Status.ERR_CALLBACK:
                _raise_item_error(self.pymap.failures)
            elif self.progress_error is not None:
                raise self.progress_error
            else:
                raise LkError(status, self.message)
        if self.progress_error is not None:
            raise self.progress_error
        if self.source_error is not None:
            raise self.source_error


def _element_format(mem: _Mem, size: int) -> str:
    """The scalar format for views of one element of ``size`` bytes."""
    if mem.format in _VIEW_FORMATS and mem.element == size:
        return mem.format
    return "B"


def _raise_item_error(failures: List[Tuple[int, int, Optional[BaseException]]]) -> None:
    failures = sorted(failures, key=lambda f: f[0])
    index, code, exc = failures[0]
    if exc is not None and not isinstance(exc, Exception):
        raise exc  # KeyboardInterrupt, SystemExit: as they are
    if exc is not None:
        message = "item %d raised %s: %s" % (index, type(exc).__name__, exc)
    else:
        message = "item %d failed with code %d" % (index, code)
    if len(failures) > 1:
        message += " (%d items failed)" % len(failures)
    raise ItemError(index, code, message, failures) from exc


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise TypeError("a NumPy dtype as result= needs NumPy (pip install numpy)") from None
    return numpy


def _new_results(args: Any, result: Any, n: int) -> Tuple[Any, int]:
    """A new, zeroed results array for n items, and its element size."""
    if result is None:
        if args is None:
            return None, 0
        if isinstance(args, array.array):
            result = args.typecode
        elif args is not None and _is_array_interface(args) and type(args).__module__ == "numpy":
            if args.ndim != 1:
                raise TypeError("map of a %d-D array needs result= (a dtype) or out=" % args.ndim)
            return _numpy().zeros(n, args.dtype), args.dtype.itemsize
        else:
            raise TypeError("map needs result= (a NumPy dtype, an array typecode or a size in bytes) or out=")
    if isinstance(result, str) and result in array.typecodes:
        returned = array.array(result)
        returned.frombytes(bytes(n * returned.itemsize))
        return returned, returned.itemsize
    if isinstance(result, int) and not isinstance(result, bool):
        if result < 0:
            raise ValueError("result size must be >= 0")
        return (bytearray(n * result) if result else None), result
    np = _numpy()
    try:
        dtype = np.dtype(result)
    except TypeError:
        raise TypeError(
            "result must be a NumPy dtype, an array typecode or a size in bytes, not %r" % (result,)
        ) from None
    if dtype.hasobject:
        raise TypeError("result dtype %s holds Python objects, not plain data" % dtype)
    returned = np.zeros(n, dtype)
    return returned, dtype.itemsize


# ---- Subprocess isolation ---------------------------------------------------------


def run_sp(
    func: Any, arg: Any = None, *, timeout: Optional[float] = None, memory_limit: Optional[int] = None
) -> bytes:
    """Run the compiled function ``func(arg, out)`` (an ``lk_sp_fn``:
    ``int32_t f(const void *arg, lk_buffer *out)``) in a forked child and
    return the bytes it appended to ``out`` (with ``lk_buffer_append``).

    ``func``: a ctypes function from a loaded library, an ``SP_FN`` made
    from an address, an address, or a numba ``@cfunc``. A Python callable
    is refused (TypeError): the child is forked by the library, and the
    Python interpreter cannot run safely there (use ``multiprocessing``
    for Python code).

    ``arg``: as an Invoker's model (None, an address, a ctypes object, a
    NumPy array or a buffer); the child sees a copy-on-write snapshot.
    ``timeout``: seconds (None or 0: none; the child is killed past it:
    ERR_TIMEOUT). ``memory_limit``: bytes of address space for the child.

    Raises :class:`LkError`: ERR_CALLBACK (``func`` returned non-zero; the
    code is in the message), ERR_WORKER_DIED (the child died or exited
    without answering), ERR_TIMEOUT, ERR_SYSTEM.
    """
    address = _compiled_address(func, "func")
    if address is None:
        raise TypeError(
            "run_sp needs a compiled function (a C function, a numba @cfunc), not a Python callable: the "
            "library forks the child, and the Python interpreter cannot run safely in it. For Python "
            "code use multiprocessing or concurrent.futures.ProcessPoolExecutor"
        )
    mem = _memory(arg, what="arg")
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
    status = _lib.lk_run_sp_with(address, mem.address, ctypes.byref(opts), ctypes.byref(buf))
    del mem
    try:
        _check(status)
        return ctypes.string_at(buf.data, buf.len) if buf.len else b""
    finally:
        _lib.lk_buffer_free(ctypes.byref(buf))
