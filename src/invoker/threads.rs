//! The threads backend: what runs on the Rayon pool.
//!
//! Each invoker owns a Rayon `ThreadPool` of `n_jobs` threads, made by
//! Rayon's builder and joined when the invoker is shut down. Every thread
//! runs one loop, `worker_loop`, from the pool's start to its end: take a
//! map with work from the scheduler, take a slot, claim and run chunks,
//! give the slot back (or keep it while spinning for the next map); when
//! there is nothing to do, wait for the scheduler's next event
//! (`Sched::wait_for_work`). Only then does the
//! thread enter Rayon's own loop — after the pool has been told to end, so
//! it leaves at once. Rayon's work-stealing search thus never runs: an idle
//! pool costs no CPU, and a pool of 4096 threads does not search 4096
//! queues (which made starting and ending big pools take seconds).
//!
//! A pool thread that spins between maps, keeping its slot, is handed the
//! next map directly, its home block claimed for it (`team`); the board is
//! for the others.
//!
//! The thread that calls `map` takes a slot and works too (as oneTBB's
//! arenas let it), so a 1-item map never hands off to another thread, and
//! pool threads join a small map only after letting its caller run alone
//! for a microsecond (`JOIN_DELAY`): a map of a few short items ends in the
//! caller before a handoff would have paid off.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sync::Mutex;

use super::blocks::Balance;
use super::context;
use super::job::{Job, SMALL_MAP};
use super::kernel::Items;
use super::sched::{Sched, Woken};
use super::team::Handed;
use super::{Core, MapOptions, Watch};
use crate::error::{Error, Result};

pub struct Pool {
    rayon: Option<rayon::ThreadPool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    pub(super) sched: Arc<Sched>,
    /// Whether maps' owners claim their home blocks whole.
    balance: Balance,
    /// Jobs of earlier maps, for the next ones to renew (`shared_job`).
    spares: Mutex<Spares>,
}

/// A loop of maps allocates no job: it alternates between two, renewed in
/// place (`Job::renew_for_map`). While one map's caller waits for its
/// helpers, it makes the job of the map before ready for the next
/// (`Pool::ready_spare`): by then that job's helpers have let it go, and
/// the lines they last wrote (its counts, its `done`) come back to the
/// caller while it has nothing else to do, not while the next map's
/// helpers wait for their hand-over.
#[derive(Default)]
struct Spares {
    /// Made ready for the next map: no one else holds it.
    ready: Option<Arc<Job>>,
    /// The last map's.
    last: Option<Arc<Job>>,
}

impl Pool {
    pub fn new(core: &Core) -> Result<Pool> {
        let n_jobs = core.opts.n_jobs;
        // Callers work too, unless they only watch.
        let spinners = if core.opts.caller_waits { n_jobs } else { n_jobs - 1 };
        let sched = Arc::new(Sched::new(n_jobs, core.may_spin(), spinners));
        let threads: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (spawned, s) = (threads.clone(), sched.clone());
        // Spawn the threads ourselves so shutdown can join them (Rayon only signals).
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(n_jobs)
            .thread_name(|i| format!("lk-worker-{i}"))
            .spawn_handler(move |thread| {
                let mut b = std::thread::Builder::new();
                if let Some(name) = thread.name() {
                    b = b.name(name.to_owned());
                }
                let sched = s.clone();
                let handle = b.spawn(move || {
                    worker_loop(&sched);
                    thread.run()
                })?;
                spawned.lock().push(handle);
                Ok(())
            })
            .build();
        match built {
            Ok(rayon) => Ok(Pool { rayon: Some(rayon), threads, sched, balance: Balance::new(), spares: Mutex::default() }),
            Err(e) => {
                // The threads that did start leave their loop, and find
                // Rayon's registry ended.
                sched.shut_down();
                Err(Error::System(format!("cannot start {n_jobs} worker threads: {e}")))
            }
        }
    }

    /// Run one map to completion with this pool's slots and threads.
    pub fn map(&self, core: &Arc<Core>, items: Items, mopts: &MapOptions, seed_base: u64) -> Result<()> {
        let held = context::held_worker(core.id);
        let mine = held.or_else(|| {
            let k = self.sched.try_take_slot(context::last_slot(core.id));
            k.inspect(|&k| context::set_last_slot(core.id, k))
        });
        let n = items.n;
        let join_late = mine.is_some() && n <= SMALL_MAP;
        let mine_count = usize::from(mine.is_some());
        // Helpers for the chunks the caller cannot take itself.
        let helpers = (core.opts.n_jobs - mine_count).min(n - mine_count);
        let Some(k) = mine.filter(|_| helpers == 0) else {
            let job = self.shared_job(core, items, mopts, seed_base, join_late);
            return self.map_posted(job, mine, held.is_some(), helpers);
        };
        // Alone (a 1-item map): no one to tell, nothing shared. The spare
        // job, renewed: making and dropping one was a third of the map.
        let job = self.shared_job(core, items, mopts, seed_base, join_late);
        let mut reporter = job.reporter();
        job.work(k, reporter.as_mut());
        if held.is_none() {
            self.sched.put_slot(k);
        }
        job.wait(reporter.as_mut());
        let outcome = job.outcome();
        // No one else ever held it: the next map renews it as it is.
        self.spares.lock().ready = Some(job);
        outcome
    }

    /// The job of a map pool threads help with: a spare one, renewed, when
    /// no one holds it any more (`Job::renew_for_map`), else a new one.
    fn shared_job(&self, core: &Arc<Core>, items: Items, mopts: &MapOptions, seed_base: u64, join_late: bool) -> Arc<Job> {
        let whole = self.balance.whole_blocks(items.n);
        let spare = self.spares.lock().ready.take();
        if let Some(mut spare) = spare {
            if let Some(job) = Arc::get_mut(&mut spare) {
                job.renew_for_map(items, mopts, seed_base, join_late);
                job.claim_blocks_whole(whole);
                return spare;
            }
        }
        let mut job = Job::for_map(core, Some(self.sched.clone()), items, mopts, seed_base, join_late);
        job.claim_blocks_whole(whole);
        Arc::new(job)
    }

    /// While a map's helpers finish: make the last map's job ready for the
    /// next one, if no one holds it any more (see `Spares`).
    fn ready_spare(&self) {
        let mut spares = self.spares.lock();
        if let Some(mut last) = spares.last.take() {
            if let Some(j) = Arc::get_mut(&mut last) {
                j.ready_for_next_map();
                spares.ready = Some(last);
            }
        }
    }

    /// `map` for a job pool threads help with: posted, and run by the
    /// caller too when it has a slot (`mine`; `held`: by an outer callback).
    fn map_posted(&self, job: Arc<Job>, mine: Option<u32>, held: bool, helpers: usize) -> Result<()> {
        let mut reporter = job.reporter();
        // Pool threads spinning with their slots take it at once (`team`);
        // the board has it for the others, who wake one another (see
        // `worker_loop`).
        let handed = if job.joins_late() { 0 } else { self.sched.hand_to_team(&job, mine, helpers) };
        let posted = handed < helpers;
        if posted {
            self.sched.post(&job, (helpers - handed).min(2));
        }
        if let Some(k) = mine {
            job.work(k, reporter.as_mut());
            // Every item is claimed: off the board before the slot is
            // freed, so freeing it wakes no one for this map.
            if posted {
                self.sched.withdraw(&job);
            }
            if !held {
                self.sched.put_slot(k);
            }
            self.ready_spare();
            job.wait(reporter.as_mut());
        } else {
            self.ready_spare();
            job.wait(reporter.as_mut());
            self.sched.withdraw(&job);
        }
        if let Some(run) = job.balance() {
            self.balance.map_ran(run);
        }
        let outcome = job.outcome();
        self.spares.lock().last = Some(job);
        outcome
    }

    /// A map whose caller runs no items but watches it (see `Invoker::map_watched`).
    pub fn map_watched(&self, core: &Arc<Core>, items: Items, mopts: &MapOptions, seed_base: u64, period: Duration, watch: &mut dyn FnMut(bool) -> Watch) -> Result<()> {
        let job = Arc::new(Job::for_map(core, Some(self.sched.clone()), items, mopts, seed_base, false));
        self.sched.post(&job, core.opts.n_jobs.min(items.n).min(2));
        let mut reporter = job.reporter();
        loop {
            let stopping_here = job.stop_point() != usize::MAX || job.was_cancelled();
            if let Watch::Stop = watch(stopping_here) {
                job.stop();
            }
            if job.is_done() {
                break;
            }
            job.waiter.sleep_unless(|| job.is_done(), Some(period));
            if let Some(r) = reporter.as_mut() {
                r.maybe_report(&job);
            }
        }
        if let Some(r) = reporter.as_mut() {
            r.report(&job);
        }
        self.sched.withdraw(&job);
        job.outcome()
    }

    /// Stop the worker loops, the Rayon pool, and join its threads.
    pub fn join(&mut self) {
        // Rayon ends the pool first, so a thread that leaves its worker loop
        // finds Rayon's loop ended too, rather than searching every other
        // thread's queue for work until told (quadratic in the threads).
        drop(self.rayon.take());
        self.sched.shut_down();
        let handles = std::mem::take(&mut *self.threads.lock());
        for h in handles {
            // A worker thread never panics out (callbacks are C; the loop
            // catches nothing that could unwind), so join only waits.
            let _ = h.join();
        }
    }
}

/// One pool thread, from the pool's start to its shutdown.
fn worker_loop(sched: &Sched) {
    // Counted as spinning on the way back from a job (`Sched::count_spinner`).
    let mut counted = false;
    // Since when this thread has let small maps' callers run alone.
    let mut deferring: Option<Instant> = None;
    // The slot this thread held last: taking it again, it runs the same
    // home block map after map (see `Blocks`).
    let mut last_slot = None;
    // The slot this thread keeps while it spins (see `Sched::wait_for_work`).
    let mut kept: Option<u32> = None;
    // Run a job handed to the kept slot (`team`), listening again after.
    let run_handed = |handed: Handed| {
        let k = handed.worker;
        let job = handed.run();
        // Listening again first: the caller's next map is on its way, and
        // letting go of the job takes its counts' line from that caller.
        sched.listen(k);
        drop(job);
    };
    loop {
        let seen = sched.generation();
        if sched.quitting() {
            if counted {
                sched.uncount();
            }
            // (A job handed meanwhile may hold a block reserved for us.)
            if let Some(handed) = kept.and_then(|k| sched.stop_listening(k)) {
                drop(handed.run());
            }
            return;
        }
        if let Some(handed) = kept.and_then(|k| sched.take_handed(k)) {
            run_handed(handed);
            continue;
        }
        if sched.defer_to_small_maps(seen, kept, &mut deferring, &mut counted) {
            continue;
        }
        if let Some(job) = sched.claimable() {
            // A job handed to the kept slot meanwhile goes first.
            if let Some(handed) = kept.and_then(|k| sched.stop_listening(k)) {
                run_handed(handed);
                continue;
            }
            if let Some(k) = kept.take().or_else(|| sched.try_take_slot(last_slot)) {
                last_slot = Some(k);
                if std::mem::take(&mut counted) {
                    sched.uncount();
                }
                // Wake the next helpers while there is work for them: a
                // small map wakes few threads, a big one fans out.
                if job.has_spare_work() {
                    sched.wake_idle(2);
                }
                job.work(k, None);
                // (Not after a small map, which a helper joins late if at
                // all: counting it there made loops of 8-item maps slower,
                // 0.58 against 0.71 us, medians of 15 alternating runs.)
                counted = !job.joins_late() && sched.count_spinner();
                if counted {
                    kept = Some(k);
                    sched.listen(k);
                } else {
                    sched.put_slot(k);
                }
                continue;
            }
        }
        match sched.wait_for_work(seen, counted, &mut kept) {
            Woken::Event(still) => counted = still,
            Woken::Handed(handed) => run_handed(handed),
        }
    }
}
