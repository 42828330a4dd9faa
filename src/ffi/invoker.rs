//! `lk_invoker_*`: the C face of `crate::invoker`.

use std::ffi::c_void;

use super::comm::lk_comm;
use super::{guard, guard_quiet, guard_value, init_sized, lk_status, out, read_sized};
use crate::dist::{CommSpec, ResultsAt, Schedule};
use crate::error::{Error, Result};
use crate::handles::Registry;
use crate::invoker::{
    resolve_n_jobs, Backend, ErrorMode, Invoker, Items, MapOptions, Op, Options, ProgressFn, Task, WorkerInitFn,
};
use crate::util::SendPtr;

/// An invoker: a model, an operation and the workers that apply it.
/// Opaque; the pointer is a handle, looked up on every call.
#[allow(non_camel_case_types)]
pub struct lk_invoker {
    _private: [u8; 0],
}

/// The operation a map applies to each item: read `model` and `arg`, write
/// `result`, return 0 on success and any other value to fail the item.
///
/// Called on a worker thread (or the map's calling thread, or a worker
/// process), possibly concurrently with other items of the same map: it must
/// be safe to call from several threads at once for distinct items. `arg` is
/// NULL when the map's `arg_size` is 0, `result` NULL when `result_size` is 0.
/// `task` is valid for the duration of the call.
#[allow(non_camel_case_types)]
pub type lk_op_fn =
    Option<unsafe extern "C" fn(model: *const c_void, arg: *const c_void, result: *mut c_void, task: *const Task) -> i32>;

/// Progress of a map: `done` of `total` items finished (run or skipped).
/// Called on the map's calling thread, at most about 4 times a second, and
/// once when the map ends. It must not call `lk_invoker_map` on the same invoker.
#[allow(non_camel_case_types)]
pub type lk_progress_fn = Option<unsafe extern "C" fn(done: usize, total: usize, user: *mut c_void)>;

/// Called once for each worker (0 .. n_jobs-1) before that worker runs its
/// first item, on the thread (or in the process) that is about to run it;
/// for example to limit a BLAS library's threads.
#[allow(non_camel_case_types)]
pub type lk_worker_init_fn = Option<unsafe extern "C" fn(worker: u32, user: *mut c_void)>;

/// Which kind of workers an invoker has (an `int32_t`, so unknown values can be refused).
#[allow(non_camel_case_types)]
pub type lk_backend = i32;
/// Workers are threads; the model is shared in place.
pub const LK_BACKEND_THREADS: lk_backend = 0;
/// Workers are forked processes; the model is shared copy-on-write as it was
/// when the invoker was made (replacement workers too). For callbacks that
/// are not thread-safe or may crash: a worker that dies fails only its item
/// (`LK_ERR_WORKER_DIED`) and is replaced. Arguments and results must be
/// plain data (or pointers into memory that existed, unchanged, when the
/// invoker was made); what a callback writes outside its result slot stays
/// in the worker. Each map copies the arguments into shared memory and the
/// results back. Maps on one process invoker take turns. Linux only.
pub const LK_BACKEND_PROCESSES: lk_backend = 1;

/// What a map does when a callback fails (an `int32_t`).
#[allow(non_camel_case_types)]
pub type lk_error_mode = i32;
/// Default: stop at the first failure; items not yet started are skipped.
pub const LK_ERRORS_FAIL_FAST: lk_error_mode = 0;
/// Run every item even when some fail; the map still returns
/// `LK_ERR_CALLBACK` naming the lowest failing index. Pair it with
/// `lk_map_options.item_status` to learn every item's outcome.
pub const LK_ERRORS_KEEP_GOING: lk_error_mode = 1;

/// What `task->seed` holds (an `int32_t`).
#[allow(non_camel_case_types)]
pub type lk_seeds = i32;
/// Default: each item's reproducible seed (see `lk_derive_seed`).
pub const LK_SEEDS_PER_ITEM: lk_seeds = 0;
/// `task->seed` is 0: for callbacks that never read it, each item skips
/// the seed's 64-bit mix (about 1 ns; it matters only for items that
/// themselves take a few ns).
pub const LK_SEEDS_OFF: lk_seeds = 1;

/// Written to `lk_map_options.item_status[i]` for an item that never ran
/// (skipped after a failure in fail-fast mode, or after cancellation).
pub const LK_ITEM_SKIPPED: i32 = i32::MIN;
/// Written to `lk_map_options.item_status[i]` for an item whose worker
/// process died while running it (`LK_BACKEND_PROCESSES`).
pub const LK_ITEM_WORKER_DIED: i32 = i32::MIN + 1;

/// Options for `lk_invoker_new_with`. Initialise with
/// `lk_invoker_options_init(&opts, sizeof opts)`, then set fields. Zero is
/// the default for every field.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct lk_invoker_options {
    /// Set by `lk_invoker_options_init`; lets the struct grow.
    pub struct_size: u32,
    /// As for `lk_invoker_new`: 0 default, -1 every usable CPU, 1 inline, n > 1 a pool.
    pub n_jobs: i32,
    /// `LK_BACKEND_THREADS` (default) or `LK_BACKEND_PROCESSES`.
    pub backend: lk_backend,
    /// `LK_ERRORS_FAIL_FAST` (default) or `LK_ERRORS_KEEP_GOING`.
    pub error_mode: lk_error_mode,
    /// Optional progress callback for every map of this invoker.
    pub progress: lk_progress_fn,
    /// Passed to `progress` as `user`.
    pub progress_user: *mut c_void,
    /// Optional per-worker initializer.
    pub worker_init: lk_worker_init_fn,
    /// Passed to `worker_init` as `user`.
    pub worker_init_user: *mut c_void,
    /// `LK_BACKEND_PROCESSES`: replace a worker process after it has run this
    /// many items, between items (0: never). Bounds leaks in long batches.
    pub recycle_after_items: u64,
    /// `LK_BACKEND_PROCESSES`: replace a worker process, between items, once
    /// its resident memory exceeds this many bytes (0: never).
    pub recycle_above_rss: u64,
    /// A communicator (`lk_comm_new`, `lk_mpi_comm_new`), or NULL (default):
    /// local, as before. With one, `lk_invoker_new_with` and every map on the
    /// invoker are collective calls, `n_jobs` counts threads per rank (0: the
    /// usable CPUs divided among the ranks that share them), and the process
    /// backend is `LK_ERR_UNSUPPORTED`. Borrowed: the invoker keeps the
    /// communicator alive until it is shut down.
    pub comm: *mut lk_comm,
    /// `LK_SEEDS_PER_ITEM` (default) or `LK_SEEDS_OFF`.
    pub seeds: lk_seeds,
}

/// The fields API.md fixes: a struct this short is still accepted.
const INVOKER_OPTIONS_MIN: usize = 12;

/// Options for `lk_invoker_map_with`. Initialise with
/// `lk_map_options_init(&opts, sizeof opts)`. Zero is the default for every field.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct lk_map_options {
    /// Set by `lk_map_options_init`; lets the struct grow.
    pub struct_size: u32,
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
    /// item i's callback return value (0 for success), `LK_ITEM_SKIPPED`, or
    /// `LK_ITEM_WORKER_DIED`.
    /// Written also when the map fails; that is its purpose.
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

pub(crate) static INVOKERS: Registry<Invoker> = Registry::new();

fn handle_of(inv: *mut lk_invoker) -> usize {
    inv as usize
}

fn lookup(inv: *mut lk_invoker) -> Result<crate::handles::Guard<'static, Invoker>> {
    if inv.is_null() {
        return Err(Error::invalid("invoker is NULL"));
    }
    INVOKERS
        .get(handle_of(inv))
        .ok_or_else(|| Error::invalid("unknown or dead invoker handle (shut down, or made by another process)"))
}

fn make(model: *const c_void, func: lk_op_fn, opts: Options, out_ptr: *mut *mut lk_invoker) -> Result<()> {
    let out_ref = out(out_ptr, "out")?;
    let func = func.ok_or_else(|| Error::invalid("func is NULL"))?;
    crate::child::watch_forks();
    let invoker = Invoker::new(Op { func, model: SendPtr::from_const(model) }, opts)?;
    let handle = INVOKERS
        .insert(Box::new(invoker))
        .ok_or_else(|| Error::invalid("too many live invokers (over a million)"))?;
    *out_ref = handle as *mut lk_invoker;
    Ok(())
}

/// Make an invoker that applies `func` to `model` and the items of each map.
///
/// - `model`: opaque to the library, passed to every call of `func`; may be
///   NULL. The caller keeps ownership and must keep it valid until
///   `lk_invoker_shutdown` returns.
/// - `func`: the operation; must not be NULL.
/// - `n_jobs`: 0 means the default, `lk_proc_count(2, 4, 0)`; -1 every CPU
///   this process may use; 1 runs each map in order on its calling thread
///   (no threads); n > 1 a pool of exactly n workers. Below -1, or above 4096:
///   `LK_ERR_INVALID`.
/// - `out`: receives the handle, only on success.
///
/// Returns `LK_OK`; `LK_ERR_INVALID` (NULL `func` or `out`, bad `n_jobs`);
/// `LK_ERR_SYSTEM` (threads could not be started). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_new(
    model: *const c_void,
    func: lk_op_fn,
    n_jobs: i32,
    out: *mut *mut lk_invoker,
) -> lk_status {
    guard(|| make(model, func, Options::new(resolve_n_jobs(n_jobs)?), out))
}

/// Fill `opts` (of `size` bytes, normally `sizeof *opts`) with defaults and
/// record `size` in `struct_size`, so a program built against an older,
/// smaller struct keeps working. NULL `opts` or `size < 4`: does nothing.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_options_init(opts: *mut lk_invoker_options, size: usize) {
    guard_value((), || {
        init_sized(
            opts,
            size,
            lk_invoker_options {
                struct_size: 0,
                n_jobs: 0,
                backend: LK_BACKEND_THREADS,
                error_mode: LK_ERRORS_FAIL_FAST,
                progress: None,
                progress_user: std::ptr::null_mut(),
                worker_init: None,
                worker_init_user: std::ptr::null_mut(),
                recycle_after_items: 0,
                recycle_above_rss: 0,
                comm: std::ptr::null_mut(),
                seeds: LK_SEEDS_PER_ITEM,
            },
        )
    })
}

fn options_from_c(o: &lk_invoker_options) -> Result<Options> {
    let mut opts = Options::new(resolve_n_jobs(o.n_jobs)?);
    opts.backend = match o.backend {
        LK_BACKEND_THREADS => Backend::Threads,
        LK_BACKEND_PROCESSES => Backend::Processes,
        b => return Err(Error::invalid(format!("unknown backend {b}"))),
    };
    opts.error_mode = match o.error_mode {
        LK_ERRORS_FAIL_FAST => ErrorMode::FailFast,
        LK_ERRORS_KEEP_GOING => ErrorMode::KeepGoing,
        m => return Err(Error::invalid(format!("unknown error_mode {m}"))),
    };
    opts.item_seeds = match o.seeds {
        LK_SEEDS_PER_ITEM => true,
        LK_SEEDS_OFF => false,
        m => return Err(Error::invalid(format!("unknown seeds mode {m}"))),
    };
    opts.progress = o.progress.map(|f| (f as ProgressFn, SendPtr(o.progress_user)));
    opts.worker_init = o.worker_init.map(|f| (f as WorkerInitFn, SendPtr(o.worker_init_user)));
    opts.recycle_after_items = o.recycle_after_items;
    opts.recycle_above_rss = o.recycle_above_rss;
    if !o.comm.is_null() {
        super::comm::lookup(o.comm)?;
        opts.comm = Some(CommSpec { handle: o.comm as usize, default_threads: o.n_jobs == 0 });
    }
    Ok(opts)
}

/// Make an invoker with options (see `lk_invoker_options`); otherwise as
/// `lk_invoker_new`. `opts` NULL means every default; it is read, not kept.
///
/// Returns `LK_OK`; `LK_ERR_INVALID` (NULL `func` or `out`; `struct_size`
/// below 12 or describing unknown non-zero fields; bad `n_jobs`, `backend`,
/// `error_mode` or `seeds`); `LK_ERR_UNSUPPORTED` (a backend this build or platform
/// lacks); `LK_ERR_SYSTEM` (threads, processes or shared memory could not
/// be had). With `LK_BACKEND_PROCESSES`, `n_jobs` 1 means one worker
/// process (the isolation is kept), and the worker processes are forked
/// here, from a snapshot of the process as it is now. `*out` is written
/// only on success. Thread-safe.
///
/// With `opts->comm` (a distributed invoker) the call is collective: every
/// rank makes its invoker together, and all take rank 0's seeds. Then also
/// `LK_ERR_UNSUPPORTED` on every rank when any rank asks for the process
/// backend, or on a rank that calls from inside a callback;
/// `LK_ERR_INVALID` on every rank when the ranks' `error_mode`s or `seeds` differ;
/// `LK_ERR_COMM` when a communicator operation fails.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_new_with(
    model: *const c_void,
    func: lk_op_fn,
    opts: *const lk_invoker_options,
    out: *mut *mut lk_invoker,
) -> lk_status {
    guard(|| {
        let opts = if opts.is_null() {
            Options::new(resolve_n_jobs(0)?)
        } else {
            options_from_c(&read_sized(opts, INVOKER_OPTIONS_MIN, "lk_invoker_options")?)?
        };
        make(model, func, opts, out)
    })
}

/// Check the arrays of a map and wrap them.
fn items(args: *const c_void, n_args: usize, arg_size: usize, results: *mut c_void, result_size: usize) -> Result<Items> {
    for (ptr, size, what) in [(args as *const c_void, arg_size, "args"), (results as *const c_void, result_size, "results")] {
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
    Ok(Items {
        args: SendPtr::from_const(args.cast()),
        arg_size,
        results: SendPtr(results.cast()),
        result_size,
        n: n_args,
    })
}

fn map(
    inv: *mut lk_invoker,
    (args, n_args, arg_size): (*const c_void, usize, usize),
    (results, result_size): (*mut c_void, usize),
    mopts: Result<MapOptions>,
) -> Result<()> {
    let invoker = lookup(inv)?;
    // Distributed, with only rank 0's arguments read: the others need none.
    let args_elsewhere = matches!(&mopts, Ok(m) if m.args_at_root) && invoker.comm_rank().is_some_and(|r| r > 0);
    let items = if args_elsewhere {
        items(std::ptr::null(), n_args, 0, results, result_size).map(|it| Items { arg_size, ..it })
    } else {
        items(args, n_args, arg_size, results, result_size)
    };
    invoker.map_checked(items, mopts)
}

/// Call `func(model, args + i*arg_size, results + i*result_size, task)` once
/// for every `i < n_args`; return when all are done. Result `i` always
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
/// died, named in the message; it is replaced). Result slots of items that
/// did not run are left as they were. The invoker stays usable after any failure.
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
/// `lk_invoker_cancel` on any rank cancels the map on all. Also
/// `LK_ERR_COMM` (a communicator operation failed; the invoker is broken
/// from then on) and `LK_ERR_UNSUPPORTED` (a distributed map from inside a
/// callback, or from a second thread while one is in flight on the same
/// communicator). Call it from one thread per rank, in the same order on
/// every rank.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_map(
    inv: *mut lk_invoker,
    args: *const c_void,
    n_args: usize,
    arg_size: usize,
    results: *mut c_void,
    result_size: usize,
) -> lk_status {
    guard(|| map(inv, (args, n_args, arg_size), (results, result_size), Ok(MapOptions::default())))
}

/// Fill `opts` (of `size` bytes, normally `sizeof *opts`) with defaults and
/// record `size`. NULL `opts` or `size < 4`: does nothing. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn lk_map_options_init(opts: *mut lk_map_options, size: usize) {
    guard_value((), || {
        init_sized(
            opts,
            size,
            lk_map_options {
                struct_size: 0,
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

fn map_options_from_c(o: &lk_map_options) -> Result<MapOptions> {
    if !(LK_SCHEDULE_BLOCK..=LK_SCHEDULE_DYNAMIC).contains(&o.schedule) {
        return Err(Error::invalid(format!("unknown schedule {}", o.schedule)));
    }
    if !(LK_RESULTS_ALL..=LK_RESULTS_OWNED).contains(&o.results_at) {
        return Err(Error::invalid(format!("unknown results_at {}", o.results_at)));
    }
    if !(0..=1).contains(&o.args_at_root) {
        return Err(Error::invalid(format!("args_at_root must be 0 or 1, not {}", o.args_at_root)));
    }
    if o.reserved0 != 0 {
        return Err(Error::invalid("lk_map_options.reserved0 must be 0"));
    }
    Ok(MapOptions {
        index_base: o.index_base,
        item_status: SendPtr(o.item_status),
        schedule: match o.schedule {
            LK_SCHEDULE_CYCLIC => Schedule::Cyclic,
            LK_SCHEDULE_DYNAMIC => Schedule::Dynamic,
            _ => Schedule::Block,
        },
        results_at: match o.results_at {
            LK_RESULTS_ROOT => ResultsAt::Root,
            LK_RESULTS_OWNED => ResultsAt::Owned,
            _ => ResultsAt::All,
        },
        args_at_root: o.args_at_root == 1,
        ..MapOptions::default()
    })
}

/// `lk_invoker_map` with per-map options (see `lk_map_options`); `opts` NULL
/// means every default. Same ownership, statuses and thread-safety as
/// `lk_invoker_map`; also `LK_ERR_INVALID` for a bad `struct_size` or an
/// unknown option value. `opts->item_status`, when set, must hold `n_args`
/// entries and is written even when the map fails.
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
            Ok(MapOptions::default())
        } else {
            read_sized(opts, MAP_OPTIONS_MIN, "lk_map_options").and_then(|o| map_options_from_c(&o))
        };
        map(inv, (args, n_args, arg_size), (results, result_size), mopts)
    })
}

/// Make the maps in flight on `inv` return `LK_ERR_CANCELLED` promptly:
/// items not started are skipped, running ones finish. Not sticky: a later
/// map runs normally; with no map in flight it does nothing.
///
/// Async-signal-safe: may be called from a signal handler. It does not set
/// `lk_last_error()`. Returns `LK_OK`, or `LK_ERR_INVALID` for a NULL,
/// unknown or dead handle. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_cancel(inv: *mut lk_invoker) -> lk_status {
    guard_quiet(|| match INVOKERS.get(handle_of(inv)) {
        Some(invoker) => {
            invoker.cancel();
            lk_status::LK_OK
        }
        None => lk_status::LK_ERR_INVALID,
    })
}

/// Wait for the maps in flight on `inv`, then free everything: threads
/// joined, worker processes reaped, descriptors and shared memory closed.
/// `inv` is dead afterwards: every call with it gives `LK_ERR_INVALID`.
/// The model is the caller's and is not touched.
///
/// `inv` NULL: a no-op returning `LK_OK`. Returns `LK_ERR_INVALID` for an
/// unknown or already shut down handle, or when called from one of the
/// invoker's own callbacks (that would wait for itself). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_shutdown(inv: *mut lk_invoker) -> lk_status {
    guard(|| {
        if inv.is_null() {
            return Ok(());
        }
        if lookup(inv)?.called_from_own_callback() {
            return Err(Error::invalid("an invoker cannot be shut down from one of its own callbacks"));
        }
        let invoker = INVOKERS.remove(handle_of(inv)).ok_or_else(|| Error::invalid("unknown or dead invoker handle"))?;
        drop(invoker);
        Ok(())
    })
}
