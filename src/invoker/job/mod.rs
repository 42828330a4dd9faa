//! One map (or stream) in flight on this process's threads: its items, the
//! claim counter and the outcome.
//!
//! Items are numbered from 0 (relative; the task index adds `index_base`).
//! Workers claim chunks with a guided schedule (big chunks first, `grain`
//! at the end), each from its home block first (`blocks`), so dispatch
//! costs a few atomics per worker while a skewed workload still balances.
//! Every item is claimed at most once and counted in `done` exactly once,
//! run or skipped; the map's caller waits for `done == n`, after which no
//! worker touches the caller's arrays again.
//!
//! A stream's job is the same with two more things: items become claimable
//! as the source fills them in (`avail`), and they live in a ring of
//! `ring` slots; its driver learns which items are settled from the claims
//! each worker holds (`claims`).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::sync::Mutex;

use super::blocks::{Blocks, MapRun, Pace};
use super::context::{self, Enter};
use super::kernel::{claim_size, Lane, Space, Tally};
use super::report::{Reporter, PROGRESS_INTERVAL};
use super::sched::{Sched, SPIN};
use super::waiter::Waiter;
use super::{Core, ErrorMode, ITEM_SKIPPED};
use crate::error::{Error, Result};
use crate::util::prefetch;

mod setup;

pub(crate) const SMALL_MAP: usize = 256;

/// A claim slot's value while its worker holds no claim.
const IDLE: usize = usize::MAX;

pub(crate) struct Job {
    core: Arc<Core>,
    sched: Option<Arc<Sched>>,
    space: Space,
    index_base: usize,
    seed_base: u64,
    epoch: u64,
    /// Items in all: fixed for a map; for a stream `usize::MAX` until it ends.
    n: AtomicUsize,
    /// Items below this may be claimed (all of them, for a map).
    avail: AtomicUsize,
    blocks: Blocks,
    /// Items at or past this are not started: lowered by a stop.
    stop_at: AtomicUsize,
    cancelled: AtomicBool,
    /// Stopped from outside (a watcher): reads as cancelled.
    stopped_outside: AtomicBool,
    /// Items run or skipped.
    done: AtomicUsize,
    failure: Mutex<Option<(usize, i32)>>,
    failed: AtomicUsize,
    /// Streams: the first item of each worker's claim (`IDLE`: none).
    claims: Option<Box<[AtomicUsize]>>,
    pub(crate) waiter: Arc<Waiter>,
    /// With a progress callback `done` moves per item, so reports are exact.
    per_item_done: bool,
    grain: usize,
    /// A stream under fail-fast stops only above its lowest failing item.
    stream: bool,
    /// Pool threads let the caller run alone for `JOIN_DELAY` first.
    join_late: bool,
    /// Maps with home blocks: when the map started (see `blocks::Balance`).
    started: Option<Instant>,
    /// Owners claim their home blocks whole (`blocks::Balance`).
    whole_blocks: bool,
}

impl Job {
    pub fn n(&self) -> usize {
        self.n.load(Ordering::Acquire)
    }

    /// How a finished map with home blocks went (for `blocks::Balance`).
    pub fn balance(&self) -> Option<MapRun> {
        Some(MapRun { whole: self.whole_blocks, items: self.n(), took: self.started?.elapsed() })
    }

    /// Is there a chunk to claim now (the same rule as `claim`)?
    pub fn claimable(&self) -> bool {
        let (avail, stop) = (self.avail.load(Ordering::Acquire), self.stop_at.load(Ordering::Acquire));
        let ends = self.reaches_end(avail, stop);
        (0..self.blocks.count()).any(|b| {
            let left = self.blocks.left(b, avail.min(stop));
            left >= self.grain || (left > 0 && ends)
        })
    }

    /// Do the items below `avail` include the last one that will run?
    fn reaches_end(&self, avail: usize, stop: usize) -> bool {
        avail >= self.n().min(stop)
    }

    /// Do pool threads let the caller run alone first (`JOIN_DELAY`)?
    pub fn joins_late(&self) -> bool {
        self.join_late
    }

    /// Enough items left to claim that another worker would find some after
    /// this one takes its next chunk?
    pub fn has_spare_work(&self) -> bool {
        let limit = self.avail.load(Ordering::Acquire).min(self.stop_at.load(Ordering::Acquire));
        self.blocks.total_left(limit) >= 2 * self.grain
    }

    /// Will no item ever be claimable again (so the job can leave the board)?
    pub fn exhausted(&self) -> bool {
        self.blocks.total_left(self.n().min(self.stop_at.load(Ordering::Acquire))) == 0
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire) >= self.n()
    }

    /// Claim the next chunk (`kernel::claim_size`): guided, whole grains, at
    /// least `floor` items (`Pace`), never across the ring's end; from the
    /// worker's home block first.
    fn claim(&self, worker: u32, floor: usize) -> Option<Range<usize>> {
        if self.blocks.count() == 1 {
            // (Small maps and streams: no iterator, no division.)
            return self.claim_in(0, worker, floor);
        }
        self.blocks.order(worker).find_map(|b| self.claim_in(b, worker, floor))
    }

    fn claim_in(&self, block: usize, worker: u32, floor: usize) -> Option<Range<usize>> {
        let (next, end) = (self.blocks.next(block), self.blocks.end(block));
        let mut cur = next.load(Ordering::Relaxed);
        loop {
            // Streams announce the claim before reading `avail` and
            // `stop_at` (SeqCst on both sides): a driver that stops the job
            // and then finds no claim announced knows no worker will take
            // one (see `running`), and `settled` never counts a claimed item.
            if let Some(c) = &self.claims {
                c[worker as usize].store(cur, Ordering::SeqCst);
            }
            let (avail, stop) = (self.avail.load(Ordering::SeqCst), self.stop_at.load(Ordering::SeqCst));
            let left = avail.min(stop).min(end).saturating_sub(cur);
            let room = if self.space.ring == usize::MAX { usize::MAX } else { self.space.ring - cur % self.space.ring };
            let Some(size) = claim_size(left, self.reaches_end(avail, stop), self.grain, self.blocks.spread(), room, usize::MAX) else {
                if let Some(c) = &self.claims {
                    c[worker as usize].store(IDLE, Ordering::SeqCst);
                    // The driver halting the job waits for exactly this.
                    self.waiter.wake();
                }
                return None;
            };
            let size = size.max(floor).min(left);
            match next.compare_exchange_weak(cur, cur + size, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return Some(cur..cur + size),
                Err(now) => cur = now,
            }
        }
    }

    /// Streams: every item below this has run or been skipped.
    pub fn settled(&self) -> usize {
        let mut low = self.blocks.next(0).load(Ordering::SeqCst);
        if let Some(c) = &self.claims {
            for w in c.iter() {
                low = low.min(w.load(Ordering::SeqCst));
            }
        }
        low
    }

    /// Streams: items below `avail` may be claimed (wakes the pool; woken
    /// helpers wake more while there is work).
    pub fn publish(&self, avail: usize) {
        self.avail.store(avail, Ordering::Release);
        if let Some(s) = &self.sched {
            s.notify(2);
        }
    }

    /// Streams: no item past `total` will come.
    pub fn end(&self, total: usize) {
        self.n.store(total, Ordering::Release);
        if let Some(s) = &self.sched {
            s.notify(usize::MAX);
        }
    }

    /// Stop from outside: items not started are skipped, the outcome reads
    /// as cancelled (unless an item failed).
    pub fn stop(&self) {
        self.stopped_outside.store(true, Ordering::Release);
        self.stop_at.store(0, Ordering::SeqCst);
        if !self.stream {
            self.skip_unclaimed();
        }
    }

    /// A stopped map: what no one claimed is skipped here, once (the swap
    /// makes every later claim fail).
    fn skip_unclaimed(&self) {
        for rest in self.blocks.take_rest(self.n()) {
            self.skip(rest);
        }
    }

    /// Stop without a verdict (a stream's driver ending it): items not
    /// started are skipped.
    pub fn stop_quietly(&self) {
        self.stop_at.store(0, Ordering::SeqCst);
    }

    /// Streams: does a worker hold a claim (and so may touch the ring)?
    pub fn running(&self) -> bool {
        self.claims.as_ref().is_some_and(|c| c.iter().any(|w| w.load(Ordering::SeqCst) != IDLE))
    }

    /// Items run or skipped so far.
    pub fn done_count(&self) -> usize {
        self.done.load(Ordering::Acquire)
    }

    /// The lowest failing item so far (relative) and its code.
    pub fn failure(&self) -> Option<(usize, i32)> {
        *self.failure.lock()
    }

    /// Where the stop is: items at or past it do not run.
    pub fn stop_point(&self) -> usize {
        self.stop_at.load(Ordering::Acquire)
    }

    pub fn was_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire) || self.core.cancel_word().load(Ordering::Acquire) != self.epoch
    }

    fn lane(&self, worker: u32, first: usize) -> Lane<'_> {
        let s = &self.space;
        let slot = s.slot(first);
        Lane {
            op: &self.core.op,
            worker,
            index_base: self.index_base,
            seed_base: self.seed_base,
            seeds: self.core.opts.item_seeds,
            keep_going: self.core.opts.error_mode == ErrorMode::KeepGoing,
            first,
            args: s.args.0.wrapping_add(slot * s.arg_size),
            arg_size: s.arg_size,
            results: s.results.0.wrapping_add(slot * s.result_size),
            result_size: s.result_size,
            status: if s.status.is_null() { std::ptr::null_mut() } else { s.status.0.wrapping_add(slot) },
            zeros_kept: false,
            stop_at: &self.stop_at,
            cancel: self.core.cancel_word(),
            epoch: self.epoch,
        }
    }

    #[inline]
    fn finish(&self, count: usize) {
        if count > 0 && self.done.fetch_add(count, Ordering::AcqRel) + count >= self.n() {
            self.waiter.wake();
        }
    }

    fn skip(&self, range: Range<usize>) {
        if !self.space.status.is_null() {
            for rel in range.clone() {
                // SAFETY: the status array has a slot for every item (or ring slot).
                unsafe { *self.space.status.0.add(self.space.slot(rel)) = ITEM_SKIPPED };
            }
        }
        self.finish(range.len());
    }

    /// Claim worker `worker`'s home block whole for it, as it is handed this
    /// job (`team`), in a map whose owners claim their blocks whole: true
    /// when claimed (then `work_reserved` runs the block, and no one else).
    pub fn reserve_home(&self, worker: u32) -> bool {
        self.whole_blocks && self.claim_in(self.blocks.home(worker), worker, usize::MAX).is_some()
    }

    /// The job could not be handed to `worker` after all: the home block
    /// `reserve_home` claimed is claimable again. (No one took from it
    /// meanwhile: claims find a whole-claimed block empty.)
    pub fn release_home(&self, worker: u32) {
        let b = self.blocks.home(worker);
        self.blocks.next(b).store(self.blocks.first(b), Ordering::SeqCst);
    }

    /// Start fetching the lines a helper handed this job reads first, the
    /// ones its caller rewrote for this map, so that their transfers from
    /// the caller's core overlap rather than follow one another.
    pub fn prefetch_start(&self) {
        prefetch(&self.seed_base);
        prefetch(&self.started);
        prefetch(&self.blocks);
    }

    /// Claim and run chunks as worker `worker` until none are left. The
    /// map's caller passes its reporter so progress flows while it works.
    pub fn work(&self, worker: u32, reporter: Option<&mut Reporter>) {
        self.work_from(worker, reporter, false);
    }

    /// `work`, for a helper whose home block was claimed for it when the
    /// job was handed to it (`reserve_home`).
    pub fn work_reserved(&self, worker: u32) {
        self.work_from(worker, None, true);
    }

    fn work_from(&self, worker: u32, mut reporter: Option<&mut Reporter>, reserved: bool) {
        let _frame = Enter::new(&self.core, worker, self.sched.as_ref());
        self.core.ensure_worker_init(worker);
        // A map counts the items run here once, on the way out: only its
        // waiter reads `done` (progress counts per item, streams per claim).
        let mut ran_here = 0;
        let home = self.blocks.home(worker);
        let mut whole = match reserved {
            true => Some(self.blocks.first(home)..self.blocks.end(home).min(self.n())),
            false => self.whole_blocks.then(|| self.claim_in(home, worker, usize::MAX)).flatten(),
        };
        if whole.is_some() {
            self.blocks.prefetch_others(worker);
        }
        // (After a whole block, claims only take what a late owner has not:
        // no pace to keep, and no clock to read.)
        let mut pace = Pace::new(self.blocks.count() > 1 && whole.is_none(), self.grain);
        while let Some(range) = whole.take().or_else(|| self.claim(worker, pace.floor())) {
            let ran = self.lane(worker, range.start).run(range.end, self, self.per_item_done);
            pace.ran(ran - range.start);
            if !self.per_item_done {
                if self.stream {
                    self.finish(ran - range.start);
                } else {
                    ran_here += ran - range.start;
                }
            }
            if ran < range.end {
                if self.was_cancelled() {
                    self.cancelled.store(true, Ordering::Release);
                    self.stop_at.store(0, Ordering::Release);
                }
                self.skip(ran..range.end);
            }
            if let Some(c) = &self.claims {
                c[worker as usize].store(IDLE, Ordering::SeqCst);
                self.waiter.wake();
            }
            if ran < range.end && !self.stream {
                break;
            }
            if let Some(r) = reporter.as_deref_mut() {
                r.maybe_report(self);
            }
        }
        // Stopped (a failing item, a failure at the end of a lane, a stop
        // from outside): the items no one claimed are still owed.
        if !self.stream && self.stop_at.load(Ordering::SeqCst) < self.n() {
            self.skip_unclaimed();
        }
        self.finish(ran_here);
    }

    /// Block the map's calling thread until every item is run or skipped.
    /// A thread inside a pool callback helps the maps that need the worker
    /// slot it holds meanwhile, so nested maps never deadlock.
    pub fn wait(&self, mut reporter: Option<&mut Reporter>) {
        // (The clock is read only when there is something to wait for.)
        let spin_until = (!self.is_done() && self.core.may_spin() && !context::in_pool_callback()).then(|| Instant::now() + SPIN);
        let mut spins = 0u32;
        while !self.is_done() {
            if let Some(until) = spin_until {
                spins += 1;
                if spins % 64 != 0 || Instant::now() < until {
                    std::hint::spin_loop();
                    continue;
                }
            }
            if context::help_once() {
                continue;
            }
            let timeout = reporter.as_ref().map(|_| PROGRESS_INTERVAL);
            let _watch = context::HelpWatch::register(&self.waiter);
            self.waiter.sleep_unless(|| self.is_done() || context::help_available(), timeout);
            if let Some(r) = reporter.as_deref_mut() {
                r.maybe_report(self);
            }
        }
        if let Some(r) = reporter {
            r.report(self);
        }
    }

    pub fn reporter(&self) -> Option<Reporter> {
        self.core.opts.progress.map(Reporter::new)
    }

    /// The outcome from the items alone: the lowest failing item, if any.
    pub fn item_outcome(&self) -> Result<()> {
        // (`failed` counts before `failure` is set, and both before the
        // item is counted done: no failure, no lock.)
        if self.failed.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        match self.failure() {
            Some((i, code)) => Err(Error::Callback { index: self.index_base.wrapping_add(i), code, failed: self.failed.load(Ordering::Relaxed) }),
            None => Ok(()),
        }
    }

    pub fn outcome(&self) -> Result<()> {
        self.item_outcome()?;
        if self.cancelled.load(Ordering::Acquire) || self.stopped_outside.load(Ordering::Acquire) {
            return Err(Error::Cancelled);
        }
        Ok(())
    }

    /// n_jobs 1: every item in order on the calling thread.
    pub fn run_inline(self) -> Result<()> {
        let mut reporter = self.reporter();
        self.work(0, reporter.as_mut());
        if let Some(r) = reporter.as_mut() {
            r.report(&self);
        }
        self.outcome()
    }
}

impl Tally for Job {
    #[cold]
    fn failed(&self, rel: usize, code: i32) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut f = self.failure.lock();
        if f.is_none_or(|(lowest, _)| rel < lowest) {
            *f = Some((rel, code));
        }
        drop(f);
        if self.core.opts.error_mode == ErrorMode::FailFast {
            // A map stops everything not started; a stream still runs the
            // items below the failing one.
            let at = if self.stream { rel + 1 } else { 0 };
            self.stop_at.fetch_min(at, Ordering::AcqRel);
        }
    }

    #[inline(always)]
    fn finished(&self, _rel: usize, count: usize) -> bool {
        if self.per_item_done {
            self.finish(count);
        }
        false
    }
}
