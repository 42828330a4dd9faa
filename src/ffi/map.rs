//! `lk_invoker_map`, `lk_invoker_map_with` and their options.

use std::ffi::c_void;

use super::invoker::{lookup, lk_invoker, AnyInvoker};
use super::{guard, guard_value, init_sized, lk_status, read_sized};
use crate::dist::{self, ResultsAt, Schedule};
use crate::error::{Error, Result};
use crate::invoker::{self, Items};
use crate::util::SendPtr;

/// Written to `lk_map_options.item_status[i]` for an item that never ran
/// (skipped after a failure in fail-fast mode, or after cancellation).
pub const LK_ITEM_SKIPPED: i32 = i32::MIN;
/// Written to `lk_map_options.item_status[i]` for an item whose worker
/// process died while running it (`LK_BACKEND_PROCESSES`).
pub const LK_ITEM_WORKER_DIED: i32 = i32::MIN + 1;
/// Written to `lk_map_options.item_status[i]` for an item that ran past the
/// invoker's `item_timeout_ms` (its worker process was killed and replaced).
pub const LK_ITEM_TIMED_OUT: i32 = i32::MIN + 2;

/// Options for `lk_invoker_map_with`. Initialise with
/// `lk_map_options_init(&opts, sizeof opts)`. Zero is the default for every field.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct lk_map_options {
    /// Set by `lk_map_options_init`; lets the struct grow.
    pub struct_size: u32,
    /// Must be 0.
    pub reserved1: u32,
    /// `task->index = index_base + i`, for maps done in pieces; seeds follow it.
    pub index_base: usize,
    /// `LK_SCHEDULE_BLOCK` (default), `LK_SCHEDULE_CYCLIC` or `LK_SCHEDULE_DYNAMIC`:
    /// how a distributed map splits items among ranks. Locally every
    /// schedule gives the same results.
    pub schedule: i32,
    /// `LK_RESULTS_ALL` (default), `LK_RESULTS_ROOT` or `LK_RESULTS_OWNED`
    /// (distributed maps; locally all results are always written).
    pub results_at: i32,
    /// 1: only rank 0's `args` are read (distributed maps); 0 default.
    pub args_at_root: i32,
    /// Must be 0.
    pub reserved0: i32,
    /// Optional array of `n_args` `int32_t`: after the map, entry `i` holds
    /// item i's callback return value (0 for success), `LK_ITEM_SKIPPED`,
    /// `LK_ITEM_WORKER_DIED` or `LK_ITEM_TIMED_OUT`. Written also when the
    /// map fails; that is its purpose.
    pub item_status: *mut i32,
}

const MAP_OPTIONS_MIN: usize = 8;

/// Distributed schedule: contiguous ranges per rank.
pub const LK_SCHEDULE_BLOCK: i32 = 0;
/// Distributed schedule: interleaved chunks.
pub const LK_SCHEDULE_CYCLIC: i32 = 1;
/// Distributed schedule: chunks claimed on demand.
pub const LK_SCHEDULE_DYNAMIC: i32 = 2;
/// Every rank gets every result.
pub const LK_RESULTS_ALL: i32 = 0;
/// Only rank 0 gets the results.
pub const LK_RESULTS_ROOT: i32 = 1;
/// Each rank keeps the results it computed.
pub const LK_RESULTS_OWNED: i32 = 2;

/// Check the arrays of a map and wrap them.
pub(crate) fn items(args: *const c_void, n_args: usize, arg_size: usize, results: *mut c_void, result_size: usize) -> Result<Items> {
    for (ptr, size, what) in [(args, arg_size, "args"), (results as *const c_void, result_size, "results")] {
        if size == 0 {
            continue;
        }
        let total = n_args
            .checked_mul(size)
            .filter(|&t| t <= isize::MAX as usize)
            .ok_or_else(|| Error::invalid(format!("{what}: {n_args} items of {size} bytes overflow")))?;
        if ptr.is_null() && n_args > 0 {
            return Err(Error::invalid(format!("{what} is NULL with a non-zero element size")));
        }
        if (ptr as usize).checked_add(total).is_none() {
            return Err(Error::invalid(format!("{what}: the array runs past the end of the address space")));
        }
    }
    Ok(Items { args: SendPtr::from_const(args.cast()), arg_size, results: SendPtr(results.cast()), result_size, n: n_args })
}

fn map(
    inv: *mut lk_invoker,
    (args, n_args, arg_size): (*const c_void, usize, usize),
    (results, result_size): (*mut c_void, usize),
    mopts: Result<dist::MapOptions>,
) -> Result<()> {
    let invoker = lookup(inv)?;
    if invoker::in_stream_io(invoker.local().core().id) {
        return Err(Error::Unsupported("a map on an invoker from inside the source or sink of its own stream".into()));
    }
    match &*invoker {
        AnyInvoker::Local(local) => {
            let m = mopts?;
            let opts = invoker::MapOptions { index_base: m.index_base, item_status: m.item_status, seed_base: None };
            local.map(items(args, n_args, arg_size, results, result_size)?, &opts)
        }
        AnyInvoker::Dist(d) => {
            // Only rank 0's arguments are read: the others need none.
            let args_elsewhere = matches!(&mopts, Ok(m) if m.args_at_root) && d.rank() > 0;
            let items = if args_elsewhere {
                items(std::ptr::null(), n_args, 0, results, result_size).map(|it| Items { arg_size, ..it })
            } else {
                items(args, n_args, arg_size, results, result_size)
            };
            d.map(items, mopts.as_ref().map_err(Clone::clone))
        }
    }
}

/// Call `func(model, args + i*arg_size, results + i*result_size, task)` once
/// for every `i < n_args` (a range invoker: its range function over
/// contiguous ranges of them); return when all are done. Result `i` always
/// belongs to argument `i`.
///
/// - `args`: `n_args` elements of `arg_size` bytes, read-only, owned by the
///   caller; may be NULL when `arg_size == 0` (then `func` gets a NULL `arg`)
///   or `n_args == 0`.
/// - `results`: `n_args` slots of `result_size` bytes, owned by the caller,
///   written by the callbacks; may be NULL when `result_size == 0` or
///   `n_args == 0`.
///
/// At most `n_jobs` callbacks of the invoker run at once. The calling thread
/// may run items itself. `n_args == 0` succeeds at once.
///
/// Returns `LK_OK`; `LK_ERR_INVALID` (unknown or dead handle, NULL array with
/// a non-zero size, a size product that overflows); `LK_ERR_CALLBACK` (a
/// callback returned non-zero: in fail-fast mode items not yet started are
/// skipped; `lk_last_error()` names the lowest failing index among the items
/// that ran, and its code); `LK_ERR_CANCELLED` (`lk_invoker_cancel` was
/// called during the map); `LK_ERR_WORKER_DIED` (process backend: a worker
/// died, or the pool's zygote; named in the message; it is replaced);
/// `LK_ERR_TIMEOUT` (process backend with `item_timeout_ms`: an item ran
/// too long, named in the message); `LK_ERR_SYSTEM` (process backend: the
/// shared memory could not be grown or mapped); `LK_ERR_UNSUPPORTED` (from
/// inside the source or sink of a stream on the same invoker). Result slots
/// of items that did not run are left as they were. The invoker stays
/// usable after any failure.
///
/// Thread-safety: several threads may map on one invoker at once; a
/// callback may map on any invoker, its own included, without deadlock.
///
/// A distributed invoker (made with a communicator): the call is collective
/// and means the same: every rank gets every result, and every task the
/// seed, of the single-process map (see `lk_map_options` for other
/// placements). Ranks that pass different counts, sizes or options all
/// return `LK_ERR_INVALID` before any result is written; a failure on any
/// rank gives every rank the same status and message (naming the rank);
/// `lk_invoker_cancel` on any rank cancels the map on all, within about a
/// millisecond when the communicator has `fetch_add`. Also `LK_ERR_COMM` (a
/// communicator operation failed; the invoker is broken from then on) and
/// `LK_ERR_UNSUPPORTED` (a distributed map from inside a callback, or from
/// a second thread while one is in flight on the same communicator). Call
/// it from one thread per rank, in the same order on every rank.
///
/// # Safety
/// `args` and `results` must be valid for `n_args` elements of their sizes
/// (or NULL as above) until the call returns.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_map(
    inv: *mut lk_invoker,
    args: *const c_void,
    n_args: usize,
    arg_size: usize,
    results: *mut c_void,
    result_size: usize,
) -> lk_status {
    guard(|| map(inv, (args, n_args, arg_size), (results, result_size), Ok(dist::MapOptions::default())))
}

/// Fill `opts` (of `size` bytes, normally `sizeof *opts`) with defaults and
/// record `size`. NULL `opts` or `size < 4`: does nothing. Thread-safe.
///
/// # Safety
/// `opts` must be NULL or point to `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn lk_map_options_init(opts: *mut lk_map_options, size: usize) {
    guard_value((), || {
        init_sized(
            opts,
            size,
            lk_map_options {
                struct_size: 0,
                reserved1: 0,
                index_base: 0,
                schedule: LK_SCHEDULE_BLOCK,
                results_at: LK_RESULTS_ALL,
                args_at_root: 0,
                reserved0: 0,
                item_status: std::ptr::null_mut(),
            },
        )
    })
}

fn map_options_from_c(o: &lk_map_options) -> Result<dist::MapOptions> {
    let schedule = match o.schedule {
        LK_SCHEDULE_BLOCK => Schedule::Block,
        LK_SCHEDULE_CYCLIC => Schedule::Cyclic,
        LK_SCHEDULE_DYNAMIC => Schedule::Dynamic,
        s => return Err(Error::invalid(format!("unknown schedule {s}"))),
    };
    let results_at = match o.results_at {
        LK_RESULTS_ALL => ResultsAt::All,
        LK_RESULTS_ROOT => ResultsAt::Root,
        LK_RESULTS_OWNED => ResultsAt::Owned,
        r => return Err(Error::invalid(format!("unknown results_at {r}"))),
    };
    if !(0..=1).contains(&o.args_at_root) {
        return Err(Error::invalid(format!("args_at_root must be 0 or 1, not {}", o.args_at_root)));
    }
    if o.reserved0 != 0 || o.reserved1 != 0 {
        return Err(Error::invalid("lk_map_options' reserved fields must be 0"));
    }
    Ok(dist::MapOptions { index_base: o.index_base, item_status: SendPtr(o.item_status), schedule, results_at, args_at_root: o.args_at_root == 1 })
}

/// `lk_invoker_map` with per-map options (see `lk_map_options`); `opts` NULL
/// means every default. Same ownership, statuses and thread-safety as
/// `lk_invoker_map`; also `LK_ERR_INVALID` for a bad `struct_size` or an
/// unknown option value. `opts->item_status`, when set, must hold `n_args`
/// entries and is written even when the map fails.
///
/// # Safety
/// As `lk_invoker_map`; `opts` must be NULL or point to
/// `opts->struct_size` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_map_with(
    inv: *mut lk_invoker,
    args: *const c_void,
    n_args: usize,
    arg_size: usize,
    results: *mut c_void,
    result_size: usize,
    opts: *const lk_map_options,
) -> lk_status {
    guard(|| {
        // A bad options struct is still taken to a distributed map's check,
        // so that every rank fails together.
        let mopts = if opts.is_null() {
            Ok(dist::MapOptions::default())
        } else {
            read_sized(opts, MAP_OPTIONS_MIN, "lk_map_options").and_then(|o| map_options_from_c(&o))
        };
        map(inv, (args, n_args, arg_size), (results, result_size), mopts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header's constants are the core's (cbindgen needs literals).
    #[test]
    fn item_codes_match_the_core() {
        assert_eq!(LK_ITEM_SKIPPED, invoker::ITEM_SKIPPED);
        assert_eq!(LK_ITEM_WORKER_DIED, invoker::ITEM_WORKER_DIED);
        assert_eq!(LK_ITEM_TIMED_OUT, invoker::ITEM_TIMED_OUT);
    }
}
