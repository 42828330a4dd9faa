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
    /// map fails; that is its purpose. With `LK_RESULTS_OWNED_COMPACT` it
    /// has `owned_capacity` entries, slot for slot with `results`. Under
    /// `LK_RESULTS_ROOT` only rank 0's counts: the other ranks may pass
    /// NULL (whether they do is not compared).
    pub item_status: *mut i32,
    /// `LK_RESULTS_OWNED_COMPACT`: how many slots of `result_size` bytes
    /// this rank's `results` has (and `item_status` and `owned_index`, when
    /// set). With `LK_SCHEDULE_BLOCK` or `_CYCLIC` it must be at least the
    /// items this rank owns (`lk_invoker_owned_ranges`); with
    /// `LK_SCHEDULE_DYNAMIC` a rank claims work only while it has room, and
    /// the ranks' capacities must add up to at least `n_args`. Each rank
    /// may pass its own. Ignored by the other placements.
    pub owned_capacity: usize,
    /// `LK_RESULTS_OWNED_COMPACT`, optional (NULL: not written): an array of
    /// `owned_capacity` `size_t` that receives, for each slot this rank
    /// filled, its item's task index (`index_base` applied), in increasing
    /// order. Written whenever the map ran, also when it failed.
    pub owned_index: *mut usize,
    /// `LK_RESULTS_OWNED_COMPACT`, optional (NULL: not written): receives the
    /// number of slots this rank filled (its share; with DYNAMIC, what it
    /// claimed). Written whenever the map ran, also when it failed.
    pub owned_count: *mut usize,
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
/// Each rank keeps the results it computed, at their places in its full
/// `results` array; nothing is exchanged.
pub const LK_RESULTS_OWNED: i32 = 2;
/// Each rank keeps the results it computed, packed in index order at the
/// start of its `results`, an array of `owned_capacity` slots: memory per
/// rank follows its share. `owned_index` learns each slot's task index,
/// `owned_count` how many slots were filled. A local invoker owns every
/// item: slot `k` is item `k`.
pub const LK_RESULTS_OWNED_COMPACT: i32 = 3;

/// A range of task indices, `begin .. end-1`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub struct lk_index_range {
    /// The first index.
    pub begin: usize,
    /// One past the last index.
    pub end: usize,
}

/// Check one array of `count` elements of `size` bytes: its size fits,
/// and it is not NULL unless it may be (or holds nothing).
fn check_array(ptr: *const c_void, count: usize, size: usize, what: &str, may_be_null: bool) -> Result<()> {
    if size == 0 {
        return Ok(());
    }
    let total = count
        .checked_mul(size)
        .filter(|&t| t <= isize::MAX as usize)
        .ok_or_else(|| Error::invalid(format!("{what}: {count} items of {size} bytes overflow")))?;
    if ptr.is_null() && count > 0 && !may_be_null {
        return Err(Error::invalid(format!("{what} is NULL with a non-zero element size")));
    }
    if (ptr as usize).checked_add(total).is_none() {
        return Err(Error::invalid(format!("{what}: the array runs past the end of the address space")));
    }
    Ok(())
}

/// Check the arrays of a map and wrap them.
pub(crate) fn items(args: *const c_void, n_args: usize, arg_size: usize, results: *mut c_void, result_size: usize) -> Result<Items> {
    check_array(args, n_args, arg_size, "args", false)?;
    check_array(results, n_args, result_size, "results", false)?;
    Ok(Items { args: SendPtr::from_const(args.cast()), arg_size, results: SendPtr(results.cast()), result_size, n: n_args })
}

/// A distributed map's arrays on this rank: what it must pass depends on
/// the placement (the others are NULL or compact).
fn dist_items(
    rank: usize,
    m: &dist::MapOptions,
    (args, n_args, arg_size): (*const c_void, usize, usize),
    (results, result_size): (*mut c_void, usize),
) -> Result<Items> {
    // Only rank 0's arguments are read: the others need none.
    let args = if m.args_at_root && rank > 0 { std::ptr::null() } else { args };
    check_array(args, n_args, arg_size, "args", m.args_at_root && rank > 0)?;
    match m.results_at {
        ResultsAt::OwnedCompact => check_array(results, m.owned.capacity, result_size, "results (owned_capacity slots)", false)?,
        // Rank 0 gathers; another rank that passes no array gets room of the library's.
        ResultsAt::Root => check_array(results, n_args, result_size, "results", rank > 0)?,
        _ => check_array(results, n_args, result_size, "results", false)?,
    }
    Ok(Items { args: SendPtr::from_const(args.cast()), arg_size, results: SendPtr(results.cast()), result_size, n: n_args })
}

/// A local invoker owns every item: a compact OWNED map is a plain map
/// whose slot `k` is item `k`.
fn local_compact(m: &dist::MapOptions, n_args: usize) -> Result<()> {
    if m.owned.capacity < n_args {
        return Err(Error::invalid(format!("owned_capacity is {}, but a local invoker owns all {n_args} items", m.owned.capacity)));
    }
    Ok(())
}

fn name_local_slots(m: &dist::MapOptions, n_args: usize) {
    if !m.owned.index.is_null() {
        // SAFETY: `owned_index` has `owned_capacity >= n_args` entries (the
        // caller's promise, and `local_compact`).
        let slots = unsafe { std::slice::from_raw_parts_mut(m.owned.index.0, n_args) };
        for (k, slot) in slots.iter_mut().enumerate() {
            *slot = m.index_base.wrapping_add(k);
        }
    }
    if !m.owned.count.is_null() {
        // SAFETY: the caller's `owned_count`, a valid `size_t`.
        unsafe { *m.owned.count.0 = n_args };
    }
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
            if m.results_at != ResultsAt::OwnedCompact {
                return local.map(items(args, n_args, arg_size, results, result_size)?, &opts);
            }
            local_compact(&m, n_args)?;
            let r = local.map(items(args, n_args, arg_size, results, result_size)?, &opts);
            name_local_slots(&m, n_args);
            r
        }
        AnyInvoker::Dist(d) => {
            let items = match &mopts {
                Ok(m) => dist_items(d.rank(), m, (args, n_args, arg_size), (results, result_size)),
                Err(e) => Err(e.clone()),
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
/// of items that did not run are left as they were. A failing item's slot
/// (on the rank that ran it) holds what its callback wrote there before
/// failing; where it wrote nothing, the threads backend leaves the slot as
/// it was, and on the process backend its bytes are unspecified (results
/// travel through shared memory the pool reuses). The invoker stays usable
/// after any failure.
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
                owned_capacity: 0,
                owned_index: std::ptr::null_mut(),
                owned_count: std::ptr::null_mut(),
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
        LK_RESULTS_OWNED_COMPACT => ResultsAt::OwnedCompact,
        r => return Err(Error::invalid(format!("unknown results_at {r}"))),
    };
    if !(0..=1).contains(&o.args_at_root) {
        return Err(Error::invalid(format!("args_at_root must be 0 or 1, not {}", o.args_at_root)));
    }
    if o.reserved0 != 0 || o.reserved1 != 0 {
        return Err(Error::invalid("lk_map_options' reserved fields must be 0"));
    }
    let owned = dist::Owned { capacity: o.owned_capacity, index: SendPtr(o.owned_index), count: SendPtr(o.owned_count) };
    Ok(dist::MapOptions { index_base: o.index_base, item_status: SendPtr(o.item_status), schedule, results_at, args_at_root: o.args_at_root == 1, owned })
}

/// `lk_invoker_map` with per-map options (see `lk_map_options`); `opts` NULL
/// means every default. Same ownership, statuses and thread-safety as
/// `lk_invoker_map`; also `LK_ERR_INVALID` for a bad `struct_size` or an
/// unknown option value. `opts->item_status`, when set, must hold `n_args`
/// entries and is written even when the map fails.
///
/// On a distributed invoker, what each rank passes follows the placement,
/// so that memory per rank follows its share:
///
/// - `args_at_root`: ranks other than 0 may pass `args` NULL. (With
///   `LK_SCHEDULE_DYNAMIC` every rank still receives every argument,
///   since any rank may claim any chunk.)
/// - `LK_RESULTS_ROOT`: ranks other than 0 may pass `results` (and
///   `item_status`) NULL; the library then keeps their share in memory of
///   its own for the map's duration. A non-NULL array has `n_args` slots,
///   and receives the results that rank computed.
/// - `LK_RESULTS_OWNED_COMPACT`: `results` (and `item_status`, and
///   `owned_index`) have `owned_capacity` slots; this rank's results are
///   packed at their start, in index order. A capacity below this rank's
///   BLOCK or CYCLIC share, or DYNAMIC capacities that add up to fewer than
///   `n_args`, are `LK_ERR_INVALID` on every rank.
/// - `LK_RESULTS_ALL`, `LK_RESULTS_OWNED`: full arrays of `n_args` slots.
///
/// A progress callback (`lk_invoker_options.progress`) on any rank sees
/// done and total of the whole map, across ranks, a few times a second
/// (with the table's `fetch_add_at`; without it, its own rank's items until
/// the end); a rank whose share is done goes on reporting until every
/// rank's is. After every distributed map rank 0 logs, at info level
/// (target `lkparallel::dist`), each rank's item count and busy time, and
/// how far the busiest rank is above the mean: a skewed BLOCK map shows
/// there.
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

/// Which items this rank will run in a distributed map of `n_args` items
/// with `opts` (its schedule and `index_base`; NULL: the defaults), before
/// the map: for example to load or allocate only those. With
/// `LK_RESULTS_OWNED_COMPACT` they are the items whose results this rank
/// keeps, slot after slot, in this order.
///
/// - `ranges`: receives up to `capacity` ranges of task indices
///   (`index_base` applied), in increasing order, none empty, adjacent ones
///   merged (BLOCK: at most one; CYCLIC: about 64). May be NULL when
///   `capacity` is 0 (to learn the count first).
/// - `n_ranges`: optional (NULL: not written): the number of ranges, also
///   when it exceeds `capacity`.
/// - `n_items`: optional: the number of items in them.
///
/// Not collective, and it calls no communicator operation: every rank
/// computes the same plan its maps use. On a local invoker the one range
/// is every item. Outputs are written only on success.
///
/// Returns `LK_OK`; `LK_ERR_INVALID` (unknown or dead handle, NULL `ranges`
/// with a non-zero `capacity`, a bad `opts`); `LK_ERR_UNSUPPORTED` for
/// `LK_SCHEDULE_DYNAMIC`, where which items a rank runs is known only after
/// the map (see `lk_map_options.owned_index`). Thread-safe.
///
/// # Safety
/// `opts` as for `lk_invoker_map_with`; `ranges` must be NULL or hold
/// `capacity` writable elements; `n_ranges` and `n_items` must be NULL or
/// point to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_owned_ranges(
    inv: *mut lk_invoker,
    n_args: usize,
    opts: *const lk_map_options,
    ranges: *mut lk_index_range,
    capacity: usize,
    n_ranges: *mut usize,
    n_items: *mut usize,
) -> lk_status {
    guard(|| {
        let m = if opts.is_null() {
            dist::MapOptions::default()
        } else {
            map_options_from_c(&read_sized(opts, MAP_OPTIONS_MIN, "lk_map_options")?)?
        };
        if ranges.is_null() && capacity > 0 {
            return Err(Error::invalid("ranges is NULL with a non-zero capacity"));
        }
        let invoker = lookup(inv)?;
        let owned = match &*invoker {
            AnyInvoker::Local(_) => std::iter::once(0..n_args).filter(|r| !r.is_empty()).collect(),
            AnyInvoker::Dist(d) => d.owned_ranges(n_args, m.schedule)?,
        };
        for (k, r) in owned.iter().take(capacity).enumerate() {
            let range = lk_index_range { begin: m.index_base.wrapping_add(r.start), end: m.index_base.wrapping_add(r.end) };
            // SAFETY: `ranges` holds `capacity` elements (the caller's promise), and k < capacity.
            unsafe { ranges.add(k).write(range) };
        }
        if !n_ranges.is_null() {
            // SAFETY: the caller's promise: a writable `size_t`.
            unsafe { n_ranges.write(owned.len()) };
        }
        if !n_items.is_null() {
            // SAFETY: as for `n_ranges`.
            unsafe { n_items.write(owned.iter().map(|r| r.len()).sum()) };
        }
        Ok(())
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
