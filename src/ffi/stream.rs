//! `lk_invoker_stream`: batches bigger than memory, in order, in a window.

use std::ffi::c_void;

use super::invoker::{lookup, lk_invoker, AnyInvoker};
use super::{guard, guard_value, init_sized, lk_status, read_sized};
use crate::error::{Error, Result};
use crate::invoker::{self, stream_io, StreamOptions};
use crate::util::SendPtr;

/// Fill up to `capacity` arguments (of the stream's `arg_size` bytes each)
/// at `args`, and set `*n_filled` (0: the stream has ended). Return non-zero
/// to fail the stream with that code (`*n_filled` is then ignored). Called
/// by one thread at a time, in order, with `capacity >= 1`; the items it
/// hands over get consecutive indices from `index_base`.
#[allow(non_camel_case_types)]
pub type lk_source_fn = Option<unsafe extern "C" fn(user: *mut c_void, args: *mut c_void, capacity: usize, n_filled: *mut usize) -> i32>;

/// Receive the results of items `first .. first + n - 1` (task indices), in
/// index order, with each item's outcome (as `lk_map_options.item_status`;
/// never NULL). Both arrays are valid only during the call. Return non-zero
/// to fail the stream with that code. Called by one thread at a time,
/// strictly in index order, with `n >= 1`.
#[allow(non_camel_case_types)]
pub type lk_sink_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, first: usize, results: *const c_void, item_status: *const i32, n: usize) -> i32>;

/// Options for `lk_invoker_stream`. Initialise with
/// `lk_stream_options_init(&opts, sizeof opts)`. Zero is the default for every field.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct lk_stream_options {
    /// Set by `lk_stream_options_init`; lets the struct grow.
    pub struct_size: u32,
    /// Must be 0.
    pub reserved0: u32,
    /// The most items sourced but not yet sunk (the items handed to
    /// `source` as capacity count too). 0: the library chooses a few chunks
    /// per worker, at most 64 MiB of arguments and results. A window above
    /// 256 MiB of arguments and results (or above the automatic one, where
    /// that is larger) is used as that many items: memory stays bounded,
    /// and the window is never exceeded. The ring holds whole
    /// `lk_invoker_options.grain`s (a grain larger than the window is
    /// taken as the window).
    pub window: usize,
    /// The first item's `task->index`.
    pub index_base: usize,
}

/// `struct_size` must cover `window`.
const STREAM_OPTIONS_MIN: usize = 16;

/// Fill `opts` (of `size` bytes, normally `sizeof *opts`) with defaults and
/// record `size`. NULL `opts` or `size < 4`: does nothing. Thread-safe.
///
/// # Safety
/// `opts` must be NULL or point to `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn lk_stream_options_init(opts: *mut lk_stream_options, size: usize) {
    guard_value((), || init_sized(opts, size, lk_stream_options { struct_size: 0, reserved0: 0, window: 0, index_base: 0 }))
}

/// Stream items through the invoker: `source` fills arguments, the workers
/// compute, `sink` receives the results in index order; the library's
/// memory stays O(window × (arg_size + result_size)) whatever the length.
/// With n_jobs >= 2 the workers compute while `source` and `sink` run (on
/// the calling thread); with n_jobs 1 everything takes turns on it. The
/// stream is one map in the invoker's map order: item `index_base + i` gets
/// the `task->seed` that index gets in a map in that place. Progress counts
/// done items against the items sourced so far. Works on both backends and
/// on range invokers (the process backend's workers read and write the
/// window in shared memory).
///
/// - `source`, `sink`: must not be NULL; `user` is passed to both, untouched.
/// - `arg_size`, `result_size`: bytes per argument and result (0: NULL is
///   passed, as for maps).
/// - `opts`: NULL means every default; read, not kept.
///
/// Every sourced item reaches `sink` exactly once unless the stream fails.
/// Failures: under fail-fast the stream fails at the lowest failing index
/// (a callback's non-zero return, or its worker's death): `sink` has
/// received every item below it (those still run), not the failing item nor
/// any after it, and the call returns `LK_ERR_CALLBACK` (or
/// `LK_ERR_WORKER_DIED`, `LK_ERR_TIMEOUT`) naming the index. Under
/// keep-going every item reaches `sink` with its status, and the call
/// returns the status a map would, naming the lowest failing index. A
/// non-zero `source` or `sink` return fails the stream with `LK_ERR_CALLBACK`
/// naming `source` or `sink` and the code; filling more than `capacity` is
/// `LK_ERR_INVALID`. Cancellation returns `LK_ERR_CANCELLED`. When failures
/// coincide, the lowest index wins, then source, then sink. Neither `source`
/// nor `sink` is called after the call returns, or again after the stream
/// has failed.
///
/// Returns also `LK_ERR_INVALID` (NULL or dead handle, NULL `source` or
/// `sink`, a window too large to allocate's size product overflow, a bad
/// `struct_size` or reserved field), `LK_ERR_UNSUPPORTED` (a distributed
/// invoker; a map or stream on the same invoker from inside `source` or
/// `sink`), `LK_ERR_SYSTEM` (the window's memory could not be had).
/// `source` and `sink` may call `lk_invoker_cancel` and use other invokers.
/// Thread-safe as `lk_invoker_map`.
///
/// # Safety
/// `source` and `sink` must be NULL or functions of their types; `opts`
/// NULL or pointing to `opts->struct_size` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_stream(
    inv: *mut lk_invoker,
    source: lk_source_fn,
    sink: lk_sink_fn,
    user: *mut c_void,
    arg_size: usize,
    result_size: usize,
    opts: *const lk_stream_options,
) -> lk_status {
    guard(|| {
        let invoker = lookup(inv)?;
        let source = source.ok_or_else(|| Error::invalid("source is NULL"))?;
        let sink = sink.ok_or_else(|| Error::invalid("sink is NULL"))?;
        let opts = if opts.is_null() { StreamOptions::default() } else { options_from_c(&read_sized(opts, STREAM_OPTIONS_MIN, "lk_stream_options")?)? };
        let local = match &*invoker {
            AnyInvoker::Local(local) => local,
            AnyInvoker::Dist(_) => return Err(Error::Unsupported("streams on a distributed invoker (map in pieces with index_base instead)".into())),
        };
        if invoker::in_stream_io(local.core().id) {
            return Err(Error::Unsupported("a stream on an invoker from inside the source or sink of its own stream".into()));
        }
        let mut io = stream_io(source, sink, SendPtr(user));
        local.stream(&mut io, (arg_size, result_size), &opts)
    })
}

fn options_from_c(o: &lk_stream_options) -> Result<StreamOptions> {
    if o.reserved0 != 0 {
        return Err(Error::invalid("lk_stream_options.reserved0 must be 0"));
    }
    Ok(StreamOptions { window: o.window, index_base: o.index_base })
}
