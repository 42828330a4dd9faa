"""Compiled callbacks written in Python, with numba's ``@cfunc``.

A numba ``@cfunc`` is machine code with a C signature: given to
:class:`lkparallel.Invoker` it runs without the GIL, in parallel, like a C
function (and on the processes backend too). This module gives the
signatures and small helpers for the fields of ``lk_task`` and
``lk_range``::

    import numpy as np
    from numba import cfunc
    import lkparallel as lk
    from lkparallel.numba import item_signature, task_index

    @cfunc(item_signature(arg=np.float64, result=np.float64))
    def square(model, arg, result, task):
        result[0] = arg[0] * arg[0]
        return 0                      # non-zero fails the item with that code

    with lk.Invoker(square, n_jobs=2) as inv:
        out = inv.map(np.arange(10.0))

``arg`` and ``result`` are numba ``CPointer``\\ s to one element (``arg[0]``).
With a structured dtype, reach the record through ``numba.carray``:
``rec = carray(arg, 1)[0]; rec.user`` (numba cannot load a record from a
bare pointer). Without a type they are ``voidptr`` (read them with
``numba.carray(arg, shape, dtype)``).
``task`` is a pointer to ``lk_task``: read it with :func:`task_index`,
:func:`task_seed`, :func:`task_worker`.

A range function (``range_signature``; needs a library with range maps) is
called once per contiguous range of items, ``args``/``results`` pointing at
the range's first element, and loops itself, so numba compiles the loop::

    @cfunc(range_signature(arg=np.float64, result=np.float64))
    def square_range(model, args, results, rng):
        begin, end = range_bounds(rng)
        for i in range(end - begin):
            if args[i] < 0:
                range_fail(rng, begin + i)     # the failing item's index
                return 1
            results[i] = args[i] * args[i]
        return 0

    with lk.Invoker(range_func=square_range, n_jobs=2) as inv: ...

This module imports numba (and NumPy); ``import lkparallel`` alone does not.
"""

from __future__ import annotations

from typing import Any, Tuple

import numba  # the top-level numba package (imports are absolute)
import numpy as np
from numba import types

import lkparallel as _lk

__all__ = [
    "TASK_DTYPE",
    "RANGE_DTYPE",
    "task_type",
    "range_type",
    "item_signature",
    "range_signature",
    "sp_signature",
    "buffer_append",
    "task_index",
    "task_seed",
    "task_worker",
    "range_bounds",
    "range_worker",
    "range_fail",
    "range_seed",
]

#: lk_task as a NumPy dtype (C layout: index, seed, worker, padding).
TASK_DTYPE = np.dtype([("index", np.uintp), ("seed", np.uint64), ("worker", np.uint32)], align=True)

#: lk_range as a NumPy dtype (C layout, LP64). Fields after ``worker`` are
#: the library's: use :func:`range_seed`, not them.
RANGE_DTYPE = np.dtype(
    [
        ("begin", np.uintp),
        ("end", np.uintp),
        ("failed", np.uintp),
        ("worker", np.uint32),
        ("seeds", np.uint32),
        ("seed_base", np.uint64),
        ("offset", np.uintp),
        ("stop_at", np.uintp),
        ("cancel_word", np.uintp),
        ("cancel_epoch", np.uint64),
    ],
    align=True,
)

assert TASK_DTYPE.itemsize == 24 and RANGE_DTYPE.itemsize == 72

#: numba's type of an lk_task (a Record); the item function gets a CPointer to it.
task_type = numba.from_dtype(TASK_DTYPE)
#: numba's type of an lk_range (a Record); the range function gets a CPointer to it.
range_type = numba.from_dtype(RANGE_DTYPE)


def _pointer(t: Any) -> Any:
    """voidptr for None, else a CPointer to the numba type of ``t`` (a numba
    type, or anything numpy.dtype accepts, structured dtypes included)."""
    if t is None:
        return types.voidptr
    if isinstance(t, types.Type):
        return t if isinstance(t, (types.CPointer, types.RawPointer)) else types.CPointer(t)
    return types.CPointer(numba.from_dtype(np.dtype(t)))


def item_signature(arg: Any = None, result: Any = None, model: Any = None) -> Any:
    """The numba signature of an item function (``lk_op_fn``):
    ``int32(model, arg, result, CPointer(task_type))``.

    ``arg``, ``result``, ``model``: the element type each pointer points to
    (a NumPy dtype or scalar type, a structured dtype, or a numba type), or
    None for ``voidptr``. With no arguments it is exactly
    ``int32(voidptr, voidptr, voidptr, CPointer(task_type))``."""
    return types.int32(_pointer(model), _pointer(arg), _pointer(result), types.CPointer(task_type))


def range_signature(arg: Any = None, result: Any = None, model: Any = None) -> Any:
    """The numba signature of a range function (``lk_range_fn``):
    ``int32(model, args, results, CPointer(range_type))``; ``args`` and
    ``results`` point at the range's first element (types as for
    :func:`item_signature`)."""
    return types.int32(_pointer(model), _pointer(arg), _pointer(result), types.CPointer(range_type))


def sp_signature(arg: Any = None) -> Any:
    """The numba signature of a run_sp function (``lk_sp_fn``):
    ``int32(arg, voidptr)``; the second argument is the ``lk_buffer *``
    to append the result bytes to, with :data:`buffer_append`."""
    return types.int32(_pointer(arg), types.voidptr)


#: ``lk_buffer_append(buf, data, len)``, callable from a numba function: in
#: a run_sp function, ``buffer_append(out, data_pointer, n_bytes)`` returns
#: 0 (LK_OK) or an lk_status.
buffer_append = _lk.library.lk_buffer_append


@numba.njit
def task_index(task: Any) -> int:
    """The item's index (``task->index``)."""
    return numba.carray(task, 1)[0].index


@numba.njit
def task_seed(task: Any) -> int:
    """The item's reproducible seed (``task->seed``)."""
    return numba.carray(task, 1)[0].seed


@numba.njit
def task_worker(task: Any) -> int:
    """Which worker runs the item, 0 .. n_jobs-1 (``task->worker``)."""
    return numba.carray(task, 1)[0].worker


@numba.njit
def range_bounds(rng: Any) -> Tuple[int, int]:
    """``(begin, end)``: this call's items are task indices begin .. end-1."""
    r = numba.carray(rng, 1)
    return r[0].begin, r[0].end


@numba.njit
def range_worker(rng: Any) -> int:
    """Which worker runs the range (``range->worker``)."""
    return numba.carray(rng, 1)[0].worker


@numba.njit
def range_fail(rng: Any, index: int) -> None:
    """Record ``index`` as the range's failing item (``range->failed``);
    then return its non-zero code, having written the results before it."""
    numba.carray(rng, 1)[0].failed = index


_derive_seed = _lk.library.lk_derive_seed


@numba.njit
def range_seed(rng: Any, index: int) -> Any:
    """The seed item ``index`` gets (``lk_range_seed``): the ``task->seed``
    an item function would see for it, 0 when seeds are off."""
    r = numba.carray(rng, 1)
    if r[0].seeds == 0:
        return np.uint64(0)
    return _derive_seed(r[0].seed_base, np.uint64(index))
