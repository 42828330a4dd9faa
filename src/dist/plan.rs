//! How a distributed map cuts its items among ranks: the same plan on every rank.

use std::ops::Range;

use super::Schedule;

/// CYCLIC and DYNAMIC aim at this many chunks per rank: enough to balance a
/// skewed cost within a few percent, few enough to keep per-chunk costs small.
const CHUNKS_PER_RANK: usize = 64;
/// ... and at least this many items per worker thread in a chunk, so a
/// rank's threads do not idle at every chunk's end.
const MIN_CHUNK_PER_THREAD: usize = 4;

/// How the items are cut up, the same on every rank.
pub(super) struct Plan {
    pub n: usize,
    pub size: usize,
    pub rank: usize,
    pub schedule: Schedule,
    /// Items per chunk (CYCLIC, DYNAMIC).
    pub chunk: usize,
}

impl Plan {
    pub fn new(n: usize, size: usize, rank: usize, schedule: Schedule, max_threads: usize) -> Plan {
        let chunk = n.div_ceil(size * CHUNKS_PER_RANK).max(MIN_CHUNK_PER_THREAD * max_threads).clamp(1, n.max(1));
        Plan { n, size, rank, schedule, chunk }
    }

    pub fn block(&self, r: usize) -> Range<usize> {
        let at = |r: usize| ((self.n as u128 * r as u128) / self.size as u128) as usize;
        at(r)..at(r + 1)
    }

    pub fn n_chunks(&self) -> usize {
        self.n.div_ceil(self.chunk)
    }

    pub fn chunk_range(&self, j: usize) -> Range<usize> {
        j * self.chunk..((j + 1) * self.chunk).min(self.n)
    }

    /// CYCLIC: this rank's chunks, in order.
    pub fn my_cyclic_chunks(&self) -> impl Iterator<Item = usize> {
        (self.rank..self.n_chunks()).step_by(self.size)
    }

    /// BLOCK, CYCLIC: how many items this rank runs (None: DYNAMIC, known only afterwards).
    pub fn share(&self) -> Option<usize> {
        match self.schedule {
            Schedule::Block => Some(self.block(self.rank).len()),
            Schedule::Cyclic => Some(self.my_cyclic_chunks().map(|j| self.chunk_range(j).len()).sum()),
            Schedule::Dynamic => None,
        }
    }

    /// Items of this rank's arguments when only rank 0 has them (DYNAMIC:
    /// all of them, since any rank may claim any chunk).
    pub fn my_arg_items(&self) -> usize {
        self.share().unwrap_or(self.n)
    }

    /// BLOCK, CYCLIC: this rank's items as ranges, in order, adjacent ones merged.
    pub fn owned_ranges(&self) -> Vec<Range<usize>> {
        let pieces: Vec<Range<usize>> = match self.schedule {
            Schedule::Block => vec![self.block(self.rank)],
            Schedule::Cyclic => self.my_cyclic_chunks().map(|j| self.chunk_range(j)).collect(),
            Schedule::Dynamic => Vec::new(),
        };
        let mut out: Vec<Range<usize>> = Vec::with_capacity(pieces.len());
        for p in pieces.into_iter().filter(|p| !p.is_empty()) {
            match out.last_mut() {
                Some(last) if last.end == p.start => last.end = p.end,
                _ => out.push(p),
            }
        }
        out
    }

    /// DYNAMIC with compact results: ranks claim whole chunks only while
    /// they fit their capacities; make the chunks small enough that the
    /// capacities of all ranks (`caps`) hold every chunk. Needs
    /// `sum(caps) >= n`, under which chunks of 1 always fit.
    pub fn fit_chunk(&mut self, caps: &[usize]) {
        let fits = |c: usize| caps.iter().fold(0usize, |s, &cap| s.saturating_add(cap / c)) >= self.n.div_ceil(c);
        while self.chunk > 1 && !fits(self.chunk) {
            self.chunk = self.chunk.div_ceil(2);
        }
    }

    /// The rounds of an exchange in place: at most one contiguous part per
    /// rank each. `owners[j]` is chunk j's rank (DYNAMIC).
    pub fn rounds(&self, owners: Option<&[Option<usize>]>) -> Vec<Parts> {
        match self.schedule {
            Schedule::Block => {
                let mut p = Parts::new(self.size);
                for r in 0..self.size {
                    let b = self.block(r);
                    p.set(r, b.start, b.len());
                }
                vec![p]
            }
            Schedule::Cyclic => (0..self.n_chunks())
                .step_by(self.size)
                .map(|first| {
                    let mut p = Parts::new(self.size);
                    for r in 0..self.size {
                        if first + r < self.n_chunks() {
                            let c = self.chunk_range(first + r);
                            p.set(r, c.start, c.len());
                        }
                    }
                    p
                })
                .collect(),
            Schedule::Dynamic => {
                let owners = owners.expect("DYNAMIC rounds need the owners");
                let mut rounds = Vec::new();
                let mut cur = Parts::new(self.size);
                for (j, owner) in owners.iter().enumerate() {
                    let Some(r) = *owner else { continue };
                    let c = self.chunk_range(j);
                    if cur.counts[r] == 0 {
                        cur.set(r, c.start, c.len());
                    } else if cur.displs[r] + cur.counts[r] == c.start {
                        cur.counts[r] += c.len();
                    } else {
                        rounds.push(std::mem::replace(&mut cur, Parts::new(self.size)));
                        cur.set(r, c.start, c.len());
                    }
                }
                rounds.push(cur);
                rounds
            }
        }
    }
}

/// One collective's parts: rank r's is `counts[r]` items at item `displs[r]`.
pub(super) struct Parts {
    pub counts: Vec<usize>,
    pub displs: Vec<usize>,
}

impl Parts {
    pub fn new(size: usize) -> Parts {
        Parts { counts: vec![0; size], displs: vec![0; size] }
    }
    pub fn set(&mut self, r: usize, start: usize, len: usize) {
        self.displs[r] = if len == 0 { 0 } else { start };
        self.counts[r] = len;
    }
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_every_item_once() {
        for n in [1usize, 2, 3, 7, 100, 1000, 4097] {
            for size in 1..=5 {
                for schedule in [Schedule::Block, Schedule::Cyclic] {
                    let plan = Plan::new(n, size, 0, schedule, 2);
                    let mut seen = vec![0u8; n];
                    for parts in plan.rounds(None) {
                        for r in 0..size {
                            for s in &mut seen[parts.displs[r]..parts.displs[r] + parts.counts[r]] {
                                *s += 1;
                            }
                        }
                    }
                    assert!(seen.iter().all(|&s| s == 1), "n {n} size {size} {schedule:?}");
                    let mine: usize = (0..size).map(|r| Plan::new(n, size, r, schedule, 2).my_arg_items()).sum();
                    assert_eq!(mine, n);
                }
                let plan = Plan::new(n, size, 0, Schedule::Dynamic, 1);
                let owners: Vec<Option<usize>> =
                    (0..plan.n_chunks()).map(|j| if j % 5 == 4 { None } else { Some((j * 7 / 3) % size) }).collect();
                let mut seen = vec![0u8; n];
                for parts in plan.rounds(Some(&owners)) {
                    for r in 0..size {
                        for i in parts.displs[r]..parts.displs[r] + parts.counts[r] {
                            seen[i] += 1;
                            assert_eq!(owners[i / plan.chunk], Some(r));
                        }
                    }
                }
                for (i, s) in seen.iter().enumerate() {
                    assert_eq!(*s, u8::from(owners[i / plan.chunk].is_some()));
                }
            }
        }
    }

    #[test]
    fn owned_ranges_are_the_share_in_order() {
        for n in [0usize, 1, 5, 100, 4097] {
            for size in 1..=4 {
                for schedule in [Schedule::Block, Schedule::Cyclic] {
                    let mut owner = vec![usize::MAX; n];
                    for rank in 0..size {
                        let plan = Plan::new(n, size, rank, schedule, 2);
                        let ranges = plan.owned_ranges();
                        assert_eq!(ranges.iter().map(|r| r.len()).sum::<usize>(), plan.share().unwrap());
                        for w in ranges.windows(2) {
                            assert!(w[0].end < w[1].start, "in order, adjacent ones merged");
                        }
                        for r in ranges {
                            assert!(!r.is_empty());
                            for i in r {
                                assert_eq!(owner[i], usize::MAX);
                                owner[i] = rank;
                            }
                        }
                    }
                    assert!(owner.iter().all(|&o| o < size), "n {n} size {size} {schedule:?}");
                }
            }
        }
    }

    #[test]
    fn fitted_chunks_fit_the_capacities() {
        for (n, caps) in [(1000usize, vec![500, 500]), (1000, vec![1000, 0, 0]), (1000, vec![334, 333, 333]), (7, vec![3, 4]), (100, vec![40, 40, 40])] {
            let mut plan = Plan::new(n, caps.len(), 0, Schedule::Dynamic, 2);
            plan.fit_chunk(&caps);
            let slots: usize = caps.iter().map(|c| c / plan.chunk).sum();
            assert!(slots >= plan.n_chunks(), "n {n} caps {caps:?}: chunk {}", plan.chunk);
        }
    }
}
