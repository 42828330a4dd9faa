//! `lk_run_sp` and `lk_buffer`.

use std::ffi::c_void;
use std::time::Duration;

use super::{guard, guard_value, init_sized, lk_status, out, read_sized};
use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::sp::{self, SpOptions};
use crate::util::SendPtr;

/// The function `lk_run_sp` runs in a child process: read `arg` (a
/// copy-on-write snapshot of the parent's memory), append the result bytes
/// to `out` with `lk_buffer_append`, and return 0; a non-zero return fails
/// the call with `LK_ERR_CALLBACK`. Called on the child's only thread.
#[allow(non_camel_case_types)]
pub type lk_sp_fn = Option<unsafe extern "C" fn(arg: *const c_void, out: *mut Buffer) -> i32>;

/// Options for `lk_run_sp_with`. Initialise with
/// `lk_sp_options_init(&opts, sizeof opts)`. Zero is the default for every field.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct lk_sp_options {
    /// Set by `lk_sp_options_init`; lets the struct grow.
    pub struct_size: u32,
    /// Milliseconds between SIGTERM and SIGKILL after a time-out (0: 500).
    pub grace_ms: u32,
    /// Time limit in milliseconds (0: none). Past it the child gets SIGTERM,
    /// then SIGKILL after `grace_ms`, and the call returns `LK_ERR_TIMEOUT`.
    pub timeout_ms: u64,
    /// Address-space limit for the child in bytes (RLIMIT_AS; 0: none).
    /// Allocations past it fail in the child. Every mapping counts, the
    /// region `lk_shared_alloc` reserves included.
    pub memory_limit: u64,
}

const SP_OPTIONS_MIN: usize = 4;

/// Fill `opts` (of `size` bytes, normally `sizeof *opts`) with defaults and
/// record `size`. NULL `opts` or `size < 4`: does nothing. Thread-safe.
/// # Safety
/// `opts` must be NULL or point to `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn lk_sp_options_init(opts: *mut lk_sp_options, size: usize) {
    guard_value((), || init_sized(opts, size, lk_sp_options { struct_size: 0, grace_ms: 0, timeout_ms: 0, memory_limit: 0 }))
}

fn sp_options_from_c(o: &lk_sp_options) -> SpOptions {
    let mut opts = SpOptions::default();
    if o.timeout_ms > 0 {
        opts.timeout = Some(Duration::from_millis(o.timeout_ms));
    }
    if o.grace_ms > 0 {
        opts.grace = Duration::from_millis(o.grace_ms as u64);
    }
    if o.memory_limit > 0 {
        opts.memory_limit = Some(o.memory_limit);
    }
    opts
}

fn run(func: lk_sp_fn, arg: *const c_void, opts: SpOptions, result: *mut Buffer) -> Result<()> {
    let func = func.ok_or_else(|| Error::invalid("func is NULL"))?;
    let result = out(result, "result")?;
    if !result.is_empty_struct() {
        return Err(Error::invalid("result must point to a zeroed lk_buffer"));
    }
    *result = sp::run_sp(func, SendPtr::from_const(arg), &opts)?;
    Ok(())
}

/// Run `func(arg, out)` in a forked child process, for isolation, and on
/// success hand the bytes the child appended to `out` back in `result`.
///
/// - `arg`: may point anywhere in the caller's memory; the child sees a
///   copy-on-write snapshot, and nothing it writes reaches the parent.
/// - `result`: must point to a zeroed `lk_buffer`; on success it owns the
///   bytes (free them with `lk_buffer_free`); on failure it is untouched.
///
/// In the child: `lk_is_worker()` is 1, `lk_root_seed()` is a seed derived
/// from the parent's root seed and the order of `lk_run_sp` calls, log
/// records reach the parent's log callback before this call returns,
/// stdout and stderr are the parent's, and handles made by the parent are
/// dead (a new invoker made in the child works). The child dies with the
/// parent. Large results travel through shared memory, not a pipe.
///
/// Returns `LK_OK`; `LK_ERR_INVALID` (NULL `func` or `result`, or `result`
/// not zeroed); `LK_ERR_CALLBACK` (`func` returned non-zero; the code is in
/// the message); `LK_ERR_WORKER_DIED` (the child died or exited without
/// answering; the signal or exit status is in the message);
/// `LK_ERR_SYSTEM` (fork, pipe, memfd or mmap failed). The child is always
/// reaped and no descriptor is left open. Linux only (it needs fork and
/// memfd); elsewhere `LK_ERR_UNSUPPORTED`.
///
/// Thread-safe: may be called from several threads at once, and from inside
/// an invoker callback.
/// # Safety
/// `func` must be NULL or a function of the `lk_sp_fn` type; `result` NULL
/// or pointing to a writable `lk_buffer`. `arg` is only passed to `func`.
#[no_mangle]
pub unsafe extern "C" fn lk_run_sp(func: lk_sp_fn, arg: *const c_void, result: *mut Buffer) -> lk_status {
    guard(|| run(func, arg, SpOptions::default(), result))
}

/// `lk_run_sp` with options (see `lk_sp_options`); `opts` NULL means every
/// default. Also returns `LK_ERR_TIMEOUT` when the time limit passed (the
/// child was sent SIGTERM, then SIGKILL after the grace period, and reaped),
/// and `LK_ERR_INVALID` for a bad `struct_size`. Thread-safe.
/// # Safety
/// As `lk_run_sp`; `opts` NULL or pointing to `opts->struct_size` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn lk_run_sp_with(
    func: lk_sp_fn,
    arg: *const c_void,
    opts: *const lk_sp_options,
    result: *mut Buffer,
) -> lk_status {
    guard(|| {
        let opts = if opts.is_null() {
            SpOptions::default()
        } else {
            sp_options_from_c(&read_sized(opts, SP_OPTIONS_MIN, "lk_sp_options")?)
        };
        run(func, arg, opts, result)
    })
}

/// Append `len` bytes from `data` to `buf`, growing it.
///
/// `buf` must be zeroed or filled by lkparallel (an `lk_run_sp` result, the
/// `out` of an `lk_sp_fn`, or earlier appends). `data` is read during the
/// call; it may be NULL only when `len` is 0 (then nothing happens).
///
/// Returns `LK_OK`; `LK_ERR_INVALID` (NULL `buf`, NULL `data` with `len > 0`,
/// a size that overflows, a buffer lkparallel did not make); `LK_ERR_SYSTEM`
/// (the memory could not be had, e.g. 2^62 bytes). On failure `buf` is
/// unchanged. Not thread-safe for one buffer; distinct buffers are independent.
/// # Safety
/// `buf` must be NULL or point to an `lk_buffer`; `data` must be readable
/// for `len` bytes (it may point into `buf` itself).
#[no_mangle]
pub unsafe extern "C" fn lk_buffer_append(buf: *mut Buffer, data: *const c_void, len: usize) -> lk_status {
    guard(|| {
        let buf = out(buf, "buf")?;
        if len == 0 {
            return Ok(());
        }
        if data.is_null() {
            return Err(Error::invalid("data is NULL with len > 0"));
        }
        // SAFETY: `data` is non-null and readable for `len` bytes (the caller's promise).
        unsafe { buf.append(data.cast::<u8>(), len) }
    })
}

/// Free the bytes of `buf` and zero the struct ("dispose": the struct itself
/// stays the caller's). Safe to repeat; NULL is a no-op. A buffer lkparallel
/// did not fill is only zeroed. Not thread-safe for one buffer.
/// # Safety
/// `buf` must be NULL or point to an `lk_buffer`.
#[no_mangle]
pub unsafe extern "C" fn lk_buffer_free(buf: *mut Buffer) {
    guard_value((), || {
        // SAFETY: NULL or a valid `lk_buffer` (the caller's promise).
        if let Some(buf) = unsafe { buf.as_mut() } {
            buf.free();
        }
    })
}
