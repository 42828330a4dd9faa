//! The invoker: apply one C operation to every item of a batch, on this
//! process's workers.
//!
//! One machine runs three kinds of map: an item function (one call per
//! item), a range function (one call per contiguous range: the caller's
//! loop), and a stream (source → map → sink, in order, in a bounded window).
//! Items are claimed in guided chunks from one counter (`job`), run by one
//! kernel (`kernel`), on one of three kinds of workers:
//!
//! - inline (n_jobs 1, threads): every item in order on the calling thread;
//! - threads: a Rayon pool whose threads, and the calling thread, take
//!   worker slots and claim chunks (`sched`, `threads`);
//! - processes: forked workers sharing the model copy-on-write (`procs`).
//!
//! The invoker knows nothing of ranks: distributed maps (`crate::dist`) are
//! a layer that holds a local invoker.

mod blocks;
mod context;
mod job;
mod outcomes;
mod report;
pub(crate) mod kernel;
#[cfg(lk_fork)]
mod procs;
mod sched;
mod stream;
mod team;
mod waiter;
mod threads;
mod ways;

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::seed;
use crate::util::{CachePadded, SendPtr};

pub use context::{current_inner_threads, in_pool_callback, in_stream_io, inside as inside_invoker};
pub use kernel::Items;
pub use kernel::Range;
pub use stream::{CallbackIo, SinkFn, SourceFn, StreamOptions};

/// The C source and sink of a stream, as the driver calls them.
pub fn stream_io(source: SourceFn, sink: SinkFn, user: SendPtr<c_void>) -> CallbackIo {
    CallbackIo { source, sink, user }
}

/// An item's status when it never ran (skipped after a failure or a cancel).
pub(crate) const ITEM_SKIPPED: i32 = i32::MIN;
/// An item's status when its worker process died while running it.
pub(crate) const ITEM_WORKER_DIED: i32 = i32::MIN + 1;
/// An item's status when it ran past the per-item time limit (its worker
/// process was killed and replaced).
pub(crate) const ITEM_TIMED_OUT: i32 = i32::MIN + 2;

/// The item operation: `func(model, arg, result, task) -> 0 | code`.
pub type OpFn = unsafe extern "C" fn(model: *const c_void, arg: *const c_void, result: *mut c_void, task: *const Task) -> i32;
/// The range operation: `func(model, args, results, range) -> 0 | code`.
pub type RangeFn = unsafe extern "C" fn(model: *const c_void, args: *const c_void, results: *mut c_void, range: *mut Range) -> i32;
/// Progress: `(done, total, user)`, on the map's calling thread.
pub type ProgressFn = unsafe extern "C" fn(done: usize, total: usize, user: *mut c_void);
/// Per-worker initializer: `(worker, user)`, once per worker before its first item.
pub type WorkerInitFn = unsafe extern "C" fn(worker: u32, user: *mut c_void);

/// What one callback learns about its item.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    /// Position of this argument in the map call (plus `lk_map_options.index_base`).
    pub index: usize,
    /// Reproducible seed for this item: depends only on the root seed, the
    /// invoker's creation order, the map's order on the invoker and `index`.
    pub seed: u64,
    /// 0 .. n_jobs-1: which worker runs it.
    pub worker: u32,
    /// Always 0 (keeps the struct free of implicit padding).
    pub reserved: u32,
}

/// How a map treats a failing item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorMode {
    /// Stop at the first failure; items not yet started are skipped.
    #[default]
    FailFast,
    /// Run every item; the map still reports the lowest failing index.
    KeepGoing,
}

/// Which kind of workers an invoker has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    #[default]
    Threads,
    Processes,
}

/// The user's function: one call per item, or one per range.
#[derive(Clone, Copy)]
pub enum Func {
    Item(OpFn),
    Range(RangeFn),
}

/// The C function and the model pointer it is given.
#[derive(Clone, Copy)]
pub struct Op {
    pub func: Func,
    pub model: SendPtr<c_void>,
}

/// Everything an invoker is made from, already validated.
#[derive(Clone, Copy)]
pub struct Options {
    /// Resolved worker count, >= 1.
    pub n_jobs: usize,
    pub backend: Backend,
    pub error_mode: ErrorMode,
    pub progress: Option<(ProgressFn, SendPtr<c_void>)>,
    pub worker_init: Option<(WorkerInitFn, SendPtr<c_void>)>,
    /// Process backend: replace a worker after it ran this many items (0: never).
    pub recycle_after_items: u64,
    /// Process backend: replace a worker whose resident memory passes this many bytes (0: never).
    pub recycle_above_rss: u64,
    /// Process backend: an item (or each item of a range) running longer than
    /// this fails with `ITEM_TIMED_OUT` and its worker is replaced.
    pub item_timeout: Option<Duration>,
    /// `task.seed` is each item's reproducible seed (default); off, it is 0
    /// and the per-item loop skips the mix.
    pub item_seeds: bool,
    /// Fewest items per range (0: the library chooses).
    pub grain: usize,
    /// Maps never run items on the calling thread: it only waits (and
    /// watches, see `Invoker::map_watched`). A pool exists even for n_jobs 1.
    pub caller_waits: bool,
}

impl Options {
    pub fn new(n_jobs: usize) -> Self {
        Options {
            n_jobs,
            backend: Backend::Threads,
            error_mode: ErrorMode::FailFast,
            progress: None,
            worker_init: None,
            recycle_after_items: 0,
            recycle_above_rss: 0,
            item_timeout: None,
            item_seeds: true,
            grain: 0,
            caller_waits: false,
        }
    }
}

/// Largest accepted worker count: more threads than this is a mistake, not a pool.
pub(crate) const MAX_JOBS: usize = 4096;

/// Turn the C `n_jobs` convention into a worker count.
pub fn resolve_n_jobs(n_jobs: i32) -> Result<usize> {
    let n = match n_jobs {
        0 => crate::cpus::proc_count(2, 4, 0) as usize,
        -1 => crate::cpus::cpu_count().count,
        n if n < -1 => return Err(Error::invalid(format!("n_jobs {n} is below -1"))),
        n => n as usize,
    };
    if n > MAX_JOBS {
        return Err(Error::invalid(format!("n_jobs {n} is above the limit of {MAX_JOBS}")));
    }
    Ok(n.max(1))
}

/// State shared by an invoker's workers and the maps in flight.
pub struct Core {
    pub op: Op,
    pub opts: Options,
    pub seed_base: u64,
    /// Bumped by every map: on lines of its own, as the fields the workers
    /// read all the time must not move between cores with it (and, being
    /// aligned so, `Arc<Core>`'s counts sit apart from them too).
    maps: CachePadded<AtomicU64>,
    /// Bumped by `cancel`; a map started under an older value stops.
    cancel_epoch: AtomicU64,
    /// Unique per invoker within the process, used by the thread-local context.
    pub id: u64,
    inits: Vec<std::sync::Once>,
    /// What `lk_inner_threads` answers inside this invoker's callbacks.
    pub inner_threads: i32,
    /// The usable CPUs when the invoker was made: with more workers than
    /// this, waiting threads block at once instead of spinning first.
    pub cpus: usize,
}

impl Core {
    fn new(op: Op, opts: Options) -> Self {
        static IDS: AtomicU64 = AtomicU64::new(1);
        Core {
            op,
            opts,
            seed_base: seed::next_invoker_base(),
            maps: CachePadded(AtomicU64::new(0)),
            cancel_epoch: AtomicU64::new(0),
            id: IDS.fetch_add(1, Ordering::Relaxed),
            inits: (0..opts.n_jobs).map(|_| std::sync::Once::new()).collect(),
            inner_threads: context::inner_threads_for(opts.n_jobs),
            cpus: crate::cpus::cpu_count().count,
        }
    }

    /// The word `cancel` bumps: a map loads it per item and compares it with
    /// the epoch it started in.
    pub fn cancel_word(&self) -> &AtomicU64 {
        &self.cancel_epoch
    }

    /// The next map's ordinal on this invoker (its seeds follow it).
    pub fn next_ordinal(&self) -> u64 {
        self.maps.fetch_add(1, Ordering::AcqRel)
    }

    /// Threads that wait may spin a little first (the workers fit the CPUs).
    pub fn may_spin(&self) -> bool {
        self.opts.n_jobs <= self.cpus
    }

    /// Run the worker initializer for `worker` if this is its first item.
    pub fn ensure_worker_init(&self, worker: u32) {
        if let Some((init, user)) = self.opts.worker_init {
            // SAFETY: the C caller gave us the initializer and its user
            // pointer for the invoker's life.
            self.inits[worker as usize].call_once(|| unsafe { init(worker, user.0) });
        }
    }
}

enum Workers {
    Inline,
    Threads(threads::Pool),
    #[cfg(lk_fork)]
    Processes(procs::Pool),
}

/// An invoker: an operation, a model and its workers.
pub struct Invoker {
    core: Arc<Core>,
    workers: Workers,
}

/// Per-map settings beyond the arrays.
#[derive(Default)]
pub struct MapOptions {
    /// `task.index = index_base + i`.
    pub index_base: usize,
    /// Per-item status out-array (`n` entries), or null.
    pub item_status: SendPtr<i32>,
    /// Run under this map seed base instead of the invoker's next one: a
    /// distributed map runs its pieces under its own (`task.seed` is
    /// `derive(seed_base, index)`).
    pub seed_base: Option<u64>,
}

/// What the watcher of `Invoker::map_watched` decides each time it looks.
pub enum Watch {
    Continue,
    /// Stop the map as if it had been cancelled: items not started are skipped.
    Stop,
}

impl Invoker {
    pub fn new(op: Op, opts: Options) -> Result<Invoker> {
        let core = Arc::new(Core::new(op, opts));
        let workers = match opts.backend {
            #[cfg(lk_fork)]
            Backend::Processes => Workers::Processes(procs::Pool::new(&core)?),
            #[cfg(not(lk_fork))]
            Backend::Processes => {
                return Err(Error::Unsupported(
                    "the process backend needs fork, which this build does not use (the `portable` feature, or not Linux)".into(),
                ))
            }
            Backend::Threads if opts.n_jobs == 1 && !opts.caller_waits => Workers::Inline,
            Backend::Threads => Workers::Threads(threads::Pool::new(&core)?),
        };
        log::debug!(target: "lkparallel", "invoker {} made with {} workers", core.id, opts.n_jobs);
        Ok(Invoker { core, workers })
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    pub fn n_jobs(&self) -> usize {
        self.core.opts.n_jobs
    }

    fn seed_base(&self, mopts: &MapOptions) -> u64 {
        mopts.seed_base.unwrap_or_else(|| seed::derive(self.core.seed_base, self.core.next_ordinal()))
    }

    /// Apply the operation to every item; returns when all are done.
    pub fn map(&self, items: Items, mopts: &MapOptions) -> Result<()> {
        if items.n == 0 {
            return Ok(());
        }
        let seed_base = self.seed_base(mopts);
        match &self.workers {
            Workers::Inline => job::Job::for_map(&self.core, None, items, mopts, seed_base, false).run_inline(),
            Workers::Threads(pool) => pool.map(&self.core, items, mopts, seed_base),
            #[cfg(lk_fork)]
            Workers::Processes(pool) => pool.map(&self.core, items, mopts, seed_base),
        }
    }

    /// A map whose calling thread runs no items: it calls `watch` about
    /// every `period` until the map ends (with whether the map is stopping
    /// here: a failure under fail-fast, or a cancel), and a `Watch::Stop`
    /// stops the map (its outcome is then `Cancelled` unless an item failed
    /// first). Needs an invoker made with `caller_waits` (threads).
    pub fn map_watched(&self, items: Items, mopts: &MapOptions, period: Duration, watch: &mut dyn FnMut(bool) -> Watch) -> Result<()> {
        if items.n == 0 {
            return Ok(());
        }
        let seed_base = self.seed_base(mopts);
        match &self.workers {
            Workers::Threads(pool) if self.core.opts.caller_waits => pool.map_watched(&self.core, items, mopts, seed_base, period, watch),
            _ => Err(Error::Internal("map_watched needs a threads invoker made with caller_waits".into())),
        }
    }

    /// A stream: `source` → the operation → `sink`, in order, in a bounded window.
    pub fn stream(&self, io: &mut dyn stream::Io, sizes: (usize, usize), opts: &StreamOptions) -> Result<()> {
        let ordinal = self.core.next_ordinal();
        let seed_base = seed::derive(self.core.seed_base, ordinal);
        match &self.workers {
            Workers::Inline => stream::run_local(None, &self.core, io, sizes, opts, seed_base),
            Workers::Threads(pool) => stream::run_local(Some(pool), &self.core, io, sizes, opts, seed_base),
            #[cfg(lk_fork)]
            Workers::Processes(pool) => pool.stream(&self.core, io, sizes, opts, seed_base),
        }
    }

    /// Make maps in flight stop promptly. Async-signal-safe: one atomic add
    /// (in memory the worker processes share, for the process backend).
    pub fn cancel(&self) {
        match &self.workers {
            #[cfg(lk_fork)]
            Workers::Processes(pool) => pool.cancel(),
            _ => {
                self.core.cancel_epoch.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Is the calling thread inside one of this invoker's callbacks?
    pub fn called_from_own_callback(&self) -> bool {
        context::inside(self.core.id)
    }
}

impl Drop for Invoker {
    fn drop(&mut self) {
        if let Workers::Threads(pool) = &mut self.workers {
            pool.join();
        }
    }
}

#[cfg(test)]
mod tests;
