//! Every system call lkparallel makes, in one place.
//!
//! Each wrapper returns `io::Result` (or a value that cannot fail) and
//! retries `EINTR`, so a host's signal handler installed without
//! `SA_RESTART` never breaks a call. Typed calls come from `rustix`; the
//! few it does not offer (fork, the stdio locks, a large affinity mask) are
//! `libc` calls with their argument for soundness next to them.
//!
//! Descriptors: every descriptor made here is close-on-exec and numbered 3
//! or above, so a host that closed its standard descriptors never finds
//! lkparallel's pipe on fd 2 (where a child's stderr would land in it).
//!
//! The fork-based parts (pipes to children, pidfds, memfds, shared
//! mappings, futexes between processes) exist only with `cfg(lk_fork)`
//! (Linux without the `portable` feature).

use std::io;
use std::time::Duration;

/// Retry `f` while it fails with `EINTR`.
fn retry<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// The CPUs in this thread's affinity mask, or `None` when it cannot be read.
/// (libc, not rustix: the mask may be larger than rustix's fixed `CpuSet`.)
#[cfg(target_os = "linux")]
pub fn affinity_cpus() -> Option<usize> {
    // Start with glibc's 1024-CPU set and grow for bigger machines.
    let mut words = 1024 / 64;
    loop {
        let mut mask = vec![0u64; words];
        // SAFETY: the kernel writes at most `words * 8` bytes into `mask`,
        // which is exactly that long.
        let r = unsafe { libc::sched_getaffinity(0, words * 8, mask.as_mut_ptr().cast()) };
        if r == 0 {
            return Some(mask.iter().map(|w| w.count_ones() as usize).sum());
        }
        if io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) && words < 1 << 16 {
            words *= 2;
            continue;
        }
        return None;
    }
}

#[cfg(not(target_os = "linux"))]
pub fn affinity_cpus() -> Option<usize> {
    None
}

/// A hash of this process's affinity mask (0 when it cannot be read): ranks
/// on one machine with the same mask share those CPUs.
#[cfg(target_os = "linux")]
pub fn affinity_hash() -> u64 {
    let mut words = 1024 / 64;
    loop {
        let mut mask = vec![0u64; words];
        // SAFETY: as in `affinity_cpus`.
        let r = unsafe { libc::sched_getaffinity(0, words * 8, mask.as_mut_ptr().cast()) };
        if r == 0 {
            return fnv1a(mask.iter().flat_map(|w| w.to_le_bytes()));
        }
        if io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) && words < 1 << 16 {
            words *= 2;
            continue;
        }
        return 0;
    }
}

#[cfg(not(target_os = "linux"))]
pub fn affinity_hash() -> u64 {
    0
}

/// A hash of this machine's host name (0 when it cannot be read).
pub fn hostname_hash() -> u64 {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes (one less than the
    // buffer, so a NUL always ends it).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return 0;
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    fnv1a(buf[..len].iter().copied())
}

fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The online CPUs of the machine (at least 1).
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Eight bytes of entropy from the kernel, if it has some to give.
#[cfg(target_os = "linux")]
pub fn random_u64() -> Option<u64> {
    let mut buf = [0u8; 8];
    match retry(|| rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::empty())) {
        Ok(8) => Some(u64::from_ne_bytes(buf)),
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
pub fn random_u64() -> Option<u64> {
    None
}

/// `write(2)` until all of `bytes` is written; `EINTR` is retried, any other
/// error (a closed pipe) drops the rest. Async-signal-safe, lock-free: used
/// for log lines and by forked children.
pub fn write_all_raw(fd: i32, mut bytes: &[u8]) -> io::Result<()> {
    // SAFETY: `fd` is only written to; the caller keeps it open for the call.
    let fd = unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) };
    while !bytes.is_empty() {
        let n = retry(|| rustix::io::write(fd, bytes))?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
    }
    Ok(())
}

#[cfg(lk_fork)]
/// Flush every C stdio stream (before a fork: buffered output must not be
/// written twice, once by the child).
pub fn flush_stdio() {
    // SAFETY: fflush(NULL) flushes all open output streams; it takes the
    // streams' own locks and touches nothing of ours.
    unsafe { libc::fflush(std::ptr::null_mut()) };
}

/// Sleep while `word` holds `expected` (a wake from this process). Spurious
/// returns are possible: the caller re-checks. Async-signal-safe.
#[cfg(target_os = "linux")]
pub fn futex_wait_private(word: &std::sync::atomic::AtomicU32, expected: u32) {
    use rustix::thread::futex;
    // EAGAIN (the word changed) and EINTR both mean: look again.
    let _ = futex::wait(word, futex::Flags::PRIVATE, expected, None);
}

/// Wake every thread of this process sleeping on `word`. Async-signal-safe.
#[cfg(target_os = "linux")]
pub fn futex_wake_private(word: &std::sync::atomic::AtomicU32) {
    use rustix::thread::futex;
    // Only EFAULT could fail, and `word` is a valid reference.
    let _ = futex::wake(word, futex::Flags::PRIVATE, i32::MAX as u32);
}

/// Without futexes the waiter gives the CPU away until the word changes.
#[cfg(not(target_os = "linux"))]
pub fn futex_wait_private(word: &std::sync::atomic::AtomicU32, expected: u32) {
    while word.load(std::sync::atomic::Ordering::SeqCst) == expected {
        std::thread::yield_now();
    }
}

#[cfg(not(target_os = "linux"))]
pub fn futex_wake_private(_: &std::sync::atomic::AtomicU32) {}

/// Close a raw descriptor (in a fork hook, where no `OwnedFd` exists).
/// Async-signal-safe.
///
/// # Safety
/// `fd` must not be owned by anything that will use or close it again.
pub unsafe fn close_raw(fd: std::os::fd::RawFd) {
    // SAFETY: the caller gives up `fd`; close(2) is async-signal-safe.
    libc::close(fd);
}

#[cfg(lk_fork)]
pub use self::linux::*;

#[cfg(lk_fork)]
mod linux;

/// A `Duration` as a `Timespec` for the kernel.
#[cfg(lk_fork)]
fn timespec(d: Duration) -> rustix::time::Timespec {
    rustix::time::Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// Unused in the portable build (kept so the signature of shared helpers is one).
#[cfg(not(lk_fork))]
#[allow(dead_code)]
fn timespec(_: Duration) {}
