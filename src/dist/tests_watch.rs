//! What other ranks learn while a map runs: a stop (failure or cancel) on
//! one rank reaches every worker of every other rank within a few items,
//! rank 0's progress callback sees the whole map, and rank 0 logs how the
//! work was balanced. Through the fake communicator and the C functions.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::fake::Hub;
use super::tests::{collect_logs, last_error, map_opts, new_invoker_with, options, ranks, stop_collecting_logs, with_invokers, Model, LOGGED, SENTINEL};
use crate::ffi::invoker::*;
use crate::ffi::lk_status;
use crate::ffi::map::*;
use crate::invoker::Task;

/// Items that start after a stop, per rank, at most: each of a rank's two
/// workers may be between items when the stop is signalled, and a loaded
/// machine may let a few more start before the watcher runs.
const LATE_MAX: usize = 8;
/// Each item's time: a rank's 1,000 items take about 1 s on 2 workers.
const ITEM: Duration = Duration::from_millis(2);

/// One rank's model: the item that stops the map, and what each item saw.
struct StopModel {
    /// The task index that fails (or cancels), on the stopping rank only.
    stop_index: AtomicUsize,
    cancel: bool,
    inv: AtomicUsize,
    /// When the stop came (ns since `t0`; 0: not yet), shared by every rank.
    stopped_at: Arc<AtomicU64>,
    t0: Instant,
    /// Items started after the stop, and all items started.
    late: AtomicUsize,
    ran: AtomicUsize,
}

unsafe extern "C" fn stop_op(model: *const c_void, _: *const c_void, _: *mut c_void, task: *const Task) -> i32 {
    // SAFETY: the test passes a `StopModel` as the model, and the library a valid task.
    let (m, task) = unsafe { (&*(model as *const StopModel), &*task) };
    let now = m.t0.elapsed().as_nanos() as u64;
    let stop = m.stopped_at.load(Ordering::SeqCst);
    if stop != 0 && now > stop {
        m.late.fetch_add(1, Ordering::SeqCst);
    }
    m.ran.fetch_add(1, Ordering::SeqCst);
    if task.index == m.stop_index.load(Ordering::SeqCst) {
        m.stopped_at.store(now.max(1), Ordering::SeqCst);
        if !m.cancel {
            return 9;
        }
        // SAFETY: the handle is looked up, never trusted.
        unsafe { lk_invoker_cancel(m.inv.load(Ordering::SeqCst) as *mut lk_invoker) };
    }
    std::thread::sleep(ITEM);
    0
}

/// The stop defect: np 2 and 3, 2 threads per rank, BLOCK and CYCLIC, a
/// failure or a cancel on the last rank (not rank 0): every other rank
/// stops within a few items, whichever of its threads holds which slot.
#[test]
fn a_stop_on_one_rank_reaches_every_worker_of_every_rank_within_a_few_items() {
    let n = 2000usize;
    for size in [2usize, 3] {
        for schedule in [LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC] {
            for cancel in [false, true] {
                let stopped_at = Arc::new(AtomicU64::new(0));
                let t0 = Instant::now();
                let models: Vec<StopModel> = (0..size)
                    .map(|_| StopModel {
                        stop_index: AtomicUsize::new(usize::MAX),
                        cancel,
                        inv: AtomicUsize::new(0),
                        stopped_at: stopped_at.clone(),
                        t0,
                        late: AtomicUsize::new(0),
                        ran: AtomicUsize::new(0),
                    })
                    .collect();
                let hub = Hub::new(size);
                let got = ranks(&hub, size, |rank, comm| {
                    let m = &models[rank];
                    let (st, inv) = new_invoker_with((m as *const StopModel).cast(), Some(stop_op), &options(comm, 2));
                    assert_eq!(st, lk_status::LK_OK, "{}", last_error());
                    m.inv.store(inv as usize, Ordering::SeqCst);
                    let o = map_opts(schedule, LK_RESULTS_ALL, false, 0);
                    if rank == size - 1 {
                        // A few items into this rank's first range.
                        let mut first = lk_index_range { begin: 0, end: 0 };
                        // SAFETY: `first` holds one range.
                        let st = unsafe { lk_invoker_owned_ranges(inv, n, &o, &mut first, 1, std::ptr::null_mut(), std::ptr::null_mut()) };
                        assert_eq!(st, lk_status::LK_OK);
                        m.stop_index.store(first.begin + 5, Ordering::SeqCst);
                    }
                    let t = Instant::now();
                    // SAFETY: no arguments or results.
                    let st = unsafe { lk_invoker_map_with(inv, std::ptr::null(), n, 0, std::ptr::null_mut(), 0, &o) };
                    let took = t.elapsed();
                    // SAFETY: a live handle.
                    unsafe { lk_invoker_shutdown(inv) };
                    (st, took)
                });
                let what = format!("np {size}, 2 threads per rank, schedule {schedule}, {}", if cancel { "cancel" } else { "failure" });
                let want = if cancel { lk_status::LK_ERR_CANCELLED } else { lk_status::LK_ERR_CALLBACK };
                let late: Vec<usize> = models.iter().map(|m| m.late.load(Ordering::SeqCst)).collect();
                let ran: Vec<usize> = models.iter().map(|m| m.ran.load(Ordering::SeqCst)).collect();
                for (rank, (st, took)) in got.iter().enumerate() {
                    assert_eq!(*st, want, "{what}: rank {rank}");
                    assert!(
                        late[rank] <= LATE_MAX,
                        "{what}: rank {rank} started {} items after the stop (items started per rank: {ran:?}; map took {took:?})",
                        late[rank]
                    );
                }
            }
        }
    }
}

/// Progress reports one rank's callback received.
#[derive(Default)]
struct Reports(Mutex<Vec<(usize, usize, Instant)>>);

unsafe extern "C" fn on_progress(done: usize, total: usize, user: *mut c_void) {
    // SAFETY: the test passes a `Reports` as the user pointer.
    let r = unsafe { &*(user as *const Reports) };
    r.0.lock().push((done, total, Instant::now()));
}

/// Rank 0's items are instant, the others' slow: what rank 0 reports while
/// it waits is the others' progress.
fn progress_run(hub: &Arc<Hub>, schedule: i32) -> Vec<(usize, usize, Instant)> {
    let (size, n) = (3usize, 900usize);
    let models: Vec<Model> = (0..size)
        .map(|r| {
            let mut m = Model::plain();
            m.slow_us = if r == 0 { 0 } else { 5000 };
            m
        })
        .collect();
    let reports = Reports::default();
    ranks(hub, size, |rank, comm| {
        let mut o = options(comm, 2);
        if rank == 0 {
            o.progress = Some(on_progress);
            o.progress_user = (&reports as *const Reports).cast_mut().cast();
        }
        let (st, inv) = new_invoker_with((&models[rank] as *const Model).cast(), Some(super::tests::op), &o);
        assert_eq!(st, lk_status::LK_OK, "{}", last_error());
        let mut out = vec![SENTINEL; n];
        let st = super::tests::map(inv, None, n, &mut out, &map_opts(schedule, LK_RESULTS_ALL, false, 0));
        assert_eq!(st, lk_status::LK_OK, "{}", last_error());
        // SAFETY: a live handle.
        unsafe { lk_invoker_shutdown(inv) };
    });
    let r = reports.0.lock().clone();
    r
}

#[test]
fn rank_0_sees_the_progress_of_the_whole_map() {
    let n = 900usize;
    let r = progress_run(&Hub::new(3), LK_SCHEDULE_BLOCK);
    assert!(r.len() >= 2, "{r:?}");
    assert_eq!((r[r.len() - 1].0, r[r.len() - 1].1), (n, n), "the last report is the whole map");
    assert!(r.iter().all(|x| x.1 == n), "the total is the whole map's");
    assert!(r.windows(2).all(|w| w[0].0 <= w[1].0), "done never goes back: {r:?}");
    let middle = &r[..r.len() - 1];
    assert!(middle.iter().any(|x| x.0 > n / 3 && x.0 < n), "rank 0 saw the others' items while they ran: {:?}", r.iter().map(|x| x.0).collect::<Vec<_>>());
    for w in middle.windows(2) {
        assert!(w[1].2 - w[0].2 >= Duration::from_millis(200), "a few reports a second, not more");
    }
    // DYNAMIC too.
    let r = progress_run(&Hub::new(3), LK_SCHEDULE_DYNAMIC);
    assert_eq!((r[r.len() - 1].0, r[r.len() - 1].1), (n, n));
    assert!(r.windows(2).all(|w| w[0].0 <= w[1].0));
    // A table without fetch_add_at: rank 0's own items until the end.
    let r = progress_run(&Hub::without_fetch_add_at(3), LK_SCHEDULE_BLOCK);
    assert_eq!((r[r.len() - 1].0, r[r.len() - 1].1), (n, n));
    assert!(r[..r.len() - 1].iter().all(|x| x.0 <= n / 3), "{r:?}");
}

#[test]
fn rank_0_logs_each_ranks_items_and_busy_time_after_a_map() {
    let _one = collect_logs();
    let n = 1237usize;
    let model = Model::plain();
    let got = with_invokers(&Hub::new(3), &model, 1, |rank, inv| {
        let mut seen = Vec::new();
        for schedule in [LK_SCHEDULE_BLOCK, LK_SCHEDULE_DYNAMIC] {
            let mut out = vec![SENTINEL; n];
            let st = super::tests::map(inv, None, n, &mut out, &map_opts(schedule, LK_RESULTS_ALL, false, 0));
            assert_eq!(st, lk_status::LK_OK);
            if rank == 0 {
                // Logged before the map returned.
                seen.push(LOGGED.lock().iter().filter(|m| m.contains(&format!("distributed map of {n} items"))).cloned().collect::<Vec<_>>());
            }
        }
        seen
    });
    stop_collecting_logs();
    let seen = &got[0];
    assert_eq!(seen[0].len(), 1, "one record per map: {seen:?}");
    let block = &seen[0][0];
    assert!(block.starts_with(&format!("distributed map of {n} items (BLOCK) on 3 ranks: rank 0 412 items in ")), "{block}");
    assert!(block.contains("rank 1 412 items in ") && block.contains("rank 2 413 items in ") && block.contains("the busiest rank took"), "{block}");
    assert_eq!(seen[1].len(), 2, "{seen:?}");
    let dynamic = &seen[1][1];
    let counted: u64 = (0..3)
        .map(|r| {
            let at = dynamic.find(&format!("rank {r} ")).unwrap_or_else(|| panic!("{dynamic}")) + format!("rank {r} ").len();
            dynamic[at..].split(' ').next().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(counted, n as u64, "{dynamic}");
    assert!(got[1].is_empty() && got[2].is_empty());
}
