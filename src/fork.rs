//! Forks, ours and the host's: the one `pthread_atfork` registration.
//!
//! After `fork()` in a threaded process only the forking thread exists in
//! the child, and any lock another thread held stays held forever. So what
//! runs in the child here is lock-free: registries register a hook (they
//! forget the parent's handles by swapping a pointer), and descriptors only
//! the parent may hold (lifelines of process pools) are closed, so a
//! lifeline ends exactly when its owner does.

use std::sync::atomic::{AtomicI32, AtomicU8, AtomicUsize, Ordering};
use std::sync::Once;

/// A function run in every forked child right after fork. It must be
/// lock-free and async-signal-safe.
pub type ChildHook = fn();

const MAX_HOOKS: usize = 8;
static HOOKS: [AtomicUsize; MAX_HOOKS] = [const { AtomicUsize::new(0) }; MAX_HOOKS];

/// Run `hook` in every child forked from now on (once per hook, however
/// often it is registered).
pub fn on_child(hook: ChildHook) {
    register_atfork();
    let value = hook as usize;
    for slot in &HOOKS {
        match slot.compare_exchange(0, value, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(existing) if existing == value => return,
            Err(_) => {}
        }
    }
    // A fixed table keeps the child side lock-free; lkparallel registers a handful.
    log::error!(target: "lkparallel", "more than {MAX_HOOKS} fork hooks: one is not registered");
}

fn register_atfork() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the handler is a plain `extern "C" fn()` that lives for
        // the whole program. pthread_atfork only fails with ENOMEM, and
        // then the hooks cannot run; registries still check the pid.
        let _ = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    });
}

extern "C" fn in_child() {
    for slot in &HOOKS {
        let value = slot.load(Ordering::Acquire);
        if value != 0 {
            // SAFETY: every non-zero value was stored from a `ChildHook`
            // by `on_child`, and function pointers live forever.
            let hook: ChildHook = unsafe { std::mem::transmute::<usize, ChildHook>(value) };
            hook();
        }
    }
    close_parent_only_fds();
}

/// Descriptors only this process may hold: a fixed table of atomics, so the
/// child side needs no lock.
static PARENT_ONLY: [AtomicI32; 256] = [const { AtomicI32::new(-1) }; 256];

/// Close `fd` in every child forked from now on (ours and the host's).
pub fn keep_from_children(fd: i32) {
    register_atfork();
    for slot in &PARENT_ONLY {
        if slot.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return;
        }
    }
    log::warn!(target: "lkparallel", "more than 256 process pools: a forked child may keep pool descriptor {fd} open");
}

/// Forget `fd` (it is being closed by its owner).
pub fn release_from_children(fd: i32) {
    for slot in &PARENT_ONLY {
        if slot.compare_exchange(fd, -1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return;
        }
    }
}

/// In a child: close the parent's lifelines. Also called by lkparallel's
/// own children, which may be forked without the atfork handler running
/// first (it runs in every fork, so this is only belt and braces).
pub fn close_parent_only_fds() {
    for slot in &PARENT_ONLY {
        let fd = slot.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            // SAFETY: in the child this descriptor belongs to no one: the
            // parent's owner of it does not exist here.
            unsafe { crate::sys::close_raw(fd) };
        }
    }
}

/// What this process is to lkparallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Parent = 0,
    /// An `lk_run_sp` child.
    SpChild = 1,
    /// A process pool's zygote or one of its workers.
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

/// In a child lkparallel forked: say what it is.
pub fn set_role(role: Role) {
    ROLE.store(role as u8, Ordering::Release);
}
