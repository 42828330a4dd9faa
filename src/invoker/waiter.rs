//! The park/unpark pair every event-woken wait of the threads backend uses.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::Duration;

thread_local! {
    /// This thread's waiter (`Waiter::current`).
    static MINE: Arc<Waiter> = Waiter::fresh();
}

/// A thread that waits for a job, and whether it is asleep.
pub(crate) struct Waiter {
    thread: Thread,
    waiting: AtomicBool,
}

impl Waiter {
    /// This thread's waiter: one per thread, made once (a small map's
    /// latency paid an allocation for it). A thread waits for one thing at
    /// a time, and a wake meant for an earlier wait finds the flag down or
    /// costs one spurious look (every wait re-checks what it waits for).
    pub fn current() -> Arc<Waiter> {
        // (A map from a thread-local destructor finds ours gone.)
        MINE.try_with(Arc::clone).unwrap_or_else(|_| Waiter::fresh())
    }

    /// Is this the current thread's waiter? (No count taken.)
    pub fn is_current(self: &Arc<Waiter>) -> bool {
        MINE.try_with(|mine| Arc::ptr_eq(mine, self)).unwrap_or(false)
    }

    fn fresh() -> Arc<Waiter> {
        Arc::new(Waiter { thread: std::thread::current(), waiting: AtomicBool::new(false) })
    }

    /// Wake the thread if it is asleep in `sleep_unless`.
    pub fn wake(&self) {
        // (Looked at first: a waiter that spins, as a map's caller does,
        // keeps the line to itself.)
        if self.waiting.load(Ordering::SeqCst) && self.waiting.swap(false, Ordering::SeqCst) {
            self.thread.unpark();
        }
    }

    /// Sleep until woken or `timeout`, unless `ready` holds already. (The
    /// flag is set before `ready` is asked, and a waker changes what `ready`
    /// reads before it looks at the flag, so no wake is lost.)
    pub fn sleep_unless(&self, ready: impl Fn() -> bool, timeout: Option<Duration>) {
        self.waiting.store(true, Ordering::SeqCst);
        if !ready() {
            match timeout {
                Some(t) => std::thread::park_timeout(t),
                None => std::thread::park(),
            }
        }
        self.waiting.store(false, Ordering::SeqCst);
    }
}
