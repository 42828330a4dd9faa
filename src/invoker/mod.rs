//! The invoker: apply one C operation to every element of an argument array.
//!
//! Backends: `Inline` (n_jobs 1: in order on the calling thread) and
//! `Threads` (a Rayon pool whose workers, and the calling thread, claim
//! chunks of the map). Both run the same `Job`, so ordering, seeds, failure
//! reporting and cancellation behave identically.

mod context;
mod job;
mod procs;
mod threads;

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::seed;
use crate::util::SendPtr;

pub use context::{current_inner_threads, in_pool_callback};
pub use job::Items;

/// The operation a map applies: `func(model, arg, result, task) -> 0 | code`.
pub type OpFn = unsafe extern "C" fn(model: *const c_void, arg: *const c_void, result: *mut c_void, task: *const Task) -> i32;
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

/// Everything an invoker is made from, already validated.
#[derive(Debug, Clone, Copy)]
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

/// The C function and model pointer, called only through `call`.
#[derive(Clone, Copy)]
pub struct Op {
    pub func: OpFn,
    pub model: SendPtr<c_void>,
}

impl Op {
    /// # Safety
    /// `arg` and `result` must be valid for the sizes the map was given (or NULL
    /// for size 0), and the model valid for the invoker's life (the C caller's promise).
    #[inline]
    pub unsafe fn call(&self, arg: *const u8, result: *mut u8, task: &Task) -> i32 {
        (self.func)(self.model.0, arg.cast(), result.cast(), task)
    }
}

/// State shared by an invoker's workers and the maps in flight.
pub struct Core {
    pub op: Op,
    pub opts: Options,
    pub seed_base: u64,
    pub(crate) maps: AtomicU64,
    /// Bumped by `cancel`; a map started under an older value stops.
    cancel_epoch: AtomicU64,
    /// Unique per invoker within the process, used by the thread-local context.
    pub id: u64,
    inits: Vec<parking_lot::Once>,
    /// What `lk_inner_threads` answers inside this invoker's callbacks.
    pub inner_threads: i32,
    /// Maps whose caller has no worker slot: waiting threads that hold one help them.
    starving: parking_lot::Mutex<Vec<Arc<job::Job>>>,
}

impl Core {
    fn new(op: Op, opts: Options) -> Self {
        static IDS: AtomicU64 = AtomicU64::new(1);
        Core {
            op,
            opts,
            seed_base: seed::next_invoker_base(),
            maps: AtomicU64::new(0),
            cancel_epoch: AtomicU64::new(0),
            id: IDS.fetch_add(1, Ordering::Relaxed),
            inits: (0..opts.n_jobs).map(|_| Default::default()).collect(),
            inner_threads: context::inner_threads_for(opts.n_jobs),
            starving: parking_lot::Mutex::new(Vec::new()),
        }
    }

    pub fn cancel_epoch(&self) -> u64 {
        self.cancel_epoch.load(Ordering::Acquire)
    }

    pub fn cancelled_since(&self, epoch: u64) -> bool {
        self.cancel_epoch.load(Ordering::Relaxed) != epoch
    }

    fn starving_job(&self) -> Option<Arc<job::Job>> {
        self.starving.lock().iter().find(|j| !j.all_claimed()).cloned()
    }

    fn add_starving(&self, job: &Arc<job::Job>) {
        self.starving.lock().push(job.clone());
    }

    fn remove_starving(&self, job: &Arc<job::Job>) {
        self.starving.lock().retain(|j| !Arc::ptr_eq(j, job));
    }

    /// Run the worker initializer for `worker` if this is its first item.
    pub fn ensure_worker_init(&self, worker: u32) {
        if let Some((init, user)) = self.opts.worker_init {
            self.inits[worker as usize].call_once(|| unsafe { init(worker, user.0) });
        }
    }
}

enum Workers {
    Inline,
    Threads(threads::Pool),
    Processes(procs::ProcPool),
}

/// An invoker: an operation, a model and its workers.
pub struct Invoker {
    pub(crate) core: Arc<Core>,
    workers: Workers,
}

/// Per-map settings beyond the arrays.
#[derive(Default)]
pub struct MapOptions {
    /// `task.index = index_base + i`.
    pub index_base: usize,
    /// Per-item status out-array (`n` entries), or null.
    pub item_status: SendPtr<i32>,
}

impl Invoker {
    pub fn new(op: Op, opts: Options) -> Result<Invoker> {
        let core = Arc::new(Core::new(op, opts));
        let workers = match opts.backend {
            Backend::Processes => Workers::Processes(procs::ProcPool::new(&core)?),
            Backend::Threads if opts.n_jobs == 1 => Workers::Inline,
            Backend::Threads => Workers::Threads(threads::Pool::new(opts.n_jobs)?),
        };
        log::debug!(target: "lkparallel", "invoker {} made with {} workers", core.id, opts.n_jobs);
        Ok(Invoker { core, workers })
    }

    pub fn n_jobs(&self) -> usize {
        self.core.opts.n_jobs
    }

    /// Apply the operation to every item; returns when all are done.
    pub fn map(&self, items: Items, mopts: &MapOptions) -> Result<()> {
        if items.n == 0 {
            return Ok(());
        }
        let map_ordinal = self.core.maps.fetch_add(1, Ordering::AcqRel);
        let seed_base = seed::derive(self.core.seed_base, map_ordinal);
        if let Workers::Processes(pool) = &self.workers {
            return pool.map(&self.core, items, mopts, seed_base, self.core.cancel_epoch());
        }
        let job = job::Job::new(self.core.clone(), items, mopts, seed_base);
        match &self.workers {
            Workers::Inline => job::run_inline(&job),
            Workers::Threads(pool) => pool.run(&job),
            Workers::Processes(_) => unreachable!("handled above"),
        }
        job.outcome()
    }

    /// Make maps in flight stop promptly. Async-signal-safe: one atomic add.
    pub fn cancel(&self) {
        self.core.cancel_epoch.fetch_add(1, Ordering::AcqRel);
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
mod tests {
    #[test]
    fn item_status_constants_match_the_header() {
        assert_eq!(super::job::ITEM_SKIPPED, crate::ffi::invoker::LK_ITEM_SKIPPED);
        assert_eq!(super::procs::ITEM_WORKER_DIED, crate::ffi::invoker::LK_ITEM_WORKER_DIED);
    }
}
