//! The threads backend: what runs on the Rayon pool.
//!
//! Each invoker owns a Rayon `ThreadPool` of `n_jobs` threads. Every thread
//! runs one long job, `worker_loop`, from the pool's start to its end: take
//! a map with work from the scheduler, take a slot, claim and run chunks,
//! give the slot back; when there is nothing to do, wait for the scheduler's
//! next event (`Sched::wait_for_work`). Rayon's own work-stealing loop never
//! runs, so an idle pool costs no CPU and a pool of 4096 threads does not
//! search 4096 deques.
//!
//! The thread that calls `map` takes a slot and works too (as oneTBB's
//! arenas let it), so a 1-item map never hands off to another thread.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sync::{Condvar, Mutex};

use super::context;
use super::job::{Items, Job};
use super::sched::Sched;
use super::{Core, MapOptions, Watch};
use crate::error::{Error, Result};

pub struct Pool {
    rayon: Option<rayon::ThreadPool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    pub(super) sched: Arc<Sched>,
}

impl Pool {
    pub fn new(core: &Core) -> Result<Pool> {
        let n_jobs = core.opts.n_jobs;
        let threads: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let spawned = threads.clone();
        // Threads wait at this gate until their worker loop is queued, so
        // none of them enters Rayon's search for work first.
        let gate = Arc::new(Gate::default());
        let thread_gate = gate.clone();
        // Spawn the threads ourselves so shutdown can join them (Rayon only signals).
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(n_jobs)
            .thread_name(|i| format!("lk-worker-{i}"))
            .spawn_handler(move |thread| {
                let mut b = std::thread::Builder::new();
                if let Some(name) = thread.name() {
                    b = b.name(name.to_owned());
                }
                let gate = thread_gate.clone();
                let handle = b.spawn(move || {
                    gate.wait();
                    thread.run()
                })?;
                spawned.lock().push(handle);
                Ok(())
            })
            .build();
        let rayon = match built {
            Ok(r) => r,
            Err(e) => {
                // The threads that did start find Rayon's registry ended and exit.
                gate.open();
                return Err(Error::System(format!("cannot start {n_jobs} worker threads: {e}")));
            }
        };
        let sched = Arc::new(Sched::new(n_jobs, core.may_spin()));
        let s = sched.clone();
        rayon.spawn_broadcast(move |_| worker_loop(&s));
        gate.open();
        Ok(Pool { rayon: Some(rayon), threads, sched })
    }

    /// Run one map to completion with this pool's slots and threads.
    pub fn map(&self, core: &Arc<Core>, items: Items, mopts: &MapOptions, seed_base: u64) -> Result<()> {
        let job = Job::for_map(core, Some(self.sched.clone()), items, mopts, seed_base);
        let held = context::held_worker(core.id);
        let mine = held.or_else(|| self.sched.try_take_slot());
        let n = items.n;
        let mine_count = usize::from(mine.is_some());
        // Helpers for the chunks the caller cannot take itself.
        let helpers = (core.opts.n_jobs - mine_count).min(n - mine_count);
        let posted = helpers > 0 || mine.is_none();
        if posted {
            self.sched.post(&job, helpers);
        }
        let mut reporter = job.reporter();
        if let Some(k) = mine {
            job.work(k, reporter.as_mut());
            if held.is_none() {
                self.sched.put_slot(k);
            }
        }
        job.wait(reporter.as_mut());
        if posted {
            self.sched.withdraw(&job);
        }
        job.outcome()
    }

    /// A map whose caller runs no items but watches it (see `Invoker::map_watched`).
    pub fn map_watched(&self, core: &Arc<Core>, items: Items, mopts: &MapOptions, seed_base: u64, period: Duration, watch: &mut dyn FnMut(bool) -> Watch) -> Result<()> {
        let job = Job::for_map(core, Some(self.sched.clone()), items, mopts, seed_base);
        self.sched.post(&job, core.opts.n_jobs.min(items.n));
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
        self.sched.shut_down();
        drop(self.rayon.take());
        let handles = std::mem::take(&mut *self.threads.lock());
        for h in handles {
            // A worker thread never panics out (callbacks are C; the loop
            // catches nothing that could unwind), so join only waits.
            let _ = h.join();
        }
    }
}

/// Holds new threads until their first job is queued.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock();
        while !*open {
            open = self.opened.wait(open);
        }
    }

    fn open(&self) {
        *self.open.lock() = true;
        self.opened.notify_all();
    }
}

/// One pool thread, from the pool's start to its shutdown.
fn worker_loop(sched: &Sched) {
    loop {
        let seen = sched.generation();
        if sched.quitting() {
            return;
        }
        if let Some(job) = sched.claimable() {
            if let Some(k) = sched.try_take_slot() {
                job.work(k, None);
                sched.put_slot(k);
                continue;
            }
        }
        sched.wait_for_work(seen);
    }
}
