//! What the current thread is doing for which invoker.
//!
//! A stack of frames, one per callback loop this thread is in (nested maps
//! push more). Used to reuse a held worker slot for a nested map on the same
//! invoker, to answer `lk_is_worker`, to refuse shutting an invoker down from
//! its own callback, and to tell a callback its inner thread budget.

use std::cell::RefCell;

use super::Core;

#[derive(Clone, Copy)]
struct Frame {
    invoker: u64,
    worker: u32,
    pool: bool,
    inner_threads: i32,
    /// Valid while the frame exists: the job being worked holds an Arc of it.
    core: *const Core,
}

thread_local! {
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

/// Marks the current thread as running callbacks for an invoker until dropped.
/// (Records nothing on a thread whose thread-locals are already destroyed:
/// a map called from a thread-exit destructor.)
pub struct Enter(bool);

impl Enter {
    pub fn new(core: &Core, worker: u32) -> Enter {
        let frame = Frame {
            invoker: core.id,
            worker,
            pool: core.opts.n_jobs > 1,
            inner_threads: core.inner_threads,
            core,
        };
        Enter(FRAMES.try_with(|f| f.borrow_mut().push(frame)).is_ok())
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        if self.0 {
            let _ = FRAMES.try_with(|f| f.borrow_mut().pop());
        }
    }
}

/// The frames of this thread; none once its thread-locals are destroyed.
fn frames<T>(f: impl FnOnce(&[Frame]) -> T) -> T {
    let mut f = Some(f);
    match FRAMES.try_with(|fr| (f.take().expect("called once"))(&fr.borrow())) {
        Ok(value) => value,
        Err(_) => (f.take().expect("not called yet"))(&[]),
    }
}

/// The worker slot this thread holds for `invoker`, if it is inside one of its callbacks.
pub fn held_worker(invoker: u64) -> Option<u32> {
    frames(|f| f.iter().rev().find(|fr| fr.invoker == invoker).map(|fr| fr.worker))
}

pub fn inside(invoker: u64) -> bool {
    held_worker(invoker).is_some()
}

/// Inside a callback of a pool (n_jobs >= 2) invoker, on whatever thread?
pub fn in_pool_callback() -> bool {
    frames(|f| f.iter().any(|fr| fr.pool))
}

/// The thread budget of the innermost callback this thread is in (see
/// `inner_threads_for`); outside any callback, every usable CPU.
pub fn current_inner_threads() -> i32 {
    frames(|f| f.last().map(|fr| fr.inner_threads))
        .unwrap_or_else(|| i32::try_from(crate::cpus::cpu_count().count).unwrap_or(i32::MAX))
}

/// The thread budget for work nested inside a callback of an invoker with
/// `n_jobs` workers: `LK_NUM_PROCS`'s level-1 entry when it is set (1 past
/// its end, as `lk_proc_count(.., 1)`), else the usable CPUs divided among the
/// workers, at least 1, so nested BLAS or OpenMP does not oversubscribe.
pub fn inner_threads_for(n_jobs: usize) -> i32 {
    if let Ok(env) = std::env::var("LK_NUM_PROCS") {
        if crate::cpus::parse_num_procs(&env).is_ok() {
            return crate::cpus::proc_count(2, 0, 1);
        }
    }
    let cpus = crate::cpus::cpu_count().count;
    i32::try_from((cpus / n_jobs.max(1)).max(1)).unwrap_or(i32::MAX)
}

/// While this thread waits inside a callback, it may be the only one able to
/// run items of an invoker whose slot it holds (a callback of A maps on B
/// whose callbacks map on A, all of A's slots held by such waiters). So a
/// waiter runs items of maps on those invokers that have no worker of their
/// own. Returns whether it did any work.
pub fn help_starving_maps() -> bool {
    let pool_frames: Vec<Frame> = frames(|f| f.iter().filter(|fr| fr.pool).copied().collect());
    for frame in pool_frames.iter().rev() {
        // The frame's job keeps its Core alive for as long as the frame exists.
        let core = unsafe { &*frame.core };
        if let Some(job) = core.starving_job() {
            job.work(frame.worker, None);
            return true;
        }
    }
    false
}
