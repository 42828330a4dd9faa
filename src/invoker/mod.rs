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

pub use context::{current_inner_threads, in_pool_callback, inside as inside_invoker};
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
    /// `task.seed` is each item's reproducible seed (default); off, it is 0
    /// and the per-item loop skips the mix.
    pub item_seeds: bool,
    /// A communicator: every map is distributed over its ranks (see `crate::dist`).
    pub comm: Option<crate::dist::CommSpec>,
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
            item_seeds: true,
            comm: None,
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

    /// Make this invoker's maps in flight stop (as `Invoker::cancel`).
    pub(crate) fn cancel(&self) {
        self.cancel_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The word `cancel` bumps: a map loads it per item and compares with
    /// the epoch it started in.
    pub fn cancel_word(&self) -> &AtomicU64 {
        &self.cancel_epoch
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
    /// With a communicator: maps are distributed (and collective).
    dist: Option<crate::dist::Dist>,
}

/// Per-map settings beyond the arrays.
#[derive(Default)]
pub struct MapOptions {
    /// `task.index = index_base + i`.
    pub index_base: usize,
    /// Per-item status out-array (`n` entries), or null.
    pub item_status: SendPtr<i32>,
    /// Distributed maps: how items are split among ranks.
    pub schedule: crate::dist::Schedule,
    /// Distributed maps: where the results end up.
    pub results_at: crate::dist::ResultsAt,
    /// Distributed maps: only rank 0's arguments are read.
    pub args_at_root: bool,
    /// Run as part of the distributed map with this ordinal (seeds follow
    /// it) instead of taking the invoker's next one.
    pub(crate) ordinal: Option<u64>,
}

impl Invoker {
    pub fn new(op: Op, opts: Options) -> Result<Invoker> {
        if let Some(spec) = opts.comm {
            return Self::new_distributed(op, opts, spec);
        }
        let core = Arc::new(Core::new(op, opts));
        let workers = match opts.backend {
            Backend::Processes => Workers::Processes(procs::ProcPool::new(&core)?),
            Backend::Threads if opts.n_jobs == 1 => Workers::Inline,
            Backend::Threads => Workers::Threads(threads::Pool::new(opts.n_jobs)?),
        };
        log::debug!(target: "lkparallel", "invoker {} made with {} workers", core.id, opts.n_jobs);
        Ok(Invoker { core, workers, dist: None })
    }

    /// Collective: every rank makes its invoker together, and all adopt rank
    /// 0's seed base (see `crate::dist::Setup`).
    fn new_distributed(op: Op, mut opts: Options, spec: crate::dist::CommSpec) -> Result<Invoker> {
        let mut setup = crate::dist::Setup::join(spec, &opts)?;
        opts.n_jobs = setup.n_jobs();
        // The op, watched: a stop signalled by another rank reaches this rank's items.
        let mut core = Core::new(setup.watch(op), opts);
        let started = if opts.n_jobs == 1 { Ok(Workers::Inline) } else { threads::Pool::new(opts.n_jobs).map(Workers::Threads) };
        let dist = setup.finish(&mut core.seed_base, started.as_ref().err())?;
        let core = Arc::new(core);
        dist.attach(&core);
        Ok(Invoker { core, workers: started?, dist: Some(dist) })
    }

    /// This process's rank when the invoker is distributed.
    pub fn comm_rank(&self) -> Option<usize> {
        self.dist.as_ref().map(|d| d.rank())
    }

    /// For the C boundary: a distributed map takes part in the collective
    /// argument check even when this rank's arguments failed the local checks.
    pub fn map_checked(&self, items: Result<Items>, mopts: Result<MapOptions>) -> Result<()> {
        match &self.dist {
            Some(dist) => dist.map(self, items, mopts.as_ref().map_err(Clone::clone)),
            None => {
                let mopts = mopts?;
                self.map_local(items?, &mopts)
            }
        }
    }

    pub fn n_jobs(&self) -> usize {
        self.core.opts.n_jobs
    }

    /// Apply the operation to every item; returns when all are done.
    /// Distributed (collective) when the invoker has a communicator.
    pub fn map(&self, items: Items, mopts: &MapOptions) -> Result<()> {
        match &self.dist {
            Some(dist) => dist.map(self, Ok(items), Ok(mopts)),
            None => self.map_local(items, mopts),
        }
    }

    /// The map on this process's workers.
    pub(crate) fn map_local(&self, items: Items, mopts: &MapOptions) -> Result<()> {
        if items.n == 0 {
            return Ok(());
        }
        let map_ordinal = mopts.ordinal.unwrap_or_else(|| self.core.maps.fetch_add(1, Ordering::AcqRel));
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
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn item_status_constants_match_the_header() {
        assert_eq!(job::ITEM_SKIPPED, crate::ffi::invoker::LK_ITEM_SKIPPED);
        assert_eq!(procs::ITEM_WORKER_DIED, crate::ffi::invoker::LK_ITEM_WORKER_DIED);
    }

    /// result = arg * 2 + 1; an argument equal to the model's value fails with code 7.
    unsafe extern "C" fn double(model: *const c_void, arg: *const c_void, result: *mut c_void, task: *const Task) -> i32 {
        let a = *(arg as *const u64);
        if !model.is_null() && *(model as *const u64) == a {
            return 7;
        }
        *(result as *mut u64) = a * 2 + 1;
        *(result as *mut u64).add(1) = (*task).seed;
        0
    }

    fn invoker(n_jobs: usize, model: *const u64, mode: ErrorMode) -> Invoker {
        let mut opts = Options::new(n_jobs);
        opts.error_mode = mode;
        Invoker::new(Op { func: double, model: SendPtr::from_const(model.cast()) }, opts).unwrap()
    }

    fn run(inv: &Invoker, args: &[u64], out: &mut [[u64; 2]], status: Option<&mut [i32]>) -> Result<()> {
        let items = Items {
            args: SendPtr::from_const(args.as_ptr().cast()),
            arg_size: 8,
            results: SendPtr(out.as_mut_ptr().cast()),
            result_size: 16,
            n: args.len(),
        };
        let item_status = status.map_or(SendPtr::null(), |s| SendPtr(s.as_mut_ptr()));
        inv.map(items, &MapOptions { index_base: 0, item_status, ..Default::default() })
    }

    #[test]
    fn results_are_ordered_and_seeds_come_from_indices_only() {
        let args: Vec<u64> = (0..10_000).collect();
        for n_jobs in [1, 2, 4] {
            let inv = invoker(n_jobs, std::ptr::null(), ErrorMode::FailFast);
            let mut out = vec![[0u64; 2]; args.len()];
            for map in 0..2 {
                run(&inv, &args, &mut out, None).unwrap();
                let base = seed::derive(inv.core.seed_base, map);
                for (i, r) in out.iter().enumerate() {
                    assert_eq!(r[0], args[i] * 2 + 1);
                    assert_eq!(r[1], seed::derive(base, i as u64), "n_jobs {n_jobs}, map {map}, item {i}");
                }
            }
        }
    }

    #[test]
    fn seeds_off_gives_zero_on_every_path() {
        let args: Vec<u64> = (0..5_000).collect();
        for n_jobs in [1, 2, 3] {
            let mut opts = Options::new(n_jobs);
            opts.item_seeds = false;
            let inv = Invoker::new(Op { func: double, model: SendPtr::null() }, opts).unwrap();
            // The plain loop, then the general one (an item_status array).
            let mut out = vec![[1u64; 2]; args.len()];
            run(&inv, &args, &mut out, None).unwrap();
            assert!(out.iter().enumerate().all(|(i, r)| r[0] == args[i] * 2 + 1 && r[1] == 0));
            let mut status = vec![9i32; args.len()];
            let mut out = vec![[1u64; 2]; args.len()];
            run(&inv, &args, &mut out, Some(&mut status)).unwrap();
            assert!(out.iter().all(|r| r[1] == 0) && status.iter().all(|&s| s == 0));
        }
    }

    #[test]
    fn fail_fast_reports_the_failure_and_keep_going_runs_everything() {
        let args: Vec<u64> = (0..1000).collect();
        let bad = 500u64;
        let inv = invoker(2, &bad, ErrorMode::FailFast);
        let mut out = vec![[0u64; 2]; args.len()];
        assert_eq!(run(&inv, &args, &mut out, None), Err(Error::Callback { index: 500, code: 7, failed: 1 }));

        let inv = invoker(2, &bad, ErrorMode::KeepGoing);
        let mut status = vec![99i32; args.len()];
        let err = run(&inv, &args, &mut out, Some(&mut status));
        assert!(matches!(err, Err(Error::Callback { index: 500, code: 7, .. })));
        assert!(status.iter().enumerate().all(|(i, &s)| s == if i == 500 { 7 } else { 0 }));
        // Still usable.
        let ok: Vec<u64> = (0..10).collect();
        run(&inv, &ok, &mut out[..10], None).unwrap();
    }

    static RUNNING: AtomicUsize = AtomicUsize::new(0);
    static MAX_RUNNING: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn count(_: *const c_void, _: *const c_void, result: *mut c_void, task: *const Task) -> i32 {
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        MAX_RUNNING.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_micros(200));
        *(result as *mut u32) = (*task).worker;
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        0
    }

    #[test]
    fn at_most_n_jobs_run_at_once_even_with_concurrent_maps() {
        let inv = Arc::new(Invoker::new(Op { func: count, model: SendPtr::null() }, Options::new(3)).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let inv = inv.clone();
                std::thread::spawn(move || {
                    let mut out = vec![u32::MAX; 200];
                    let items = Items { args: SendPtr::null(), arg_size: 0, results: SendPtr(out.as_mut_ptr().cast()), result_size: 4, n: 200 };
                    inv.map(items, &MapOptions::default()).unwrap();
                    assert!(out.iter().all(|&w| w < 3));
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(MAX_RUNNING.load(Ordering::SeqCst) <= 3);
        assert!(MAX_RUNNING.load(Ordering::SeqCst) >= 2);
    }

    #[test]
    fn n_jobs_conventions() {
        assert!(resolve_n_jobs(0).unwrap() >= 1);
        assert_eq!(resolve_n_jobs(-1).unwrap(), crate::cpus::cpu_count().count);
        assert_eq!(resolve_n_jobs(5).unwrap(), 5);
        assert!(matches!(resolve_n_jobs(-2), Err(Error::Invalid(_))));
        assert!(matches!(resolve_n_jobs(i32::MIN), Err(Error::Invalid(_))));
        assert!(matches!(resolve_n_jobs(100_000), Err(Error::Invalid(_))));
    }
}
