//! Small shared helpers.

/// A raw pointer that may cross threads.
///
/// Why `Send + Sync` is sound: lkparallel never dereferences a `SendPtr`
/// itself except to read or write disjoint item slots that one map hands to
/// exactly one worker, and the C caller promises (API.md) that the model,
/// arguments and results stay valid and are shared-readable until the call
/// that received them returns. Every other cross-thread user pointer in the
/// crate goes through this one type, so this is the one place that promise
/// is relied on.
#[derive(Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct SendPtr<T>(pub *mut T);

impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
impl<T> Default for SendPtr<T> {
    fn default() -> Self {
        Self::null()
    }
}

// SAFETY: see the type's comment: the pointee is the C caller's, promised
// valid and shareable for the call that handed it over; we only move the
// address between threads.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as for Send; shared access reads the address only.
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    pub const fn null() -> Self {
        SendPtr(std::ptr::null_mut())
    }
    pub fn from_const(p: *const T) -> Self {
        SendPtr(p as *mut T)
    }
    pub fn is_null(self) -> bool {
        self.0.is_null()
    }
}

/// Retry a libc call while it fails with EINTR (a signal handler installed
/// without SA_RESTART must not break a call).
pub fn retry_eintr<T: Copy + PartialOrd + Default>(mut f: impl FnMut() -> T) -> T {
    loop {
        let r = f();
        if r < T::default() && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return r;
    }
}

/// The value behind `cell`, made on first use and never freed (so the
/// reference lives forever). Lock-free: racing threads each make one and
/// all but the first drop theirs. A forked child may store null into
/// `cell` to start afresh, leaking the parent's on purpose.
pub fn leaked_once<T>(cell: &std::sync::atomic::AtomicPtr<T>, make: impl FnOnce() -> T) -> &T {
    use std::sync::atomic::Ordering;
    let p = cell.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: every non-null value in `cell` came from `Box::into_raw`
        // below and is never freed.
        return unsafe { &*p };
    }
    let fresh = Box::into_raw(Box::new(make()));
    match cell.compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: our Box, now shared and never freed.
        Ok(_) => unsafe { &*fresh },
        Err(existing) => {
            // SAFETY: ours was never shared, so we still own it.
            drop(unsafe { Box::from_raw(fresh) });
            // SAFETY: another thread's Box, shared and never freed.
            unsafe { &*existing }
        }
    }
}

/// A value alone on its cache lines (two: x86 fetches lines in pairs), so
/// threads that spin reading it do not slow the writers of its neighbours,
/// nor they it (false sharing).
#[derive(Default)]
#[repr(align(128))]
pub struct CachePadded<T>(pub T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Are all of `codes` zero? Written as an OR over fixed blocks so it
/// vectorises: the process backend's parent checks every item's status
/// this way, and a branch per item cost it more than copying the item.
pub fn all_zero(codes: &[i32]) -> bool {
    let mut blocks = codes.chunks_exact(64);
    blocks.all(|b| b.iter().fold(0, |acc, &c| acc | c) == 0) && blocks.remainder().iter().all(|&c| c == 0)
}

/// Start bringing `value`'s cache line into this core's caches, without
/// waiting for it (a hint: on other architectures, nothing).
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    // SAFETY: a prefetch only hints: it reads nothing, writes nothing and
    // never faults, whatever the address (here a live reference). SSE is
    // part of x86-64.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>((value as *const T).cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    #[test]
    fn all_zero_sees_every_position() {
        for len in [0, 1, 63, 64, 65, 200] {
            let mut codes = vec![0; len];
            assert!(super::all_zero(&codes));
            for at in 0..len {
                codes[at] = i32::MIN;
                assert!(!super::all_zero(&codes), "len {len}, non-zero at {at}");
                codes[at] = 0;
            }
        }
    }
}
