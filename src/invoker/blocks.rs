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
//! at the worker's last pace (`Pace`); and while a pool's maps are short
//! and come out even, each owner claims its block whole (`Balance`).

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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

    /// A home block per worker for `n` items: whole grains each, so every
    /// claim but the map's last is whole grains. One block when a worker's
    /// share would be under a grain. (Out of line: it allocates, and the
    /// maps whose latency counts never call it.)
    #[inline(never)]
    pub fn per_worker(n: usize, n_jobs: usize, grain: usize) -> Blocks {
        let len = n / n_jobs / grain * grain;
        if n_jobs < 2 || len == 0 {
            return Blocks::one(n_jobs);
        }
        let homes = (0..n_jobs).map(|b| CachePadded(AtomicUsize::new(b * len))).collect();
        // Half of what is left: the owner's first claim is half its block,
        // as a one-block map's first claim is half a worker's share.
        Blocks { single: AtomicUsize::new(0), homes, len, spread: 2 }
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
/// from the maps before. Each claim after a range of cheap items costs
/// ~135 ns (its compare-and-swap waits for the range's stores, and `Pace`
/// reads the clock); a short map of even items made ~5 per worker, for
/// balance it did not need. So: while maps are short and their workers run
/// out of items together, owners claim whole blocks, in a map expected to
/// be short too (its items at the last map's pace). A long map, or a
/// guided one whose workers ran out `EVEN_SPREAD` apart or more, makes the
/// next map guided. Two uneven maps with whole blocks in a row (one alone
/// is more often a worker that started late than an uneven split) make
/// the next ones guided, `RETRY_AFTER` of them, twice as many each time it
/// happens again before whole blocks come out even. A block no one has
/// claimed, as a late worker's, is still taken in guided claims by others.
pub(crate) struct Balance(Mutex<BalanceState>);

struct BalanceState {
    /// Guided maps to run before owners claim whole blocks (0: they do).
    guided_left: u32,
    /// The last map's items and time: its pace.
    last_items: usize,
    last_took: Duration,
    /// Uneven maps with whole blocks in a row.
    strikes: u32,
    /// Guided maps after the next two strikes.
    backoff: u32,
}

/// Workers that run out of items at most this far apart ran an even map.
const EVEN_SPREAD: Duration = Duration::from_micros(4);
/// Only maps at most this long may use whole blocks: in longer ones the
/// claims' cost is lost in the work, an uneven split is not.
const SHORT_MAP: Duration = Duration::from_micros(500);
/// Guided maps after whole blocks came out uneven; at most `MAX_BACKOFF`.
const RETRY_AFTER: u32 = 16;
const MAX_BACKOFF: u32 = 4096;

impl Balance {
    pub fn new() -> Balance {
        // The first map: guided, and measured.
        Balance(Mutex::new(BalanceState { guided_left: 1, last_items: 1, last_took: Duration::ZERO, strikes: 0, backoff: RETRY_AFTER }))
    }

    /// Do the owners of a map of `items` claim their blocks whole?
    pub fn whole_blocks(&self, items: usize) -> bool {
        let s = self.0.lock();
        let expected = s.last_took.as_nanos() * items as u128 / s.last_items.max(1) as u128;
        s.guided_left == 0 && expected <= SHORT_MAP.as_nanos()
    }

    /// A map with home blocks ran (`Job::balance`).
    pub fn map_ran(&self, MapRun { whole, items, took, spread }: MapRun) {
        let mut s = self.0.lock();
        (s.last_items, s.last_took) = (items, took);
        if took > SHORT_MAP {
            s.guided_left = s.guided_left.max(1);
            s.strikes = 0;
        } else if spread < EVEN_SPREAD {
            s.guided_left = s.guided_left.saturating_sub(1);
            if whole {
                (s.strikes, s.backoff) = (0, RETRY_AFTER);
            }
        } else if !whole {
            s.guided_left = s.guided_left.max(1);
        } else if s.strikes == 0 {
            s.strikes = 1;
        } else {
            s.strikes = 0;
            s.guided_left = s.backoff;
            s.backoff = (s.backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// How a map with home blocks went: whether its blocks were claimed whole,
/// its items, how long it took, and how far apart its first and last
/// workers ran out of items.
pub(crate) struct MapRun {
    pub whole: bool,
    pub items: usize,
    pub took: Duration,
    pub spread: Duration,
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
    use super::{claim_floor, Balance, Blocks, MapRun, RETRY_AFTER};
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

    #[test]
    fn whole_blocks_follow_short_even_maps_and_back_off_from_uneven_ones() {
        let us = Duration::from_micros;
        let run = |b: &Balance, whole, took, spread| b.map_ran(MapRun { whole, items: 1000, took: us(took), spread: us(spread) });
        let even = |b: &Balance, whole| run(b, whole, 15, 1);
        let uneven = |b: &Balance, whole| run(b, whole, 30, 12);
        let long = |b: &Balance| run(b, false, 5_000, 1);
        let b = Balance::new();
        assert!(!b.whole_blocks(1000), "the first map is guided");
        even(&b, false);
        assert!(b.whole_blocks(1000), "after a short, even map");
        assert!(!b.whole_blocks(100_000), "a map expected to be long, at the last one's pace");
        uneven(&b, true);
        assert!(b.whole_blocks(1000), "one uneven map with whole blocks: more likely a late worker");
        even(&b, true);
        uneven(&b, true);
        assert!(b.whole_blocks(1000), "the strikes start over after an even map");
        // Two in a row: RETRY_AFTER guided maps, then twice as many, and so on.
        for backoff in [RETRY_AFTER, 2 * RETRY_AFTER, 4 * RETRY_AFTER] {
            uneven(&b, true);
            assert!(!b.whole_blocks(1000), "two uneven maps with whole blocks in a row");
            for _ in 1..backoff {
                even(&b, false);
                assert!(!b.whole_blocks(1000), "backing off for {backoff}");
            }
            even(&b, false);
            assert!(b.whole_blocks(1000), "after {backoff} even guided maps");
            uneven(&b, true);
        }
        // Whole blocks that come out even again reset the backoff.
        even(&b, true);
        uneven(&b, true);
        uneven(&b, true);
        for _ in 0..RETRY_AFTER {
            assert!(!b.whole_blocks(1000));
            even(&b, false);
        }
        assert!(b.whole_blocks(1000));
        long(&b);
        assert!(!b.whole_blocks(1000), "a long map");
        long(&b);
        assert!(!b.whole_blocks(1000), "long maps stay guided");
        uneven(&b, false);
        assert!(!b.whole_blocks(1000), "an uneven guided map");
        even(&b, false);
        assert!(b.whole_blocks(1000));
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
