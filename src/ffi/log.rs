//! Logging.

use std::ffi::{c_char, c_void, CStr};

use super::guard_value;
use crate::logging;

/// A log level (an `int32_t`): `LK_LOG_ERROR` 1 .. `LK_LOG_TRACE` 5.
#[allow(non_camel_case_types)]
pub type lk_log_level = i32;
/// Errors: something failed.
pub const LK_LOG_ERROR: lk_log_level = 1;
/// Warnings: something was ignored or replaced (a malformed LK_NUM_PROCS, a dead worker).
pub const LK_LOG_WARN: lk_log_level = 2;
/// Information worth a line in a batch job's log.
pub const LK_LOG_INFO: lk_log_level = 3;
/// Decisions: worker counts, which CPU limit applied, workers started.
pub const LK_LOG_DEBUG: lk_log_level = 4;
/// Everything.
pub const LK_LOG_TRACE: lk_log_level = 5;

/// Receives log records: `level` 1..5, `target` (the library module, or
/// "app" for `lk_log`), the `message`, and the `user` pointer given to
/// `lk_set_log_callback`. Both strings are valid only during the call.
/// Called on whatever thread logged, possibly several at once; records from
/// `lk_run_sp` children and worker processes arrive on the thread that is
/// waiting for them.
#[allow(non_camel_case_types)]
pub type lk_log_fn =
    Option<unsafe extern "C" fn(level: lk_log_level, target: *const c_char, message: *const c_char, user: *mut c_void)>;

/// Send the library's log records, and everything passed to `lk_log`, to
/// `func` (NULL: stop), keeping those at `max_level` or more severe
/// (out-of-range levels are clamped to 1..5). While a callback is set,
/// nothing is printed. `user` is passed back untouched; the caller keeps
/// ownership. Thread-safe.
///
/// # Safety
/// `func` must be NULL or a function of the `lk_log_fn` type, callable from
/// any thread with `user` until it is replaced.
#[no_mangle]
pub unsafe extern "C" fn lk_set_log_callback(func: lk_log_fn, user: *mut c_void, max_level: lk_log_level) {
    guard_value((), || logging::set_callback(func, user, logging::level_from_c(max_level)))
}

/// Log `message` (a NUL-terminated string, read during the call; NULL is
/// ignored) at `level` (clamped to 1..5) through the library's logging:
/// to the callback, or to stderr under `LK_LOG`, or from a child process to
/// its parent's callback. Thread-safe.
///
/// # Safety
/// `message` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lk_log(level: lk_log_level, message: *const c_char) {
    guard_value((), || {
        if message.is_null() {
            return;
        }
        let level = logging::level_from_c(level);
        if logging::enabled(level) {
            // SAFETY: non-null and NUL-terminated (the caller's promise).
            let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
            logging::deliver(level, logging::USER_TARGET, &text);
        }
    })
}
