//! The invoker's own tests: every kind of map on every backend, through the
//! core (the C boundary has its own, in c-tests).

use super::*;
use super::stream;
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

// ---- range maps, streams and the process backend, through the core ----

/// The range form of `double`: the same per item, the loop ours.
unsafe extern "C" fn double_range(model: *const c_void, args: *const c_void, results: *mut c_void, range: *mut Range) -> i32 {
    let r = &mut *range;
    for (k, index) in (r.begin..r.end).enumerate() {
        let a = *(args as *const u64).add(k);
        if !model.is_null() && *(model as *const u64) == a {
            r.failed = index;
            return 7;
        }
        let out = (results as *mut u64).add(2 * k);
        *out = a * 2 + 1;
        let seed = if r.seeds != 0 { seed::derive(r.seed_base, index as u64) } else { 0 };
        *out.add(1) = seed;
    }
    0
}

fn with(func: Func, n_jobs: usize, backend: Backend, mode: ErrorMode, model: *const u64) -> Invoker {
    let mut opts = Options::new(n_jobs);
    opts.backend = backend;
    opts.error_mode = mode;
    opts.grain = 3;
    Invoker::new(Op { func, model: SendPtr::from_const(model.cast()) }, opts).unwrap()
}

fn backends() -> Vec<Backend> {
    if cfg!(lk_fork) { vec![Backend::Threads, Backend::Processes] } else { vec![Backend::Threads] }
}

/// A range invoker gives exactly an item invoker's results, statuses,
/// errors and seeds, on every backend and worker count.
#[test]
fn range_maps_equal_item_maps() {
    let args: Vec<u64> = (0..3000).collect();
    for backend in backends() {
        for n_jobs in [1, 2, 4] {
            for (mode, bad) in [(ErrorMode::FailFast, u64::MAX), (ErrorMode::KeepGoing, 1234)] {
                let item = with(Func::Item(double), n_jobs, backend, mode, &bad);
                let range = with(Func::Range(double_range), n_jobs, backend, mode, &bad);
                let (mut a, mut b) = (vec![[0u64; 2]; args.len()], vec![[0u64; 2]; args.len()]);
                let (mut sa, mut sb) = (vec![9i32; args.len()], vec![9i32; args.len()]);
                let ra = run(&item, &args, &mut a, Some(&mut sa));
                let rb = run(&range, &args, &mut b, Some(&mut sb));
                assert_eq!(ra, rb, "{backend:?} n_jobs {n_jobs} {mode:?}");
                assert_eq!(sa, sb, "{backend:?} n_jobs {n_jobs} {mode:?}");
                for i in 0..args.len() {
                    assert_eq!(a[i][0], b[i][0], "item {i}");
                    // Seeds: each invoker's own base, the same derivation.
                    if sb[i] == 0 {
                        assert_eq!(b[i][1], seed::derive(seed::derive(range.core().seed_base, 0), i as u64), "{backend:?} n_jobs {n_jobs} {mode:?} item {i}");
                    }
                }
            }
        }
    }
}

/// A process map bigger than its ring: arguments and results cross it in
/// parts copied by several threads, results past the caches, range calls'
/// results staged or not. Ring statuses
/// are 0 at rest (workers write only failures): a failure's slot, used
/// again in the same map, and the arena under a smaller map's arguments
/// read 0 again; the parent reads statuses only once one is marked.
#[test]
fn a_big_process_map_keeps_every_result_and_status() {
    if !cfg!(lk_fork) {
        return;
    }
    let n = 3_000_000;
    let bad = 1000u64;
    let big: Vec<u64> = (0..n as u64).collect();
    let clean: Vec<u64> = big.iter().map(|a| a + n as u64).collect();
    let small: Vec<u64> = (0..1000).map(|i| u64::MAX / 4 - i).collect();
    for (n_jobs, func) in [(2, Func::Item(double)), (3, Func::Range(double_range)), (1, Func::Range(double_range))] {
        let inv = with(func, n_jobs, Backend::Processes, ErrorMode::KeepGoing, &bad);
        let base = |map| seed::derive(inv.core().seed_base, map);
        let check = |args: &[u64], map: u64, expect: Result<()>| {
            let mut out = vec![[0u64; 2]; args.len()];
            let mut status = vec![9i32; args.len()];
            assert_eq!(run(&inv, args, &mut out, Some(&mut status)), expect, "n_jobs {n_jobs}, map {map}");
            for i in 0..args.len() {
                // (A failing item's slot holds what the ring held: unspecified.)
                if args[i] == bad {
                    assert_eq!(status[i], 7);
                } else {
                    let want = (0, [args[i] * 2 + 1, seed::derive(base(map), i as u64)]);
                    assert_eq!((status[i], out[i]), want, "n_jobs {n_jobs}, map {map}, item {i}");
                }
            }
        };
        check(&big, 0, Err(Error::Callback { index: bad as usize, code: 7, failed: 1 }));
        check(&clean, 1, Ok(()));
        check(&small, 2, Ok(()));
        check(&clean, 3, Ok(()));
        // Maps 3 to 5 of a range invoker are a trial of staged results
        // (`procs::stage`; map 0 grew the ring, map 2 is too small to weigh).
        check(&big, 4, Err(Error::Callback { index: bad as usize, code: 7, failed: 1 }));
        check(&clean, 5, Ok(()));
    }
}

/// A stream that checks its own invariants as it goes.
struct Counting {
    next_source: u64,
    total: u64,
    next_sink: usize,
    window: usize,
    outstanding: usize,
    sunk: Vec<(u64, u64, i32)>,
    max_outstanding: usize,
}

impl stream::Io for Counting {
    fn source(&mut self, args: *mut u8, capacity: usize) -> Result<usize> {
        assert!(capacity >= 1);
        self.outstanding += capacity;
        self.max_outstanding = self.max_outstanding.max(self.outstanding);
        assert!(self.outstanding <= self.window, "window exceeded");
        let n = capacity.min((self.total - self.next_source) as usize);
        for k in 0..n {
            // SAFETY: the driver gives room for `capacity` u64 arguments.
            unsafe { *(args as *mut u64).add(k) = self.next_source + k as u64 };
        }
        self.next_source += n as u64;
        self.outstanding -= capacity - n;
        Ok(n)
    }

    fn sink(&mut self, first: usize, results: *const u8, status: *const i32, n: usize) -> Result<()> {
        assert!(n >= 1);
        assert_eq!(first, self.next_sink, "in order, exactly once");
        for k in 0..n {
            // SAFETY: `n` results of two u64 and `n` statuses.
            let (r, s) = unsafe { (*(results as *const [u64; 2]).add(k), *status.add(k)) };
            self.sunk.push((r[0], r[1], s));
        }
        self.next_sink += n;
        self.outstanding -= n;
        Ok(())
    }
}

#[test]
fn streams_are_in_order_bounded_and_seeded_like_a_map() {
    for backend in backends() {
        for n_jobs in [1, 3] {
            for func in [Func::Item(double), Func::Range(double_range)] {
                for window in [1, 7, 64, 0] {
                    let inv = with(func, n_jobs, backend, ErrorMode::FailFast, std::ptr::null());
                    let w = if window == 0 { stream::window(&StreamOptions::default(), (8, 16), n_jobs) } else { window };
                    let mut io = Counting { next_source: 0, total: 2000, next_sink: 0, window: w, outstanding: 0, sunk: Vec::new(), max_outstanding: 0 };
                    inv.stream(&mut io, (8, 16), &StreamOptions { window, index_base: 0 }).unwrap();
                    assert_eq!(io.sunk.len(), 2000);
                    let base = seed::derive(inv.core().seed_base, 0);
                    for (i, &(v, s, st)) in io.sunk.iter().enumerate() {
                        assert_eq!((v, st), (2 * i as u64 + 1, 0));
                        assert_eq!(s, seed::derive(base, i as u64), "{backend:?} n_jobs {n_jobs} window {window} item {i}");
                    }
                }
            }
        }
    }
}

/// Under fail-fast a stream sinks every item below the failing one, and
/// nothing from it on; under keep-going everything, with statuses.
#[test]
fn a_failing_stream_sinks_what_is_below_the_failure() {
    let bad = 777u64;
    for backend in backends() {
        for func in [Func::Item(double), Func::Range(double_range)] {
            let inv = with(func, 2, backend, ErrorMode::FailFast, &bad);
            let mut io = Counting { next_source: 0, total: 5000, next_sink: 0, window: 100, outstanding: 0, sunk: Vec::new(), max_outstanding: 0 };
            let r = inv.stream(&mut io, (8, 16), &StreamOptions { window: 100, index_base: 0 });
            assert!(matches!(r, Err(Error::Callback { index: 777, code: 7, .. })), "{r:?}");
            assert_eq!(io.sunk.len(), 777, "{backend:?}");

            let inv = with(func, 2, backend, ErrorMode::KeepGoing, &bad);
            let mut io = Counting { next_source: 0, total: 5000, next_sink: 0, window: 100, outstanding: 0, sunk: Vec::new(), max_outstanding: 0 };
            let r = inv.stream(&mut io, (8, 16), &StreamOptions { window: 100, index_base: 0 });
            assert!(matches!(r, Err(Error::Callback { index: 777, code: 7, .. })), "{r:?}");
            assert_eq!(io.sunk.len(), 5000);
            assert!(io.sunk.iter().enumerate().all(|(i, s)| s.2 == if i == 777 { 7 } else { 0 }));
        }
    }
}

#[cfg(lk_fork)]
mod processes {
    use super::*;

    /// Dies (SIGKILL) at argument 300, once per process that sees it.
    unsafe extern "C" fn dies(_: *const c_void, arg: *const c_void, result: *mut c_void, _: *const Task) -> i32 {
        let a = *(arg as *const u64);
        if a == 300 {
            libc::raise(libc::SIGKILL);
        }
        *(result as *mut u64) = a + 1;
        0
    }

    unsafe extern "C" fn sleeps(_: *const c_void, arg: *const c_void, result: *mut c_void, _: *const Task) -> i32 {
        let a = *(arg as *const u64);
        if a == 5 {
            std::thread::sleep(std::time::Duration::from_secs(30));
        }
        *(result as *mut u64) = a + 1;
        0
    }

    fn map_u64(inv: &Invoker, args: &[u64], out: &mut [u64], status: &mut [i32]) -> Result<()> {
        let items = Items { args: SendPtr::from_const(args.as_ptr().cast()), arg_size: 8, results: SendPtr(out.as_mut_ptr().cast()), result_size: 8, n: args.len() };
        inv.map(items, &MapOptions { index_base: 0, item_status: SendPtr(status.as_mut_ptr()), seed_base: None })
    }

    /// A dead worker fails only its item; under keep-going the rest of its
    /// claim runs again elsewhere; the invoker stays usable.
    #[test]
    fn a_dead_worker_fails_only_its_item() {
        let args: Vec<u64> = (0..2000).collect();
        for mode in [ErrorMode::KeepGoing, ErrorMode::FailFast] {
            let mut opts = Options::new(2);
            opts.backend = Backend::Processes;
            opts.error_mode = mode;
            let inv = Invoker::new(Op { func: Func::Item(dies), model: SendPtr::null() }, opts).unwrap();
            let (mut out, mut status) = (vec![0u64; args.len()], vec![9i32; args.len()]);
            let r = map_u64(&inv, &args, &mut out, &mut status);
            assert!(matches!(&r, Err(Error::WorkerDied(m)) if m.contains("item 300") && m.contains("SIGKILL")), "{r:?}");
            assert_eq!(status[300], ITEM_WORKER_DIED);
            if mode == ErrorMode::KeepGoing {
                for (i, (&s, &o)) in status.iter().zip(&out).enumerate().filter(|&(i, _)| i != 300) {
                    assert_eq!((s, o), (0, i as u64 + 1), "item {i}");
                }
            } else {
                assert!(status.iter().all(|&s| s == 0 || s == ITEM_SKIPPED || s == ITEM_WORKER_DIED));
            }
            let ok: Vec<u64> = (1000..1100).collect();
            let (mut out, mut status) = (vec![0u64; ok.len()], vec![9i32; ok.len()]);
            map_u64(&inv, &ok, &mut out, &mut status).unwrap();
        }
    }

    /// The range form of `dies` (results `a + 1`), for u64 arguments; 7
    /// fails its item with code 7.
    unsafe extern "C" fn dies_in_range(_: *const c_void, args: *const c_void, results: *mut c_void, range: *mut Range) -> i32 {
        let r = &mut *range;
        for k in 0..r.end - r.begin {
            let a = *(args as *const u64).add(k);
            if a == 300 {
                libc::raise(libc::SIGKILL);
            }
            if a == 7 {
                r.failed = r.begin + k;
                return 7;
            }
            *(results as *mut u64).add(k) = a + 1;
        }
        0
    }

    /// A worker that dies inside a range call of a staged map fails that
    /// call's items only (as the API says: the items of that range it had
    /// not finished); the calls before it in its claim delivered their
    /// results, and the rest of the claim runs again.
    #[test]
    fn a_dead_worker_in_a_staged_map_fails_only_its_range_call() {
        let n = 100_000u64;
        let mut opts = Options::new(1);
        opts.backend = Backend::Processes;
        opts.error_mode = ErrorMode::KeepGoing;
        let inv = Invoker::new(Op { func: Func::Range(dies_in_range), model: SendPtr::null() }, opts).unwrap();
        // Map 0 maps the ring, map 1 runs unstaged and is timed, maps 2 on
        // are the trial of staged maps (`procs::stage`), which maps that
        // fail do not count in: maps 3 and 4 die, each in a claim of its own.
        for map in 0..6 {
            let dying = match map {
                3 => Some(60_000),
                4 => Some(20_000),
                _ => None,
            };
            let args: Vec<u64> = (0..n).map(|i| if Some(i) == dying { 300 } else { 1000 + i }).collect();
            let (mut out, mut status) = (vec![0u64; args.len()], vec![9i32; args.len()]);
            let r = map_u64(&inv, &args, &mut out, &mut status);
            let died: Vec<usize> = (0..args.len()).filter(|&i| status[i] == ITEM_WORKER_DIED).collect();
            if let Some(dying) = dying {
                assert!(matches!(&r, Err(Error::WorkerDied(m)) if m.contains("SIGKILL")), "{r:?}");
                let (first, last) = (died[0], died[died.len() - 1]);
                assert!(died.len() == last - first + 1 && (first..=last).contains(&(dying as usize)), "died: {first}..={last}");
                assert!(died.len() <= 8192, "a range call holds at most 64 KiB of results here; died: {first}..={last}");
            } else {
                assert_eq!(r, Ok(()), "map {map}");
            }
            for i in (0..args.len()).filter(|i| !died.contains(i)) {
                assert_eq!((status[i], out[i]), (0, args[i] + 1), "map {map}, item {i}");
            }
        }
    }

    /// Staged and unstaged maps on one range invoker, maps with failing
    /// items and dying workers between clean ones (the clean ones move the
    /// choice of way on; failing maps run as decided). Every map: failures
    /// keep their code, each run of died items holds a death (staged: and
    /// no more than the range calls of its deaths), every other item has
    /// its result.
    #[test]
    fn failing_and_dying_maps_keep_every_other_result_staged_or_not() {
        let n = 120_000usize;
        for mode in [ErrorMode::KeepGoing, ErrorMode::FailFast] {
            let mut opts = Options::new(2);
            opts.backend = Backend::Processes;
            opts.error_mode = mode;
            opts.grain = 5;
            let inv = Invoker::new(Op { func: Func::Range(dies_in_range), model: SendPtr::null() }, opts).unwrap();
            let mut seed = 0x9e37_79b9_7f4a_7c15u64;
            let mut next = |bound: usize| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (seed >> 33) as usize % bound
            };
            for map in 0..24 {
                let mut args: Vec<u64> = (0..n as u64).map(|i| 1000 + i).collect();
                let faulty = map % 2 == 1;
                // Map 0 maps the ring; map 2, the first clean map weighed,
                // starts a trial of staged maps that ends with three clean
                // ones (4, 6, 8): maps 3, 5 and 7 are staged whatever the
                // trial decides. (Map 1 is not staged.)
                let surely_staged = matches!(map, 3 | 5 | 7);
                let mut deaths = Vec::new();
                if faulty {
                    for _ in 0..3 {
                        args[next(n)] = 7;
                    }
                    // Deaths far apart: each run of died items holds one.
                    for part in 0..2 {
                        let at = part * n / 2 + next(n / 4);
                        args[at] = 300;
                        deaths.push(at);
                    }
                }
                let (mut out, mut status) = (vec![0u64; n], vec![9i32; n]);
                let r = map_u64(&inv, &args, &mut out, &mut status);
                assert_eq!(r.is_ok(), !faulty, "{mode:?} map {map}: {r:?}");
                let mut i = 0;
                while i < n {
                    match status[i] {
                        ITEM_WORKER_DIED => {
                            let run = i..(i..n).find(|&j| status[j] != ITEM_WORKER_DIED).unwrap_or(n);
                            let held = deaths.iter().filter(|d| run.contains(d)).count();
                            // Staged, a call holds at most 8192 of these results.
                            let calls_bound = !surely_staged || run.len() <= held * 8192;
                            assert!(held >= 1 && calls_bound, "{mode:?} map {map}: died {run:?}, deaths {deaths:?}");
                            i = run.end;
                        }
                        0 => {
                            assert_eq!(out[i], args[i] + 1, "{mode:?} map {map}, item {i}");
                            i += 1;
                        }
                        s => {
                            let skipped = mode == ErrorMode::FailFast && s == ITEM_SKIPPED;
                            assert!(skipped || (s == 7 && args[i] == 7), "{mode:?} map {map}, item {i}: status {s}");
                            i += 1;
                        }
                    }
                }
                if mode == ErrorMode::KeepGoing {
                    for &d in &deaths {
                        assert_eq!(status[d], ITEM_WORKER_DIED, "map {map}, death at {d}");
                    }
                }
            }
        }
    }

    /// An item past the per-item limit fails with a time-out; its worker is
    /// replaced and the map does not wait for it.
    #[test]
    fn an_item_past_its_time_limit_times_out() {
        let mut opts = Options::new(2);
        opts.backend = Backend::Processes;
        opts.error_mode = ErrorMode::KeepGoing;
        opts.item_timeout = Some(std::time::Duration::from_millis(200));
        let inv = Invoker::new(Op { func: Func::Item(sleeps), model: SendPtr::null() }, opts).unwrap();
        let args: Vec<u64> = (0..50).collect();
        let (mut out, mut status) = (vec![0u64; args.len()], vec![9i32; args.len()]);
        let t = std::time::Instant::now();
        let r = map_u64(&inv, &args, &mut out, &mut status);
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
        assert!(matches!(&r, Err(Error::Timeout(m)) if m.contains("item 5")), "{r:?}");
        assert_eq!(status[5], ITEM_TIMED_OUT);
        assert!(status.iter().enumerate().all(|(i, &s)| i == 5 || s == 0));
    }
}

/// result = the worker that ran the item, after 10 ms.
unsafe extern "C" fn slow_worker_id(_: *const c_void, _: *const c_void, result: *mut c_void, task: *const Task) -> i32 {
    std::thread::sleep(std::time::Duration::from_millis(10));
    *(result as *mut u64) = u64::from((*task).worker);
    0
}

#[test]
fn a_small_map_of_long_items_is_still_shared() {
    // Pool threads join a small map late (sched::JOIN_DELAY), not never.
    let inv = Invoker::new(Op { func: Func::Item(slow_worker_id), model: SendPtr::null() }, Options::new(2)).unwrap();
    let mut out = [u64::MAX; 8];
    let items = Items { args: SendPtr::null(), arg_size: 0, results: SendPtr(out.as_mut_ptr().cast()), result_size: 8, n: out.len() };
    inv.map(items, &MapOptions { index_base: 0, item_status: SendPtr::null(), seed_base: None }).unwrap();
    assert!(out.contains(&0) && out.contains(&1), "workers {out:?}");
}

#[test]
fn small_and_big_maps_from_several_callers_all_finish() {
    // Back-to-back maps on both sides of job::SMALL_MAP, three callers on
    // two workers: every wake the spinning and late-joining paths skip
    // must be made up by another.
    let inv = invoker(2, std::ptr::null(), ErrorMode::FailFast);
    std::thread::scope(|s| {
        for caller in 0..3u64 {
            let inv = &inv;
            s.spawn(move || {
                for round in 0..300u64 {
                    let n = [1, 2, 8, job::SMALL_MAP, job::SMALL_MAP + 1, 5_000][((round + caller) % 6) as usize];
                    let args: Vec<u64> = (0..n as u64).map(|i| i + round).collect();
                    let mut out = vec![[0u64; 2]; n];
                    run(inv, &args, &mut out, None).unwrap();
                    assert!(out.iter().zip(&args).all(|(r, a)| r[0] == a * 2 + 1), "caller {caller}, round {round}");
                }
            });
        }
    });
}

/// Notes the first item each worker ran (the model: two `AtomicUsize`s).
unsafe extern "C" fn note_first(model: *const c_void, _: *const c_void, _: *mut c_void, task: *const Task) -> i32 {
    let firsts = &*(model as *const [AtomicUsize; 2]);
    let _ = firsts[(*task).worker as usize].compare_exchange(usize::MAX, (*task).index, Ordering::SeqCst, Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_micros(50));
    0
}

#[test]
fn each_worker_starts_in_its_own_block() {
    // Workers that fit the CPUs run the same items map after map (blocks.rs):
    // worker k starts at the k-th half, however the threads arrive.
    let firsts = [AtomicUsize::new(usize::MAX), AtomicUsize::new(usize::MAX)];
    let inv = Invoker::new(Op { func: Func::Item(note_first), model: SendPtr::from_const(firsts.as_ptr().cast()) }, Options::new(2)).unwrap();
    let items = Items { args: SendPtr::null(), arg_size: 0, results: SendPtr::null(), result_size: 0, n: 2000 };
    inv.map(items, &MapOptions { index_base: 0, item_status: SendPtr::null(), seed_base: None }).unwrap();
    let seen = firsts.map(AtomicUsize::into_inner);
    if inv.core.may_spin() {
        assert_eq!(seen, [0, 1000]);
    } else {
        // One CPU: one block, a shared counter, item 0 first.
        assert!(seen.contains(&0), "{seen:?}");
    }
}

thread_local! {
    /// The workers the current thread ran items as.
    static RAN_AS: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Notes the worker on the running thread, after about a microsecond.
unsafe extern "C" fn note_worker(_: *const c_void, _: *const c_void, _: *mut c_void, task: *const Task) -> i32 {
    let until = std::time::Instant::now() + std::time::Duration::from_micros(1);
    while std::time::Instant::now() < until {}
    RAN_AS.with(|r| r.borrow_mut().push((*task).worker));
    0
}

#[test]
fn a_caller_runs_as_the_same_worker_map_after_map() {
    // So its home block's items stay in its core's caches (sched::take_slot):
    // whichever thread gives its slot back last, the caller takes its own.
    let inv = Invoker::new(Op { func: Func::Item(note_worker), model: SendPtr::null() }, Options::new(2)).unwrap();
    for _ in 0..40 {
        let items = Items { args: SendPtr::null(), arg_size: 0, results: SendPtr::null(), result_size: 0, n: 2000 };
        inv.map(items, &MapOptions { index_base: 0, item_status: SendPtr::null(), seed_base: None }).unwrap();
    }
    let mut seen = RAN_AS.with(|r| r.take());
    seen.dedup();
    assert_eq!(seen.len(), 1, "the caller ran as workers {seen:?}");
}

/// Notes each range call: its worker, first index and size (the model: a
/// `Mutex<Vec<(u32, usize, usize)>>`).
unsafe extern "C" fn note_range(model: *const c_void, _: *const c_void, _: *mut c_void, range: *mut Range) -> i32 {
    let calls = &*(model as *const crate::sync::Mutex<Vec<(u32, usize, usize)>>);
    let r = &*range;
    calls.lock().push((r.worker, r.begin, r.end - r.begin));
    0
}

#[test]
fn short_even_maps_claim_their_home_blocks_whole() {
    // After a short map whose workers ran out of items together, each owner
    // claims its block in one range (blocks::Balance); a guided owner's
    // first claim is half its block. (A thief may take a whole block too:
    // only the owner's claims count here.)
    let calls = crate::sync::Mutex::new(Vec::<(u32, usize, usize)>::new());
    let model = SendPtr::from_const((&calls as *const crate::sync::Mutex<Vec<(u32, usize, usize)>>).cast());
    let inv = Invoker::new(Op { func: Func::Range(note_range), model }, Options::new(2)).unwrap();
    for _ in 0..200 {
        let items = Items { args: SendPtr::null(), arg_size: 0, results: SendPtr::null(), result_size: 0, n: 2000 };
        inv.map(items, &MapOptions::default()).unwrap();
    }
    let whole = calls.lock().iter().filter(|&&(worker, begin, size)| size == 1000 && begin / 1000 == worker as usize).count();
    if inv.core.may_spin() {
        assert!(whole > 0, "no owner claimed its block of 1000 items whole in 200 maps");
    } else {
        // One CPU: one shared block, guided claims only.
        assert_eq!(whole, 0);
    }
}

#[test]
fn a_loop_of_maps_carries_nothing_from_one_map_to_the_next() {
    // Maps of one invoker reuse two jobs (threads::Spares) and hand them to
    // the pool threads that spin (team): a failure, a stop, a cancel, item
    // statuses or an index base must not outlive their map.
    let bad = 1_000_000_007u64;
    for (n_jobs, mode) in [(2, ErrorMode::FailFast), (2, ErrorMode::KeepGoing), (4, ErrorMode::FailFast), (3, ErrorMode::KeepGoing)] {
        let inv = invoker(n_jobs, &bad, mode);
        for round in 0..40u64 {
            let n = [5000, 300, 20_000, 1, 5000, 2][round as usize % 6];
            // 1-item maps run alone on a renewed job too: some fail.
            let failing = (round % 5 == 1 && n > 1) || (n == 1 && round % 4 == 3);
            let cancelled = round % 7 == 3;
            let args: Vec<u64> = (0..n as u64).map(|i| if failing && i == n as u64 / 2 { bad } else { i + round }).collect();
            let mut out = vec![[u64::MAX; 2]; n];
            let mut status = vec![99i32; n];
            if cancelled {
                inv.cancel();
            }
            let keep = round % 2 == 0;
            let got = run(&inv, &args, &mut out, keep.then_some(&mut status[..]));
            let what = format!("n_jobs {n_jobs}, {mode:?}, round {round}, {n} items");
            match got {
                Ok(()) => {
                    assert!(!failing, "{what}: a failing item went unreported");
                    assert!(out.iter().zip(&args).all(|(r, &a)| r[0] == a * 2 + 1), "{what}: a result is missing");
                    assert!(!keep || status.iter().all(|&s| s == 0), "{what}: statuses");
                }
                Err(Error::Callback { index, code: 7, failed: 1 }) => {
                    assert!(failing && index == n / 2, "{what}: item {index} failed");
                    for (i, (r, &s)) in out.iter().zip(&status).enumerate() {
                        if i == n / 2 {
                            assert!(!keep || s == 7, "{what}: the failing item's status {s}");
                        } else if keep {
                            assert!(s == 0 || (s == ITEM_SKIPPED && mode == ErrorMode::FailFast), "{what}: item {i} status {s}");
                            assert!(s != 0 || r[0] == args[i] * 2 + 1, "{what}: item {i} ran without its result");
                        }
                    }
                }
                Err(Error::Cancelled) => assert!(cancelled, "{what}: cancelled"),
                Err(e) => panic!("{what}: {e:?}"),
            }
        }
    }
}

#[test]
fn a_stop_skips_the_blocks_reserved_for_helpers_too() {
    // Items fail early in the caller's block under fail-fast while a
    // helper's block is reserved for it (team): the map ends, with every
    // item run or skipped, map after map.
    let bad = 3u64;
    let inv = invoker(2, &bad, ErrorMode::FailFast);
    let args: Vec<u64> = (0..20_000).collect();
    let (mut skipped, mut maps) = (0, 0);
    for _ in 0..300 {
        let mut out = vec![[0u64; 2]; args.len()];
        let mut status = vec![99i32; args.len()];
        assert_eq!(run(&inv, &args, &mut out, Some(&mut status)), Err(Error::Callback { index: 3, code: 7, failed: 1 }));
        assert!(status.iter().all(|&s| s == 0 || s == 7 || s == ITEM_SKIPPED), "a status left unset");
        skipped += status.iter().filter(|&&s| s == ITEM_SKIPPED).count();
        maps += 1;
        // A good map in between, so that whole blocks come back.
        let ok: Vec<u64> = (10..20_010).collect();
        run(&inv, &ok, &mut out, None).unwrap();
    }
    assert!(skipped > 0, "no item was skipped in {maps} stopped maps");
}
