//! One map call: the items, the claim counter and the outcome.
//!
//! Workers claim chunks with a guided schedule (big chunks first, single
//! items at the end), so dispatch costs a few atomics per worker while a
//! skewed workload still balances. Every item is claimed exactly once and
//! counted in `done` exactly once, run or skipped, and the map's caller waits
//! for `done == n`: after that no worker touches the caller's arrays again.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::context::{self, Enter};
use super::{Core, ErrorMode, MapOptions, Task};
use crate::error::{Error, Result};
use crate::seed;
use crate::util::SendPtr;

/// Written to a per-item status slot for an item that never ran.
pub(crate) const ITEM_SKIPPED: i32 = i32::MIN;

/// How often progress is reported at most.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// The caller's arrays: `n` arguments of `arg_size` bytes and `n` result slots.
/// A size of 0 means NULL is passed for that pointer.
#[derive(Clone, Copy)]
pub struct Items {
    pub args: SendPtr<u8>,
    pub arg_size: usize,
    pub results: SendPtr<u8>,
    pub result_size: usize,
    pub n: usize,
}

impl Items {
    /// Element pointers are `base + i * size`; a zero size must pass NULL, so
    /// its base is NULL (and stays NULL whatever `i` is).
    fn normalised(mut self) -> Items {
        if self.arg_size == 0 {
            self.args = SendPtr::null();
        }
        if self.result_size == 0 {
            self.results = SendPtr::null();
        }
        self
    }
}

pub struct Job {
    core: Arc<Core>,
    items: Items,
    index_base: usize,
    item_status: SendPtr<i32>,
    seed_base: u64,
    epoch: u64,
    next: AtomicUsize,
    done: AtomicUsize,
    stop: AtomicBool,
    cancelled: AtomicBool,
    failure: Mutex<Option<(usize, i32)>>,
    failed: AtomicUsize,
    waiter: Thread,
    /// With a progress callback `done` moves per item, so reports are exact.
    per_item_done: bool,
}

/// Reports progress on the calling thread, at most every PROGRESS_INTERVAL.
pub struct Reporter {
    last: Instant,
}

impl Job {
    pub fn new(core: Arc<Core>, items: Items, mopts: &MapOptions, seed_base: u64) -> Arc<Job> {
        let per_item_done = core.opts.progress.is_some();
        Arc::new(Job {
            epoch: core.cancel_epoch(),
            core,
            items: items.normalised(),
            index_base: mopts.index_base,
            item_status: mopts.item_status,
            seed_base,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            failure: Mutex::new(None),
            failed: AtomicUsize::new(0),
            waiter: std::thread::current(),
            per_item_done,
        })
    }

    pub fn n(&self) -> usize {
        self.items.n
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// No items are left to claim.
    pub fn all_claimed(&self) -> bool {
        self.next.load(Ordering::Acquire) >= self.items.n
    }

    /// Claim the next chunk: guided, `remaining / (2 * n_jobs)`, at least 1.
    fn claim(&self) -> Option<Range<usize>> {
        let n = self.items.n;
        let spread = 2 * self.core.opts.n_jobs;
        let mut cur = self.next.load(Ordering::Relaxed);
        loop {
            if cur >= n {
                return None;
            }
            let size = ((n - cur) / spread).max(1);
            match self.next.compare_exchange_weak(cur, cur + size, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(cur..cur + size),
                Err(now) => cur = now,
            }
        }
    }

    /// The loop saw this map's stop flag or the invoker's cancel: when it
    /// was a cancel, remember it for the outcome and stop the other workers.
    #[cold]
    fn note_stop(&self) {
        if self.core.cancelled_since(self.epoch) {
            self.cancelled.store(true, Ordering::Relaxed);
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    #[inline]
    fn finish(&self, count: usize) {
        if count > 0 && self.done.fetch_add(count, Ordering::AcqRel) + count == self.items.n {
            self.waiter.unpark();
        }
    }

    fn skip(&self, range: Range<usize>) {
        if !self.item_status.is_null() {
            for i in range.clone() {
                unsafe { *self.item_status.0.add(i) = ITEM_SKIPPED };
            }
        }
        self.finish(range.len());
    }

    #[cold]
    fn record_failure(&self, i: usize, code: i32) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut f = self.failure.lock();
        if f.map_or(true, |(lowest, _)| i < lowest) {
            *f = Some((i, code));
        }
        drop(f);
        if self.core.opts.error_mode == ErrorMode::FailFast {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Claim and run chunks as worker `worker` until none are left.
    /// The caller of the map passes its reporter so progress flows while it works.
    pub fn work(&self, worker: u32, mut reporter: Option<&mut Reporter>) {
        let _frame = Enter::new(&self.core, worker);
        self.core.ensure_worker_init(worker);
        while let Some(range) = self.claim() {
            // The common case gets a loop of its own, free of per-item
            // branches on options that are off.
            let general = self.per_item_done || !self.item_status.is_null();
            let r = reporter.as_deref_mut();
            let stopped_at = match (general, self.core.opts.item_seeds) {
                (false, true) => self.run_items::<false, true>(range.clone(), worker, None),
                (false, false) => self.run_items::<false, false>(range.clone(), worker, None),
                (true, true) => self.run_items::<true, true>(range.clone(), worker, r),
                (true, false) => self.run_items::<true, false>(range.clone(), worker, r),
            };
            if stopped_at < range.end {
                self.skip(stopped_at..range.end);
                let rest = self.next.swap(self.items.n, Ordering::AcqRel);
                if rest < self.items.n {
                    self.skip(rest..self.items.n);
                }
                return;
            }
        }
    }

    /// The per-item path: run `range` until its end or a stop, count what ran
    /// in `done`, and return where it stopped. `GENERAL`: with a progress
    /// callback (`done` moves per item) or an `item_status` array; `SEEDS`:
    /// `task->seed` is the item's seed (else 0).
    ///
    /// This loop is the whole cost of a trivial item, so it is written for
    /// the instruction count: invariants live in locals, the pointers, index
    /// and seed key advance by addition, and options that are off cost no
    /// branch. Not inlined: alone, each variant gets the registers to itself.
    #[inline(never)]
    fn run_items<const GENERAL: bool, const SEEDS: bool>(
        &self,
        range: Range<usize>,
        worker: u32,
        mut reporter: Option<&mut Reporter>,
    ) -> usize {
        let Items { args, arg_size, results, result_size, .. } = self.items;
        let (op, status, seed_base, per_item) = (self.core.op, self.item_status.0, self.seed_base, self.per_item_done);
        let (stop, cancel, epoch) = (&self.stop, self.core.cancel_word(), self.epoch);
        let mut index = self.index_base.wrapping_add(range.start);
        let mut keys = seed::Keys::starting_at(index as u64);
        let mut arg = args.0.wrapping_add(range.start * arg_size);
        let mut result = results.0.wrapping_add(range.start * result_size);
        // Counting down keeps one register for the position: item i is
        // `range.end - left`.
        let mut left = range.len();
        while left != 0 {
            let i = range.end - left;
            if stop.load(Ordering::Relaxed) | (cancel.load(Ordering::Relaxed) != epoch) {
                self.note_stop();
                if !(GENERAL && per_item) {
                    self.finish(i - range.start);
                }
                return i;
            }
            // A fresh task per item: stores only, so no item waits on the
            // last one's (a read-modify-write would chain them through memory).
            let seed = if SEEDS { keys.next_seed(seed_base) } else { 0 };
            let task = Task { index, seed, worker };
            let code = unsafe { op.call(arg, result, &task) };
            if GENERAL && !status.is_null() {
                unsafe { *status.add(i) = code };
            }
            if code != 0 {
                self.record_failure(i, code);
            }
            if GENERAL && per_item {
                self.finish(1);
                if let Some(r) = reporter.as_deref_mut() {
                    r.maybe_report(self);
                }
            }
            index = index.wrapping_add(1);
            arg = arg.wrapping_add(arg_size);
            result = result.wrapping_add(result_size);
            left -= 1;
        }
        if !(GENERAL && per_item) {
            self.finish(range.len());
        }
        range.end
    }

    /// Block the map's calling thread until every item is run or skipped.
    pub fn wait(&self, mut reporter: Option<&mut Reporter>) {
        loop {
            if self.done.load(Ordering::Acquire) >= self.items.n {
                break;
            }
            match reporter.as_deref_mut() {
                Some(r) => {
                    r.maybe_report(self);
                    std::thread::park_timeout(PROGRESS_INTERVAL);
                }
                // A waiter inside a callback may hold the only slot some
                // other map can use: look for such work now and then.
                None if context::in_pool_callback() => {
                    if !context::help_starving_maps() {
                        std::thread::park_timeout(Duration::from_millis(1));
                    }
                }
                None => std::thread::park(),
            }
        }
        if let Some(r) = reporter {
            r.report(self);
        }
    }

    pub fn reporter(&self) -> Option<Reporter> {
        self.core.opts.progress.map(|_| Reporter { last: Instant::now() })
    }

    pub fn outcome(&self) -> Result<()> {
        if let Some((i, code)) = *self.failure.lock() {
            return Err(Error::Callback {
                index: self.index_base.wrapping_add(i),
                code,
                failed: self.failed.load(Ordering::Relaxed),
            });
        }
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        Ok(())
    }
}

impl Reporter {
    fn maybe_report(&mut self, job: &Job) {
        if self.last.elapsed() >= PROGRESS_INTERVAL {
            self.report(job);
        }
    }

    fn report(&mut self, job: &Job) {
        if let Some((progress, user)) = job.core.opts.progress {
            let done = job.done.load(Ordering::Acquire).min(job.items.n);
            unsafe { progress(done, job.items.n, user.0) };
        }
        self.last = Instant::now();
    }
}

/// n_jobs 1: every item in order on the calling thread.
pub fn run_inline(job: &Job) {
    let mut reporter = job.reporter();
    job.work(0, reporter.as_mut());
    job.wait(reporter.as_mut());
}
