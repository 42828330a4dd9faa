//! `lk_invoker_*`: making, cancelling and shutting down invokers.

use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

use super::comm::lk_comm;
use super::handles::{Guard, Registry};
use super::{guard, guard_quiet, guard_value, init_sized, lk_status, out, read_sized};
use crate::dist::DistInvoker;
use crate::error::{Error, Result};
use crate::invoker::{resolve_n_jobs, Backend, ErrorMode, Func, Invoker, Op, Options, ProgressFn, Range, Task, WorkerInitFn};
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
/// Called on a worker thread (or the map's calling thread, or in a worker
/// process), possibly concurrently with other items of the same map: it must
/// be safe to call from several threads at once for distinct items. `arg` is
/// NULL when the map's `arg_size` is 0, `result` NULL when `result_size` is 0.
/// `task` is valid for the duration of the call.
#[allow(non_camel_case_types)]
pub type lk_op_fn =
    Option<unsafe extern "C" fn(model: *const c_void, arg: *const c_void, result: *mut c_void, task: *const Task) -> i32>;

/// The operation of a range invoker: one call for a contiguous range of
/// items, the loop over them the caller's (so the body can be inlined and
/// vectorised). `args` and `results` point at the range's first argument and
/// result slot (NULL when the size is 0); the items are `range->begin ..
/// range->end - 1` (task indices). Return 0 when every item succeeded;
/// otherwise set `range->failed` to the first failing item's index, having
/// written the results of the items before it, and return its code. Called
/// as an `lk_op_fn` is (any worker, concurrently for distinct ranges), never
/// with an empty range; `range` is valid for the duration of the call.
#[allow(non_camel_case_types)]
pub type lk_range_fn =
    Option<unsafe extern "C" fn(model: *const c_void, args: *const c_void, results: *mut c_void, range: *mut Range) -> i32>;

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
/// in the worker. Arguments and results pass through shared memory, a
/// window at a time. Maps on one process invoker take turns. Linux only
/// (`LK_ERR_UNSUPPORTED` elsewhere, and in builds with the `portable` feature).
///
/// If the pool's zygote (the process that forks the workers) is killed from
/// outside, the map in flight returns `LK_ERR_WORKER_DIED`, and the next map
/// forks a new zygote from the process as it is then: from there on the
/// workers see the model as it is at that moment (a warning is logged).
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

/// What a range function returns when it stopped early because the map is
/// stopping (`lk_range_stopped` is non-zero): it sets `range->failed` to the
/// first item it did not do, and those items count as not run, not as
/// failed. Returned while the map is not stopping, it is that item's failure
/// code, like any other.
pub const LK_RANGE_STOPPED: i32 = i32::MIN + 15;

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
    /// `LK_BACKEND_PROCESSES`: replace a worker process, between claims of at
    /// most 16 items, once its resident memory exceeds this many bytes (0: never).
    pub recycle_above_rss: u64,
    /// A communicator (`lk_comm_new`, `lk_mpi_comm_new`), or NULL (default):
    /// a local invoker. With one, `lk_invoker_new_with` and every map on the
    /// invoker are collective calls, `n_jobs` counts threads per rank (0: the
    /// usable CPUs divided among the ranks that share them), and the process
    /// backend is `LK_ERR_UNSUPPORTED`. Borrowed: the invoker keeps the
    /// communicator alive until it is shut down.
    pub comm: *mut lk_comm,
    /// `LK_SEEDS_PER_ITEM` (default) or `LK_SEEDS_OFF`.
    pub seeds: lk_seeds,
    /// Must be 0.
    pub reserved0: u32,
    /// A range function: the invoker calls it once per contiguous range of
    /// items instead of an item function per item; `lk_invoker_new_with`'s
    /// `func` must then be NULL. Every map call works unchanged on it, with
    /// the same results, statuses, messages and seeds (`lk_range_seed`).
    pub range_func: lk_range_fn,
    /// Range invokers: the fewest items per range, except where fewer
    /// remain (the end of a map, the rest of a range after a keep-going
    /// failure). 0: the library chooses.
    pub grain: usize,
    /// `LK_BACKEND_PROCESSES`: an item running longer than this many
    /// milliseconds (a range: this many per item it holds) fails with
    /// `LK_ITEM_TIMED_OUT` and `LK_ERR_TIMEOUT`, and its worker is killed and
    /// replaced (0: no limit; then a worker that never returns — stopped by
    /// SIGSTOP, say — holds the map until it does). Threads cannot be
    /// killed: with the threads backend a non-zero value is `LK_ERR_UNSUPPORTED`.
    pub item_timeout_ms: u64,
}

/// The fields API.md fixes: a struct this short is still accepted.
const INVOKER_OPTIONS_MIN: usize = 12;

/// An invoker's registry entry: local, or distributed over a communicator.
pub(crate) enum AnyInvoker {
    Local(Invoker),
    Dist(DistInvoker),
}

impl AnyInvoker {
    pub(crate) fn local(&self) -> &Invoker {
        match self {
            AnyInvoker::Local(inv) => inv,
            AnyInvoker::Dist(d) => d.local(),
        }
    }
}

pub(crate) static INVOKERS: Registry<AnyInvoker> = Registry::new();

pub(crate) fn lookup(inv: *mut lk_invoker) -> Result<Guard<'static, AnyInvoker>> {
    if inv.is_null() {
        return Err(Error::invalid("invoker is NULL"));
    }
    INVOKERS
        .get(inv as usize)
        .ok_or_else(|| Error::invalid("unknown or dead invoker handle (shut down, or made by another process)"))
}

fn make(op: Op, opts: Options, comm: Option<(Arc<crate::dist::Comm>, bool)>, out_ptr: *mut *mut lk_invoker) -> Result<()> {
    let out_ref = out(out_ptr, "out")?;
    crate::fork::on_child(|| INVOKERS.forget_all_after_fork());
    let invoker = match comm {
        None => AnyInvoker::Local(Invoker::new(op, opts)?),
        Some((comm, default_threads)) => AnyInvoker::Dist(DistInvoker::new(op, opts, comm, default_threads)?),
    };
    let handle = INVOKERS.insert(Box::new(invoker)).ok_or_else(|| Error::invalid("too many live invokers (over a million)"))?;
    *out_ref = handle as *mut lk_invoker;
    Ok(())
}

fn item_op(model: *const c_void, func: lk_op_fn) -> Result<Op> {
    let func = func.ok_or_else(|| Error::invalid("func is NULL"))?;
    Ok(Op { func: Func::Item(func), model: SendPtr::from_const(model) })
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
///
/// # Safety
/// `out` must be NULL or point to writable memory for a pointer; `func`
/// must be NULL or a function of the `lk_op_fn` type.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_new(
    model: *const c_void,
    func: lk_op_fn,
    n_jobs: i32,
    out: *mut *mut lk_invoker,
) -> lk_status {
    guard(|| make(item_op(model, func)?, Options::new(resolve_n_jobs(n_jobs)?), None, out))
}

/// Fill `opts` (of `size` bytes, normally `sizeof *opts`) with defaults and
/// record `size` in `struct_size`, so a program built against an older,
/// smaller struct keeps working. NULL `opts` or `size < 4`: does nothing.
/// Thread-safe.
///
/// # Safety
/// `opts` must be NULL or point to `size` writable bytes.
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
                reserved0: 0,
                range_func: None,
                grain: 0,
                item_timeout_ms: 0,
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
    if o.reserved0 != 0 {
        return Err(Error::invalid("lk_invoker_options.reserved0 must be 0"));
    }
    opts.progress = o.progress.map(|f| (f as ProgressFn, SendPtr(o.progress_user)));
    opts.worker_init = o.worker_init.map(|f| (f as WorkerInitFn, SendPtr(o.worker_init_user)));
    opts.recycle_after_items = o.recycle_after_items;
    opts.recycle_above_rss = o.recycle_above_rss;
    opts.grain = o.grain;
    if o.item_timeout_ms > 0 {
        if opts.backend != Backend::Processes {
            return Err(Error::Unsupported("item_timeout_ms needs LK_BACKEND_PROCESSES (a thread cannot be killed)".into()));
        }
        opts.item_timeout = Some(Duration::from_millis(o.item_timeout_ms));
    }
    Ok(opts)
}

/// Make an invoker with options (see `lk_invoker_options`); otherwise as
/// `lk_invoker_new`. `opts` NULL means every default; it is read, not kept.
/// With `opts->range_func` the invoker is a range invoker and `func` must be
/// NULL; otherwise `func` must not be NULL.
///
/// Returns `LK_OK`; `LK_ERR_INVALID` (`func` and `range_func` both or
/// neither set, NULL `out`; `struct_size` below 12 or describing unknown
/// non-zero fields; bad `n_jobs`, `backend`, `error_mode` or `seeds`, a
/// non-zero reserved field, an unknown or dead `comm`);
/// `LK_ERR_UNSUPPORTED` (a backend this build or platform lacks;
/// `item_timeout_ms` with threads); `LK_ERR_SYSTEM` (threads, processes or
/// shared memory could not be had). With `LK_BACKEND_PROCESSES`, `n_jobs` 1
/// means one worker process (the isolation is kept), and the worker
/// processes are forked from a snapshot of the process as it is now.
/// `*out` is written only on success. Thread-safe.
///
/// With `opts->comm` (a distributed invoker) the call is collective: every
/// rank makes its invoker together, and all take rank 0's seeds. Then also
/// `LK_ERR_UNSUPPORTED` on every rank when any rank asks for the process
/// backend, or on a rank that calls from inside a callback;
/// `LK_ERR_INVALID` on every rank when the ranks' `error_mode`s or `seeds` differ;
/// `LK_ERR_COMM` when a communicator operation fails.
///
/// # Safety
/// `opts` must be NULL or point to `opts->struct_size` readable bytes;
/// `out` as for `lk_invoker_new`.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_new_with(
    model: *const c_void,
    func: lk_op_fn,
    opts: *const lk_invoker_options,
    out: *mut *mut lk_invoker,
) -> lk_status {
    guard(|| {
        let c = if opts.is_null() { None } else { Some(read_sized(opts, INVOKER_OPTIONS_MIN, "lk_invoker_options")?) };
        let o = match &c {
            Some(c) => options_from_c(c)?,
            None => Options::new(resolve_n_jobs(0)?),
        };
        let range = c.as_ref().and_then(|c| c.range_func);
        let op = match (func, range) {
            (Some(_), Some(_)) => return Err(Error::invalid("func must be NULL when lk_invoker_options.range_func is set")),
            (None, Some(r)) => Op { func: Func::Range(r), model: SendPtr::from_const(model) },
            (f, None) => item_op(model, f)?,
        };
        let comm = match &c {
            Some(c) if !c.comm.is_null() => Some((super::comm::lookup(c.comm)?, c.n_jobs == 0)),
            _ => None,
        };
        make(op, o, comm, out)
    })
}

/// Make the maps in flight on `inv` return `LK_ERR_CANCELLED` promptly:
/// items not started are skipped, running ones finish. Not sticky: a later
/// map runs normally; with no map in flight it does nothing.
///
/// Async-signal-safe in every state (a lock-free lookup and one atomic
/// add): may be called from a signal handler, also in a forked child. It
/// does not set `lk_last_error()`. Returns `LK_OK`, or `LK_ERR_INVALID` for
/// a NULL, unknown or dead handle. Thread-safe.
///
/// # Safety
/// None beyond the handle being any value: it is looked up, never trusted.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_cancel(inv: *mut lk_invoker) -> lk_status {
    guard_quiet(|| match INVOKERS.get(inv as usize) {
        Some(invoker) => {
            match &*invoker {
                AnyInvoker::Local(i) => i.cancel(),
                AnyInvoker::Dist(d) => d.cancel(),
            }
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
/// invoker's own callbacks (that would wait for itself). Thread-safe. For a
/// distributed invoker, call it on every rank (it may free the communicator,
/// see `lk_comm_free`).
///
/// # Safety
/// None beyond the handle being any value: it is looked up, never trusted.
#[no_mangle]
pub unsafe extern "C" fn lk_invoker_shutdown(inv: *mut lk_invoker) -> lk_status {
    guard(|| {
        if inv.is_null() {
            return Ok(());
        }
        if lookup(inv)?.local().called_from_own_callback() {
            return Err(Error::invalid("an invoker cannot be shut down from one of its own callbacks"));
        }
        let invoker = INVOKERS.remove(inv as usize).ok_or_else(|| Error::invalid("unknown or dead invoker handle"))?;
        drop(invoker);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header's constant is the kernel's (cbindgen needs a literal).
    #[test]
    fn range_stopped_matches_the_kernel() {
        assert_eq!(LK_RANGE_STOPPED, crate::invoker::kernel::RANGE_STOPPED);
    }
}
