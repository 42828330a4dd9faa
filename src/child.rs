//! Child processes: the one place that forks.
//!
//! run_sp and the process backend share it: fork, make the child forget the
//! parent's handles and locks, carry results and log records back, notice
//! death, kill on time-out and reap.

use std::sync::atomic::{AtomicU8, Ordering};

/// What this process is to lkparallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Parent = 0,
    /// An `lk_run_sp` child.
    SpChild = 1,
    /// A worker process of a process-backend invoker.
    PoolWorker = 2,
}

static ROLE: AtomicU8 = AtomicU8::new(Role::Parent as u8);

pub fn role() -> Role {
    match ROLE.load(Ordering::Acquire) {
        1 => Role::SpChild,
        2 => Role::PoolWorker,
        _ => Role::Parent,
    }
}

/// In any forked child (ours or the host's), right after fork: inherited
/// invoker handles die. Lock-free, as a `pthread_atfork` child handler must be.
extern "C" fn forget_parent_handles() {
    crate::ffi::invoker::INVOKERS.forget_all_after_fork();
}

/// Register the atfork handler once; called before the first handle exists.
pub fn watch_forks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(forget_parent_handles));
    });
}
