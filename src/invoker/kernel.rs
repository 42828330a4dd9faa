//! The per-item and per-range loops: the whole cost of a trivial item, and
//! the same code for threads and worker processes.
//!
//! A *lane* is a contiguous run of claimed items as they lie in memory
//! (the caller's arrays, `Items`, or a ring over them, `Space`). The loops
//! run it until its end or a stop, report failures to a `Tally`, and
//! return the first item they did not run. Items are numbered relative to
//! the map (`rel`); the task index is `index_base + rel`.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::{Func, Op, Task};
use crate::seed;
use crate::util::SendPtr;

/// Returned by a range function that stopped early because the map is
/// stopping (`lk_range_stopped`): the items from `range.failed` on did not run.
pub(crate) const RANGE_STOPPED: i32 = i32::MIN + 15;

/// What a range function is given (C: `lk_range`). The fields after
/// `worker` are the library's: what `lk_range_seed` and `lk_range_stopped`,
/// defined inline in the header, read.
#[repr(C)]
#[derive(Debug)]
pub struct Range {
    /// This call's items: task indices `begin .. end-1` (index_base applied).
    pub begin: usize,
    /// One past the last item of this call.
    pub end: usize,
    /// Written by the callback when it returns non-zero: the failing item's
    /// task index (preset to `begin`; a value outside `begin .. end-1` counts as `begin`).
    pub failed: usize,
    /// As `task->worker`: 0 .. n_jobs-1.
    pub worker: u32,
    /// Private: 1 when items have seeds, 0 with `LK_SEEDS_OFF`.
    pub seeds: u32,
    /// Private: `lk_range_seed(r, i)` is `lk_derive_seed(seed_base, i)`.
    pub seed_base: u64,
    /// Private: `begin` counted from the map's first item.
    pub offset: usize,
    /// Private: a `size_t` the library lowers to stop the map: ranges whose
    /// `offset` is at or past it are not to run.
    pub stop_at: *const c_void,
    /// Private: a `uint64_t` that changes when the invoker is cancelled.
    pub cancel_word: *const c_void,
    /// Private: `*cancel_word` when the map started.
    pub cancel_epoch: u64,
}

/// The caller's arrays: `n` arguments of `arg_size` bytes and `n` result slots.
/// A size of 0 means NULL is passed for that pointer.
#[derive(Clone, Copy)]
pub struct Items {
    pub args: SendPtr<u8>,
    pub arg_size: usize,
    pub results: SendPtr<u8>,
    pub result_size: usize,
    pub n: usize,
}

/// Where a job's items live: item `rel` is at slot `rel % ring` of each array.
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct Space {
    pub args: SendPtr<u8>,
    pub arg_size: usize,
    pub results: SendPtr<u8>,
    pub result_size: usize,
    /// Per-item statuses (null: none kept).
    pub status: SendPtr<i32>,
    /// Slots in the arrays: `usize::MAX` for a map's caller arrays (no wrap).
    pub ring: usize,
}

impl Space {
    pub fn slot(&self, rel: usize) -> usize {
        if self.ring == usize::MAX { rel } else { rel % self.ring }
    }
}

/// Where a lane's items lie and how a map is stopped.
pub struct Lane<'a> {
    pub op: &'a Op,
    pub worker: u32,
    /// Task index of relative item 0.
    pub index_base: usize,
    pub seed_base: u64,
    pub seeds: bool,
    pub keep_going: bool,
    /// The relative index of the lane's first item, and that item's
    /// argument, result and status slots (status null: none kept).
    pub first: usize,
    pub args: *const u8,
    pub arg_size: usize,
    pub results: *mut u8,
    pub result_size: usize,
    pub status: *mut i32,
    /// The status slots hold 0 already (a process ring keeps them so at
    /// rest): a range call that succeeds writes none.
    pub zeros_kept: bool,
    /// Items at or past this (relative) are not started.
    pub stop_at: &'a AtomicUsize,
    /// The invoker's cancel word, and its value when the map started.
    pub cancel: &'a AtomicU64,
    pub epoch: u64,
}

/// Where the loops report to; the threads backend and worker processes
/// each have one. The per-item hooks are empty for threads (inlined away).
pub trait Tally {
    /// Item `rel` failed with `code`; under fail-fast this stops the map.
    fn failed(&self, rel: usize, code: i32);
    /// Item (or range call) `rel` is about to start, up to `end`.
    #[inline(always)]
    fn starting(&self, _rel: usize, _end: usize) {}
    /// `count` items from `rel` have finished (run, failed included); true
    /// asks the loop to stop after them (a worker process that must retire).
    #[inline(always)]
    fn finished(&self, _rel: usize, _count: usize) -> bool {
        false
    }
}

impl<'a> Lane<'a> {
    /// The same lane from its item `at` on (a process worker's staged calls).
    #[cfg_attr(not(lk_fork), allow(dead_code))]
    pub fn rest_at(&self, at: usize) -> Lane<'a> {
        let off = at - self.first;
        Lane {
            first: at,
            args: slot(self.args, off, self.arg_size),
            results: slot(self.results, off, self.result_size).cast_mut(),
            status: if self.status.is_null() { self.status } else { self.status.wrapping_add(off) },
            ..*self
        }
    }

    #[inline(always)]
    fn stopped(&self, rel: usize) -> bool {
        (self.stop_at.load(Ordering::Relaxed) <= rel) | (self.cancel.load(Ordering::Relaxed) != self.epoch)
    }

    /// Run relative items `first .. end`; returns the first one not run
    /// (`end` when all ran). `per_item`: call `finished` after every item.
    #[inline]
    pub fn run<T: Tally>(&self, end: usize, tally: &T, per_item: bool) -> usize {
        match (self.op.func, !self.status.is_null() || per_item, self.seeds) {
            (Func::Item(f), false, true) => self.items::<T, false, true>(f, end, tally),
            (Func::Item(f), false, false) => self.items::<T, false, false>(f, end, tally),
            (Func::Item(f), true, true) => self.items::<T, true, true>(f, end, tally),
            (Func::Item(f), true, false) => self.items::<T, true, false>(f, end, tally),
            (Func::Range(f), ..) => self.ranges(f, end, tally),
        }
    }

    /// The per-item path. `GENERAL`: statuses are kept and `finished` is
    /// called per item (progress, worker processes); else once per lane.
    /// `SEEDS`: `task->seed` is the item's seed (else 0).
    ///
    /// Written for the loads and stores per item, which bound it (the call
    /// is a store and a load more): invariants live in locals, the pointers
    /// and seed key advance by addition, options that are off cost no
    /// branch, the task is written once per lane but for its index and
    /// seed, and the hot stop test needs no item position. Not inlined:
    /// alone, each variant gets the registers to itself. Against the loop
    /// before range maps (a task per item, the stop tested per position),
    /// the item rows ran 4-18% faster (the note of #14 has the figures).
    #[inline(never)]
    fn items<T: Tally, const GENERAL: bool, const SEEDS: bool>(&self, f: super::OpFn, end: usize, tally: &T) -> usize {
        let (model, status, seed_base) = (self.op.model.0, self.status, self.seed_base);
        let (stop_at, cancel, epoch) = (self.stop_at, self.cancel, self.epoch);
        let (arg_size, result_size, first, index_base) = (self.arg_size, self.result_size, self.first, self.index_base);
        let mut keys = seed::Keys::starting_at(index_base.wrapping_add(first) as u64);
        let mut arg = self.args;
        let mut result = self.results;
        // The callback gets the task as `const`: what stays put is written once.
        let mut task = Task { index: 0, seed: 0, worker: self.worker, reserved: 0 };
        let mut rel = first;
        while rel != end {
            // No stop below `end` is the whole hot test (`stop_at` only
            // falls); `stopped` then decides for this item.
            if ((stop_at.load(Ordering::Relaxed) < end) | (cancel.load(Ordering::Relaxed) != epoch)) && self.stopped(rel) {
                if !GENERAL {
                    tally.finished(first, rel - first);
                }
                return rel;
            }
            task.index = index_base.wrapping_add(rel);
            if SEEDS {
                task.seed = keys.next_seed(seed_base);
            }
            if GENERAL {
                tally.starting(rel, rel + 1);
            }
            // SAFETY: `arg` and `result` point at this item's slots (NULL for
            // size 0) in memory the map keeps valid until it returns; `f`
            // and `model` are the C caller's; `task` outlives the call, and
            // `f` only reads it (`const lk_task *`).
            let code = unsafe { f(model, arg.cast(), result.cast(), &task) };
            if GENERAL && !status.is_null() {
                // SAFETY: `status` has a slot per item of the lane.
                unsafe { *status.add(rel - first) = code };
            }
            if code != 0 {
                tally.failed(rel, code);
            }
            rel += 1;
            if GENERAL && tally.finished(rel - 1, 1) {
                return rel;
            }
            arg = arg.wrapping_add(arg_size);
            result = result.wrapping_add(result_size);
        }
        if !GENERAL {
            tally.finished(first, end - first);
        }
        end
    }

    /// The per-range path: one call for the lane; under keep-going, again
    /// for the rest after a failing item.
    fn ranges<T: Tally>(&self, f: super::RangeFn, end: usize, tally: &T) -> usize {
        let mut at = self.first;
        while at < end {
            if self.stopped(at) {
                return at;
            }
            let begin = self.index_base.wrapping_add(at);
            let mut range = Range {
                begin,
                end: self.index_base.wrapping_add(end),
                failed: begin,
                worker: self.worker,
                seeds: u32::from(self.seeds),
                seed_base: self.seed_base,
                offset: at,
                stop_at: (self.stop_at as *const AtomicUsize).cast(),
                cancel_word: (self.cancel as *const AtomicU64).cast(),
                cancel_epoch: self.epoch,
            };
            let off = at - self.first;
            tally.starting(at, end);
            // SAFETY: the args and results of items `at .. end` are
            // contiguous from these pointers (NULL for size 0) and valid
            // until the map returns; `range` lives across the call.
            let code = unsafe {
                f(
                    self.op.model.0,
                    slot(self.args, off, self.arg_size).cast(),
                    slot(self.results, off, self.result_size).cast_mut().cast(),
                    &mut range,
                )
            };
            if code == 0 {
                self.set_ok(at..end);
                tally.finished(at, end - at);
                return end;
            }
            // The failing item, counted from the map's start; out of range counts as `at`.
            let failed = range.failed.wrapping_sub(self.index_base);
            let failed = if (at..end).contains(&failed) { failed } else { at };
            self.set_ok(at..failed);
            if code == RANGE_STOPPED && self.stopped(at) {
                // The map is stopping: from `failed` on, the items did not run.
                tally.finished(at, failed - at);
                return failed;
            }
            self.set_status(failed..failed + 1, code);
            tally.failed(failed, code);
            let start = at;
            at = failed + 1;
            if tally.finished(start, at - start) || !self.keep_going {
                return at;
            }
        }
        end
    }

    fn set_ok(&self, rels: std::ops::Range<usize>) {
        if !self.zeros_kept {
            self.set_status(rels, 0);
        }
    }

    fn set_status(&self, rels: std::ops::Range<usize>, code: i32) {
        if !self.status.is_null() && !rels.is_empty() {
            // SAFETY: `status` has a slot per item of the lane, and `rels` lies in it.
            unsafe { std::slice::from_raw_parts_mut(self.status.add(rels.start - self.first), rels.len()) }.fill(code);
        }
    }
}

/// The slot `off` elements of `size` bytes past `base` (NULL stays NULL).
fn slot<T>(base: *const T, off: usize, size: usize) -> *const u8 {
    if base.is_null() || size == 0 {
        std::ptr::null()
    } else {
        base.cast::<u8>().wrapping_add(off * size)
    }
}

/// How many items a worker claims next (the threads' and the worker
/// processes' one schedule): guided, a `1/spread` share of the `left`
/// claimable items, in whole grains, at least one grain, at most `room`
/// (the items before the ring's end) and `cap` (recycling, rounded up to a
/// grain). `ends`: the claimable items reach the last one that will run, so
/// a tail shorter than a grain is taken, folded into this claim when it
/// fits. `None`: nothing to claim, or less than a grain and more to come.
///
/// Claims stay whole grains until the end, so a ring whose slot count is a
/// multiple of the grain never forces a short claim at its end.
pub(crate) fn claim_size(left: usize, ends: bool, grain: usize, spread: usize, room: usize, cap: usize) -> Option<usize> {
    let grain = grain.max(1);
    if left == 0 || (left < grain && !ends) {
        return None;
    }
    // The last grain or less, which fits: all of it, without the divisions
    // below (a 1-item map's whole claim; each division costs ~15 cycles).
    if left <= grain && left <= room {
        return Some(left);
    }
    let whole = |x: usize| if grain == 1 { x } else { x / grain * grain };
    let share = whole(left / spread.max(1)).max(grain);
    let cap = whole(cap).max(grain);
    let mut size = share.min(cap).min(room.max(1));
    if ends && left - size.min(left) < grain && left <= room {
        size = left;
    }
    Some(size.min(left))
}

#[cfg(test)]
mod claim_tests {
    use super::claim_size;

    /// Claim everything as one worker would; returns the claims.
    fn drain(n: usize, grain: usize, spread: usize, ring: usize) -> Vec<(usize, usize)> {
        let (mut cur, mut out) = (0, Vec::new());
        while let Some(size) = claim_size(n - cur, true, grain, spread, ring - cur % ring, usize::MAX) {
            out.push((cur, cur + size));
            cur += size;
        }
        assert_eq!(cur, n);
        out
    }

    #[test]
    fn claims_are_whole_grains_until_the_end() {
        for &(n, grain, spread, ring) in &[(99_999, 7, 2, usize::MAX), (1000, 100, 8, 300), (10, 3, 4, 6), (5, 100, 2, usize::MAX), (64, 1, 4, 64)] {
            let claims = drain(n, grain, spread, if ring == usize::MAX { ring } else { ring / grain * grain });
            for &(b, e) in &claims {
                assert!(e - b >= grain || e == n, "{n} items, grain {grain}: claim {b}..{e}");
            }
        }
    }

    #[test]
    fn less_than_a_grain_waits_unless_it_ends() {
        assert_eq!(claim_size(6, false, 7, 2, usize::MAX, usize::MAX), None);
        assert_eq!(claim_size(6, true, 7, 2, usize::MAX, usize::MAX), Some(6));
        assert_eq!(claim_size(0, true, 7, 2, usize::MAX, usize::MAX), None);
        // A tail shorter than a grain is folded into the last claim.
        assert_eq!(claim_size(10, true, 7, 2, usize::MAX, usize::MAX), Some(10));
        assert_eq!(claim_size(10, false, 7, 2, usize::MAX, usize::MAX), Some(7));
        // Recycling caps a claim, but never below a grain.
        assert_eq!(claim_size(1000, false, 10, 2, usize::MAX, 3), Some(10));
        // A ring's end cuts a claim.
        assert_eq!(claim_size(1000, false, 10, 2, 40, usize::MAX), Some(40));
    }
}

#[cfg(test)]
mod lane_tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use super::{Lane, Tally};
    use crate::invoker::{Func, Op, Task};
    use crate::seed;
    use crate::sync::Mutex;
    use crate::util::SendPtr;

    /// The model is the lane's `stop_at`: an argument other than 0 lowers it
    /// there (a stop from inside the lane); 7 fails the item. The result is
    /// the task as the callback saw it.
    unsafe extern "C" fn record(model: *const std::ffi::c_void, arg: *const std::ffi::c_void, result: *mut std::ffi::c_void, task: *const Task) -> i32 {
        // SAFETY: the test passes an `AtomicUsize` as the model, a `usize`
        // argument and a `Task`-sized result.
        unsafe {
            let stop = *arg.cast::<usize>();
            if stop != 0 && stop != 7 {
                (*model.cast::<AtomicUsize>()).fetch_min(stop, Ordering::SeqCst);
            }
            result.cast::<Task>().write(*task);
            if stop == 7 { 7 } else { 0 }
        }
    }

    #[derive(Default)]
    struct Log {
        failed: Mutex<Vec<(usize, i32)>>,
        finished: AtomicUsize,
    }

    impl Tally for Log {
        fn failed(&self, rel: usize, code: i32) {
            self.failed.lock().push((rel, code));
        }
        fn finished(&self, _rel: usize, count: usize) -> bool {
            self.finished.fetch_add(count, Ordering::SeqCst);
            false
        }
    }

    struct Run {
        returned: usize,
        seen: Vec<Task>,
        status: Vec<i32>,
        log: Log,
    }

    /// Items `first .. end` of a map of 64 (`args[i]` as given), with the
    /// cancel word moved or not, statuses kept or not.
    fn run(args: &[usize], first: usize, end: usize, seeds: bool, cancelled: bool, statuses: bool) -> Run {
        let stop_at = AtomicUsize::new(usize::MAX);
        let op = Op { func: Func::Item(record), model: SendPtr((&stop_at as *const AtomicUsize).cast_mut().cast()) };
        let cancel = AtomicU64::new(5);
        let mut seen = vec![Task { index: 0, seed: 0, worker: 0, reserved: 0 }; args.len()];
        let mut status = vec![0i32; args.len()];
        let log = Log::default();
        let lane = Lane {
            op: &op,
            worker: 3,
            index_base: 1000,
            seed_base: 42,
            seeds,
            keep_going: true,
            first,
            args: args[first..].as_ptr().cast(),
            arg_size: std::mem::size_of::<usize>(),
            results: seen[first..].as_mut_ptr().cast(),
            result_size: std::mem::size_of::<Task>(),
            status: if statuses { status[first..].as_mut_ptr() } else { std::ptr::null_mut() },
            zeros_kept: false,
            stop_at: &stop_at,
            cancel: &cancel,
            epoch: if cancelled { 4 } else { 5 },
        };
        let returned = lane.run(end, &log, false);
        Run { returned, seen, status, log }
    }

    /// Every item sees its own index and seed, the lane's worker and 0 in
    /// `reserved`, whichever loop runs it; the lane reports what it ran.
    #[test]
    fn each_item_sees_its_task() {
        for (seeds, statuses) in [(true, false), (false, false), (true, true), (false, true)] {
            let r = run(&[0; 64], 5, 50, seeds, false, statuses);
            assert_eq!(r.returned, 50);
            for (rel, t) in r.seen.iter().enumerate() {
                if !(5..50).contains(&rel) {
                    assert_eq!(t.index, 0, "item {rel} is outside the lane");
                    continue;
                }
                let index = 1000 + rel;
                let seed = if seeds { seed::derive(42, index as u64) } else { 0 };
                assert_eq!((t.index, t.seed, t.worker, t.reserved), (index, seed, 3, 0), "item {rel}, seeds {seeds}");
            }
            assert_eq!(r.log.finished.load(Ordering::SeqCst), 45);
            assert!(r.log.failed.lock().is_empty());
        }
    }

    /// A stop lowered inside the lane runs the items below it and none
    /// from it on; one below the lane, or a cancel, runs nothing.
    #[test]
    fn stops_where_it_is_told() {
        for statuses in [false, true] {
            let mut args = [0usize; 64];
            args[20] = 23;
            let r = run(&args, 5, 50, true, false, statuses);
            assert_eq!(r.returned, 23);
            assert!(r.seen[5..23].iter().all(|t| t.index != 0) && r.seen[23..].iter().all(|t| t.index == 0));
            assert_eq!(r.log.finished.load(Ordering::SeqCst), 18);
            // Lowered below the running item: that one ran, the next did not.
            args[20] = 2;
            let r = run(&args, 5, 50, true, false, statuses);
            assert_eq!(r.returned, 21);
            assert!(r.seen[21..].iter().all(|t| t.index == 0));
            let r = run(&[0; 64], 5, 50, false, true, statuses);
            assert_eq!(r.returned, 5);
            assert!(r.seen.iter().all(|t| t.index == 0));
        }
    }

    /// A failing item is reported (and its status kept); the lane goes on.
    #[test]
    fn failures_are_reported_and_kept() {
        let mut args = [0usize; 64];
        args[9] = 7;
        args[30] = 7;
        let r = run(&args, 5, 50, true, false, true);
        assert_eq!(r.returned, 50);
        assert_eq!(*r.log.failed.lock(), vec![(9, 7), (30, 7)]);
        assert_eq!(r.status[9], 7);
        assert_eq!(r.status[30], 7);
        assert_eq!(r.status.iter().filter(|&&s| s != 0).count(), 2);
    }
}
