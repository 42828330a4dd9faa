//! What a user sees of a running distributed map: progress across ranks,
//! and the balance report after it.
//!
//! Progress. When some rank has a progress callback and every rank's table
//! has `fetch_add_at`, every rank's local invoker reports the done count of
//! the piece it runs to `piece_progress` (on the calling thread, a few times
//! a second), and the compute step adds the items this rank has done to
//! counter 1 on rank 0 every `PUBLISH_EVERY`; when its share is done it adds
//! `FINISH_UNIT` too. A rank with a callback reads counter 1 to report
//! done/total of the whole map; once its own share is done it goes on
//! reporting until every rank has finished its share, then the map agrees
//! on its outcome and the last report says `total` of `total`, as locally.
//!
//! Balance. Each rank's outcome record carries the items it ran and the
//! time its pieces took; rank 0 logs them at info level after each map.

use std::ffi::c_void;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Comm, Schedule, UserProgress};
use crate::error::Result;
use crate::invoker::ProgressFn;
use crate::util::SendPtr;

/// What one finished share adds to counter 1; items done stay below it.
const FINISH_UNIT: u64 = 1 << 40;
/// How often a rank adds its done items to counter 1 at most.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// How often a callback is called at most (as a local map's).
const REPORT_EVERY: Duration = Duration::from_millis(250);
/// How often a rank whose share is done looks whether the others' are.
const WAIT_PERIOD: Duration = Duration::from_millis(1);
/// The balance report lists every rank up to this many ranks.
const LIST_RANKS: usize = 16;

/// The done count of the piece the local invoker runs, as it last reported it.
#[derive(Default)]
pub(super) struct PieceDone {
    done: AtomicUsize,
}

/// The local invoker's progress callback: it only records the count.
///
/// # Safety
/// `user` must point to a live `PieceDone` (the distributed invoker owns
/// it, and outlives its local invoker).
unsafe extern "C" fn piece_progress(done: usize, _total: usize, user: *mut c_void) {
    // SAFETY: the function's contract: `user` is the invoker's `PieceDone`.
    let piece = unsafe { &*(user as *const PieceDone) };
    piece.done.store(done, Ordering::Release);
}

/// An invoker's progress arrangements, made with it (see `setup`).
pub(super) struct Setup {
    /// This rank's callback.
    pub user: UserProgress,
    /// Every rank adds its done items to counter 1.
    pub publish: bool,
    piece: Arc<PieceDone>,
}

impl Setup {
    /// `any_user`: some rank has a callback; `all_counters`: every rank's
    /// table has `fetch_add_at`.
    pub fn new(user: UserProgress, any_user: bool, all_counters: bool, size: usize) -> Setup {
        Setup { user, publish: any_user && all_counters && size > 1, piece: Arc::default() }
    }

    /// What the local invoker reports to (None: no per-item counting).
    pub fn local_hook(&self) -> Option<(ProgressFn, SendPtr<c_void>)> {
        let hook: ProgressFn = piece_progress;
        (self.user.is_some() || self.publish).then_some((hook, SendPtr(Arc::as_ptr(&self.piece) as *mut c_void)))
    }
}

/// One map's progress on this rank.
pub(super) struct Tracker<'a> {
    comm: &'a Comm,
    setup: &'a Setup,
    n: usize,
    /// Counter 1 when the map started.
    base: u64,
    /// Counts go through counter 1 for this map.
    on: bool,
    /// Items of this rank's pieces that ended (or were skipped).
    before: usize,
    published: usize,
    last_publish: Instant,
    last_report: Instant,
}

impl<'a> Tracker<'a> {
    pub fn new(comm: &'a Comm, setup: &'a Setup, n: usize, base: u64) -> Tracker<'a> {
        let on = setup.publish && (n as u64) < FINISH_UNIT;
        let now = Instant::now();
        Tracker { comm, setup, n, base, on, before: 0, published: 0, last_publish: now, last_report: now }
    }

    fn mine(&self) -> usize {
        self.before + self.setup.piece.done.load(Ordering::Acquire)
    }

    pub fn piece_started(&self) {
        self.setup.piece.done.store(0, Ordering::Release);
    }

    /// A piece of `len` items ended, or was skipped.
    pub fn piece_ended(&mut self, len: usize) {
        self.setup.piece.done.store(0, Ordering::Release);
        self.before += len;
    }

    /// While this rank computes, about every millisecond.
    pub fn tick(&mut self) -> Result<()> {
        if self.on && self.last_publish.elapsed() >= PUBLISH_EVERY {
            self.publish(0)?;
        }
        if self.setup.user.is_some() && self.last_report.elapsed() >= REPORT_EVERY {
            let (others, _) = self.others()?;
            self.report(self.mine() + others);
        }
        Ok(())
    }

    fn publish(&mut self, extra: u64) -> Result<()> {
        let mine = self.mine();
        let add = mine.saturating_sub(self.published) as u64 + extra;
        if add > 0 {
            self.comm.fetch_add_at(1, add)?;
        }
        self.published = self.published.max(mine);
        self.last_publish = Instant::now();
        Ok(())
    }

    /// The other ranks' done items, and how many ranks have finished their share.
    fn others(&self) -> Result<(usize, usize)> {
        if !self.on {
            return Ok((0, 0));
        }
        let total = self.comm.fetch_add_at(1, 0)?.wrapping_sub(self.base);
        let done = (total % FINISH_UNIT) as usize;
        Ok((done.saturating_sub(self.published), (total / FINISH_UNIT) as usize))
    }

    fn report(&mut self, done: usize) {
        if let Some((f, user)) = self.setup.user {
            // SAFETY: the C caller's progress callback and its user pointer,
            // called on the map's calling thread as a local map calls it.
            unsafe { f(done.min(self.n), self.n, user.0) };
        }
        self.last_report = Instant::now();
    }

    /// This rank's share is done: say so, and with a callback, go on
    /// reporting until every rank's share is done.
    pub fn share_done(&mut self) -> Result<()> {
        if !self.on {
            return Ok(());
        }
        self.publish(FINISH_UNIT)?;
        if self.setup.user.is_none() {
            return Ok(());
        }
        loop {
            let (others, finished) = self.others()?;
            if finished >= self.comm.size() {
                return Ok(());
            }
            if self.last_report.elapsed() >= REPORT_EVERY {
                self.report(self.mine() + others);
            }
            std::thread::sleep(WAIT_PERIOD);
        }
    }

    /// The map has ended (every rank agreed): the last report.
    pub fn end(&mut self) {
        self.report(self.n);
    }
}

/// The balance report: each rank's items and busy time (rank 0 logs it).
pub(super) fn balance(schedule: Schedule, n: usize, items: &[u64], busy_ns: &[u64], stopped: bool) -> String {
    let size = items.len();
    let name = match schedule {
        Schedule::Block => "BLOCK",
        Schedule::Cyclic => "CYCLIC",
        Schedule::Dynamic => "DYNAMIC",
    };
    let secs = |ns: u64| ns as f64 * 1e-9;
    let mut s = format!("distributed map of {n} items ({name}) on {size} ranks");
    if stopped {
        s.push_str(", stopped early");
    }
    s.push_str(": ");
    let mut order: Vec<usize> = (0..size).collect();
    if size > LIST_RANKS {
        // The least and the most busy ranks, with the median between.
        order.sort_by_key(|&r| busy_ns[r]);
        order = vec![order[0], order[size / 2], order[size - 1]];
        s.push_str("least busy, median and busiest: ");
    }
    for (k, &r) in order.iter().enumerate() {
        let _ = write!(s, "{}rank {r} {} items in {:.3} s", if k == 0 { "" } else { ", " }, items[r], secs(busy_ns[r]));
    }
    let mean = busy_ns.iter().map(|&b| b as f64).sum::<f64>() / size.max(1) as f64;
    let max = busy_ns.iter().copied().max().unwrap_or(0) as f64;
    if size > 1 && mean > 0.0 {
        let ratio = max / mean;
        let _ = write!(s, "; the busiest rank took {ratio:.2}x the mean");
        if ratio > 1.2 && schedule != Schedule::Dynamic {
            s.push_str(" (LK_SCHEDULE_DYNAMIC balances uneven items)");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_balance_report_names_every_rank_and_the_skew() {
        let s = balance(Schedule::Block, 3000, &[1000, 1000, 1000], &[1_000_000_000, 1_000_000_000, 4_000_000_000], false);
        assert_eq!(
            s,
            "distributed map of 3000 items (BLOCK) on 3 ranks: rank 0 1000 items in 1.000 s, rank 1 1000 items in \
             1.000 s, rank 2 1000 items in 4.000 s; the busiest rank took 2.00x the mean (LK_SCHEDULE_DYNAMIC \
             balances uneven items)"
        );
        let many: Vec<u64> = (0..40).collect();
        let s = balance(Schedule::Dynamic, 780, &many, &many, true);
        assert!(s.contains("stopped early") && s.contains("rank 0 0 items") && s.contains("rank 39 39 items"), "{s}");
        assert!(!s.contains("rank 7 "), "{s}");
    }
}
