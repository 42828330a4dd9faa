//! The C boundary. Every exported function runs its body through `guard` (or
//! `guard_value` for functions that return a plain value), which catches
//! panics, maps the core's `Error` to `lk_status` and sets the thread's last
//! error message. A test checks that no exported function skips it.

pub mod comm;
pub mod error;
pub(crate) mod handles;
pub mod invoker;
pub mod log;
pub mod map;
pub mod proc;
pub mod seed;
pub mod shared;
pub mod sp;
pub mod stream;

use std::panic::{catch_unwind, AssertUnwindSafe};

pub use error::lk_status;
use error::set_last_error;

use crate::error::{Error, Result};

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with no message".to_string()
    }
}

/// Run an exported function's body: panics become `LK_ERR_INTERNAL`, errors
/// become their status with a message in `lk_last_error()`. Nothing here
/// runs outside `catch_unwind`, so nothing can unwind into C or abort.
pub(crate) fn guard(body: impl FnOnce() -> Result<()>) -> lk_status {
    let run = || {
        crate::logging::install();
        let _call = crate::logging::LibraryCall::enter();
        let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|p| Err(Error::Internal(panic_message(p))));
        outcome.map_err(|e| {
            set_last_error(&e);
            lk_status::from(&e)
        })
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(())) => lk_status::LK_OK,
        Ok(Err(status)) => status,
        Err(_) => lk_status::LK_ERR_INTERNAL,
    }
}

/// For functions that return a value rather than a status: a panic gives
/// `fallback` and sets the last error.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    let run = || {
        crate::logging::install();
        let _call = crate::logging::LibraryCall::enter();
        catch_unwind(AssertUnwindSafe(body)).map_err(|p| set_last_error(&Error::Internal(panic_message(p))))
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(value)) => value,
        _ => fallback,
    }
}

/// For async-signal-safe functions: no logger setup, no message, no allocation.
pub(crate) fn guard_quiet(body: impl FnOnce() -> lk_status) -> lk_status {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(lk_status::LK_ERR_INTERNAL)
}

/// Write an output only on success.
pub(crate) fn out<T>(ptr: *mut T, what: &str) -> Result<&'static mut T> {
    if ptr.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-null, and the C caller promises it points to a writable `T`.
    Ok(unsafe { &mut *ptr })
}

/// Read a caller's versioned options struct: `struct_size` bytes, read as if
/// zero-extended when older (shorter) than ours; a newer (longer) one is
/// accepted only if the fields we do not know are all zero.
///
/// # Safety
/// `ptr` must point to at least `struct_size` readable bytes (the caller's
/// promise when it set `struct_size` with the init function).
pub(crate) unsafe fn read_sized<T: Copy>(ptr: *const T, min_size: usize, what: &str) -> Result<T> {
    let size = std::ptr::read_unaligned(ptr.cast::<u32>()) as usize;
    if size < min_size {
        return Err(Error::invalid(format!(
            "{what}.struct_size is {size}, below the smallest known size {min_size}; call the _init function first"
        )));
    }
    let ours = std::mem::size_of::<T>();
    if size > ours {
        let extra = std::slice::from_raw_parts(ptr.cast::<u8>().add(ours), size - ours);
        if extra.iter().any(|&b| b != 0) {
            return Err(Error::invalid(format!(
                "{what} is {size} bytes with fields this library ({ours} bytes) does not know set"
            )));
        }
    }
    let mut value = std::mem::MaybeUninit::<T>::zeroed();
    std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), value.as_mut_ptr().cast::<u8>(), size.min(ours));
    Ok(value.assume_init())
}

/// Fill a caller's options struct of `size` bytes from `defaults`.
///
/// # Safety
/// `ptr` must point to `size` writable bytes.
pub(crate) unsafe fn init_sized<T: Copy>(ptr: *mut T, size: usize, defaults: T) {
    if ptr.is_null() || size < 4 {
        return;
    }
    std::ptr::write_bytes(ptr.cast::<u8>(), 0, size);
    let ours = std::mem::size_of::<T>();
    std::ptr::copy_nonoverlapping((&defaults as *const T).cast::<u8>(), ptr.cast::<u8>(), size.min(ours));
    std::ptr::write_unaligned(ptr.cast::<u32>(), u32::try_from(size).unwrap_or(u32::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LK_ERR_INTERNAL: a panic inside an export becomes the status and a
    /// message, never an unwind into C (C cannot provoke a panic on purpose).
    #[test]
    fn a_panic_becomes_internal() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, lk_status::LK_ERR_INTERNAL);
        // SAFETY: lk_last_error returns a NUL-terminated thread-local buffer.
        let msg = unsafe { std::ffi::CStr::from_ptr(error::lk_last_error()) }.to_string_lossy().into_owned();
        assert!(msg.contains("internal error") && msg.contains("boom"), "{msg}");
        assert_eq!(guard_value(7, || -> i32 { panic!("again") }), 7);
        assert_eq!(guard_quiet(|| panic!("quiet")), lk_status::LK_ERR_INTERNAL);
    }

    /// Every `extern "C"` function's body must start with one of the guards.
    #[test]
    fn every_export_is_guarded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ffi");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines = text.lines().peekable();
            while let Some(line) = lines.next() {
                if line.starts_with("pub unsafe extern \"C\" fn") || line.starts_with("pub extern \"C\" fn") {
                    // Skip the signature to the line that opens the body.
                    let mut sig = line.to_string();
                    while !sig.trim_end().ends_with('{') {
                        sig = lines.next().unwrap().to_string();
                    }
                    let body = lines.next().unwrap().trim();
                    assert!(
                        body.starts_with("guard(") || body.starts_with("guard_value(") || body.starts_with("guard_quiet("),
                        "{}: `{line}` does not start with a guard: `{body}`",
                        path.display()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 20, "only {checked} exports found");
    }
}
