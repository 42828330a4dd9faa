//! `lk_status`, the thread-local last error, and the version string.

use std::cell::RefCell;
use std::ffi::c_char;

use super::guard_value;
use crate::error::Error;

/// The status every fallible lkparallel function returns. Numbers are stable
/// and never reused; new ones are added at the end.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum lk_status {
    /// Success.
    LK_OK = 0,
    /// A bad argument: NULL where one is needed, size overflow, unknown or dead
    /// handle, bad option value.
    LK_ERR_INVALID = 1,
    /// A user callback returned non-zero.
    LK_ERR_CALLBACK = 2,
    /// A worker or child process died before finishing (signal, _exit, OOM kill).
    LK_ERR_WORKER_DIED = 3,
    /// A time limit passed; the child was killed.
    LK_ERR_TIMEOUT = 4,
    /// The operation was cancelled.
    LK_ERR_CANCELLED = 5,
    /// An OS call failed (fork, pipe, mmap, thread spawn).
    LK_ERR_SYSTEM = 6,
    /// A bug in lkparallel (a caught panic).
    LK_ERR_INTERNAL = 7,
    /// Not available on this platform or in this context.
    LK_ERR_UNSUPPORTED = 8,
    /// A communicator operation failed (a distributed map's collective); the
    /// invoker is broken, as the ranks may be out of step.
    LK_ERR_COMM = 9,
}

impl From<&Error> for lk_status {
    fn from(e: &Error) -> lk_status {
        match e {
            Error::Invalid(_) => lk_status::LK_ERR_INVALID,
            Error::Callback { .. } | Error::SpCallback(_) | Error::StreamCallback { .. } => lk_status::LK_ERR_CALLBACK,
            Error::WorkerDied(_) => lk_status::LK_ERR_WORKER_DIED,
            Error::Timeout(_) => lk_status::LK_ERR_TIMEOUT,
            Error::Cancelled => lk_status::LK_ERR_CANCELLED,
            Error::System(_) => lk_status::LK_ERR_SYSTEM,
            Error::Internal(_) => lk_status::LK_ERR_INTERNAL,
            Error::Unsupported(_) => lk_status::LK_ERR_UNSUPPORTED,
            Error::Comm(_) => lk_status::LK_ERR_COMM,
            Error::OnRank { error, .. } => lk_status::from(&**error),
        }
    }
}

/// Longest message kept (longer ones are cut at a character boundary).
const MAX_MESSAGE: usize = 512;

thread_local! {
    /// A fixed buffer with no destructor: it works on every thread at every
    /// moment, a thread-exit destructor's call included, and never allocates.
    static LAST_ERROR: RefCell<[u8; MAX_MESSAGE]> = const { RefCell::new([0; MAX_MESSAGE]) };
}

pub(crate) fn set_last_error(e: &Error) {
    let text = e.to_string();
    let mut end = text.len().min(MAX_MESSAGE - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let _ = LAST_ERROR.try_with(|buf| {
        let mut buf = buf.borrow_mut();
        for (dst, &b) in buf.iter_mut().zip(&text.as_bytes()[..end]) {
            *dst = if b == 0 { b' ' } else { b };
        }
        buf[end] = 0;
    });
}

/// The message of this thread's last failed lkparallel call, or "" if none.
///
/// Every call that returns a status other than `LK_OK` sets it (except
/// `lk_invoker_cancel`, which must stay async-signal-safe); a successful call
/// leaves it alone, like `errno`.
///
/// Ownership: the string belongs to the library and stays valid until the
/// next lkparallel call on the same thread; copy it to keep it.
/// Thread-safety: each thread has its own message.
#[no_mangle]
pub extern "C" fn lk_last_error() -> *const c_char {
    guard_value(c"".as_ptr(), || LAST_ERROR.try_with(|l| l.borrow().as_ptr().cast()).unwrap_or(c"".as_ptr()))
}

/// The library's version, e.g. "0.1.0" (the same as `LKPARALLEL_VERSION`).
///
/// Ownership: a static string; never free it. Thread-safety: safe.
#[no_mangle]
pub extern "C" fn lk_version() -> *const c_char {
    guard_value(c"".as_ptr(), || concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast())
}
