//! Child processes: the one place that forks.
//!
//! run_sp and the process backend share it: fork, make the child forget the
//! parent's handles and locks, carry log records (and other records) back
//! over a pipe, notice death, kill on time-out and reap.
//!
//! After `fork()` in a threaded parent only the forking thread exists in the
//! child; any lock another thread held stays held forever. So the child side
//! here touches no lock: handles are forgotten by the fork hooks (pointer
//! swaps), logging switches to writing frames on a pipe, and the child ends
//! with `_exit`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::sys::{self, RawPid};
use crate::wire::{self, Record, WireError};
use crate::fork::{self, Role};
use crate::logging;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Reaped by the kernel: the host ignores SIGCHLD, so no status is kept.
    Unknown,
}

impl Exit {
    /// Decode a raw wait status (from waitpid, here or in a zygote).
    pub fn from_wait_status(status: i32) -> Exit {
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
                let name = sys::signal_name(s);
                if s == libc::SIGKILL {
                    format!("signal {s} ({name}; unless lkparallel sent it, this may be the kernel's OOM killer)")
                } else {
                    format!("signal {s} ({name})")
                }
            }
        }
    }
}

/// How a child notices that its parent died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathWatch {
    /// PR_SET_PDEATHSIG: SIGKILL when the forking thread exits. Right for a
    /// child the calling thread waits for (run_sp) and for children of a
    /// single-threaded process (workers of their zygote).
    ForkingThread,
    /// The child watches a lifeline pipe itself (a process pool's zygote,
    /// which must outlive the thread that made the invoker).
    Lifeline,
}

/// Everything process-wide that a child might otherwise initialise lazily
/// (behind a lock) is made ready before forking.
fn prepare_parent() {
    logging::install();
    crate::seed::ready_for_fork();
    // Buffered output of the parent must not be written twice (once by the child).
    sys::flush_stdio();
}

/// Fork a child that runs `body` and `_exit`s with its return value; returns
/// the child's pid in the parent.
///
/// In the child: the process role is set, parent handles are dead, log
/// records go to `log_fd` (framed for the parent), and the child dies with
/// its parent as `watch` says.
pub fn fork_child(role: Role, watch: DeathWatch, log_fd: RawFd, body: impl FnOnce() -> i32) -> Result<RawPid> {
    prepare_parent();
    let parent = sys::getpid();
    let parent_max = logging::max_for_child();
    // SAFETY: the child branch below touches no lock another thread could
    // hold (the fork hooks swapped the registries, logging becomes a pipe
    // writer, `body` runs lock-free setups), and ends in `exit_now`.
    match unsafe { sys::fork() }.map_err(|e| Error::os("fork", e))? {
        sys::Forked::Parent(pid) => Ok(pid),
        sys::Forked::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if watch == DeathWatch::ForkingThread && (sys::die_with_parent().is_err() || sys::getppid() != parent) {
                    // The parent is already gone (or cannot be watched): nobody waits for us.
                    return 1;
                }
                fork::close_parent_only_fds();
                fork::set_role(role);
                logging::become_child(log_fd, parent_max);
                body()
            }))
            .unwrap_or(70);
            sys::flush_std_streams_unlocked();
            sys::exit_now(code)
        }
    }
}

/// The child's end of its pipe to the parent.
pub struct ChildSide {
    pub ctrl: RawFd,
}

impl ChildSide {
    /// Send one record to the parent. A closed pipe (the parent stopped
    /// listening) drops it.
    pub fn send(&self, record: &Record) {
        let _ = sys::write_all_raw(self.ctrl, &record.encode());
    }
}

/// A forked child as the parent sees it. Dropping it kills and reaps the
/// child if that has not happened, so no zombie outlives it.
pub struct Child {
    pid: RawPid,
    ctrl: OwnedFd,
    pidfd: Option<OwnedFd>,
    exit: Option<Exit>,
    reader: wire::Reader,
    /// The first malformed frame the child sent, if any.
    garbled: Option<WireError>,
}

/// Fork a child that runs `body` with a pipe back to the parent (log
/// records and others), dying with the calling thread.
pub fn spawn(role: Role, body: impl FnOnce(&ChildSide) -> i32) -> Result<Child> {
    let (rd, wr) = sys::pipe().map_err(|e| Error::os("pipe", e))?;
    let (wr_fd, rd_fd) = (wr.as_raw_fd(), rd.as_raw_fd());
    let pid = fork_child(role, DeathWatch::ForkingThread, wr_fd, || {
        // SAFETY: the child never uses or closes the parent's read end
        // again (it ends with _exit).
        unsafe { sys::close_raw(rd_fd) };
        body(&ChildSide { ctrl: wr_fd })
    })?;
    drop(wr);
    Child::adopt(pid, rd)
}

/// Why `Child::pump` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pumped {
    Exited(Exit),
    DeadlinePassed,
}

impl Child {
    /// Take charge of a forked child: `ctrl` is the read end of its pipe.
    pub fn adopt(pid: RawPid, ctrl: OwnedFd) -> Result<Child> {
        let watched = Child { pid, ctrl, pidfd: sys::pidfd_open(pid).ok(), exit: None, reader: Default::default(), garbled: None };
        // From here on, dropping `watched` kills and reaps the child.
        sys::set_nonblocking(watched.ctrl.as_fd()).map_err(|e| Error::os("fcntl", e))?;
        Ok(watched)
    }

    pub fn pid(&self) -> RawPid {
        self.pid
    }

    /// What to poll to learn of the child: its pipe, and its pidfd when
    /// there is one (without one, only `wait_event` notices its death).
    pub fn watched_fds(&self) -> Option<(BorrowedFd<'_>, BorrowedFd<'_>)> {
        self.pidfd.as_ref().map(|p| (self.ctrl.as_fd(), p.as_fd()))
    }

    /// The first malformed frame the child sent (it is then no longer read).
    pub fn garbled(&self) -> Option<&WireError> {
        self.garbled.as_ref()
    }

    /// Read whatever is in the pipe now; log records are delivered here,
    /// others go to `on_record`. Returns false at end of file.
    fn drain(&mut self, on_record: &mut dyn FnMut(Record)) -> bool {
        let mut buf = [0u8; 16384];
        let open = loop {
            match sys::read(self.ctrl.as_fd(), &mut buf) {
                Ok(0) => break false,
                Ok(n) => self.reader.push(&buf[..n]),
                // WouldBlock: nothing more for now. Any other error: stop reading.
                Err(e) => break e.kind() == std::io::ErrorKind::WouldBlock,
            }
        };
        while let Some(next) = self.reader.next_record() {
            match next {
                Ok(Record::Log { level, target, message }) => logging::deliver_forwarded(level, &target, &message),
                Ok(other) => on_record(other),
                Err(e) => {
                    log::warn!(target: "lkparallel", "child {} sent malformed data: {e}", self.pid);
                    self.garbled.get_or_insert(e);
                }
            }
        }
        // Garbage or not, the pipe is read to its end: a child blocked on a
        // full pipe would never exit.
        open
    }

    /// Has the child ended (reaping it if so)? One `waitpid`, no waiting.
    pub fn ended(&mut self) -> bool {
        self.try_reap().is_some()
    }

    fn try_reap(&mut self) -> Option<Exit> {
        if self.exit.is_none() {
            match sys::try_wait(self.pid) {
                Ok(Some(status)) => self.exit = Some(Exit::from_wait_status(status)),
                Ok(None) => {}
                // SIGCHLD is ignored here: the child is gone and already reaped.
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => self.exit = Some(Exit::Unknown),
                Err(e) => log::error!(target: "lkparallel", "waitpid({}): {e}", self.pid),
            }
        }
        self.exit
    }

    /// Deliver records until the child exits (then reap it and drain the
    /// pipe) or `deadline` passes. Never blocks past the deadline, and never
    /// trusts the pipe's end of file alone: a child may close it and go on.
    pub fn pump(&mut self, deadline: Option<Instant>, on_record: &mut dyn FnMut(Record)) -> Pumped {
        let mut open = true;
        // Without a pidfd (kernels before 5.3) exit is noticed by asking
        // waitpid, backing off to 10 ms: the only timed wait left, and only there.
        let mut nap = Duration::from_micros(50);
        loop {
            if open {
                open = self.drain(on_record);
            }
            if let Some(exit) = self.try_reap() {
                self.drain(on_record);
                return Pumped::Exited(exit);
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Pumped::DeadlinePassed,
                },
                None => None,
            };
            let wait = if self.pidfd.is_some() {
                left
            } else {
                nap = (nap * 2).min(Duration::from_millis(10));
                Some(left.map_or(nap, |l| l.min(nap)))
            };
            let mut fds = Vec::with_capacity(2);
            if open {
                fds.push(sys::readable(&self.ctrl));
            }
            if let Some(p) = &self.pidfd {
                fds.push(sys::readable(p));
            }
            if fds.is_empty() {
                std::thread::sleep(wait.unwrap_or(nap));
            } else if let Err(e) = sys::poll(&mut fds, wait) {
                log::error!(target: "lkparallel", "poll on child {}: {e}", self.pid);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Wait up to `timeout` (`None`: until something happens) for a record,
    /// the child's exit, or `extra` to become readable; deliver what arrived.
    /// Returns the child's exit if it has ended.
    pub fn wait_event(&mut self, extra: &[std::os::fd::BorrowedFd<'_>], timeout: Option<Duration>, on_record: &mut dyn FnMut(Record)) -> Option<Exit> {
        let mut fds = vec![sys::readable(&self.ctrl)];
        fds.extend(extra.iter().map(sys::readable));
        if let Some(p) = &self.pidfd {
            fds.push(sys::readable(p));
        }
        // Without a pidfd, the child's death shows as the pipe's end of file
        // (the zygote never closes it) or within 10 ms.
        let timeout = if self.pidfd.is_some() { timeout } else { Some(timeout.map_or(Duration::from_millis(10), |t| t.min(Duration::from_millis(10)))) };
        if let Err(e) = sys::poll(&mut fds, timeout) {
            log::error!(target: "lkparallel", "poll on child {}: {e}", self.pid);
        }
        drop(fds);
        self.drain(on_record);
        let exit = self.try_reap();
        if exit.is_some() {
            self.drain(on_record);
        }
        exit
    }

    pub fn signal(&self, sig: sys::Sig) {
        if self.exit.is_none() {
            // The child may have ended already: nothing to do then.
            let _ = sys::kill(self.pid, sig);
        }
    }

    /// SIGTERM, then SIGKILL once `grace` has passed; records keep flowing
    /// meanwhile. Returns how the child ended.
    pub fn terminate(&mut self, grace: Duration, on_record: &mut dyn FnMut(Record)) -> Exit {
        self.signal(sys::Sig::TERM);
        if let Pumped::Exited(exit) = self.pump(Some(Instant::now() + grace), on_record) {
            return exit;
        }
        self.signal(sys::Sig::KILL);
        loop {
            if let Pumped::Exited(exit) = self.pump(None, on_record) {
                return exit;
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.signal(sys::Sig::KILL);
            // ECHILD (the host ignores SIGCHLD) means it is reaped already.
            let _ = sys::wait(self.pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_told_apart() {
        let mut child = spawn(Role::SpChild, |side| {
            side.send(&Record::SpDone { code: 3, len: 9 });
            5
        })
        .unwrap();
        let mut got = Vec::new();
        assert_eq!(child.pump(None, &mut |r| got.push(r)), Pumped::Exited(Exit::Code(5)));
        assert_eq!(got, [Record::SpDone { code: 3, len: 9 }]);

        let mut child = spawn(Role::SpChild, |_| {
            // SAFETY: raising a signal in our own (forked, single-threaded) process.
            unsafe { libc::raise(libc::SIGUSR1) };
            0
        })
        .unwrap();
        assert_eq!(child.pump(None, &mut |_| {}), Pumped::Exited(Exit::Signal(libc::SIGUSR1)));
        assert!(Exit::Signal(libc::SIGKILL).describe().contains("OOM"));
    }

    #[test]
    fn a_deadline_is_kept_and_terminate_reaps() {
        let mut child = spawn(Role::SpChild, |_| {
            std::thread::sleep(Duration::from_secs(30));
            0
        })
        .unwrap();
        let t = Instant::now();
        assert_eq!(child.pump(Some(Instant::now() + Duration::from_millis(50)), &mut |_| {}), Pumped::DeadlinePassed);
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(child.terminate(Duration::from_millis(100), &mut |_| {}), Exit::Signal(libc::SIGTERM));
    }

    /// Garbage is noticed (the caller decides not to trust the child), and
    /// a child that floods the pipe after it still gets to exit.
    #[test]
    fn garbage_on_the_pipe_is_noticed_and_drained() {
        let mut child = spawn(Role::SpChild, |side| {
            let _ = sys::write_all_raw(side.ctrl, &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3]);
            for _ in 0..10_000 {
                side.send(&Record::SpDone { code: 0, len: 1 });
            }
            0
        })
        .unwrap();
        let mut got = 0;
        assert_eq!(child.pump(None, &mut |_| got += 1), Pumped::Exited(Exit::Code(0)));
        assert_eq!(got, 10_000);
        assert_eq!(child.garbled(), Some(&WireError::Garbage));
    }
}
