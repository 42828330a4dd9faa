//! What the current thread is doing for which invoker.
//!
//! A stack of frames, one per callback loop this thread is in (nested maps
//! push more). Used to reuse a held worker slot for a nested map on the same
//! invoker, to answer `lk_is_worker`, to refuse shutting an invoker down from
//! its own callback, to tell a callback its inner thread budget, and to let
//! a thread that waits inside a callback help the maps that need its slot.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use super::waiter::Waiter;
use super::sched::Sched;
use super::Core;

#[derive(Clone, Copy)]
struct Frame {
    invoker: u64,
    worker: u32,
    pool: bool,
    inner_threads: i32,
    /// The pool's scheduler, or null (inline, worker processes). Valid while
    /// the frame exists: the job being worked holds an `Arc` of it.
    sched: *const Sched,
}

thread_local! {
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

/// Marks the current thread as running callbacks for an invoker until dropped.
/// (Records nothing on a thread whose thread-locals are already destroyed:
/// a map called from a thread-exit destructor.)
pub struct Enter(bool);

impl Enter {
    pub fn new(core: &Core, worker: u32, sched: Option<&Arc<Sched>>) -> Enter {
        let frame = Frame {
            invoker: core.id,
            worker,
            pool: core.opts.n_jobs > 1,
            inner_threads: core.inner_threads,
            sched: sched.map_or(std::ptr::null(), Arc::as_ptr),
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

thread_local! {
    /// The invokers whose stream's source or sink this thread is in.
    static STREAM_IO: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Marks the current thread as a stream's driver (in its source and sink)
/// for an invoker until dropped.
pub struct StreamIo(bool);

impl StreamIo {
    pub fn enter(invoker: u64) -> StreamIo {
        StreamIo(STREAM_IO.try_with(|s| s.borrow_mut().push(invoker)).is_ok())
    }
}

impl Drop for StreamIo {
    fn drop(&mut self) {
        if self.0 {
            let _ = STREAM_IO.try_with(|s| s.borrow_mut().pop());
        }
    }
}

/// Is this thread driving a stream of `invoker` (so inside its source or sink)?
pub fn in_stream_io(invoker: u64) -> bool {
    STREAM_IO.try_with(|s| s.borrow().contains(&invoker)).unwrap_or(false)
}

thread_local! {
    /// The invoker this thread last called a map of, and the slot it took.
    static LAST_SLOT: Cell<(u64, u32)> = const { Cell::new((u64::MAX, 0)) };
}

/// The slot this thread took for `invoker`'s last map it called, if that
/// was its last invoker: taking it again, the caller runs the same home
/// block map after map (see `Blocks`), as a pool thread does.
pub fn last_slot(invoker: u64) -> Option<u32> {
    LAST_SLOT.try_with(Cell::get).ok().filter(|&(inv, _)| inv == invoker).map(|(_, k)| k)
}

pub fn set_last_slot(invoker: u64, slot: u32) {
    let _ = LAST_SLOT.try_with(|l| l.set((invoker, slot)));
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
    if let Some(Ok(_)) = crate::cpus::num_procs_env() {
        return crate::cpus::proc_count(2, 0, 1);
    }
    let cpus = crate::cpus::cpu_count().count;
    i32::try_from((cpus / n_jobs.max(1)).max(1)).unwrap_or(i32::MAX)
}

/// The schedulers whose worker slot this thread holds (innermost first),
/// with the slot.
fn held_slots() -> Vec<(&'static Sched, u32)> {
    frames(|f| {
        f.iter()
            .rev()
            .filter(|fr| !fr.sched.is_null())
            // SAFETY: a frame's scheduler lives while the frame does (its job
            // holds an Arc), and these references are used only while this
            // thread is still inside those frames (in `Job::wait`).
            .map(|fr| (unsafe { &*fr.sched }, fr.worker))
            .collect()
    })
}

/// While this thread waits inside a callback, it may be the only one able to
/// run items of an invoker whose slot it holds (a callback of A maps on B
/// whose callbacks map on A, all of A's slots held by such waiters). So a
/// waiter runs items of maps on those invokers with the slot it holds.
/// Returns whether it did any work.
pub fn help_once() -> bool {
    for (sched, worker) in held_slots() {
        if let Some(job) = sched.claimable() {
            job.work(worker, None);
            return true;
        }
    }
    false
}

/// Is there work `help_once` would do?
pub fn help_available() -> bool {
    held_slots().iter().any(|(sched, _)| sched.has_claimable())
}

/// While it lives, a new map on any invoker whose slot this thread holds
/// wakes `waiter` (so a nested wait needs no polling to help).
pub struct HelpWatch {
    scheds: Vec<&'static Sched>,
    waiter: Arc<Waiter>,
}

impl HelpWatch {
    pub fn register(waiter: &Arc<Waiter>) -> HelpWatch {
        let scheds: Vec<&'static Sched> = held_slots().into_iter().map(|(s, _)| s).collect();
        for s in &scheds {
            s.add_helper(waiter);
        }
        HelpWatch { scheds, waiter: waiter.clone() }
    }
}

impl Drop for HelpWatch {
    fn drop(&mut self) {
        for s in &self.scheds {
            s.remove_helper(&self.waiter);
        }
    }
}
