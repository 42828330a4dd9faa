//! A worker's range calls write their results into a small private buffer,
//! which is then streamed into the ring; the parent streams the arguments
//! in. A pool stages its range maps where that has run them faster
//! (`Parent::staging`, a `ways::TwoWays`).
//!
//! Why: the ring's lines pass between processes, and a store to a line
//! that another core's cache holds waits for that copy to be invalidated.
//! Where that wait is long (cores on other sockets, or on chiplets with
//! their own L3; on the development VM, in spells where its two vCPUs ran
//! a one-buffer ping-pong 5-10 times slower), a map of 10^7 u64 took 20 ms
//! against 8.5: the parent had just read every result line of the last
//! pass round the ring, and the workers every argument line. Streaming
//! stores write whole lines without asking for them first; staged, the
//! map took 12 ms. Where the lines pass cheaply, streaming only adds
//! memory traffic (13 against 8.5 ms), so the time decides.

use super::copy::copy_bytes;
use crate::invoker::kernel::{Lane, Tally};

/// The buffer's size: results of one range call, within a core's L2.
pub(super) const STAGE_BYTES: usize = 64 << 10;
/// The most a call's staged results may take when a grain asks for more
/// than `STAGE_BYTES`: a bigger grain runs unstaged (its buffer would
/// grow toward a copy of the map's results).
const STAGE_MAX_BYTES: usize = 1 << 20;

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([u8; 64]);

#[derive(Default)]
pub(super) struct Stage {
    lines: Vec<Line>,
}

impl Stage {
    /// Items per range call for a lane whose results are staged: whole
    /// grains (so every call keeps at least a grain), at least one grain;
    /// `None` where a grain's results are too big to stage.
    pub(super) fn items_per_call(result_size: usize, grain: usize) -> Option<usize> {
        let grain = grain.max(1);
        let per_call = (STAGE_BYTES / result_size.max(1) / grain).max(1) * grain;
        (per_call.checked_mul(result_size)? <= STAGE_MAX_BYTES).then_some(per_call)
    }

    /// Run relative items `lane.first .. end` of a range lane, at most
    /// `per_call` items a call, each call's results staged and streamed to
    /// the lane's result slots before `tally` hears they finished. Returns
    /// the first item not run, as `Lane::run`.
    pub(super) fn run<T: Tally>(&mut self, lane: &Lane<'_>, end: usize, per_call: usize, tally: &T) -> usize {
        let size = lane.result_size;
        // Room for a call's results at any offset within a line: the
        // staged slots keep the ring slots' alignment (up to 64 bytes).
        let lines = (per_call * size).div_ceil(64) + 1;
        if self.lines.len() < lines {
            self.lines.resize(lines, Line([0; 64]));
        }
        let mut at = lane.first;
        while at < end {
            let to = end.min(at + per_call);
            let tail = lane.rest_at(at);
            let ring = tail.results;
            // SAFETY: `ring % 64 < 64` bytes into the buffer, which has a
            // line more than the call's results need.
            let staged = unsafe { self.lines.as_mut_ptr().cast::<u8>().add(ring as usize % 64) };
            let call = Lane { results: staged, ..tail };
            let ran = call.run(to, &Streamed { tally, first: at, staged, ring, size }, false);
            if ran < to {
                return ran;
            }
            at = to;
        }
        end
    }
}

/// A tally that streams the staged results of what finished to the ring
/// before passing the news on: the parent takes an item's result once it
/// hears the item finished, and a worker that dies after that must not
/// take the result with it.
struct Streamed<'a, T> {
    tally: &'a T,
    first: usize,
    staged: *mut u8,
    ring: *mut u8,
    size: usize,
}

impl<T: Tally> Tally for Streamed<'_, T> {
    fn failed(&self, rel: usize, code: i32) {
        self.tally.failed(rel, code);
    }

    fn starting(&self, rel: usize, end: usize) {
        self.tally.starting(rel, end);
    }

    fn finished(&self, rel: usize, count: usize) -> bool {
        let off = (rel - self.first) * self.size;
        // SAFETY: items `rel .. rel + count` lie in this call's part of the
        // buffer and of the lane's result slots (the lane's promise); they
        // do not overlap (one is private memory, the other the ring).
        unsafe { copy_bytes(self.ring.add(off), self.staged.add(off), count * self.size, true) };
        self.tally.finished(rel, count)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use super::{Stage, STAGE_BYTES};
    use crate::invoker::kernel::{Lane, Range, Tally, RANGE_STOPPED};
    use crate::invoker::{Func, Op};
    use crate::util::SendPtr;
    use std::cell::RefCell;

    /// What the range function needs to check and steer a call.
    struct Model {
        stop_at: AtomicUsize,
        /// The ring's first result slot: a staged call's results must sit
        /// at the same offset within a line as their ring slots.
        ring: usize,
        misplaced: AtomicUsize,
    }

    /// Result `[a * 3 + 1, a]` per argument `a`; 7 fails its item; 5 stops
    /// the map (as a failure elsewhere would) and returns
    /// `LK_RANGE_STOPPED` there.
    unsafe extern "C" fn triple(model: *const std::ffi::c_void, args: *const std::ffi::c_void, results: *mut std::ffi::c_void, range: *mut Range) -> i32 {
        // SAFETY: the test passes a `Model`, `u64` arguments, `[u64; 2]`
        // results, and a range over them.
        unsafe {
            let (m, r) = (&*model.cast::<Model>(), &mut *range);
            if results as usize % 64 != (m.ring + r.begin * 16) % 64 {
                m.misplaced.fetch_add(1, Ordering::SeqCst);
            }
            for (k, i) in (r.begin..r.end).enumerate() {
                let a = *args.cast::<u64>().add(k);
                if a == 7 || a == 5 {
                    r.failed = i;
                    if a == 5 {
                        m.stop_at.store(0, Ordering::SeqCst);
                        return RANGE_STOPPED;
                    }
                    return 9;
                }
                results.cast::<[u64; 2]>().add(k).write([a * 3 + 1, a]);
            }
            0
        }
    }

    /// Checks, as each piece of news comes, that the ring holds the results
    /// of the items it names.
    struct Check<'a> {
        args: &'a [u64],
        ring: *const [u64; 2],
        news: RefCell<Vec<(usize, usize)>>,
        failed: RefCell<Vec<usize>>,
    }

    impl Tally for Check<'_> {
        fn failed(&self, rel: usize, code: i32) {
            assert_eq!(code, 9);
            self.failed.borrow_mut().push(rel);
        }
        fn finished(&self, rel: usize, count: usize) -> bool {
            for i in rel..rel + count {
                let a = self.args[i];
                if a != 7 {
                    // SAFETY: the ring has a slot per argument.
                    assert_eq!(unsafe { *self.ring.add(i) }, [a * 3 + 1, a], "item {i} finished before its result reached the ring");
                }
            }
            self.news.borrow_mut().push((rel, count));
            false
        }
    }

    struct Ran {
        returned: usize,
        news: Vec<(usize, usize)>,
        failed: Vec<usize>,
        ring: Vec<[u64; 2]>,
        status: Vec<i32>,
    }

    /// Items `first .. args.len()` through a stage, into a ring whose first
    /// slot lies `skew` bytes past a line.
    fn run(args: &[u64], first: usize, keep_going: bool, skew: usize) -> Ran {
        let mut lines = vec![[0u64; 8]; args.len() * 2 / 8 + 2];
        let ring = lines.as_mut_ptr().cast::<u8>().wrapping_add(skew).cast::<[u64; 2]>();
        let model = Model { stop_at: AtomicUsize::new(usize::MAX), ring: ring as usize, misplaced: AtomicUsize::new(0) };
        let op = Op { func: Func::Range(triple), model: SendPtr((&model as *const Model).cast_mut().cast()) };
        let cancel = AtomicU64::new(1);
        let mut status = vec![0i32; args.len()];
        let lane = Lane {
            op: &op,
            worker: 0,
            index_base: 0,
            seed_base: 0,
            seeds: false,
            keep_going,
            first,
            args: args[first..].as_ptr().cast(),
            arg_size: 8,
            results: ring.wrapping_add(first).cast(),
            result_size: 16,
            status: status[first..].as_mut_ptr(),
            zeros_kept: true,
            stop_at: &model.stop_at,
            cancel: &cancel,
            epoch: 1,
        };
        let check = Check { args, ring, news: RefCell::default(), failed: RefCell::default() };
        let per_call = Stage::items_per_call(16, 3).unwrap();
        let returned = Stage::default().run(&lane, args.len(), per_call, &check);
        assert_eq!(model.misplaced.load(Ordering::SeqCst), 0, "staged results not aligned as their ring slots");
        // SAFETY: the ring has a slot per argument.
        let ring = unsafe { std::slice::from_raw_parts(ring, args.len()) }.to_vec();
        Ran { returned, news: check.news.into_inner(), failed: check.failed.into_inner(), ring, status }
    }

    #[test]
    fn calls_are_whole_grains_of_a_stage_and_every_result_lands() {
        let per_call = Stage::items_per_call(16, 3).unwrap();
        assert!(per_call % 3 == 0 && per_call * 16 <= STAGE_BYTES && (per_call + 3) * 16 > STAGE_BYTES);
        assert_eq!(Stage::items_per_call(16, 10_000), Some(10_000), "a grain bigger than the stage is one call");
        assert_eq!(Stage::items_per_call(8, 1 << 20), None, "8 MiB a grain is not staged");
        assert_eq!(Stage::items_per_call(8, usize::MAX), None);
        assert_eq!(Stage::items_per_call(usize::MAX, 1), None);
        let args: Vec<u64> = (100..100 + 2 * per_call as u64 + 50).collect();
        for skew in [0, 8, 16, 48] {
            for first in [0, 5] {
                let r = run(&args, first, true, skew);
                assert_eq!(r.returned, args.len());
                let want: Vec<(usize, usize)> = [(first, per_call), (first + per_call, per_call), (first + 2 * per_call, args.len() - first - 2 * per_call)].into();
                assert_eq!(r.news, want, "skew {skew}, first {first}");
                for i in first..args.len() {
                    assert_eq!(r.ring[i], [args[i] * 3 + 1, args[i]], "skew {skew}, first {first}, item {i}");
                }
                assert!(r.ring[..first].iter().all(|s| *s == [0, 0]), "nothing before the lane is written");
            }
        }
    }

    #[test]
    fn failures_and_stops_stream_what_ran_before_them() {
        let per_call = Stage::items_per_call(16, 3).unwrap();
        let mut args: Vec<u64> = (100..100 + 2 * per_call as u64).collect();
        // Keep-going: the rest of a failing call runs; its result is
        // streamed with the items around it (the ring slot is unspecified).
        args[10] = 7;
        args[per_call + 20] = 7;
        let r = run(&args, 0, true, 8);
        assert_eq!((r.returned, r.failed.clone()), (args.len(), vec![10, per_call + 20]));
        assert_eq!((r.status[10], r.status[per_call + 20], r.status[11]), (9, 9, 0));
        assert_eq!(r.news.iter().map(|n| n.1).sum::<usize>(), args.len());
        // Fail-fast: the call stops at the failure, nothing after it runs.
        let r = run(&args, 0, false, 8);
        assert_eq!((r.returned, r.failed), (11, vec![10]));
        assert_eq!(r.ring[9], [args[9] * 3 + 1, args[9]]);
        assert_eq!(r.ring[11], [0, 0]);
        // A stop inside the second call: the items before it are streamed,
        // none from it on.
        args[10] = 10;
        args[per_call + 20] = 5;
        let r = run(&args, 0, true, 0);
        assert_eq!(r.returned, per_call + 20);
        assert_eq!(r.news, [(0, per_call), (per_call, 20)]);
        assert_eq!(r.ring[per_call + 19], [args[per_call + 19] * 3 + 1, args[per_call + 19]]);
        assert_eq!(r.ring[per_call + 20], [0, 0]);
    }
}
