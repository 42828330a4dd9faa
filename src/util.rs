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

unsafe impl<T> Send for SendPtr<T> {}
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
