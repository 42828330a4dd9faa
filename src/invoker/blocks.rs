//! Where a job's workers claim items: its claim counters.
//!
//! When the workers fit the CPUs, a map is cut into one *home block* per
//! worker, which that worker claims first, from the front. Map after map the
//! same worker then runs the same items, so a map whose arrays fit the caches
//! finds each item in the cache of the core that last touched it (OpenMP's
//! static schedule has this for free; a single shared counter hands items to
//! whichever worker comes first, and the lines cross cores every map). A
//! worker whose block is done helps the others, from their fronts, with the
//! same guided claims, so a skewed workload still balances. Streams, small
//! maps and oversubscribed pools keep one block: a single shared counter.
//! (The same worker is on the same core map after map because each thread
//! takes back the slot it held last, `sched::take_slot`.) In a map with
//! home blocks a claim is never shorter than about `CLAIM_TIME` of items,
//! at the worker's last pace (`Pace`); and in a short map each owner may
//! claim its block whole, where that has run the pool's maps faster
//! (`Balance`).

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::ways::{Tuning, TwoWays};
use crate::sync::Mutex;
use crate::util::CachePadded;

pub(crate) struct Blocks {
    /// The next unclaimed item (relative to the map) of the one block: no
    /// allocation, as small maps are latency.
    single: AtomicUsize,
    /// Or of each home block, on lines of their own: a claim must not take
    /// from the other workers the job's fields they read all the time
    /// (block 0 counted inside the job, its claims took twice as long).
    homes: Box<[CachePadded<AtomicUsize>]>,
    /// Items per block; the last block runs on to the job's end.
    len: usize,
    /// A claim takes a `1/spread` share of what its block has left.
    spread: usize,
}

impl Blocks {
    /// One block: every worker claims from one counter, a `1/(2 n_jobs)`
    /// share at a time.
    pub fn one(n_jobs: usize) -> Blocks {
        Blocks { single: AtomicUsize::new(0), homes: Box::new([]), len: usize::MAX, spread: 2 * n_jobs }
    }

    /// Set up for a map of `n` items: a home block per worker (`homes`),
    /// whole grains each, so every claim but the map's last is whole
    /// grains; else, or when a worker's share would be under a grain, one
    /// block. The home counters' allocation is kept from the last map when
    /// it fits: a loop of maps allocates nothing.
    pub fn set_up(&mut self, n: usize, n_jobs: usize, grain: usize, homes: bool) {
        let len = n / n_jobs / grain * grain;
        if !homes || n_jobs < 2 || len == 0 {
            *self.single.get_mut() = 0;
            (self.len, self.spread) = (usize::MAX, 2 * n_jobs);
            if !self.homes.is_empty() {
                self.homes = Box::new([]);
            }
            return;
        }
        if self.homes.len() != n_jobs {
            self.homes = (0..n_jobs).map(|_| CachePadded(AtomicUsize::new(0))).collect();
        }
        // Half of what is left: the owner's first claim is half its block,
        // as a one-block map's first claim is half a worker's share.
        (self.len, self.spread) = (len, 2);
        for b in 0..n_jobs {
            *self.homes[b].0.get_mut() = self.first(b);
        }
    }

    /// Set up as a fresh job's blocks.
    #[cfg(test)]
    pub fn per_worker(n: usize, n_jobs: usize, grain: usize) -> Blocks {
        let mut b = Blocks::one(n_jobs);
        b.set_up(n, n_jobs, grain, true);
        b
    }

    pub fn count(&self) -> usize {
        self.homes.len().max(1)
    }

    pub fn spread(&self) -> usize {
        self.spread
    }

    /// Block `b`'s claim counter.
    pub fn next(&self, b: usize) -> &AtomicUsize {
        if self.homes.is_empty() { &self.single } else { &self.homes[b] }
    }

    /// Block `b`'s first item.
    pub fn first(&self, b: usize) -> usize {
        if self.homes.is_empty() { 0 } else { b * self.len }
    }

    /// One past block `b`'s last item (the last block: no bound of its own).
    pub fn end(&self, b: usize) -> usize {
        if b + 1 == self.count() { usize::MAX } else { (b + 1) * self.len }
    }

    /// Worker `worker`'s own block.
    pub fn home(&self, worker: u32) -> usize {
        worker as usize % self.count()
    }

    /// The blocks in the order worker `worker` tries them: its own, then
    /// the ones after it in turn (so helpers spread over the others).
    pub fn order(&self, worker: u32) -> impl Iterator<Item = usize> {
        let (count, home) = (self.count(), self.home(worker));
        (home..count).chain(0..home)
    }

    /// Fetch the other blocks' counters into this core's caches while the
    /// worker runs its own block whole: when it is through, it looks at
    /// them for items to help with, and they have not changed since their
    /// owners took their blocks (that look waited for a line from another
    /// core, with the map's end waiting for it).
    pub fn prefetch_others(&self, worker: u32) {
        for b in self.order(worker).skip(1) {
            crate::util::prefetch(self.next(b));
        }
    }

    /// Unclaimed items of block `b` below `limit`.
    pub fn left(&self, b: usize, limit: usize) -> usize {
        limit.min(self.end(b)).saturating_sub(self.next(b).load(Ordering::Acquire))
    }

    /// Unclaimed items below `limit`, in all blocks.
    pub fn total_left(&self, limit: usize) -> usize {
        (0..self.count()).map(|b| self.left(b, limit)).sum()
    }

    /// Claim every item left below `n` at once (a stopping map): the ranges
    /// no worker will claim now. Each item is returned once, however many
    /// threads call this.
    pub fn take_rest(&self, n: usize) -> impl Iterator<Item = Range<usize>> + '_ {
        (0..self.count()).filter_map(move |b| {
            let end = self.end(b).min(n);
            let rest = self.next(b).swap(end, Ordering::AcqRel);
            (rest < end).then_some(rest..end)
        })
    }
}

/// Whether the owners of home blocks claim them whole, in one claim each
/// (as OpenMP's static schedule runs a thread's share), learned per pool
/// from the maps before: whichever way has run its short maps faster per
/// item. Each claim after a range of cheap items costs ~135 ns (its
/// compare-and-swap waits for the range's stores, and `Pace` reads the
/// clock), and a guided map of cheap items makes several per worker; whole
/// blocks make one, but a skewed map then waits for its slowest block.
/// Which costs more depends on the items and on the machine. (Judging maps
/// by how evenly their workers ran out, as this did before, sent a quarter
/// to half of a loop of even maps down the guided way, each 6-10% slower,
/// on a machine whose threads lose their CPUs now and then: guided claims
/// cannot help a worker that lost its CPU in the middle of one.)
///
/// So the time decides, in medians (`ways::TwoWays`, which says how the
/// other way is tried now and then). Maps expected to be long are guided:
/// there the claims' cost is lost in the work, an uneven split is not. A
/// block no one has claimed, as a late worker's, is still taken in guided
/// claims by others.
pub(crate) struct Balance {
    state: Mutex<BalanceState>,
    /// The most items the next map may have and use whole blocks (0:
    /// none), worked out as the last one ends: the next map's start reads
    /// one word (it is where a handoff waits).
    whole_up_to: AtomicUsize,
}

struct BalanceState {
    /// Whole blocks (true) or guided claims, by their short maps' median
    /// nanoseconds per item.
    ways: TwoWays,
    /// The last map's items and time: its pace.
    last_items: usize,
    last_took: Duration,
}

/// Only maps at most this long may use whole blocks: in longer ones the
/// claims' cost is lost in the work, an uneven split is not.
const SHORT_MAP: Duration = Duration::from_micros(500);
/// Maps in a trial of the way not in favour.
const TRIAL: u32 = 8;
/// Short maps between trials; at most `MAX_RETRY`.
const RETRY_AFTER: u32 = 16;
const MAX_RETRY: u32 = 1024;
/// The first map: guided, to learn the pace; then whole blocks, with a
/// trial of guided claims soon. Short maps are noisy: many maps a trial.
const TUNING: Tuning = Tuning { trial: TRIAL, first_trial_after: 2, retry_after: RETRY_AFTER, max_retry: MAX_RETRY };

impl Balance {
    pub fn new() -> Balance {
        let state = BalanceState { ways: TwoWays::new(true, TUNING), last_items: 1, last_took: Duration::ZERO };
        Balance { state: Mutex::new(state), whole_up_to: AtomicUsize::new(0) }
    }

    /// Do the owners of a map of `items` claim their blocks whole?
    pub fn whole_blocks(&self, items: usize) -> bool {
        items <= self.whole_up_to.load(Ordering::Relaxed)
    }

    /// A map with home blocks ran (`Job::balance`).
    pub fn map_ran(&self, run: MapRun) {
        let mut s = self.state.lock();
        (s.last_items, s.last_took) = (run.items, run.took);
        if run.took <= SHORT_MAP {
            s.ways.learn(run.whole, run.took.as_nanos() as f64 / run.items.max(1) as f64);
        }
        // Maps expected to be short at the last one's pace.
        let up_to = match s.ways.next() {
            true => SHORT_MAP.as_nanos() * s.last_items.max(1) as u128 / s.last_took.as_nanos().max(1),
            false => 0,
        };
        self.whole_up_to.store(usize::try_from(up_to).unwrap_or(usize::MAX), Ordering::Relaxed);
    }
}

/// How a map with home blocks went: whether its blocks were claimed whole,
/// its items, and how long it took.
pub(crate) struct MapRun {
    pub whole: bool,
    pub items: usize,
    pub took: Duration,
}

/// How long a claim of a big map should run at least: claims shrink toward
/// the grain only while items are slow enough that a claim per few items
/// costs little. (Halving down to single items, a cache-resident map of
/// cheap items made ~16 claims per worker, the last dozen all overhead.)
const CLAIM_TIME: Duration = Duration::from_micros(1);

/// A worker's pace in one map: from its last claim's items per second, the
/// fewest items a claim takes (whole grains) so that it runs `CLAIM_TIME`.
/// Only maps with home blocks keep one: a small map never reads the clock.
pub(crate) struct Pace {
    /// When the last claim was made.
    since: Option<Instant>,
    grain: usize,
    floor: usize,
}

impl Pace {
    pub fn new(timed: bool, grain: usize) -> Pace {
        Pace { since: timed.then(Instant::now), grain, floor: 0 }
    }

    pub fn floor(&self) -> usize {
        self.floor
    }

    /// The last claim ran `items` (and the next one is made now).
    pub fn ran(&mut self, items: usize) {
        if let Some(since) = self.since.as_mut() {
            let now = Instant::now();
            self.floor = claim_floor(items, now - *since, self.grain);
            *since = now;
        }
    }
}

/// Whole grains that run for `CLAIM_TIME` when `items` took `took`.
fn claim_floor(items: usize, took: Duration, grain: usize) -> usize {
    let per_claim = items as u128 * CLAIM_TIME.as_nanos() / took.as_nanos().max(1);
    usize::try_from(per_claim).unwrap_or(usize::MAX).div_ceil(grain).saturating_mul(grain)
}

#[cfg(test)]
mod tests {
    use super::{claim_floor, Balance, Blocks, MapRun, RETRY_AFTER, TRIAL};
    use crate::invoker::kernel::claim_size;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// Claim as `worker` would, whole blocks in its order; the claims.
    fn drain(b: &Blocks, n: usize, grain: usize, worker: u32, mut budget: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for k in b.order(worker) {
            while budget > 0 {
                let cur = b.next(k).load(Ordering::Relaxed);
                let Some(size) = claim_size(b.left(k, n), true, grain, b.spread(), usize::MAX, usize::MAX) else { break };
                b.next(k).store(cur + size, Ordering::Relaxed);
                out.push((cur, cur + size));
                budget -= 1;
            }
        }
        out
    }

    #[test]
    fn home_blocks_come_first_and_every_item_is_claimed_once() {
        for &(n, jobs, grain) in &[(1000, 2, 1), (1001, 4, 7), (99_999, 3, 10), (10, 4, 3), (5, 8, 1)] {
            let b = Blocks::per_worker(n, jobs, grain);
            // Worker 1 starts in its own block when there is one.
            let first = drain(&b, n, grain, 1, 1);
            if b.count() > 1 {
                assert_eq!(first[0].0, b.end(0), "{n} items, {jobs} jobs: worker 1's first claim");
            }
            let mut claims = first;
            for w in 0..jobs as u32 {
                claims.extend(drain(&b, n, grain, w, usize::MAX));
            }
            claims.sort_unstable();
            let mut at = 0;
            for &(s, e) in &claims {
                assert_eq!(s, at, "{n} items, {jobs} jobs, grain {grain}: {claims:?}");
                assert!(e - s >= grain || e == n, "{n} items, {jobs} jobs, grain {grain}: short claim {s}..{e}");
                at = e;
            }
            assert_eq!(at, n);
            assert_eq!(b.total_left(n), 0);
        }
    }

    #[test]
    fn fast_items_make_claims_of_a_microsecond_slow_ones_leave_the_grain() {
        let us = Duration::from_micros;
        assert_eq!(claim_floor(25_000, us(6), 1), 4166);
        assert_eq!(claim_floor(25_000, us(6), 64), 4224, "whole grains");
        assert_eq!(claim_floor(10, us(1000), 1), 0, "slow items: the guided share alone");
        assert_eq!(claim_floor(usize::MAX, Duration::ZERO, 8), usize::MAX, "saturates");
    }

    /// Run `maps` maps of 1000 items on `b`, each taking `took(whole)` µs;
    /// how many used whole blocks.
    fn drive(b: &Balance, maps: usize, took: impl Fn(bool) -> u64) -> usize {
        (0..maps)
            .filter(|_| {
                let whole = b.whole_blocks(1000);
                b.map_ran(MapRun { whole, items: 1000, took: Duration::from_micros(took(whole)) });
                whole
            })
            .count()
    }

    #[test]
    fn whole_blocks_follow_whichever_way_ran_faster() {
        let (even, skewed) = (|w| if w { 15 } else { 20 }, |w| if w { 40 } else { 20 });
        let b = Balance::new();
        assert!(!b.whole_blocks(1000), "the first map is guided");
        assert_eq!(drive(&b, 1, even), 0);
        assert!(b.whole_blocks(1000), "then whole blocks");
        assert!(!b.whole_blocks(100_000), "a map expected to be long, at the last one's pace");
        assert_eq!(drive(&b, 2 + TRIAL as usize, even), 2, "two, then a trial of guided claims, which loses");
        assert!(b.whole_blocks(1000));
        // Even maps: trials after 16, 32, 64, ... maps, up to MAX_RETRY.
        let guided = 4000 - drive(&b, 4000, even);
        assert_eq!(guided % TRIAL as usize, 0);
        assert!((7..=9).contains(&(guided / TRIAL as usize)), "trials among 4000 even maps: {}", guided / TRIAL as usize);
        // One map whose thread lost its CPU moves the running median one
        // step, as any other.
        assert_eq!(drive(&b, 1, |_| 400), 1);
        assert!(b.whole_blocks(1000), "one slow map does not start a trial");
        // The items turn skewed: whole blocks wait for the slowest block.
        // Their running median passes guided's (by MARGIN) within about 24
        // maps, guided claims win the trial that follows, then whole
        // blocks lose theirs after 16, 32, 64 maps.
        let whole = drive(&b, 200, skewed);
        assert!(whole <= 24 + 3 * TRIAL as usize, "whole maps among 200 skewed ones: {whole}");
        assert!(!b.whole_blocks(1000));
        // And even again: whole blocks win their next trial, which comes
        // within 128 maps.
        let guided = 400 - drive(&b, 400, even);
        assert!(guided <= 8 * RETRY_AFTER as usize + TRIAL as usize, "guided maps among 400 even ones: {guided}");
        assert!(drive(&b, 15, even) == 15, "whole blocks stay");
        // A long map: the next map of as many items is expected long.
        b.map_ran(MapRun { whole: true, items: 1000, took: Duration::from_micros(5_000) });
        assert!(!b.whole_blocks(1000), "after a long map");
        assert!(b.whole_blocks(50), "a map short at that pace");
    }

    #[test]
    fn take_rest_hands_out_each_unclaimed_item_once() {
        let b = Blocks::per_worker(100, 4, 5);
        b.next(1).store(40, Ordering::Relaxed);
        let rest: Vec<_> = b.take_rest(100).collect();
        assert_eq!(rest, vec![0..25, 40..50, 50..75, 75..100]);
        assert_eq!(b.take_rest(100).count(), 0);
    }
}
