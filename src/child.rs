//! Child processes: the one place that forks.
//!
//! run_sp and the process backend share it: fork, make the child forget the
//! parent's handles and locks, carry log records (and small control frames)
//! back over a pipe, notice death, kill on time-out and reap.
//!
//! After `fork()` in a threaded parent only the forking thread exists in the
//! child; any lock another thread held stays held forever. So the child side
//! here touches no lock: handles are forgotten by swapping a pointer, logging
//! switches to writing frames on a pipe, and the child ends with `_exit`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::logging;
use crate::util::retry_eintr;

/// What this process is to lkparallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Parent = 0,
    /// An `lk_run_sp` child.
    SpChild = 1,
    /// A worker process of a process-backend invoker.
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

/// In any forked child (ours or the host's), right after fork: inherited
/// invoker handles die, and process pools' lifelines are not kept alive by
/// the child. Lock-free, as a `pthread_atfork` child handler must be.
extern "C" fn forget_parent_handles() {
    crate::ffi::invoker::INVOKERS.forget_all_after_fork();
    close_parent_only_fds();
}

/// Register the atfork handler once; called before the first handle exists.
pub fn watch_forks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(forget_parent_handles));
    });
}

/// Frame kinds on the control pipe (logging uses `logging::FRAME_LOG`).
pub(crate) const FRAME_DONE: u8 = 2;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Reaped by the kernel: the host ignores SIGCHLD, so no status is kept.
    Unknown,
}

impl Exit {
    fn from_wait_status(status: i32) -> Exit {
        if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(libc::WEXITSTATUS(status))
        }
    }

    /// "exit status 3", or "signal 11 (SIGSEGV)" with a word on SIGKILL.
    pub fn describe(self) -> String {
        match self {
            Exit::Unknown => "an unknown status (this process ignores SIGCHLD, so the kernel reaped it)".into(),
            Exit::Code(c) => format!("exit status {c}"),
            Exit::Signal(s) => {
                let name = signal_name(s);
                if s == libc::SIGKILL {
                    format!("signal {s} ({name}; unless lkparallel sent it, this may be the kernel's OOM killer)")
                } else {
                    format!("signal {s} ({name})")
                }
            }
        }
    }
}

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

/// The child's end of the control pipe.
pub struct ChildSide {
    pub ctrl: RawFd,
}

impl ChildSide {
    /// Send one frame `[u32 len][kind][body]` to the parent.
    pub fn send(&self, kind: u8, body: &[u8]) {
        let mut frame = Vec::with_capacity(5 + body.len());
        frame.extend_from_slice(&((1 + body.len()) as u32).to_le_bytes());
        frame.push(kind);
        frame.extend_from_slice(body);
        logging::write_all(self.ctrl, &frame);
    }
}

/// A forked child as the parent sees it. Dropping it kills and reaps the
/// child if that has not happened, so no zombie outlives it.
pub struct Child {
    pid: libc::pid_t,
    ctrl: OwnedFd,
    pidfd: Option<OwnedFd>,
    exit: Option<Exit>,
    pending: Vec<u8>,
}

pub fn pipe_cloexec() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::last_os("pipe2"));
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Everything process-wide that a child might otherwise initialise lazily
/// (behind a lock) is made ready before forking.
fn prepare_parent() {
    logging::install();
    crate::seed::ready_for_fork();
    watch_forks();
    // Buffered output of the parent must not be written twice (once by the child).
    unsafe { libc::fflush(std::ptr::null_mut()) };
}

extern "C" {
    static mut stdout: *mut libc::FILE;
    static mut stderr: *mut libc::FILE;
    fn ftrylockfile(f: *mut libc::FILE) -> libc::c_int;
    fn funlockfile(f: *mut libc::FILE);
    fn fflush_unlocked(f: *mut libc::FILE) -> libc::c_int;
}

/// In the child before `_exit`: flush what the callback printed, unless a
/// parent thread held the stream's lock at fork time (then it is lost, not
/// deadlocked on).
fn flush_child_stdio() {
    unsafe {
        for f in [stdout, stderr] {
            if !f.is_null() && ftrylockfile(f) == 0 {
                fflush_unlocked(f);
                funlockfile(f);
            }
        }
    }
}

/// How a child notices that its parent died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathWatch {
    /// PR_SET_PDEATHSIG: SIGKILL when the forking thread exits. Right for a
    /// child the calling thread waits for (run_sp) and for children of a
    /// single-threaded process (process-backend workers of their zygote).
    ForkingThread,
    /// The child watches a lifeline pipe itself (the zygote of a process
    /// pool, which must outlive the thread that made the invoker).
    Lifeline,
}

/// Descriptors only this process may hold (the write ends of lifelines):
/// every child lkparallel forks closes them, so a lifeline ends exactly
/// when its owner does. A fixed table of atomics: lock-free after fork.
static PARENT_ONLY: [AtomicI32; 256] = [const { AtomicI32::new(-1) }; 256];

/// Keep `fd` out of every child lkparallel forks from now on.
pub fn keep_from_children(fd: RawFd) {
    for slot in &PARENT_ONLY {
        if slot.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return;
        }
    }
    log::warn!(target: "lkparallel", "more than 256 process pools: children may keep pool {fd} alive");
}

/// Forget `fd` (it is being closed).
pub fn release_from_children(fd: RawFd) {
    for slot in &PARENT_ONLY {
        if slot.compare_exchange(fd, -1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return;
        }
    }
}

fn close_parent_only_fds() {
    for slot in &PARENT_ONLY {
        let fd = slot.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            unsafe { libc::close(fd) };
        }
    }
}

/// Fork a child that runs `body` and `_exit`s with its return value; returns
/// the child's pid in the parent.
///
/// In the child: the process role is set, parent handles are dead, log
/// records go to `log_fd` (framed for the parent), and the child dies with
/// its parent as `watch` says.
pub fn fork_child(role: Role, watch: DeathWatch, log_fd: RawFd, body: impl FnOnce() -> i32) -> Result<libc::pid_t> {
    prepare_parent();
    let parent = unsafe { libc::getpid() };
    let parent_max = logging::max_for_child();
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::last_os("fork"));
    }
    if pid > 0 {
        return Ok(pid);
    }
    // The child. No return from here: whatever happens ends in _exit.
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if watch == DeathWatch::ForkingThread {
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
            }
        }
        close_parent_only_fds();
        ROLE.store(role as u8, Ordering::Release);
        logging::become_child(log_fd, parent_max);
        body()
    }))
    .unwrap_or(70);
    flush_child_stdio();
    unsafe { libc::_exit(code) };
}

/// Fork a child that runs `body` with a control pipe back to the parent
/// (log records and frames), dying with the calling thread.
pub fn spawn(role: Role, body: impl FnOnce(&ChildSide) -> i32) -> Result<Child> {
    let (rd, wr) = pipe_cloexec()?;
    let wr_fd = wr.as_raw_fd();
    let rd_fd = rd.as_raw_fd();
    let pid = fork_child(role, DeathWatch::ForkingThread, wr_fd, || {
        unsafe { libc::close(rd_fd) };
        body(&ChildSide { ctrl: wr_fd })
    })?;
    drop(wr);
    Ok(Child::adopt(pid, rd))
}

/// Why `Child::pump` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pumped {
    Exited(Exit),
    DeadlinePassed,
}

impl Child {
    /// Take charge of a forked child: `ctrl` is the read end of its control pipe.
    pub fn adopt(pid: libc::pid_t, ctrl: OwnedFd) -> Child {
        unsafe { libc::fcntl(ctrl.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        Child { pid, ctrl, pidfd: pidfd_open(pid), exit: None, pending: Vec::new() }
    }

    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Read whatever frames are in the pipe now; log frames are delivered
    /// here, others go to `on_frame`. Returns false at end of file.
    fn drain(&mut self, on_frame: &mut dyn FnMut(u8, &[u8])) -> bool {
        let mut buf = [0u8; 16384];
        let mut open = true;
        loop {
            let n = unsafe { libc::read(self.ctrl.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                self.pending.extend_from_slice(&buf[..n as usize]);
                continue;
            }
            if n == 0 {
                open = false;
            } else {
                let err = std::io::Error::last_os_error().raw_os_error();
                if err == Some(libc::EINTR) {
                    continue;
                }
            }
            break;
        }
        let mut at = 0;
        while self.pending.len() - at >= 4 {
            let len = u32::from_le_bytes(self.pending[at..at + 4].try_into().unwrap()) as usize;
            if self.pending.len() - at - 4 < len {
                break;
            }
            let frame = &self.pending[at + 4..at + 4 + len];
            if let Some((&kind, body)) = frame.split_first() {
                if kind == logging::FRAME_LOG {
                    logging::deliver_frame(body);
                } else {
                    on_frame(kind, body);
                }
            }
            at += 4 + len;
        }
        self.pending.drain(..at);
        open
    }

    fn try_reap(&mut self) -> Option<Exit> {
        if self.exit.is_none() {
            let mut status = 0;
            let r = retry_eintr(|| unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) });
            if r == self.pid {
                self.exit = Some(Exit::from_wait_status(status));
            } else if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
                // SIGCHLD is ignored here: the child is gone and already reaped.
                self.exit = Some(Exit::Unknown);
            }
        }
        self.exit
    }

    /// Deliver frames until the child exits (then reap it and drain the
    /// pipe) or `deadline` passes. Never blocks past the deadline, and never
    /// trusts the pipe's end of file alone: a child may close it and go on.
    pub fn pump(&mut self, deadline: Option<Instant>, on_frame: &mut dyn FnMut(u8, &[u8])) -> Pumped {
        let mut open = true;
        let mut nap = Duration::from_micros(50);
        loop {
            if open {
                open = self.drain(on_frame);
            }
            if let Some(exit) = self.try_reap() {
                self.drain(on_frame);
                return Pumped::Exited(exit);
            }
            let now = Instant::now();
            let left = match deadline {
                Some(d) if d <= now => return Pumped::DeadlinePassed,
                Some(d) => d - now,
                None => Duration::from_secs(3600),
            };
            let mut fds = Vec::with_capacity(2);
            if open {
                fds.push(libc::pollfd { fd: self.ctrl.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            }
            if let Some(p) = &self.pidfd {
                fds.push(libc::pollfd { fd: p.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            }
            // Without a pidfd, exit is noticed by polling waitpid, backing off to 10 ms.
            let wait = if self.pidfd.is_some() { left } else { left.min(nap) };
            nap = (nap * 2).min(Duration::from_millis(10));
            let ms = wait.as_millis().clamp(1, i32::MAX as u128) as i32;
            let ms = if wait < Duration::from_millis(1) && self.pidfd.is_none() { 0 } else { ms };
            if fds.is_empty() {
                std::thread::sleep(wait);
            } else {
                unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            }
        }
    }

    /// Wait up to `timeout` for a frame, the child's exit, or `extra` to
    /// become readable; deliver what arrived. Returns the child's exit if it
    /// has ended.
    pub fn wait_event(&mut self, extra: Option<RawFd>, timeout: Duration, on_frame: &mut dyn FnMut(u8, &[u8])) -> Option<Exit> {
        let mut fds = vec![libc::pollfd { fd: self.ctrl.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if let Some(fd) = extra {
            fds.push(libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
        }
        if let Some(p) = &self.pidfd {
            fds.push(libc::pollfd { fd: p.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        self.drain(on_frame);
        self.try_reap().inspect(|_| {
            self.drain(on_frame);
        })
    }

    pub fn signal(&self, sig: i32) {
        if self.exit.is_none() {
            unsafe { libc::kill(self.pid, sig) };
        }
    }

    /// SIGTERM, then SIGKILL once `grace` has passed; frames keep flowing
    /// meanwhile. Returns how the child ended.
    pub fn terminate(&mut self, grace: Duration, on_frame: &mut dyn FnMut(u8, &[u8])) -> Exit {
        self.signal(libc::SIGTERM);
        if let Pumped::Exited(exit) = self.pump(Some(Instant::now() + grace), on_frame) {
            return exit;
        }
        self.signal(libc::SIGKILL);
        match self.pump(None, on_frame) {
            Pumped::Exited(exit) => exit,
            Pumped::DeadlinePassed => unreachable!("no deadline"),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.signal(libc::SIGKILL);
            let mut status = 0;
            retry_eintr(|| unsafe { libc::waitpid(self.pid, &mut status, 0) });
        }
    }
}
