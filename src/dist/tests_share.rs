//! Memory per rank that follows its share (compact OWNED results, ROOT and
//! `args_at_root` without arrays off rank 0), ownership before a map, and
//! range invokers across ranks; through the fake communicator and the C
//! functions, as an MPI program would call them.

use std::ffi::c_void;

use super::fake::Hub;
use super::tests::{last_error, local_reference, map_opts, new_invoker, new_invoker_with, options, ranks, seed_base_of, with_invokers, Model, Out, SENTINEL};
use crate::ffi::invoker::*;
use crate::ffi::lk_status;
use crate::ffi::map::*;
use crate::invoker::Range;

const SCHEDULES: [i32; 3] = [LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC, LK_SCHEDULE_DYNAMIC];

/// `lk_invoker_owned_ranges`, asked for the count first: (status, ranges, items).
fn owned(inv: *mut lk_invoker, n: usize, schedule: i32, index_base: usize) -> (lk_status, Vec<lk_index_range>, usize) {
    let o = map_opts(schedule, LK_RESULTS_OWNED_COMPACT, false, index_base);
    let (mut count, mut items) = (usize::MAX, usize::MAX);
    // SAFETY: NULL ranges with capacity 0; the counts are valid `size_t`s.
    let st = unsafe { lk_invoker_owned_ranges(inv, n, &o, std::ptr::null_mut(), 0, &mut count, &mut items) };
    if st != lk_status::LK_OK {
        return (st, Vec::new(), 0);
    }
    let mut v = vec![lk_index_range { begin: 0, end: 0 }; count];
    // SAFETY: `v` holds `count` elements.
    let st = unsafe { lk_invoker_owned_ranges(inv, n, &o, v.as_mut_ptr(), count, &mut count, &mut items) };
    (st, v, items)
}

fn indices(ranges: &[lk_index_range]) -> Vec<usize> {
    ranges.iter().flat_map(|r| r.begin..r.end).collect()
}

/// What one rank's compact map left in its arrays.
struct Compact {
    ranges: Vec<lk_index_range>,
    out: Vec<Out>,
    status: Vec<i32>,
    index: Vec<usize>,
    count: usize,
    capacity: usize,
}

#[test]
fn compact_owned_results_hold_each_ranks_share_only() {
    let n = 1000usize;
    let base_index = 5;
    let args: Vec<u64> = (0..n as u64).map(|i| i * 7 + 3).collect();
    for size in 1..=3usize {
        for n_jobs in [1, 2] {
            let model = Model::plain();
            let per_rank = with_invokers(&Hub::new(size), &model, n_jobs, |rank, inv| {
                let mut runs = Vec::new();
                for (k, schedule) in SCHEDULES.into_iter().enumerate() {
                    let (capacity, ranges) = if schedule == LK_SCHEDULE_DYNAMIC {
                        // Just enough room on every rank, all together.
                        (n.div_ceil(size), Vec::new())
                    } else {
                        let (st, ranges, items) = owned(inv, n, schedule, base_index);
                        assert_eq!(st, lk_status::LK_OK, "{}", last_error());
                        (items, ranges)
                    };
                    // One slot past the capacity: it must stay untouched.
                    let mut c = Compact { ranges, out: vec![SENTINEL; capacity + 1], status: vec![7; capacity + 1], index: vec![usize::MAX; capacity + 1], count: usize::MAX, capacity };
                    let args_at_root = k != 1;
                    let mut o = map_opts(schedule, LK_RESULTS_OWNED_COMPACT, args_at_root, base_index);
                    o.owned_capacity = capacity;
                    o.owned_index = c.index.as_mut_ptr();
                    o.owned_count = &mut c.count;
                    o.item_status = c.status.as_mut_ptr();
                    let ap: *const c_void = if args_at_root && rank > 0 { std::ptr::null() } else { args.as_ptr().cast() };
                    // SAFETY: the arrays hold what the options say.
                    let st = unsafe { lk_invoker_map_with(inv, ap, n, 8, c.out.as_mut_ptr().cast(), std::mem::size_of::<Out>(), &o) };
                    assert_eq!(st, lk_status::LK_OK, "{}", last_error());
                    runs.push(c);
                }
                let base = seed_base_of(inv);
                (base, runs)
            });
            let base = per_rank[0].0;
            for (k, schedule) in SCHEDULES.into_iter().enumerate() {
                let want = local_reference(&model, &args, base, k as u64, base_index);
                let what = format!("size {size} n_jobs {n_jobs} schedule {schedule}");
                let mut seen = vec![0u32; n];
                for (rank, (_, runs)) in per_rank.iter().enumerate() {
                    let c = &runs[k];
                    assert!(c.count <= c.capacity, "{what}: rank {rank} filled {} of {} slots", c.count, c.capacity);
                    if schedule != LK_SCHEDULE_DYNAMIC {
                        assert_eq!(c.index[..c.count], indices(&c.ranges)[..], "{what}: rank {rank}: the slots are the owned ranges");
                    }
                    for slot in 0..c.count {
                        let i = c.index[slot] - base_index;
                        assert!(slot == 0 || c.index[slot] > c.index[slot - 1], "{what}: in index order");
                        assert_eq!(c.out[slot], want[i], "{what}: rank {rank} slot {slot} (item {i})");
                        assert_eq!(c.status[slot], 0);
                        seen[i] += 1;
                    }
                    for slot in c.count..=c.capacity {
                        assert!(c.out[slot] == SENTINEL && c.index[slot] == usize::MAX && c.status[slot] == 7, "{what}: rank {rank} slot {slot} written");
                    }
                }
                assert!(seen.iter().all(|&s| s == 1), "{what}: every item in exactly one rank's slots");
            }
        }
    }
}

#[test]
fn root_results_need_no_arrays_off_rank_0() {
    let n = 1000usize;
    let args: Vec<u64> = (0..n as u64).collect();
    for size in 1..=3usize {
        for schedule in SCHEDULES {
            let hub = Hub::new(size);
            let mut model = Model::plain();
            model.fail_value = 500;
            model.fail_code = 9;
            let got = ranks(&hub, size, |rank, comm| {
                let (st, inv) = new_invoker(&model, comm, 2, LK_ERRORS_KEEP_GOING);
                assert_eq!(st, lk_status::LK_OK, "{}", last_error());
                let root = rank == 0;
                let mut out = vec![SENTINEL; if root { n } else { 0 }];
                let mut status = vec![7i32; if root { n } else { 0 }];
                let mut o = map_opts(schedule, LK_RESULTS_ROOT, true, 0);
                o.item_status = if root { status.as_mut_ptr() } else { std::ptr::null_mut() };
                let (ap, rp): (*const c_void, *mut c_void) = if root { (args[..n].as_ptr().cast(), out.as_mut_ptr().cast()) } else { (std::ptr::null(), std::ptr::null_mut()) };
                // SAFETY: rank 0's arrays hold n items; the others pass none, as ROOT and args_at_root allow.
                let failing = unsafe { lk_invoker_map_with(inv, ap, n, 8, rp, std::mem::size_of::<Out>(), &o) };
                let statuses = status.clone();
                // Items 0 .. n-1 shifted past the failing value: a map that succeeds.
                let shifted: Vec<u64> = (0..n as u64).map(|i| i + 1000).collect();
                let ap: *const c_void = if root { shifted.as_ptr().cast() } else { std::ptr::null() };
                // SAFETY: as above.
                let ok = unsafe { lk_invoker_map_with(inv, ap, n, 8, rp, std::mem::size_of::<Out>(), &o) };
                // SAFETY: a live handle.
                unsafe { lk_invoker_shutdown(inv) };
                (failing, statuses, ok, out, last_error())
            });
            let what = format!("size {size} schedule {schedule}");
            for (rank, (failing, _, ok, _, msg)) in got.iter().enumerate() {
                assert_eq!(*failing, lk_status::LK_ERR_CALLBACK, "{what}: rank {rank}");
                assert_eq!(*ok, lk_status::LK_OK, "{what}: rank {rank}: {msg}");
            }
            let (_, statuses, _, out, _) = &got[0];
            for i in 0..n {
                assert_eq!(statuses[i], if i == 500 { 9 } else { 0 }, "{what}: item {i}'s status reaches rank 0 from the rooms");
                assert_eq!((out[i].index, out[i].value), (i as u64, (i as u64 + 1000) * 3 + 1), "{what}: item {i}");
            }
        }
    }
}

#[test]
fn ownership_before_a_map_is_what_the_map_runs() {
    let n = 777usize;
    let model = Model::plain();
    with_invokers(&Hub::new(3), &model, 2, |_, inv| {
        for schedule in [LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC] {
            let (st, ranges, items) = owned(inv, n, schedule, 10);
            assert_eq!(st, lk_status::LK_OK);
            assert_eq!(indices(&ranges).len(), items);
            let mut out = vec![SENTINEL; n];
            let o = map_opts(schedule, LK_RESULTS_OWNED, false, 10);
            // SAFETY: `out` holds n results; no arguments.
            let st = unsafe { lk_invoker_map_with(inv, std::ptr::null(), n, 0, out.as_mut_ptr().cast(), std::mem::size_of::<Out>(), &o) };
            assert_eq!(st, lk_status::LK_OK);
            let ran: Vec<usize> = (0..n).filter(|&i| out[i] != SENTINEL).map(|i| i + 10).collect();
            assert_eq!(ran, indices(&ranges), "schedule {schedule}");
            if schedule == LK_SCHEDULE_CYCLIC && ranges.len() > 1 {
                // A short array gets the first ranges, and the full count.
                let mut one = [lk_index_range { begin: 0, end: 0 }; 1];
                let mut count = 0;
                // SAFETY: `one` holds 1 element.
                let st = unsafe { lk_invoker_owned_ranges(inv, n, &o, one.as_mut_ptr(), 1, &mut count, std::ptr::null_mut()) };
                assert_eq!((st, one[0], count), (lk_status::LK_OK, ranges[0], ranges.len()));
            }
        }
        let (st, _, _) = owned(inv, n, LK_SCHEDULE_DYNAMIC, 0);
        assert_eq!(st, lk_status::LK_ERR_UNSUPPORTED, "known only afterwards");
        // SAFETY: NULL ranges with a non-zero capacity is refused, not written.
        let st = unsafe { lk_invoker_owned_ranges(inv, n, std::ptr::null(), std::ptr::null_mut(), 1, std::ptr::null_mut(), std::ptr::null_mut()) };
        assert_eq!(st, lk_status::LK_ERR_INVALID);
    });
    // A local invoker owns everything, and maps compact as a plain map.
    let mut inv = std::ptr::null_mut();
    // SAFETY: a valid function and out pointer.
    assert_eq!(unsafe { lk_invoker_new((&model as *const Model).cast(), Some(super::tests::op), 2, &mut inv) }, lk_status::LK_OK);
    let (st, ranges, items) = owned(inv, n, LK_SCHEDULE_CYCLIC, 3);
    assert_eq!((st, ranges, items), (lk_status::LK_OK, vec![lk_index_range { begin: 3, end: n + 3 }], n));
    let mut out = vec![SENTINEL; n];
    let mut index = vec![0usize; n];
    let mut count = 0usize;
    let mut o = map_opts(LK_SCHEDULE_BLOCK, LK_RESULTS_OWNED_COMPACT, false, 3);
    o.owned_index = index.as_mut_ptr();
    o.owned_count = &mut count;
    o.owned_capacity = n - 1;
    // SAFETY: `out` and `index` hold n slots.
    let small = unsafe { lk_invoker_map_with(inv, std::ptr::null(), n, 0, out.as_mut_ptr().cast(), std::mem::size_of::<Out>(), &o) };
    assert_eq!(small, lk_status::LK_ERR_INVALID, "a local invoker owns all items");
    o.owned_capacity = n;
    // SAFETY: as above.
    let st = unsafe { lk_invoker_map_with(inv, std::ptr::null(), n, 0, out.as_mut_ptr().cast(), std::mem::size_of::<Out>(), &o) };
    assert_eq!(st, lk_status::LK_OK);
    assert_eq!(count, n);
    assert!(index.iter().enumerate().all(|(k, &i)| i == k + 3) && out.iter().enumerate().all(|(k, o)| o.index == k as u64 + 3));
    // SAFETY: a live handle.
    unsafe { lk_invoker_shutdown(inv) };
}

#[test]
fn too_small_capacities_fail_every_rank_before_anything_is_written() {
    let n = 1000usize;
    let model = Model::plain();
    let got = with_invokers(&Hub::new(3), &model, 2, |rank, inv| {
        let mut results = Vec::new();
        for schedule in [LK_SCHEDULE_BLOCK, LK_SCHEDULE_DYNAMIC] {
            let (_, _, share) = owned(inv, n, LK_SCHEDULE_BLOCK, 0);
            // BLOCK: rank 2 is one slot short. DYNAMIC: 300 slots each, for 1000 items.
            let capacity = if schedule == LK_SCHEDULE_BLOCK { share - usize::from(rank == 2) } else { 300 };
            let mut out = vec![SENTINEL; capacity];
            let mut count = usize::MAX;
            let mut o = map_opts(schedule, LK_RESULTS_OWNED_COMPACT, false, 0);
            o.owned_capacity = capacity;
            o.owned_count = &mut count;
            // SAFETY: `out` holds `capacity` slots.
            let st = unsafe { lk_invoker_map_with(inv, std::ptr::null(), n, 0, out.as_mut_ptr().cast(), std::mem::size_of::<Out>(), &o) };
            results.push((st, last_error(), out.iter().all(|o| *o == SENTINEL) && count == usize::MAX));
        }
        // Still in step.
        let mut out = vec![SENTINEL; n];
        let st = super::tests::map(inv, None, n, &mut out, &map_opts(LK_SCHEDULE_BLOCK, LK_RESULTS_ALL, false, 0));
        (results, st)
    });
    for (results, st) in &got {
        let (block, dynamic) = (&results[0], &results[1]);
        assert_eq!(block.0, lk_status::LK_ERR_INVALID);
        assert!(block.1.contains("rank 2 passed an owned_capacity smaller than its share"), "{}", block.1);
        assert_eq!(dynamic.0, lk_status::LK_ERR_INVALID);
        assert!(dynamic.1.contains("add up to 900, fewer than the 1000 items"), "{}", dynamic.1);
        assert!(block.2 && dynamic.2, "nothing written");
        assert_eq!(*st, lk_status::LK_OK);
    }
}

/// `lk_range_seed` as the header defines it (it calls nothing).
fn lk_range_seed(range: &Range, index: usize) -> u64 {
    if range.seeds == 0 {
        return 0;
    }
    let mut z = range.seed_base ^ (index as u64).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z ^= z >> 33;
    z = z.wrapping_mul(0xff51_afd7_ed55_8ccd);
    z ^= z >> 33;
    z = z.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
}

/// What `tests::op` does for each item, as a range function's loop.
unsafe extern "C" fn range_op(_: *const c_void, args: *const c_void, results: *mut c_void, range: *mut Range) -> i32 {
    // SAFETY: the library passes a valid range, and `n` arguments and result slots for it.
    let r = unsafe { &*range };
    for i in r.begin..r.end {
        let k = i - r.begin;
        // SAFETY: as above: slot `k` of this range.
        unsafe {
            let a = if args.is_null() { i as u64 } else { *args.cast::<u64>().add(k) };
            *results.cast::<Out>().add(k) = Out { index: i as u64, seed: lk_range_seed(r, i), value: a.wrapping_mul(3).wrapping_add(1) };
        }
    }
    0
}

#[test]
fn range_invokers_give_each_item_its_task_seed_on_every_rank() {
    let n = 1000usize;
    let args: Vec<u64> = (0..n as u64).map(|i| i * 7 + 3).collect();
    let model = Model::plain();
    for size in 1..=3usize {
        for n_jobs in [1, 2] {
            let hub = Hub::new(size);
            let per_rank = ranks(&hub, size, |_, comm| {
                let mut o = options(comm, n_jobs);
                o.range_func = Some(range_op);
                let (st, inv) = new_invoker_with(std::ptr::null(), None, &o);
                assert_eq!(st, lk_status::LK_OK, "{}", last_error());
                let mut outs = Vec::new();
                for schedule in SCHEDULES {
                    let mut out = vec![SENTINEL; n];
                    let st = super::tests::map(inv, Some(&args), n, &mut out, &map_opts(schedule, LK_RESULTS_ALL, false, 9));
                    assert_eq!(st, lk_status::LK_OK, "{}", last_error());
                    outs.push(out);
                }
                let base = seed_base_of(inv);
                // SAFETY: a live handle.
                unsafe { lk_invoker_shutdown(inv) };
                (base, outs)
            });
            let base = per_rank[0].0;
            for (k, schedule) in SCHEDULES.into_iter().enumerate() {
                // The item function's map with the same seeds.
                let want = local_reference(&model, &args, base, k as u64, 9);
                for (rank, (_, outs)) in per_rank.iter().enumerate() {
                    assert!(outs[k] == want, "size {size} n_jobs {n_jobs} schedule {schedule}: rank {rank}'s lk_range_seed differs from task->seed");
                }
            }
        }
    }
}

#[test]
fn a_failing_compact_map_still_names_every_slot_and_its_status() {
    let n = 900usize;
    let args: Vec<u64> = (0..n as u64).collect();
    for schedule in SCHEDULES {
        let mut model = Model::plain();
        model.fail_value = 400;
        model.fail_code = 5;
        let got = with_invokers(&Hub::new(3), &model, 2, |_, inv| {
            let capacity = if schedule == LK_SCHEDULE_DYNAMIC { n } else { owned(inv, n, schedule, 0).2 };
            let mut out = vec![SENTINEL; capacity];
            let mut status = vec![7i32; capacity];
            let mut index = vec![usize::MAX; capacity];
            let mut count = usize::MAX;
            let mut o = map_opts(schedule, LK_RESULTS_OWNED_COMPACT, false, 0);
            o.owned_capacity = capacity;
            o.owned_index = index.as_mut_ptr();
            o.owned_count = &mut count;
            o.item_status = status.as_mut_ptr();
            let st = super::tests::map(inv, Some(&args), n, &mut out, &o);
            (st, capacity, count, index, status)
        });
        let mut failed_seen = 0;
        for (rank, (st, capacity, count, index, status)) in got.iter().enumerate() {
            let what = format!("schedule {schedule} rank {rank}");
            assert_eq!(*st, lk_status::LK_ERR_CALLBACK, "{what}");
            if schedule != LK_SCHEDULE_DYNAMIC {
                assert_eq!(count, capacity, "{what}: BLOCK and CYCLIC slots are the share, run or not");
            }
            for k in 0..*count {
                assert!(index[k] < n && (k == 0 || index[k] > index[k - 1]), "{what}: slot {k}");
                let s = status[k];
                assert!(s == 0 || s == LK_ITEM_SKIPPED || (s == 5 && index[k] == 400), "{what}: slot {k} status {s}");
                failed_seen += usize::from(s == 5);
            }
        }
        assert_eq!(failed_seen, 1, "schedule {schedule}: the failing item's status is in its rank's slot");
    }
}
