//! Step 3 of a map, compute: this rank's share as local maps on the local
//! invoker's workers, under the distributed map's seeds and global indices.
//!
//! While a piece runs, the calling thread runs none of its items: it
//! watches counter 0 on rank 0 about every millisecond, so another rank's
//! stop stops this rank's workers (whichever holds which slot), and this
//! rank's own failure or cancel is signalled to the others as soon as it
//! happens. Between pieces it looks again, and DYNAMIC claims its next chunk.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::check::Agreed;
use super::layout::{ArgsAt, Out};
use super::plan::Plan;
use super::progress::Tracker;
use super::{Comm, DistInvoker, MapOptions, ResultsAt, Schedule};
use crate::error::{Error, Result};
use crate::invoker::{self, ErrorMode, Items, Watch, ITEM_SKIPPED};
use crate::util::SendPtr;

/// What one stop signal adds to counter 0; claims stay below it.
pub(super) const STOP_UNIT: u64 = 1 << 40;
/// While its share runs, a rank looks at counter 0 this often for a stop
/// signalled by another rank.
const WATCH_PERIOD: Duration = Duration::from_millis(1);

/// Where this rank's items come from and go.
pub(super) struct Layout {
    pub args: ArgsAt,
    pub results: Out,
    pub status: Out,
}

/// What this rank's compute step came to.
#[derive(Default)]
pub(super) struct Local {
    /// Lowest failing item (relative to index_base) and its code.
    pub failure: Option<(usize, i32)>,
    pub failed: u64,
    pub cancelled: bool,
    pub error: Option<Error>,
    /// This rank stops (its own failure or cancel, or another rank's stop).
    pub stopped: bool,
    /// DYNAMIC: the chunks this rank claimed (and ran), in increasing order.
    pub claimed: Vec<u64>,
    /// Items of the pieces this rank ran, and the time they took.
    pub items: usize,
    pub busy: Duration,
    /// Slots this rank's items took in a packed array (its share).
    pub own: usize,
}

/// Stop signals through counter 0.
struct Stops<'a> {
    comm: &'a Comm,
    /// Every rank's table has `fetch_add` (else stops travel with the outcome).
    on: bool,
    base: u64,
    /// The others have been told (or the stop came from them).
    signalled: bool,
    /// Another rank stopped the map.
    remote: bool,
    error: Option<Error>,
}

impl Stops<'_> {
    /// Tell the others of this rank's stop (once); learn of theirs.
    fn look(&mut self, stopping_here: bool) -> bool {
        if !self.on || self.error.is_some() || self.signalled {
            return self.remote;
        }
        let r = if stopping_here {
            self.signalled = true;
            self.comm.fetch_add(STOP_UNIT).map(|_| ())
        } else {
            self.comm.fetch_add(0).map(|v| {
                if v.wrapping_sub(self.base) >= STOP_UNIT {
                    self.remote = true;
                    self.signalled = true;
                }
            })
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
        self.remote
    }
}

/// The compute step, with what it needs.
pub(super) struct Compute<'a, 't> {
    pub dist: &'a DistInvoker,
    pub plan: &'a Plan,
    pub items: &'a Items,
    pub mopts: &'a MapOptions,
    pub agreed: &'a Agreed,
    pub layout: &'t mut Layout,
    pub tracker: &'t mut Tracker<'a>,
    /// The local invoker's cancel word when the map started.
    pub epoch: u64,
}

impl<'a> Compute<'a, '_> {
    pub fn run(mut self) -> Result<Local> {
        let comm: &'a Comm = &self.dist.comm;
        let mut stops = Stops { comm, on: self.dist.all_fetch_add, base: self.agreed.base, signalled: false, remote: false, error: None };
        let mut local = Local::default();
        let r = self.share(&mut local, &mut stops);
        // The last stop of this rank reaches the others even if it came last.
        let r = r.and_then(|()| self.between(&mut local, &mut stops));
        let r = r.and_then(|()| stops.error.take().map_or(Ok(()), Err));
        // The others may wait for this rank's share to be done: say so even
        // after a failure here.
        let done = self.tracker.share_done();
        r.and(done)?;
        if !self.mopts.owned.count.is_null() && self.mopts.results_at == ResultsAt::OwnedCompact {
            // SAFETY: the caller's `owned_count`, a valid `size_t` for the call.
            unsafe { *self.mopts.owned.count.0 = local.own };
        }
        Ok(local)
    }

    fn share(&mut self, local: &mut Local, stops: &mut Stops<'_>) -> Result<()> {
        let plan = self.plan;
        match plan.schedule {
            Schedule::Block | Schedule::Cyclic => {
                let ranges = match plan.schedule {
                    Schedule::Block => vec![plan.block(plan.rank)],
                    _ => plan.my_cyclic_chunks().map(|j| plan.chunk_range(j)).collect(),
                };
                for range in ranges.into_iter().filter(|r| !r.is_empty()) {
                    self.between(local, stops)?;
                    let len = range.len();
                    if local.stopped || !self.piece(local, stops, range.clone()) {
                        self.skip(local, range);
                        self.tracker.piece_ended(len);
                    }
                    local.own += len;
                }
            }
            Schedule::Dynamic => {
                let comm = &*self.dist.comm;
                let capacity = match self.mopts.results_at {
                    ResultsAt::OwnedCompact => self.mopts.owned.capacity,
                    _ => usize::MAX,
                };
                loop {
                    self.between(local, stops)?;
                    if local.stopped || capacity - local.own < plan.chunk {
                        break;
                    }
                    let rel = comm.fetch_add(plan.chunk as u64)?.wrapping_sub(self.agreed.base);
                    if rel >= STOP_UNIT || rel >= plan.n as u64 {
                        break;
                    }
                    let j = rel as usize / plan.chunk;
                    let range = plan.chunk_range(j);
                    let len = range.len();
                    if !self.piece(local, stops, range) {
                        break;
                    }
                    local.claimed.push(j as u64);
                    local.own += len;
                }
            }
        }
        Ok(())
    }

    /// Between pieces: this rank's cancel, another rank's stop, and telling
    /// them ours; progress.
    fn between(&mut self, local: &mut Local, stops: &mut Stops<'_>) -> Result<()> {
        if self.dist.local.core().cancel_word().load(Ordering::Acquire) != self.epoch {
            local.cancelled = true;
            local.stopped = true;
        }
        if stops.look(local.stopped) {
            local.stopped = true;
        }
        if let Some(e) = stops.error.take() {
            return Err(e);
        }
        self.tracker.tick()
    }

    /// Items of `range`, this rank's from `local.own` on, were not run
    /// (BLOCK, CYCLIC: their slots were reserved in the check).
    fn skip(&mut self, local: &mut Local, range: Range<usize>) {
        let own = local.own;
        self.name_slots(&range, own);
        match self.layout.status.make_room(own + range.len()) {
            Ok(()) => self.layout.status.fill_i32(range.start, own, range.len(), ITEM_SKIPPED),
            Err(e) => {
                local.error.get_or_insert(e);
                local.stopped = true;
            }
        }
    }

    /// Compact OWNED: each slot's task index.
    fn name_slots(&self, range: &Range<usize>, own: usize) {
        let index = self.mopts.owned.index;
        if index.is_null() || self.mopts.results_at != ResultsAt::OwnedCompact {
            return;
        }
        // SAFETY: `owned_index` has `owned_capacity` entries (the caller's
        // promise), and this rank's items fit in its capacity (the check,
        // and DYNAMIC claims only chunks that fit).
        let slots = unsafe { std::slice::from_raw_parts_mut(index.0.add(own), range.len()) };
        for (k, slot) in slots.iter_mut().enumerate() {
            *slot = self.mopts.index_base.wrapping_add(range.start + k);
        }
    }

    /// One piece: a local map watched for stops. False when it could not
    /// start (no room for its results: an error that stops this rank).
    fn piece(&mut self, local: &mut Local, stops: &mut Stops<'_>, range: Range<usize>) -> bool {
        let own = local.own;
        let len = range.len();
        let room = self.layout.results.make_room(own + len).and_then(|()| self.layout.status.make_room(own + len));
        if let Err(e) = room {
            local.error.get_or_insert(e);
            local.stopped = true;
            return false;
        }
        self.name_slots(&range, own);
        let part = Items {
            args: self.layout.args.at(range.start, own),
            arg_size: self.items.arg_size,
            results: self.layout.results.at(range.start, own),
            result_size: self.items.result_size,
            n: len,
        };
        let opts = invoker::MapOptions {
            index_base: self.mopts.index_base.wrapping_add(range.start),
            item_status: SendPtr(self.layout.status.at(range.start, own).0.cast()),
            seed_base: Some(self.agreed.seed_base),
        };
        self.tracker.piece_started();
        let tracker = &mut *self.tracker;
        let mut progress_error = None;
        let mut watch = |stopping_here: bool| -> Watch {
            let stop = stops.look(stopping_here);
            if progress_error.is_none() {
                progress_error = tracker.tick().err();
            }
            if stop {
                Watch::Stop
            } else {
                Watch::Continue
            }
        };
        let t0 = Instant::now();
        let r = self.dist.local.map_watched(part, &opts, WATCH_PERIOD, &mut watch);
        local.busy += t0.elapsed();
        local.items += len;
        self.tracker.piece_ended(len);
        if let Some(e) = progress_error {
            local.error.get_or_insert(e);
            local.stopped = true;
        }
        let fail_fast = self.dist.local.core().opts.error_mode == ErrorMode::FailFast;
        match r {
            Ok(()) => {}
            Err(Error::Callback { index, code, failed }) => {
                let rel = index.wrapping_sub(self.mopts.index_base);
                if local.failure.is_none_or(|(lowest, _)| rel < lowest) {
                    local.failure = Some((rel, code));
                }
                local.failed += failed as u64;
                local.stopped |= fail_fast;
            }
            // Stopped by another rank: not this rank's cancel.
            Err(Error::Cancelled) if stops.remote => {}
            Err(Error::Cancelled) => local.cancelled = true,
            Err(e) => {
                local.error.get_or_insert(e);
            }
        }
        if stops.remote || local.cancelled || local.error.is_some() {
            local.stopped = true;
        }
        true
    }
}
