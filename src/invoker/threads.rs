//! The threads backend: a Rayon pool plus `n_jobs` worker slots.
//!
//! A slot is the right to run callbacks as worker `k`; there are exactly
//! `n_jobs`, so at most `n_jobs` callbacks of an invoker run at once however
//! many threads call `map`. The map's calling thread takes a free slot and
//! works too (as oneTBB's arenas let it), so a 1-item map never hands off to
//! another thread. A callback that maps on its own invoker keeps its slot and
//! works its nested map itself, so nesting never waits on a slot it holds.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::context;
use super::job::Job;
use crate::error::{Error, Result};

/// The free worker slots of one invoker.
struct Slots {
    free: Mutex<Vec<u32>>,
    freed: Condvar,
}

impl Slots {
    fn try_take(&self) -> Option<u32> {
        self.free.lock().pop()
    }

    /// Wait for a slot, giving up (None) once `give_up` says so.
    fn take_unless(&self, give_up: impl Fn() -> bool) -> Option<u32> {
        loop {
            {
                let mut free = self.free.lock();
                if let Some(k) = free.pop() {
                    return Some(k);
                }
                if give_up() {
                    return None;
                }
                // Claims do not signal this condvar (that would tax every
                // chunk), so poll `give_up` now and then.
                self.freed.wait_for(&mut free, Duration::from_millis(1));
                if let Some(k) = free.pop() {
                    return Some(k);
                }
            }
            context::help_starving_maps();
        }
    }

    fn put(&self, k: u32) {
        self.free.lock().push(k);
        self.freed.notify_one();
    }
}

pub struct Pool {
    rayon: Option<rayon::ThreadPool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    slots: Arc<Slots>,
    n_jobs: usize,
}

impl Pool {
    pub fn new(n_jobs: usize) -> Result<Pool> {
        let threads: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let spawned = threads.clone();
        // Spawn the threads ourselves so shutdown can join them (Rayon only signals).
        let rayon = rayon::ThreadPoolBuilder::new()
            .num_threads(n_jobs)
            .thread_name(|i| format!("lk-worker-{i}"))
            .spawn_handler(move |thread| {
                let mut b = std::thread::Builder::new();
                if let Some(name) = thread.name() {
                    b = b.name(name.to_owned());
                }
                let handle = b.spawn(|| thread.run())?;
                spawned.lock().push(handle);
                Ok(())
            })
            .build()
            .map_err(|e| Error::System(format!("cannot start {n_jobs} worker threads: {e}")))?;
        let slots = Arc::new(Slots { free: Mutex::new((0..n_jobs as u32).rev().collect()), freed: Condvar::new() });
        Ok(Pool { rayon: Some(rayon), threads, slots, n_jobs })
    }

    /// Run `job` to completion with this pool's slots and threads.
    pub fn run(&self, job: &Arc<Job>) {
        let held = context::held_worker(job.core().id);
        let mine = held.or_else(|| self.slots.try_take());
        // Helpers for the chunks the caller cannot take itself; a late helper
        // finds nothing to claim and leaves at once.
        let helpers = if job.n() <= 1 { 0 } else { (self.n_jobs - usize::from(mine.is_some())).min(job.n() - 1) };
        let rayon = self.rayon.as_ref().expect("pool used after join");
        for _ in 0..helpers {
            let job = job.clone();
            let slots = self.slots.clone();
            rayon.spawn(move || help(&job, &slots));
        }
        let mut reporter = job.reporter();
        match mine {
            Some(k) => {
                job.work(k, reporter.as_mut());
                if held.is_none() {
                    self.slots.put(k);
                }
            }
            None => {
                job.core().add_starving(job);
                if let Some(k) = self.slots.take_unless(|| job.all_claimed()) {
                    job.work(k, reporter.as_mut());
                    self.slots.put(k);
                }
                job.core().remove_starving(job);
            }
        }
        job.wait(reporter.as_mut());
    }

    /// Stop the Rayon pool and join its threads.
    pub fn join(&mut self) {
        drop(self.rayon.take());
        let handles = std::mem::take(&mut *self.threads.lock());
        for h in handles {
            let _ = h.join();
        }
    }
}

fn help(job: &Job, slots: &Slots) {
    if job.all_claimed() {
        return;
    }
    if let Some(k) = slots.take_unless(|| job.all_claimed()) {
        job.work(k, None);
        slots.put(k);
    }
}
