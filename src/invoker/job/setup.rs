//! Making a job, and making a finished one the job of the next map.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::{Job, IDLE, SMALL_MAP};
use crate::invoker::blocks::Blocks;
use crate::invoker::kernel::{Items, Space};
use crate::invoker::sched::Sched;
use crate::invoker::waiter::Waiter;
use crate::invoker::{Core, MapOptions};
use crate::sync::Mutex;
use crate::util::SendPtr;

/// A map of `n` items (`join_late`: see `JOIN_DELAY`), or a stream.
enum Shape {
    Map { n: usize, join_late: bool },
    Stream,
}

impl Job {
    /// (Inlined: a small map's latency is mostly making its job.)
    #[inline(always)]
    fn new(core: &Arc<Core>, sched: Option<Arc<Sched>>, space: Space, index_base: usize, seed_base: u64, shape: Shape) -> Job {
        let stream = matches!(shape, Shape::Stream);
        let mut job = Job {
            core: core.clone(),
            sched,
            space,
            index_base,
            seed_base,
            epoch: 0,
            n: AtomicUsize::new(0),
            avail: AtomicUsize::new(0),
            blocks: Blocks::one(core.opts.n_jobs),
            stop_at: AtomicUsize::new(usize::MAX),
            cancelled: AtomicBool::new(false),
            stopped_outside: AtomicBool::new(false),
            done: AtomicUsize::new(0),
            failure: Mutex::new(None),
            failed: AtomicUsize::new(0),
            claims: stream.then(|| (0..core.opts.n_jobs).map(|_| AtomicUsize::new(IDLE)).collect()),
            waiter: Waiter::current(),
            per_item_done: core.opts.progress.is_some(),
            grain: 1,
            stream,
            join_late: false,
            started: None,
            whole_blocks: false,
        };
        job.start(space, index_base, seed_base, shape);
        job
    }

    /// Set up every field that belongs to one map (or stream), as on a
    /// fresh job. Only fields whose value changes are written: a renewed
    /// job's other lines stay in the helpers' caches.
    #[inline(always)]
    fn start(&mut self, space: Space, index_base: usize, seed_base: u64, shape: Shape) {
        let (n, join_late) = match shape {
            Shape::Map { n, join_late } => (n, join_late),
            Shape::Stream => (usize::MAX, false),
        };
        let n_jobs = self.core.opts.n_jobs;
        // A stream's ring grain: whole grains of at most a window each.
        let grain = self.core.opts.grain.max(1).min(space.ring);
        // Home blocks pay off where each worker keeps its core: no
        // oversubscription, and enough items for the cache to matter.
        let homes = !self.stream && self.core.may_spin() && n > SMALL_MAP;
        self.blocks.set_up(n, n_jobs, grain, homes);
        set(&mut self.space, space);
        set(&mut self.index_base, index_base);
        set(&mut self.seed_base, seed_base);
        set(&mut self.epoch, self.core.cancel_word().load(Ordering::Acquire));
        set(self.n.get_mut(), n);
        set(self.avail.get_mut(), if self.stream { 0 } else { n });
        set(self.stop_at.get_mut(), usize::MAX);
        set(self.cancelled.get_mut(), false);
        set(self.stopped_outside.get_mut(), false);
        *self.done.get_mut() = 0;
        if self.failure.get_mut().is_some() {
            *self.failure.get_mut() = None;
        }
        set(self.failed.get_mut(), 0);
        set(&mut self.grain, grain);
        set(&mut self.join_late, join_late);
        self.started = (self.blocks.count() > 1).then(Instant::now);
        // (`whole_blocks` is the caller's to set: `claim_blocks_whole`.)
    }

    /// Make this job, finished and no longer shared, the job of a new map
    /// of the same pool, as `for_map` would make it. A loop of maps then
    /// allocates nothing (the allocator's slow paths, as the helpers freed
    /// the jobs the callers made, made one map in four start 2,000 cycles
    /// late), and its helpers find the job's unchanged lines in their caches.
    pub fn renew_for_map(&mut self, items: Items, mopts: &MapOptions, seed_base: u64, join_late: bool) {
        if !self.waiter.is_current() {
            self.waiter = Waiter::current();
        }
        self.start(map_space(items, mopts), mopts.index_base, seed_base, Shape::Map { n: items.n, join_late });
    }

    /// Set up as the job of a map like the last one (see `threads::Spares`):
    /// renewing it for the next map then writes only what differs, on
    /// lines already in this thread's cache.
    pub fn ready_for_next_map(&mut self) {
        let shape = Shape::Map { n: self.n(), join_late: self.join_late };
        self.start(self.space, self.index_base, self.seed_base, shape);
    }

    /// A map over the caller's arrays (`join_late`: see `JOIN_DELAY`). Put
    /// in an `Arc` only to be posted: a map its caller runs alone costs no
    /// allocation.
    pub fn for_map(core: &Arc<Core>, sched: Option<Arc<Sched>>, items: Items, mopts: &MapOptions, seed_base: u64, join_late: bool) -> Job {
        Job::new(core, sched, map_space(items, mopts), mopts.index_base, seed_base, Shape::Map { n: items.n, join_late })
    }

    /// A stream's job over a ring of `space.ring` slots; items are added with `publish`.
    pub fn for_stream(core: &Arc<Core>, sched: Option<Arc<Sched>>, space: Space, index_base: usize, seed_base: u64) -> Arc<Job> {
        Arc::new(Job::new(core, sched, space, index_base, seed_base, Shape::Stream))
    }

    /// Owners claim their home blocks whole, in one claim each, if `whole`
    /// (`blocks::Balance`) and the map has home blocks.
    pub fn claim_blocks_whole(&mut self, whole: bool) {
        set(&mut self.whole_blocks, self.started.is_some() && whole);
    }
}

/// Where a map's items are: the caller's arrays. (A zero size passes NULL,
/// whatever the caller's pointer.)
fn map_space(items: Items, mopts: &MapOptions) -> Space {
    Space {
        args: if items.arg_size == 0 { SendPtr::null() } else { items.args },
        arg_size: items.arg_size,
        results: if items.result_size == 0 { SendPtr::null() } else { items.results },
        result_size: items.result_size,
        status: mopts.item_status,
        ring: usize::MAX,
    }
}

/// Write `value` to `field` only if it differs: an unchanged line is not
/// taken from the other cores' caches.
#[inline(always)]
fn set<T: PartialEq>(field: &mut T, value: T) {
    if *field != value {
        *field = value;
    }
}
