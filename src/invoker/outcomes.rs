//! What a flow's item statuses say: the lowest failing item, how many
//! failed, and whether a worker died or timed out (the map's verdict).

use super::stream::Flow;
use super::{ITEM_SKIPPED, ITEM_TIMED_OUT, ITEM_WORKER_DIED};
use crate::error::{Error, Result};

/// The items' outcomes, read from their statuses as they are sunk.
#[derive(Default)]
pub(crate) struct Outcomes {
    /// Lowest failing item (relative) and its code; how many failed.
    failure: Option<(usize, i32)>,
    failed: usize,
    died: Option<usize>,
    timed_out: Option<usize>,
}

impl Outcomes {
    pub fn scan(&mut self, first: usize, status: &[i32]) {
        // Blocks of zeros (the common case) are passed at vector speed.
        for (b, block) in status.chunks(1024).enumerate().filter(|(_, b)| !crate::util::all_zero(b)) {
            for (i, &s) in block.iter().enumerate() {
                self.note(first + b * 1024 + i, s);
            }
        }
    }

    fn note(&mut self, rel: usize, s: i32) {
        match s {
            0 | ITEM_SKIPPED => {}
            ITEM_WORKER_DIED => _ = self.died.get_or_insert(rel),
            ITEM_TIMED_OUT => _ = self.timed_out.get_or_insert(rel),
            code => {
                self.failed += 1;
                // Blocks come in order: the first failure seen is the lowest.
                self.failure.get_or_insert((rel, code));
            }
        }
    }

    /// The items' verdict: as a map's (a dead or timed-out worker first,
    /// then the lowest failing item), or, for a stream that stopped at its
    /// lowest failing item (`by_index`), that item's.
    pub fn verdict(&self, by_index: bool, flow: &mut dyn Flow, index_base: usize) -> Result<()> {
        let died = self.died.map(|r| (r, Error::WorkerDied(flow.death(r))));
        let timed = self.timed_out.map(|r| (r, Error::Timeout(flow.death(r))));
        let failed = self
            .failure
            .map(|(r, code)| (r, Error::Callback { index: index_base.wrapping_add(r), code, failed: self.failed }));
        let first = if by_index {
            [died, timed, failed].into_iter().flatten().min_by_key(|(r, _)| *r)
        } else {
            died.or(timed).or(failed)
        };
        match first {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_finds_what_lies_past_blocks_of_zeros() {
        // A failure late in a block, past whole blocks and in the short tail.
        for at in [0, 63, 64, 1023, 1024, 2500, 3000] {
            let mut status = vec![0; 3001];
            status[at] = 7;
            let mut o = Outcomes::default();
            o.scan(10, &status[..1500]);
            o.scan(1510, &status[1500..]);
            assert_eq!((o.failure, o.failed), (Some((10 + at, 7)), 1), "failure at {at}");
        }
        let mut o = Outcomes::default();
        let mut status = vec![0; 2048];
        (status[5], status[1100], status[1200], status[2000], status[2047]) = (ITEM_SKIPPED, ITEM_WORKER_DIED, -3, ITEM_TIMED_OUT, -4);
        o.scan(0, &status);
        assert_eq!((o.failure, o.failed, o.died, o.timed_out), (Some((1200, -3)), 2, Some(1100), Some(2000)));
    }
}
