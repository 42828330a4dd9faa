//! Distributed maps through the fake communicator (threads acting as ranks),
//! driven through the C functions, as an MPI program would.

use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use super::fake::Hub;
use crate::ffi::comm::{lk_comm, lk_comm_free, lk_comm_new, lk_comm_rank, lk_comm_size};
use crate::ffi::error::lk_last_error;
use crate::ffi::invoker::*;
use crate::ffi::map::*;
use crate::ffi::lk_status;
use crate::invoker::{Func, Invoker, Items, MapOptions, Op, Options, Task};
use crate::seed;
use crate::util::SendPtr;

/// One result: what a task saw, and a value computed from its argument.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Out {
    pub index: u64,
    pub seed: u64,
    pub value: u64,
}

pub(super) const SENTINEL: Out = Out { index: u64::MAX, seed: u64::MAX, value: u64::MAX };

/// The model: which argument value fails (with which code), from which on it cancels.
#[repr(C)]
pub(super) struct Model {
    pub fail_value: u64,
    pub fail_code: i32,
    pub cancel_value: u64,
    /// The invoker to cancel (set after creation), per rank.
    pub cancel_inv: AtomicUsize,
    pub log_value: u64,
    /// This argument value makes a nested distributed map.
    pub nested_value: u64,
    pub nested_status: AtomicUsize,
    /// Every item sleeps this long.
    pub slow_us: u64,
}

impl Model {
    pub(super) fn plain() -> Model {
        Model {
            fail_value: u64::MAX,
            fail_code: 0,
            cancel_value: u64::MAX,
            cancel_inv: AtomicUsize::new(0),
            log_value: u64::MAX,
            nested_value: u64::MAX,
            nested_status: AtomicUsize::new(usize::MAX),
            slow_us: 0,
        }
    }
}

pub(super) unsafe extern "C" fn op(model: *const c_void, arg: *const c_void, result: *mut c_void, task: *const Task) -> i32 {
    let m = &*(model as *const Model);
    let a = if arg.is_null() { (*task).index as u64 } else { *(arg as *const u64) };
    if a == m.fail_value {
        return m.fail_code;
    }
    if m.slow_us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(m.slow_us));
    }
    if a >= m.cancel_value {
        let inv = m.cancel_inv.load(Ordering::SeqCst);
        lk_invoker_cancel(inv as *mut lk_invoker);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if a == m.log_value {
        let msg = std::ffi::CString::new(format!("hello from item {}", (*task).index)).unwrap();
        crate::ffi::log::lk_log(3, msg.as_ptr());
    }
    if a == m.nested_value {
        // A nested distributed map on the invoker this callback belongs to.
        let inv = m.cancel_inv.load(Ordering::SeqCst);
        let st = lk_invoker_map(inv as *mut lk_invoker, std::ptr::null(), 1, 0, std::ptr::null_mut(), 0);
        m.nested_status.store(st as usize, Ordering::SeqCst);
    }
    if !result.is_null() {
        *(result as *mut Out) = Out { index: (*task).index as u64, seed: (*task).seed, value: a.wrapping_mul(3).wrapping_add(1) };
    }
    0
}

pub(super) fn last_error() -> String {
    // SAFETY: lk_last_error returns a valid NUL-terminated string.
    unsafe { CStr::from_ptr(lk_last_error()) }.to_string_lossy().into_owned()
}

/// Run `body(rank, comm)` on `n` threads acting as ranks of one fake communicator.
pub(super) fn ranks<T: Send>(hub: &Arc<Hub>, n: usize, body: impl Fn(usize, *mut lk_comm) -> T + Sync) -> Vec<T> {
    let out = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|r| {
                let hub = hub.clone();
                let body = &body;
                s.spawn(move || {
                    let ops = hub.table(r);
                    let mut comm: *mut lk_comm = std::ptr::null_mut();
                    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
                    assert_eq!(unsafe { lk_comm_new(&ops, &mut comm) }, lk_status::LK_OK, "{}", last_error());
                    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
                    assert_eq!(unsafe { lk_comm_rank(comm) }, r as i32);
                    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
                    assert_eq!(unsafe { lk_comm_size(comm) }, n as i32);
                    let v = body(r, comm);
                    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
                    assert_eq!(unsafe { lk_comm_free(comm) }, lk_status::LK_OK);
                    v
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(hub.violations.lock().is_empty(), "fake communicator rule breaks: {:?}", hub.violations.lock());
    out
}

/// `ranks` with an invoker each: `body(rank, inv)` on every rank of `hub`,
/// each with a fail-fast invoker of `n_jobs` threads over `model`, made (it
/// must work) before the body and shut down (it must work too) after it.
pub(super) fn with_invokers<T: Send>(hub: &Arc<Hub>, model: &Model, n_jobs: i32, body: impl Fn(usize, *mut lk_invoker) -> T + Sync) -> Vec<T> {
    ranks(hub, hub.size(), |rank, comm| {
        let (st, inv) = new_invoker(model, comm, n_jobs, LK_ERRORS_FAIL_FAST);
        assert_eq!(st, lk_status::LK_OK, "{}", last_error());
        let v = body(rank, inv);
        // SAFETY: handles are looked up, never trusted.
        assert_eq!(unsafe { lk_invoker_shutdown(inv) }, lk_status::LK_OK);
        v
    })
}

/// Default options with `comm` and `n_jobs`.
pub(super) fn options(comm: *mut lk_comm, n_jobs: i32) -> lk_invoker_options {
    // SAFETY: an all-zero options struct is a valid value (integers and NULL pointers).
    let mut o: lk_invoker_options = unsafe { std::mem::zeroed() };
    // SAFETY: a local struct of exactly the size passed.
    unsafe { lk_invoker_options_init(&mut o, std::mem::size_of::<lk_invoker_options>()) };
    o.n_jobs = n_jobs;
    o.comm = comm;
    o
}

pub(super) fn new_invoker_with(model: *const c_void, func: lk_op_fn, o: &lk_invoker_options) -> (lk_status, *mut lk_invoker) {
    let mut inv = std::ptr::null_mut();
    // SAFETY: valid options and out pointer; a model that outlives the invoker.
    let st = unsafe { lk_invoker_new_with(model, func, o, &mut inv) };
    (st, inv)
}

pub(super) fn new_invoker(model: &Model, comm: *mut lk_comm, n_jobs: i32, error_mode: i32) -> (lk_status, *mut lk_invoker) {
    let mut o = options(comm, n_jobs);
    o.error_mode = error_mode;
    new_invoker_with((model as *const Model).cast(), Some(op), &o)
}

pub(super) fn map_opts(schedule: i32, results_at: i32, args_at_root: bool, index_base: usize) -> lk_map_options {
    // SAFETY: an all-zero options struct is a valid value (integers and NULL pointers).
    let mut m: lk_map_options = unsafe { std::mem::zeroed() };
    // SAFETY: a local struct of exactly the size passed.
    unsafe { lk_map_options_init(&mut m, std::mem::size_of::<lk_map_options>()) };
    m.schedule = schedule;
    m.results_at = results_at;
    m.args_at_root = i32::from(args_at_root);
    m.index_base = index_base;
    m
}

pub(super) fn map(inv: *mut lk_invoker, args: Option<&[u64]>, n: usize, out: &mut [Out], o: &lk_map_options) -> lk_status {
    let (ap, asz) = match args {
        Some(a) => (a.as_ptr().cast::<c_void>(), 8),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: the arrays hold n elements of the sizes passed (or are NULL with size 0).
    unsafe { lk_invoker_map_with(inv, ap, n, asz, out.as_mut_ptr().cast(), std::mem::size_of::<Out>(), o) }
}

pub(super) fn seed_base_of(inv: *mut lk_invoker) -> u64 {
    match &*INVOKERS.get(inv as usize).unwrap() {
        AnyInvoker::Dist(d) => d.seed_base,
        AnyInvoker::Local(l) => l.core().seed_base,
    }
}

/// What a single-process map with seed base `base`, map ordinal `ordinal`
/// gives: computed by a real local invoker given the same seed base.
pub(super) fn local_reference(model: &Model, args: &[u64], base: u64, ordinal: u64, index_base: usize) -> Vec<Out> {
    let inv = Invoker::new(Op { func: Func::Item(op), model: SendPtr::from_const((model as *const Model).cast()) }, Options::new(2)).unwrap();
    let mut out = vec![SENTINEL; args.len()];
    let items = Items {
        args: SendPtr::from_const(args.as_ptr().cast()),
        arg_size: 8,
        results: SendPtr(out.as_mut_ptr().cast()),
        result_size: std::mem::size_of::<Out>(),
        n: args.len(),
    };
    let seed_base = Some(seed::derive(base, ordinal));
    inv.map(items, &MapOptions { index_base, item_status: SendPtr::null(), seed_base }).unwrap();
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.seed, seed::derive(seed::derive(base, ordinal), (index_base + i) as u64));
    }
    out
}

#[test]
fn every_schedule_placement_and_argument_mode_equals_the_local_map() {
    let n = 1000usize;
    let args: Vec<u64> = (0..n as u64).map(|i| i * 7 + 3).collect();
    for size in [3usize, 4] {
        for n_jobs in [1, 2] {
            let model = Model::plain();
            let per_rank = with_invokers(&Hub::new(size), &model, n_jobs, |rank, inv| {
                let mut runs = Vec::new();
                let mut ordinal = 0;
                for schedule in [LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC, LK_SCHEDULE_DYNAMIC] {
                    for results_at in [LK_RESULTS_ALL, LK_RESULTS_ROOT, LK_RESULTS_OWNED] {
                        for args_at_root in [false, true] {
                            let o = map_opts(schedule, results_at, args_at_root, 5);
                            let mut out = vec![SENTINEL; n];
                            let mine = if args_at_root && rank != 0 { None } else { Some(&args[..]) };
                            let st = if mine.is_none() {
                                // SAFETY: no arguments off rank 0 (args_at_root); `out` holds n results.
                                unsafe {
                                    lk_invoker_map_with(inv, std::ptr::null(), n, 8, out.as_mut_ptr().cast(), std::mem::size_of::<Out>(), &o)
                                }
                            } else {
                                map(inv, mine, n, &mut out, &o)
                            };
                            assert_eq!(st, lk_status::LK_OK, "{}", last_error());
                            runs.push((schedule, results_at, args_at_root, ordinal, out));
                            ordinal += 1;
                        }
                    }
                }
                let base = seed_base_of(inv);
                (base, runs)
            });
            let base = per_rank[0].0;
            assert!(per_rank.iter().all(|r| r.0 == base), "every rank adopts rank 0's seed base");
            for k in 0..per_rank[0].1.len() {
                let (schedule, results_at, args_at_root, ordinal, _) = &per_rank[0].1[k];
                let want = local_reference(&model, &args, base, *ordinal, 5);
                let what = format!("size {size} n_jobs {n_jobs} schedule {schedule} results_at {results_at} args_at_root {args_at_root}");
                let mut computed = vec![0usize; n];
                for (rank, (_, runs)) in per_rank.iter().enumerate() {
                    let got = &runs[k].4;
                    let full = *results_at == LK_RESULTS_ALL || (*results_at == LK_RESULTS_ROOT && rank == 0);
                    if full {
                        assert!(got == &want, "{what}: rank {rank} differs from the local map");
                    } else {
                        for i in 0..n {
                            assert!(got[i] == SENTINEL || got[i] == want[i], "{what}: rank {rank} item {i}");
                        }
                    }
                    for i in 0..n {
                        if got[i] != SENTINEL {
                            computed[i] += 1;
                        }
                    }
                }
                if *results_at == LK_RESULTS_OWNED {
                    assert!(computed.iter().all(|&c| c == 1), "{what}: each item is computed by exactly one rank");
                }
            }
        }
    }
}

#[test]
fn small_maps_more_ranks_than_items_and_zero_sizes() {
    let model = Model::plain();
    with_invokers(&Hub::new(4), &model, 1, |_, inv| {
        for schedule in [LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC, LK_SCHEDULE_DYNAMIC] {
            for n in [0usize, 1, 3, 5] {
                let args: Vec<u64> = (0..n as u64).collect();
                let mut out = vec![SENTINEL; n.max(1)];
                let st = map(inv, Some(&args), n, &mut out, &map_opts(schedule, LK_RESULTS_ALL, false, 0));
                assert_eq!(st, lk_status::LK_OK, "{}", last_error());
                for (i, o) in out.iter().take(n).enumerate() {
                    assert_eq!(o.index, i as u64);
                    assert_eq!(o.value, i as u64 * 3 + 1);
                }
            }
            // No arguments and no results: the callbacks still run, once each.
            // SAFETY: no arrays, both sizes 0.
            let st = unsafe { lk_invoker_map(inv, std::ptr::null(), 10, 0, std::ptr::null_mut(), 0) };
            assert_eq!(st, lk_status::LK_OK);
        }
    });
}

#[test]
fn a_failing_callback_fails_every_rank_with_the_same_message() {
    let n = 900usize;
    let args: Vec<u64> = (0..n as u64).collect();
    for schedule in [LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC, LK_SCHEDULE_DYNAMIC] {
        let mut model = Model::plain();
        model.fail_value = 700;
        model.fail_code = 42;
        let got = with_invokers(&Hub::new(3), &model, 2, |_, inv| {
            let mut out = vec![SENTINEL; n];
            let st = map(inv, Some(&args), n, &mut out, &map_opts(schedule, LK_RESULTS_ALL, false, 0));
            let msg = last_error();
            // Still usable: the next map succeeds everywhere.
            let st2 = map(inv, Some(&args[..500]), 500, &mut out, &map_opts(schedule, LK_RESULTS_ALL, false, 1000));
            (st, msg, st2)
        });
        let owner = match schedule {
            LK_SCHEDULE_BLOCK => 2,
            _ => usize::MAX,
        };
        for (st, msg, st2) in &got {
            assert_eq!(*st, lk_status::LK_ERR_CALLBACK);
            assert_eq!(msg, &got[0].1, "the same message on every rank");
            assert!(msg.contains("index 700") && msg.contains("code 42"), "{msg}");
            if owner != usize::MAX {
                assert!(msg.starts_with(&format!("rank {owner}:")), "{msg}");
            }
            assert_eq!(*st2, lk_status::LK_OK);
        }
    }
}

#[test]
fn the_lowest_failing_index_wins_across_ranks() {
    // KEEP_GOING so every failing item runs: the lowest is on rank 1 (BLOCK).
    unsafe extern "C" fn fails_above(_: *const c_void, arg: *const c_void, _: *mut c_void, _: *const Task) -> i32 {
        let a = *(arg as *const u64);
        if a >= 400 && a % 50 == 0 {
            (a / 50) as i32
        } else {
            0
        }
    }
    let n = 900usize;
    let args: Vec<u64> = (0..n as u64).collect();
    let hub = Hub::new(3);
    let got = ranks(&hub, 3, |_, comm| {
        let mut o = options(comm, 2);
        o.error_mode = LK_ERRORS_KEEP_GOING;
        let (st, inv) = new_invoker_with(std::ptr::null(), Some(fails_above), &o);
        assert_eq!(st, lk_status::LK_OK);
        let mut status = vec![7i32; n];
        let mut mo = map_opts(LK_SCHEDULE_BLOCK, LK_RESULTS_ALL, false, 0);
        mo.item_status = status.as_mut_ptr();
        // SAFETY: the arrays hold n elements of the sizes passed (or are NULL with size 0).
        let st = unsafe { lk_invoker_map_with(inv, args.as_ptr().cast(), n, 8, std::ptr::null_mut(), 0, &mo) };
        let msg = last_error();
        // SAFETY: handles are looked up, never trusted.
        unsafe { lk_invoker_shutdown(inv) };
        (st, msg, status)
    });
    for (st, msg, status) in &got {
        assert_eq!(*st, lk_status::LK_ERR_CALLBACK);
        assert_eq!(msg, "rank 1: callback failed at index 400 with code 8 (10 items failed)");
        for (i, &s) in status.iter().enumerate() {
            let want = if i >= 400 && i % 50 == 0 { (i / 50) as i32 } else { 0 };
            assert_eq!(s, want, "item {i}: statuses are gathered like results");
        }
    }
}

#[test]
fn ranks_that_disagree_all_return_invalid_and_write_nothing() {
    let n = 300usize;
    let args: Vec<u64> = (0..n as u64 + 1).collect();
    // Each case: how rank 2 differs.
    for case in 0..6 {
        let model = Model::plain();
        let got = with_invokers(&Hub::new(3), &model, 1, |rank, inv| {
            let mut out = vec![SENTINEL; n + 1];
            let odd = rank == 2;
            let mut o = map_opts(LK_SCHEDULE_BLOCK, LK_RESULTS_ALL, false, 0);
            let mut count = n;
            let mut rsz = std::mem::size_of::<Out>();
            let mut ap: *const c_void = args.as_ptr().cast();
            match case {
                0 if odd => count = n + 1,
                1 if odd => o.schedule = LK_SCHEDULE_CYCLIC,
                2 if odd => o.index_base = 1,
                3 if odd => rsz = 8,
                4 if odd => ap = std::ptr::null(), // a local error: NULL args
                5 if odd => o.schedule = 99,       // a bad option value
                _ => {}
            }
            // SAFETY: the arrays hold n elements of the sizes passed (or are NULL with size 0).
            let st = unsafe { lk_invoker_map_with(inv, ap, count, 8, out.as_mut_ptr().cast(), rsz, &o) };
            let msg = last_error();
            let untouched = out.iter().all(|o| *o == SENTINEL);
            // The invoker is fine afterwards, and the ranks are still in step.
            let mut out2 = vec![SENTINEL; n];
            let st2 = map(inv, Some(&args[..n]), n, &mut out2, &map_opts(LK_SCHEDULE_BLOCK, LK_RESULTS_ALL, false, 0));
            (st, msg, untouched, st2, out2[n - 1].index)
        });
        for (st, msg, untouched, st2, last) in &got {
            assert_eq!(*st, lk_status::LK_ERR_INVALID, "case {case}: {msg}");
            assert!(msg.contains("rank 2"), "case {case}: {msg}");
            assert!(untouched, "case {case}: nothing written");
            assert_eq!(*st2, lk_status::LK_OK, "case {case}");
            assert_eq!(*last, n as u64 - 1);
        }
    }
}

#[test]
fn cancelling_on_one_rank_cancels_the_map_on_all() {
    let n = 2000usize;
    let args: Vec<u64> = (0..n as u64).collect();
    for schedule in [LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC, LK_SCHEDULE_DYNAMIC] {
        let hub = Hub::new(3);
        let models: Vec<Model> = (0..3)
            .map(|r| {
                let mut m = Model::plain();
                if r == 1 {
                    // Rank 1 is quick and cancels from an item of its share
                    // (BLOCK), or from any item past 20.
                    m.cancel_value = if schedule == LK_SCHEDULE_BLOCK { 700 } else { 20 };
                } else {
                    m.slow_us = 1000; // the others would take 0.3 s for their share
                }
                m
            })
            .collect();
        let got = ranks(&hub, 3, |rank, comm| {
            let model = &models[rank];
            let (_, inv) = new_invoker(model, comm, 2, LK_ERRORS_FAIL_FAST);
            model.cancel_inv.store(inv as usize, Ordering::SeqCst);
            let mut out = vec![SENTINEL; n];
            let mut status = vec![7i32; n];
            let mut o = map_opts(schedule, LK_RESULTS_ALL, false, 0);
            o.item_status = status.as_mut_ptr();
            let st = map(inv, Some(&args), n, &mut out, &o);
            let msg = last_error();
            let st2 = map(inv, Some(&args[..10]), 10, &mut out, &map_opts(schedule, LK_RESULTS_ALL, false, 0));
            // SAFETY: handles are looked up, never trusted.
            unsafe { lk_invoker_shutdown(inv) };
            let skipped = status.iter().filter(|&&s| s == LK_ITEM_SKIPPED).count();
            (st, msg, st2, skipped)
        });
        for (st, msg, st2, skipped) in &got {
            assert_eq!(*st, lk_status::LK_ERR_CANCELLED, "schedule {schedule}: {msg}");
            assert_eq!(*st2, lk_status::LK_OK, "not sticky");
            // Rank 1 alone could skip at most its share: the others stopped early too.
            assert!(*skipped > n / 2, "schedule {schedule}: only {skipped} items skipped");
        }
    }
}

#[test]
fn a_failing_collective_gives_comm_and_breaks_the_invoker() {
    for fail_at in [2usize, 3, 4] {
        let hub = Hub::new(3);
        *hub.fail_op.lock() = Some(fail_at);
        let model = Model::plain();
        let args: Vec<u64> = (0..100).collect();
        let got = ranks(&hub, 3, |_, comm| {
            // Operations 0 and 1 make the invoker; 2.. are the map's.
            let (st, inv) = new_invoker(&model, comm, 1, LK_ERRORS_FAIL_FAST);
            assert_eq!(st, lk_status::LK_OK);
            let mut out = vec![SENTINEL; 100];
            let st = map(inv, Some(&args), 100, &mut out, &map_opts(LK_SCHEDULE_BLOCK, LK_RESULTS_ALL, false, 0));
            let msg = last_error();
            let st2 = map(inv, Some(&args), 100, &mut out, &map_opts(LK_SCHEDULE_BLOCK, LK_RESULTS_ALL, false, 0));
            // SAFETY: handles are looked up, never trusted.
            unsafe { lk_invoker_shutdown(inv) };
            (st, msg, st2)
        });
        for (st, msg, st2) in &got {
            assert_eq!(*st, lk_status::LK_ERR_COMM, "op {fail_at}: {msg}");
            assert_eq!(*st2, lk_status::LK_ERR_COMM, "broken from then on");
        }
    }
    // At creation.
    let hub = Hub::new(2);
    *hub.fail_op.lock() = Some(0);
    let model = Model::plain();
    let got = ranks(&hub, 2, |_, comm| new_invoker(&model, comm, 1, LK_ERRORS_FAIL_FAST).0);
    assert!(got.iter().all(|&s| s == lk_status::LK_ERR_COMM));
}

pub(super) static LOG_LOCK: Mutex<()> = Mutex::new(());
pub(super) static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

pub(super) unsafe extern "C" fn collect(_: i32, _: *const c_char, message: *const c_char, _: *mut c_void) {
    let m = CStr::from_ptr(message).to_string_lossy().into_owned();
    if m.contains("hello from item") || m.contains("distributed map of") {
        LOGGED.lock().push(m);
    }
}

/// Start collecting log records into `LOGGED` (emptied first). The guard
/// keeps other tests that collect out until the test ends.
pub(super) fn collect_logs() -> MutexGuard<'static, ()> {
    let one = LOG_LOCK.lock();
    LOGGED.lock().clear();
    // SAFETY: a valid callback and no user pointer.
    unsafe { crate::ffi::log::lk_set_log_callback(Some(collect), std::ptr::null_mut(), 3) };
    one
}

/// Stop collecting (what `LOGGED` holds stays).
pub(super) fn stop_collecting_logs() {
    // SAFETY: no callback, no user pointer.
    unsafe { crate::ffi::log::lk_set_log_callback(None, std::ptr::null_mut(), 3) };
}

#[test]
fn records_of_other_ranks_reach_rank_0_once_tagged_before_the_map_returns() {
    let _one = collect_logs();
    let n = 600usize;
    let args: Vec<u64> = (0..n as u64).collect();
    let hub = Hub::new(3);
    let models: Vec<Model> = (0..3)
        .map(|_| {
            let mut m = Model::plain();
            m.log_value = 450; // BLOCK: rank 2's share
            m
        })
        .collect();
    let got = ranks(&hub, 3, |rank, comm| {
        let (_, inv) = new_invoker(&models[rank], comm, 2, LK_ERRORS_FAIL_FAST);
        let mut out = vec![SENTINEL; n];
        let st = map(inv, Some(&args), n, &mut out, &map_opts(LK_SCHEDULE_BLOCK, LK_RESULTS_ALL, false, 0));
        let seen = if rank == 0 { LOGGED.lock().clone() } else { Vec::new() };
        // A map with nothing logged needs no extra collective: the fake
        // would notice a mismatch if ranks disagreed about it.
        let st2 = map(inv, Some(&args[..5]), 5, &mut out, &map_opts(LK_SCHEDULE_BLOCK, LK_RESULTS_ALL, false, 0));
        // SAFETY: handles are looked up, never trusted.
        unsafe { lk_invoker_shutdown(inv) };
        (st, st2, seen)
    });
    stop_collecting_logs();
    assert!(got.iter().all(|g| g.0 == lk_status::LK_OK && g.1 == lk_status::LK_OK));
    let hello = |v: &[String]| v.iter().filter(|m| m.contains("hello from item")).cloned().collect::<Vec<_>>();
    assert_eq!(hello(&got[0].2), vec!["[rank 2] hello from item 450".to_string()], "once, tagged, before rank 0's map returned");
    assert_eq!(hello(&LOGGED.lock()).len(), 1);
}

#[test]
fn nested_distributed_maps_and_the_process_backend_are_unsupported() {
    let hub = Hub::new(2);
    let models: Vec<Model> = (0..2)
        .map(|_| {
            let mut m = Model::plain();
            m.nested_value = 1001;
            m
        })
        .collect();
    let args: Vec<u64> = vec![1001, 1001, 1001, 1001];
    let got = ranks(&hub, 2, |rank, comm| {
        let mut stats = Vec::new();
        for n_jobs in [1, 2] {
            let (_, inv) = new_invoker(&models[rank], comm, n_jobs, LK_ERRORS_FAIL_FAST);
            models[rank].cancel_inv.store(inv as usize, Ordering::SeqCst);
            let mut out = vec![SENTINEL; 4];
            let st = map(inv, Some(&args), 4, &mut out, &map_opts(LK_SCHEDULE_BLOCK, LK_RESULTS_ALL, false, 0));
            stats.push((st, models[rank].nested_status.load(Ordering::SeqCst)));
            // SAFETY: handles are looked up, never trusted.
            unsafe { lk_invoker_shutdown(inv) };
        }
        let mut o = options(comm, 0);
        o.backend = LK_BACKEND_PROCESSES;
        let (st, inv) = new_invoker_with(std::ptr::null(), Some(op), &o);
        (stats, st, inv.is_null())
    });
    for (stats, st, untouched) in got {
        for (map_st, nested) in stats {
            assert_eq!(map_st, lk_status::LK_OK);
            assert_eq!(nested, lk_status::LK_ERR_UNSUPPORTED as usize);
        }
        assert_eq!(st, lk_status::LK_ERR_UNSUPPORTED);
        assert!(untouched);
    }
}

#[test]
fn without_fetch_add_dynamic_is_unsupported_on_every_rank() {
    let model = Model::plain();
    let args: Vec<u64> = (0..50).collect();
    let got = with_invokers(&Hub::without_fetch_add(3), &model, 1, |_, inv| {
        let mut out = vec![SENTINEL; 50];
        let dynamic = map(inv, Some(&args), 50, &mut out, &map_opts(LK_SCHEDULE_DYNAMIC, LK_RESULTS_ALL, false, 0));
        let cyclic = map(inv, Some(&args), 50, &mut out, &map_opts(LK_SCHEDULE_CYCLIC, LK_RESULTS_ALL, false, 0));
        (dynamic, cyclic, out[49].value)
    });
    for (d, c, v) in got {
        assert_eq!(d, lk_status::LK_ERR_UNSUPPORTED);
        assert_eq!(c, lk_status::LK_OK);
        assert_eq!(v, 49 * 3 + 1);
    }
}

#[test]
fn the_comm_outlives_its_handle_while_an_invoker_uses_it() {
    let hub = Hub::new(2);
    let model = Model::plain();
    let args: Vec<u64> = (0..10).collect();
    std::thread::scope(|s| {
        for r in 0..2 {
            let hub = hub.clone();
            let model = &model;
            let args = &args;
            s.spawn(move || {
                let ops = hub.table(r);
                let mut comm = std::ptr::null_mut();
                // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
                assert_eq!(unsafe { lk_comm_new(&ops, &mut comm) }, lk_status::LK_OK);
                let (_, inv) = new_invoker(model, comm, 1, LK_ERRORS_FAIL_FAST);
                // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
                assert_eq!(unsafe { lk_comm_free(comm) }, lk_status::LK_OK);
                // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
                assert_eq!(unsafe { lk_comm_free(comm) }, lk_status::LK_ERR_INVALID);
                // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
                assert_eq!(unsafe { lk_comm_rank(comm) }, -1);
                let mut out = vec![SENTINEL; 10];
                assert_eq!(map(inv, Some(args), 10, &mut out, &map_opts(0, 0, false, 0)), lk_status::LK_OK);
                // SAFETY: handles are looked up, never trusted.
                assert_eq!(unsafe { lk_invoker_shutdown(inv) }, lk_status::LK_OK);
            });
        }
    });
    assert_eq!(*hub.released.lock(), 2, "released once per rank, after the last invoker");
}

#[test]
fn bad_tables_are_refused() {
    let hub = Hub::new(2);
    let mut ops = hub.table(0);
    let mut comm = std::ptr::null_mut();
    let good = ops;
    ops.rank = 2;
    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
    assert_eq!(unsafe { lk_comm_new(&ops, &mut comm) }, lk_status::LK_ERR_INVALID);
    ops = good;
    ops.allgatherv = None;
    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
    assert_eq!(unsafe { lk_comm_new(&ops, &mut comm) }, lk_status::LK_ERR_INVALID);
    ops = good;
    ops.struct_size = 8;
    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
    assert_eq!(unsafe { lk_comm_new(&ops, &mut comm) }, lk_status::LK_ERR_INVALID);
    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
    assert_eq!(unsafe { lk_comm_new(std::ptr::null(), &mut comm) }, lk_status::LK_ERR_INVALID);
    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
    assert_eq!(unsafe { lk_comm_new(&good, std::ptr::null_mut()) }, lk_status::LK_ERR_INVALID);
    assert!(comm.is_null(), "no output on failure");
    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
    assert_eq!(unsafe { lk_comm_free(std::ptr::null_mut()) }, lk_status::LK_OK);
    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
    assert_eq!(unsafe { lk_comm_size(std::ptr::null()) }, -1);
    // The refused tables share one ctx, still the caller's: this comm frees it.
    // SAFETY: as above.
    assert_eq!(unsafe { lk_comm_new(&good, &mut comm) }, lk_status::LK_OK);
    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
    assert_eq!(unsafe { crate::ffi::comm::lk_comm_abort(comm, 3) }, lk_status::LK_OK);
    assert_eq!(hub.aborted.lock().as_slice(), &[(0, 3)]);
    // SAFETY: the table and out pointer are this test's live locals; handles are looked up, never trusted.
    assert_eq!(unsafe { lk_comm_free(comm) }, lk_status::LK_OK);
}

#[test]
fn a_single_rank_communicator_is_a_local_map() {
    let model = Model::plain();
    let args: Vec<u64> = (0..777).collect();
    let got = with_invokers(&Hub::new(1), &model, 2, |_, inv| {
        let mut all = Vec::new();
        for (k, schedule) in [LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC, LK_SCHEDULE_DYNAMIC].into_iter().enumerate() {
            let mut out = vec![SENTINEL; 777];
            assert_eq!(map(inv, Some(&args), 777, &mut out, &map_opts(schedule, LK_RESULTS_ROOT, true, 0)), lk_status::LK_OK);
            all.push((k as u64, out));
        }
        let base = seed_base_of(inv);
        (base, all)
    });
    let (base, all) = &got[0];
    for (ordinal, out) in all {
        assert!(out == &local_reference(&model, &args, *base, *ordinal, 0));
    }
}

#[test]
fn ranks_with_different_error_or_seed_modes_all_refuse_to_make_the_invoker() {
    // (error_mode, seeds) of the last rank; rank 0 and 1 pass the defaults.
    for (error_mode, seeds) in [(LK_ERRORS_KEEP_GOING, LK_SEEDS_PER_ITEM), (LK_ERRORS_FAIL_FAST, LK_SEEDS_OFF)] {
        let hub = Hub::new(3);
        let got = ranks(&hub, 3, |rank, comm| {
            let mut o = options(comm, 1);
            if rank == 2 {
                o.error_mode = error_mode;
                o.seeds = seeds;
            }
            let (st, inv) = new_invoker_with(std::ptr::null(), Some(op), &o);
            (st, last_error(), inv.is_null())
        });
        for (st, msg, untouched) in &got {
            assert_eq!(*st, lk_status::LK_ERR_INVALID, "{msg}");
            assert!(msg.contains("rank 2 passed a different"), "{msg}");
            assert!(untouched);
        }
    }
}

#[test]
fn seeds_off_is_zero_on_every_rank() {
    let n = 500usize;
    let model = Model::plain();
    let hub = Hub::new(2);
    let got = ranks(&hub, 2, |_, comm| {
        let mut o = options(comm, 2);
        o.seeds = LK_SEEDS_OFF;
        let (st, inv) = new_invoker_with((&model as *const Model).cast(), Some(op), &o);
        assert_eq!(st, lk_status::LK_OK);
        let mut out: Vec<Out> = (0..n).map(|_| SENTINEL).collect();
        let st = map(inv, None, n, &mut out, &map_opts(LK_SCHEDULE_CYCLIC, LK_RESULTS_ALL, false, 0));
        // SAFETY: handles are looked up, never trusted.
        unsafe { lk_invoker_shutdown(inv) };
        (st, out)
    });
    for (st, out) in &got {
        assert_eq!(*st, lk_status::LK_OK);
        assert!(out.iter().enumerate().all(|(i, o)| o.index == i as u64 && o.seed == 0), "every item ran, with seed 0");
    }
}
