//! The Linux system calls behind run_sp and the process backend.

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use rustix::event::{EventfdFlags, PollFd, PollFlags};
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::thread::futex;

use super::{retry, timespec};

pub type RawPid = i32;

/// Keep `fd` off the standard descriptors 0-2 (a host may have closed them,
/// and a child's stdio would then land in our pipe).
fn above_std(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // The original is closed when `fd` drops.
    retry(|| rustix::io::fcntl_dupfd_cloexec(&fd, 3))
}

/// A pipe, both ends close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = retry(|| rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC))?;
    Ok((above_std(r)?, above_std(w)?))
}

pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = retry(|| rustix::fs::fcntl_getfl(fd))?;
    retry(|| rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK))
}

/// A non-blocking eventfd: a counter a process adds to and another waits on with poll.
pub fn eventfd() -> io::Result<OwnedFd> {
    above_std(retry(|| rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK))?)
}

/// Add 1 to an eventfd (wakes a poll on it). Async-signal-safe.
pub fn eventfd_signal(fd: BorrowedFd<'_>) -> io::Result<()> {
    match retry(|| rustix::io::write(fd, &1u64.to_ne_bytes())) {
        // The counter is full: the reader has not read for 2^64 signals; it is awake anyway.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        r => r.map(drop),
    }
}

/// Reset an eventfd's counter (after a poll saw it readable).
pub fn eventfd_clear(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut buf = [0u8; 8];
    match retry(|| rustix::io::read(fd, &mut buf)) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        r => r.map(drop),
    }
}

/// An anonymous memory file, close-on-exec; `sealable` lets it be sealed.
pub fn memfd(name: &std::ffi::CStr, sealable: bool) -> io::Result<OwnedFd> {
    let mut flags = MemfdFlags::CLOEXEC;
    if sealable {
        flags |= MemfdFlags::ALLOW_SEALING;
    }
    above_std(retry(|| rustix::fs::memfd_create(name, flags))?)
}

pub fn file_size(fd: BorrowedFd<'_>) -> io::Result<u64> {
    Ok(retry(|| rustix::fs::fstat(fd))?.st_size as u64)
}

pub fn set_file_size(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    retry(|| rustix::fs::ftruncate(fd, len))
}

/// Freeze a memfd's size (no process can shrink or grow it any more); then
/// try to freeze its bytes too. Returns whether the bytes are frozen: they
/// are not when some process still has a writable shared mapping of it.
pub fn seal(fd: BorrowedFd<'_>) -> io::Result<bool> {
    retry(|| rustix::fs::fcntl_add_seals(fd, SealFlags::SHRINK | SealFlags::GROW))?;
    match retry(|| rustix::fs::fcntl_add_seals(fd, SealFlags::WRITE)) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Read up to `buf.len()` bytes; `Ok(0)` at end of file. Non-blocking
/// descriptors give `WouldBlock`.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    retry(|| rustix::io::read(fd, &mut *buf))
}

/// Fill `buf` from `offset`; an error if the file ends first.
pub fn pread_exact(fd: BorrowedFd<'_>, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = retry(|| rustix::io::pread(fd, &mut *buf, offset))?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

/// Write all of `bytes` at `offset`.
pub fn pwrite_all(fd: BorrowedFd<'_>, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = retry(|| rustix::io::pwrite(fd, bytes, offset))?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
        offset += n as u64;
    }
    Ok(())
}

/// Wait until one of `fds` is ready or `timeout` passes (`None`: forever).
/// Returns the number of ready descriptors (0: the time passed).
pub fn poll(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> io::Result<usize> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let left = deadline.map(|d| timespec(d.saturating_duration_since(Instant::now())));
        match rustix::event::poll(fds, left.as_ref()) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// A poll entry for readability.
pub fn readable<Fd: AsFd>(fd: &Fd) -> PollFd<'_> {
    PollFd::new(fd, PollFlags::IN)
}

/// Did a poll report `fd` readable, closed or in error?
pub fn ready(p: &PollFd<'_>) -> bool {
    !p.revents().is_empty()
}

/// Sleep while `word` holds `expected`, up to `timeout`, for a wake from any
/// process that maps the same memory. Spurious returns are possible: the
/// caller re-checks.
pub fn futex_wait_shared(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(timespec);
    // EAGAIN (the word changed), EINTR and ETIMEDOUT all mean: look again.
    let _ = futex::wait(word, futex::Flags::empty(), expected, ts.as_ref());
}

/// Wake up to `n` processes sleeping on `word` (the kernel reads `n` as a
/// signed count: more than `i32::MAX` would wake one).
pub fn futex_wake_shared(word: &AtomicU32, n: u32) {
    // Only EFAULT could fail, and `word` is a valid reference.
    let _ = futex::wake(word, futex::Flags::empty(), n.min(i32::MAX as u32));
}

/// A memory mapping owned by this process, unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Mapping` is plain memory; who may touch which bytes when is
// decided by its users (atomics, or single ownership), as for a `Box<[u8]>`.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Zeroed memory shared with every process forked after it (MAP_SHARED).
    pub fn shared_anonymous(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh anonymous mapping aliases nothing; the kernel picks the address.
        let p = unsafe {
            rustix::mm::mmap_anonymous(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED)
        }?;
        Ok(Mapping::from_raw(p, len))
    }

    /// `len` bytes of address space shared with every process forked after
    /// it, backed by memory only where touched: no swap or commit is
    /// reserved for it (MAP_NORESERVE), and huge pages are asked for where
    /// the system allows them for shared memory.
    pub fn shared_reserve(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh anonymous mapping aliases nothing; the kernel picks the address.
        let p = unsafe {
            rustix::mm::mmap_anonymous(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED | MapFlags::NORESERVE)
        }?;
        let map = Mapping::from_raw(p, len);
        // SAFETY: advice on our own fresh mapping; it changes no contents.
        // Refused where shared huge pages are off: then small pages it is.
        let _ = unsafe { rustix::mm::madvise(p, len, rustix::mm::Advice::LinuxHugepage) };
        Ok(map)
    }

    /// Give the pages of `range` (bytes from the mapping's start, whole
    /// pages) back to the system: they read as zeros afterwards, in every
    /// process that shares them.
    pub fn discard(&self, range: std::ops::Range<usize>) -> io::Result<()> {
        assert!(range.start <= range.end && range.end <= self.len, "discard past the mapping");
        if range.is_empty() {
            return Ok(());
        }
        // SAFETY: the range lies in our mapping (checked above); MADV_REMOVE
        // only drops the pages' contents, which the caller no longer uses.
        unsafe { rustix::mm::madvise(self.ptr.as_ptr().add(range.start).cast(), range.len(), rustix::mm::Advice::LinuxRemove) }?;
        Ok(())
    }

    /// `len` bytes of `fd` from its start, shared (writes reach the file and
    /// every other shared mapping) or private (copy-on-write, read-write).
    pub fn of_file(fd: BorrowedFd<'_>, len: usize, shared: bool) -> io::Result<Mapping> {
        let flags = if shared { MapFlags::SHARED } else { MapFlags::PRIVATE };
        // SAFETY: a fresh mapping at an address the kernel picks aliases
        // nothing of ours; accesses past the file's end are the caller's
        // to avoid (they keep `len` within the file, whose size they sealed
        // or own).
        let p = unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, flags, fd, 0) }?;
        Ok(Mapping::from_raw(p, len))
    }

    fn from_raw(p: *mut c_void, len: usize) -> Mapping {
        Mapping { ptr: NonNull::new(p.cast()).expect("mmap never returns NULL on success"), len }
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Hand the mapping over as a raw pointer and length (no unmap on drop).
    pub fn into_raw(self) -> (*mut u8, usize) {
        let me = std::mem::ManuallyDrop::new(self);
        (me.ptr.as_ptr(), me.len)
    }

    /// Take back a mapping given out by `into_raw`.
    ///
    /// # Safety
    /// `ptr` and `len` must come from `into_raw` (or a mapping made by this
    /// module) and not be owned by anything else any more.
    pub unsafe fn from_raw_parts(ptr: *mut u8, len: usize) -> Mapping {
        Mapping::from_raw(ptr.cast(), len)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: we own this range; nothing refers to it once we drop.
        // munmap of our own valid range cannot fail.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The page size (asked of the system, never assumed). (libc, not
/// rustix: rustix finds it by parsing the auxiliary vector and vDSO, which
/// fails under valgrind.)
pub fn page_size() -> usize {
    // SAFETY: sysconf reads a constant; no memory is passed.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// The machine's memory in bytes (None when the system will not say).
pub fn physical_memory() -> Option<usize> {
    // SAFETY: sysconf reads a constant; no memory is passed.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    usize::try_from(pages).ok().filter(|&n| n > 0)?.checked_mul(page_size())
}

/// Monotonic time in nanoseconds, the same clock in every process (glibc's
/// vDSO call: no syscall).
pub fn monotonic_ns() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid, writable timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    (t.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(t.tv_nsec as u64)
}

/// What `fork` returned, in the process that sees it.
pub enum Forked {
    Parent(RawPid),
    Child,
}

/// `fork(2)`.
///
/// # Safety
/// In the child only the calling thread exists: until it `_exit`s, it must
/// not touch a lock another thread may have held (allocator arenas aside,
/// which glibc resets), and must end with `exit_now`, never by returning
/// through the caller's frames.
pub unsafe fn fork() -> io::Result<Forked> {
    match libc::fork() {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// End this process now, without running exit handlers (a forked child).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the process; nothing after it runs.
    unsafe { libc::_exit(code) }
}

pub fn getpid() -> RawPid {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// The parent's pid (0 when it is gone and we were reparented to no one).
pub fn getppid() -> RawPid {
    rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get())
}

fn pid(raw: RawPid) -> io::Result<Pid> {
    Pid::from_raw(raw).ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))
}

/// A pidfd for `pid`: pollable, readable when the process ends.
pub fn pidfd_open(raw: RawPid) -> io::Result<OwnedFd> {
    let pid = pid(raw)?;
    above_std(retry(|| rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()))?)
}

/// Send `sig` to `pid`.
pub fn kill(raw: RawPid, sig: Signal) -> io::Result<()> {
    let pid = pid(raw)?;
    retry(|| rustix::process::kill_process(pid, sig))
}

/// Reap `raw` if it has ended: its raw wait status, or `None` while it runs.
pub fn try_wait(raw: RawPid) -> io::Result<Option<i32>> {
    let pid = pid(raw)?;
    let r = retry(|| rustix::process::waitpid(Some(pid), WaitOptions::NOHANG))?;
    Ok(r.map(|(_, status)| status.as_raw()))
}

/// Reap any ended child: its pid and raw wait status, `None` when none has
/// ended, an `ECHILD` error when there are no children.
pub fn try_wait_any() -> io::Result<Option<(RawPid, i32)>> {
    let r = retry(|| rustix::process::waitpid(None, WaitOptions::NOHANG))?;
    Ok(r.map(|(p, status)| (p.as_raw_nonzero().get(), status.as_raw())))
}

/// Block until `raw` ends and reap it; its raw wait status.
pub fn wait(raw: RawPid) -> io::Result<i32> {
    let pid = pid(raw)?;
    let r = retry(|| rustix::process::waitpid(Some(pid), WaitOptions::empty()))?;
    Ok(r.map_or(0, |(_, status)| status.as_raw()))
}

/// In a child: receive SIGKILL when the thread that forked us ends.
pub fn die_with_parent() -> io::Result<()> {
    retry(|| rustix::process::set_parent_process_death_signal(Some(Signal::KILL)))
}

/// In a child: limit its address space (RLIMIT_AS) to `bytes`.
pub fn limit_address_space(bytes: u64) -> io::Result<()> {
    let limit = rustix::process::Rlimit { current: Some(bytes), maximum: Some(bytes) };
    retry(|| rustix::process::setrlimit(rustix::process::Resource::As, limit))
}

/// Restore the default SIGCHLD disposition (a host that ignores SIGCHLD
/// makes the kernel reap children itself, and their statuses are lost).
pub fn default_sigchld() -> io::Result<()> {
    // SAFETY: a zeroed sigaction with SIG_DFL installs the default action;
    // the old action is not read.
    let rc = unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(libc::SIGCHLD, &act, std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// In a forked child before `_exit`: flush what the callback printed to
/// stdout and stderr, unless a parent thread held a stream's lock at fork
/// time (then its buffer is lost, not deadlocked on).
pub fn flush_std_streams_unlocked() {
    extern "C" {
        static mut stdout: *mut libc::FILE;
        static mut stderr: *mut libc::FILE;
        fn ftrylockfile(f: *mut libc::FILE) -> libc::c_int;
        fn funlockfile(f: *mut libc::FILE);
        fn fflush_unlocked(f: *mut libc::FILE) -> libc::c_int;
    }
    // SAFETY: glibc's stdout/stderr are valid FILE pointers for the life of
    // the process (read by value, never written); each is flushed only
    // under its own lock, taken with trylock so a lock held by a thread that
    // did not survive the fork is skipped rather than waited on.
    unsafe {
        for f in [stdout, stderr] {
            if !f.is_null() && ftrylockfile(f) == 0 {
                fflush_unlocked(f);
                funlockfile(f);
            }
        }
    }
}

/// This process's resident set in bytes, read from a kept-open
/// `/proc/self/statm` (one pread; the page size is asked, not assumed).
pub struct Rss {
    statm: OwnedFd,
    page: u64,
}

impl Rss {
    pub fn open() -> io::Result<Rss> {
        let fd = retry(|| {
            rustix::fs::open("/proc/self/statm", rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())
        })?;
        Ok(Rss { statm: above_std(fd)?, page: page_size() as u64 })
    }

    pub fn bytes(&self) -> io::Result<u64> {
        let mut buf = [0u8; 128];
        let n = retry(|| rustix::io::pread(&self.statm, &mut buf, 0))?;
        let text = std::str::from_utf8(&buf[..n]).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        let pages: u64 = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or(io::ErrorKind::InvalidData)?;
        Ok(pages * self.page)
    }
}

/// Is process `pid` stopped (SIGSTOP, a debugger, a cgroup freezer)?
/// False when it cannot be told.
pub fn is_stopped(pid: RawPid) -> bool {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may hold spaces and parentheses.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "T" || st == "t")))
        .unwrap_or(false)
}

/// Signals by name, for messages.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => "a signal",
    }
}

pub use rustix::process::Signal as Sig;
