//! A worker process: claims chunks of the flow in progress from the shared
//! counter, runs them on the arena with the same kernel as the threads
//! backend, and tells the parent when a claim is done. No syscall per
//! item: between flows it waits on a futex, and the parent hears of
//! finished claims through an eventfd only while it is asleep.

use std::os::fd::{AsFd, OwnedFd};
use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::stage::Stage;
use super::shm::{Arena, Header, Layout, Retry, Shared, Slot, IDLE, RETRY_FREE, RETRY_PENDING, RETRY_TAKEN};
use super::{NO_ARENA, RETIRED};
use crate::invoker::sched::SPIN;
use crate::invoker::kernel::{claim_size, Lane, Tally};
use crate::invoker::{Core, Func, ITEM_SKIPPED};
use crate::sys;

/// Resident memory is read at most this often (between items, never
/// costing a syscall per item).
const RSS_PERIOD_NS: u64 = 1_000_000;

/// What a worker inherits from the parent besides the shared memory.
pub struct Spec<'a> {
    pub shared: &'a Shared,
    pub arena_fd: &'a OwnedFd,
    pub events: &'a OwnedFd,
    pub core: &'a Core,
}

struct Worker<'a> {
    spec: &'a Spec<'a>,
    h: &'a Header,
    slot: &'a Slot,
    k: u32,
    arena: Arena,
    layout: Layout,
    flow: u64,
    rss: Option<sys::Rss>,
    may_spin: bool,
    /// The re-run this worker is running, if its claim is one.
    retry_taken: Option<&'a Retry>,
    /// When resident memory was last read; and whether it is over the limit.
    rss_read_at: Cell<u64>,
    over_rss: Cell<bool>,
    /// Where range calls write their results in a staged map.
    stage: RefCell<Stage>,
}

pub fn main(spec: &Spec<'_>, k: usize) -> i32 {
    let rss = if spec.core.opts.recycle_above_rss > 0 {
        match sys::Rss::open() {
            Ok(r) => Some(r),
            Err(e) => {
                log::warn!(target: "lkparallel", "worker {k}: cannot read its resident memory ({e}); it will not be recycled by memory");
                None
            }
        }
    } else {
        None
    };
    let h = spec.shared.header();
    crate::logging::count_forwards_in(&h.mail);
    let mut w = Worker {
        spec,
        h,
        slot: &spec.shared.slots()[k],
        k: k as u32,
        arena: Arena::new(),
        layout: Layout::read(h),
        flow: u64::MAX,
        rss,
        // The parent process runs too: spin only with a CPU to spare.
        may_spin: spec.core.opts.n_jobs < spec.core.cpus,
        retry_taken: None,
        rss_read_at: Cell::new(0),
        over_rss: Cell::new(false),
        stage: RefCell::default(),
    };
    spec.core.ensure_worker_init(w.k);
    w.slot.ready.store(1, Ordering::SeqCst);
    w.notify_parent();
    loop {
        let gen = h.work_gen.load(Ordering::SeqCst);
        if h.quit.load(Ordering::Acquire) != 0 {
            return 0;
        }
        match w.claim() {
            Some(range) => {
                if let Err(code) = w.follow() {
                    return code;
                }
                w.run(range);
                if w.over_rss.get() {
                    // It stopped between items holding its claim: the
                    // zygote runs the rest of the claim again.
                    log::debug!(target: "lkparallel", "worker {k} retires above its memory limit");
                    w.slot.retiring.store(1, Ordering::SeqCst);
                    return RETIRED;
                }
                if w.should_retire() {
                    w.slot.retiring.store(1, Ordering::SeqCst);
                    log::debug!(target: "lkparallel", "worker {k} retires after {} items", w.slot.items_run.load(Ordering::Relaxed));
                    return RETIRED;
                }
            }
            None => w.wait(gen),
        }
    }
}

impl Worker<'_> {
    /// Re-read the flow's description and arena when a new flow began.
    fn follow(&mut self) -> Result<(), i32> {
        let seq = self.h.flow_seq.load(Ordering::Acquire);
        if seq != self.flow {
            self.layout = Layout::read(self.h);
            self.flow = seq;
        }
        if let Err(e) = self.arena.follow(self.spec.arena_fd, self.h) {
            log::error!(target: "lkparallel", "worker {}: {e}", self.k);
            return Err(NO_ARENA);
        }
        Ok(())
    }

    /// Wait for `work_gen` to move past `gen`: spin briefly, then block.
    fn wait(&self, gen: u32) {
        if self.may_spin {
            let until = Instant::now() + SPIN;
            let mut spins = 0u32;
            while self.h.work_gen.load(Ordering::SeqCst) == gen {
                spins += 1;
                if spins % 64 == 0 && Instant::now() >= until {
                    break;
                }
                std::hint::spin_loop();
            }
        }
        self.h.workers_asleep.fetch_add(1, Ordering::SeqCst);
        if self.h.work_gen.load(Ordering::SeqCst) == gen {
            sys::futex_wait_shared(&self.h.work_gen, gen, None);
        }
        self.h.workers_asleep.fetch_sub(1, Ordering::SeqCst);
    }

    /// A re-run first, else the next guided chunk. The claim is announced
    /// in the slot before it is taken (see `Shared::settled`).
    fn claim(&mut self) -> Option<Range<usize>> {
        let h = self.h;
        for r in &h.retry {
            if r.state.load(Ordering::SeqCst) == RETRY_PENDING {
                let (b, e) = (r.begin.load(Ordering::SeqCst), r.end.load(Ordering::SeqCst));
                self.announce(b, e);
                if r.state.compare_exchange(RETRY_PENDING, RETRY_TAKEN, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                    self.retry_taken = Some(r);
                    return Some(b..e);
                }
            }
        }
        let opts = &self.spec.core.opts;
        let spread = 2 * opts.n_jobs;
        let grain = h.grain.load(Ordering::Relaxed).max(1);
        let mut cap = usize::MAX;
        if opts.recycle_after_items > 0 {
            let left = opts.recycle_after_items.saturating_sub(self.slot.items_run.load(Ordering::Relaxed));
            cap = usize::try_from(left).unwrap_or(usize::MAX).max(1);
        }
        let mut cur = self.h.next.load(Ordering::SeqCst);
        loop {
            let (avail, stop) = (h.avail.load(Ordering::SeqCst), h.stop_at.load(Ordering::SeqCst));
            let left = avail.min(stop).saturating_sub(cur);
            let ends = avail >= h.total.load(Ordering::SeqCst).min(stop);
            // No slots: no flow described yet (then nothing is available).
            let slots = h.slots.load(Ordering::Acquire);
            let room = slots - cur.checked_rem(slots).unwrap_or(0);
            let Some(size) = claim_size(left, ends, grain, spread, room, cap) else {
                // A withdrawn announcement moves `settled`: the parent may
                // be waiting for exactly that.
                if self.slot.claim.swap(IDLE, Ordering::SeqCst) != IDLE {
                    self.notify_parent();
                }
                return None;
            };
            self.announce(cur, cur + size);
            match self.h.next.compare_exchange_weak(cur, cur + size, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => {
                    // Wake the next worker while there is work for it.
                    if avail - (cur + size) >= 2 * grain && self.h.workers_asleep.load(Ordering::SeqCst) > 0 {
                        self.spec.shared.wake_workers(1);
                    }
                    return Some(cur..cur + size);
                }
                Err(now) => cur = now,
            }
        }
    }

    fn announce(&self, begin: usize, end: usize) {
        self.set_deadline(1);
        self.slot.claim_end.store(end, Ordering::SeqCst);
        self.slot.progress.store(begin, Ordering::SeqCst);
        self.slot.claim.store(begin, Ordering::SeqCst);
    }

    /// Run a claim on the arena; what it did not run is skipped.
    fn run(&mut self, range: Range<usize>) {
        let h = self.h;
        let l = self.layout;
        let lane = Lane {
            op: &self.spec.core.op,
            worker: self.k,
            index_base: h.index_base.load(Ordering::Relaxed),
            seed_base: h.seed_base.load(Ordering::Relaxed),
            seeds: h.seeds.load(Ordering::Relaxed) != 0,
            keep_going: h.keep_going.load(Ordering::Relaxed) != 0,
            first: range.start,
            args: l.arg(&self.arena, range.start),
            arg_size: l.arg_size,
            results: l.result(&self.arena, range.start),
            result_size: l.result_size,
            status: l.status(&self.arena, range.start),
            zeros_kept: true,
            stop_at: &h.stop_at,
            cancel: &h.cancel,
            epoch: h.epoch.load(Ordering::Relaxed),
        };
        let ran = match h.stage_items.load(Ordering::Relaxed) {
            0 => lane.run(range.end, &*self, false),
            per_call => self.stage.borrow_mut().run(&lane, range.end, per_call, &*self),
        };
        if self.over_rss.get() {
            return;
        }
        if ran < range.end {
            l.set_status(h, &self.arena, ran..range.end, ITEM_SKIPPED);
            if h.cancel.load(Ordering::Relaxed) != lane.epoch {
                h.stop_at.store(0, Ordering::SeqCst);
            }
        }
        if let Some(r) = self.retry_taken.take() {
            r.state.store(RETRY_FREE, Ordering::SeqCst);
        }
        self.slot.running.store(IDLE, Ordering::SeqCst);
        self.slot.claim.store(IDLE, Ordering::SeqCst);
        self.notify_parent();
    }

    /// With a per-item limit: the next `items` items are due within their
    /// limits from now (a worker that stops, even between items, is found).
    #[inline(always)]
    fn set_deadline(&self, items: u64) {
        let limit = self.h.item_timeout_ns.load(Ordering::Relaxed);
        if limit > 0 {
            self.slot.deadline_ns.store(sys::monotonic_ns().saturating_add(limit.saturating_mul(items)), Ordering::Release);
        }
    }

    /// Wake the parent if it sleeps (it re-checks what it waits for).
    fn notify_parent(&self) {
        let h = self.h;
        if h.parent_asleep.load(Ordering::SeqCst) != 0 && h.parent_asleep.swap(0, Ordering::SeqCst) != 0 {
            if let Err(e) = sys::eventfd_signal(self.spec.events.as_fd()) {
                log::error!(target: "lkparallel", "worker {}: cannot wake the parent: {e}", self.k);
            }
        }
    }

    /// Claims end where the item count says to retire (see `claim`).
    fn should_retire(&self) -> bool {
        let opts = &self.spec.core.opts;
        opts.recycle_after_items > 0 && self.slot.items_run.load(Ordering::Relaxed) >= opts.recycle_after_items
    }

    /// Between items, at most once per `RSS_PERIOD_NS`: is the resident
    /// memory over the limit?
    #[cold]
    fn check_rss(&self, rss: &sys::Rss) -> bool {
        let now = sys::monotonic_ns();
        if now.saturating_sub(self.rss_read_at.get()) < RSS_PERIOD_NS {
            return false;
        }
        self.rss_read_at.set(now);
        match rss.bytes() {
            Ok(b) if b > self.spec.core.opts.recycle_above_rss => {
                self.over_rss.set(true);
                true
            }
            Ok(_) => false,
            Err(e) => {
                log::warn!(target: "lkparallel", "worker {}: cannot read its resident memory: {e}", self.k);
                false
            }
        }
    }
}

impl Tally for Worker<'_> {
    #[cold]
    fn failed(&self, rel: usize, _code: i32) {
        // (The kernel wrote the status already; the item settles later.)
        self.h.mark_statuses();
        if self.h.keep_going.load(Ordering::Relaxed) == 0 {
            // A map stops everything not started; a stream runs the items below.
            let at = if self.h.stream.load(Ordering::Relaxed) != 0 { rel + 1 } else { 0 };
            self.h.stop_at.fetch_min(at, Ordering::SeqCst);
        }
    }

    #[inline(always)]
    fn starting(&self, rel: usize, end: usize) {
        // A range call has a limit per item it holds; if it dies, the
        // zygote fails its items and runs the rest of the claim again.
        if let Func::Range(_) = self.spec.core.op.func {
            self.slot.running_end.store(end, Ordering::Release);
        }
        self.set_deadline((end - rel).max(1) as u64);
        self.slot.running.store(rel, Ordering::Release);
    }

    #[inline(always)]
    fn finished(&self, rel: usize, count: usize) -> bool {
        self.set_deadline(1);
        self.slot.progress.store(rel + count, Ordering::Release);
        self.slot.running.store(IDLE, Ordering::Release);
        self.slot.items_run.fetch_add(count as u64, Ordering::Relaxed);
        match &self.rss {
            Some(rss) => self.check_rss(rss),
            None => false,
        }
    }
}

