//! The invoker's own tests: every kind of map on every backend, through the
//! core (the C boundary has its own, in c-tests).

use super::*;
use std::sync::atomic::AtomicUsize;


/// result = arg * 2 + 1; an argument equal to the model's value fails with code 7.
unsafe extern "C" fn double(model: *const c_void, arg: *const c_void, result: *mut c_void, task: *const Task) -> i32 {
    let a = *(arg as *const u64);
    if !model.is_null() && *(model as *const u64) == a {
        return 7;
    }
    *(result as *mut u64) = a * 2 + 1;
    *(result as *mut u64).add(1) = (*task).seed;
    0
}

fn invoker(n_jobs: usize, model: *const u64, mode: ErrorMode) -> Invoker {
    let mut opts = Options::new(n_jobs);
    opts.error_mode = mode;
    Invoker::new(Op { func: Func::Item(double), model: SendPtr::from_const(model.cast()) }, opts).unwrap()
}

fn run(inv: &Invoker, args: &[u64], out: &mut [[u64; 2]], status: Option<&mut [i32]>) -> Result<()> {
    let items = Items {
        args: SendPtr::from_const(args.as_ptr().cast()),
        arg_size: 8,
        results: SendPtr(out.as_mut_ptr().cast()),
        result_size: 16,
        n: args.len(),
    };
    let item_status = status.map_or(SendPtr::null(), |s| SendPtr(s.as_mut_ptr()));
    inv.map(items, &MapOptions { index_base: 0, item_status, seed_base: None })
}

#[test]
fn results_are_ordered_and_seeds_come_from_indices_only() {
    let args: Vec<u64> = (0..10_000).collect();
    for n_jobs in [1, 2, 4] {
        let inv = invoker(n_jobs, std::ptr::null(), ErrorMode::FailFast);
        let mut out = vec![[0u64; 2]; args.len()];
        for map in 0..2 {
            run(&inv, &args, &mut out, None).unwrap();
            let base = seed::derive(inv.core.seed_base, map);
            for (i, r) in out.iter().enumerate() {
                assert_eq!(r[0], args[i] * 2 + 1);
                assert_eq!(r[1], seed::derive(base, i as u64), "n_jobs {n_jobs}, map {map}, item {i}");
            }
        }
    }
}

#[test]
fn seeds_off_gives_zero_on_every_path() {
    let args: Vec<u64> = (0..5_000).collect();
    for n_jobs in [1, 2, 3] {
        let mut opts = Options::new(n_jobs);
        opts.item_seeds = false;
        let inv = Invoker::new(Op { func: Func::Item(double), model: SendPtr::null() }, opts).unwrap();
        // The plain loop, then the general one (an item_status array).
        let mut out = vec![[1u64; 2]; args.len()];
        run(&inv, &args, &mut out, None).unwrap();
        assert!(out.iter().enumerate().all(|(i, r)| r[0] == args[i] * 2 + 1 && r[1] == 0));
        let mut status = vec![9i32; args.len()];
        let mut out = vec![[1u64; 2]; args.len()];
        run(&inv, &args, &mut out, Some(&mut status)).unwrap();
        assert!(out.iter().all(|r| r[1] == 0) && status.iter().all(|&s| s == 0));
    }
}

#[test]
fn fail_fast_reports_the_failure_and_keep_going_runs_everything() {
    let args: Vec<u64> = (0..1000).collect();
    let bad = 500u64;
    let inv = invoker(2, &bad, ErrorMode::FailFast);
    let mut out = vec![[0u64; 2]; args.len()];
    assert_eq!(run(&inv, &args, &mut out, None), Err(Error::Callback { index: 500, code: 7, failed: 1 }));

    let inv = invoker(2, &bad, ErrorMode::KeepGoing);
    let mut status = vec![99i32; args.len()];
    let err = run(&inv, &args, &mut out, Some(&mut status));
    assert!(matches!(err, Err(Error::Callback { index: 500, code: 7, .. })));
    assert!(status.iter().enumerate().all(|(i, &s)| s == if i == 500 { 7 } else { 0 }));
    // Still usable.
    let ok: Vec<u64> = (0..10).collect();
    run(&inv, &ok, &mut out[..10], None).unwrap();
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MAX_RUNNING: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count(_: *const c_void, _: *const c_void, result: *mut c_void, task: *const Task) -> i32 {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MAX_RUNNING.fetch_max(now, Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_micros(200));
    *(result as *mut u32) = (*task).worker;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    0
}

#[test]
fn at_most_n_jobs_run_at_once_even_with_concurrent_maps() {
    let inv = Arc::new(Invoker::new(Op { func: Func::Item(count), model: SendPtr::null() }, Options::new(3)).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let inv = inv.clone();
            std::thread::spawn(move || {
                let mut out = vec![u32::MAX; 200];
                let items = Items { args: SendPtr::null(), arg_size: 0, results: SendPtr(out.as_mut_ptr().cast()), result_size: 4, n: 200 };
                inv.map(items, &MapOptions::default()).unwrap();
                assert!(out.iter().all(|&w| w < 3));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(MAX_RUNNING.load(Ordering::SeqCst) <= 3);
    assert!(MAX_RUNNING.load(Ordering::SeqCst) >= 2);
}

#[test]
fn n_jobs_conventions() {
    assert!(resolve_n_jobs(0).unwrap() >= 1);
    assert_eq!(resolve_n_jobs(-1).unwrap(), crate::cpus::cpu_count().count);
    assert_eq!(resolve_n_jobs(5).unwrap(), 5);
    assert!(matches!(resolve_n_jobs(-2), Err(Error::Invalid(_))));
    assert!(matches!(resolve_n_jobs(i32::MIN), Err(Error::Invalid(_))));
    assert!(matches!(resolve_n_jobs(100_000), Err(Error::Invalid(_))));
}
