//! `lk_shared_alloc` and `lk_shared_free`: memory that process workers use in place.

use std::ffi::c_void;

use super::{guard, lk_status};
#[cfg(not(lk_fork))]
use crate::error::Error;

/// Allocate `size` bytes that every process forked from now on shares at
/// the same address: the workers of process invokers made after the first
/// `lk_shared_alloc` call, `lk_run_sp` children, and your own forks.
///
/// A map on such an invoker whose argument array (or result array) lies
/// wholly in this memory reads it (writes it) in place instead of copying
/// it through the invoker's ring, so it moves what a map on threads moves.
/// Workers then see the arguments as they are when the map runs, and write
/// results straight into the caller's array: a failed item's result slot
/// holds whatever its callback wrote, as on threads. Other maps, and
/// invokers made before the first call, copy as they always do. Any memory
/// from here may also hold a model or data that workers should see as it is
/// now rather than as it was when their invoker was made.
///
/// The block is aligned to 64 bytes and not initialised. `size == 0` sets
/// `*out` to NULL and succeeds. The first call reserves the region all
/// blocks come from: address space the size of the machine's memory, or
/// `LK_SHARED_MEMORY` bytes when that is set (a number, optionally with K,
/// M, G or T: "512M"; at least 1M; a malformed value is logged and
/// ignored), backed only where touched; it never grows. Like any mapping
/// it counts toward an address-space limit (RLIMIT_AS, an `lk_run_sp`
/// `memory_limit`): size it with `LK_SHARED_MEMORY` where that matters.
///
/// Ownership: the block is the caller's until `lk_shared_free`. Returns
/// `LK_OK` (`*out` set); `LK_ERR_INVALID` (`out` NULL, a size that
/// overflows); `LK_ERR_SYSTEM` (the region could not be reserved, or has no
/// free block that big); `LK_ERR_UNSUPPORTED` (a process forked after the
/// first call: only that first process allocates; or a build without
/// fork). On failure `*out` is unchanged. Thread-safe.
/// # Safety
/// `out` must be NULL or point to a writable `void *`.
#[no_mangle]
pub unsafe extern "C" fn lk_shared_alloc(size: usize, out: *mut *mut c_void) -> lk_status {
    guard(|| {
        let slot = super::out(out, "out")?;
        *slot = if size == 0 { std::ptr::null_mut() } else { alloc(size)? };
        Ok(())
    })
}

/// Free a block from `lk_shared_alloc`; its whole pages go back to the
/// system. NULL is a no-op returning `LK_OK`. No map may be using it.
///
/// Returns `LK_OK`; `LK_ERR_INVALID` (a pointer `lk_shared_alloc` did not
/// return, or one freed already: nothing is freed); `LK_ERR_UNSUPPORTED`
/// (a process forked after the first `lk_shared_alloc`, or a build without
/// fork). Thread-safe.
/// # Safety
/// None beyond the above: the pointer is only compared, never dereferenced
/// unless it is a live block.
#[no_mangle]
pub unsafe extern "C" fn lk_shared_free(ptr: *mut c_void) -> lk_status {
    guard(|| if ptr.is_null() { Ok(()) } else { free(ptr) })
}

#[cfg(lk_fork)]
fn alloc(size: usize) -> crate::Result<*mut c_void> {
    crate::shared_memory::alloc(size).map(|p| p.cast())
}

#[cfg(lk_fork)]
fn free(ptr: *mut c_void) -> crate::Result<()> {
    crate::shared_memory::free(ptr.cast())
}

#[cfg(not(lk_fork))]
const NO_FORK: &str = "shared memory is for forked processes, which this build does not make (the `portable` feature, or not Linux)";

#[cfg(not(lk_fork))]
fn alloc(_: usize) -> crate::Result<*mut c_void> {
    Err(Error::Unsupported(NO_FORK.into()))
}

#[cfg(not(lk_fork))]
fn free(_: *mut c_void) -> crate::Result<()> {
    Err(Error::Unsupported(NO_FORK.into()))
}
