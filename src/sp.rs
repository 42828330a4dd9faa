//! run_sp: run one callback in a forked child, for isolation, and bring its
//! result bytes back. Built on `child`: the child writes its result into a
//! memfd and sends a `SpDone` record (return code and length); the parent,
//! once the child has ended, freezes the memfd and takes its bytes (see
//! `buffer::take_result`). Every way a child can end is told apart, none is
//! waited on forever.

use std::ffi::c_void;
use std::time::Duration;

use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::util::SendPtr;

/// The isolated function: read `arg`, append the result to `out`, return 0
/// (or a non-zero code to fail).
pub type SpFn = unsafe extern "C" fn(arg: *const c_void, out: *mut Buffer) -> i32;

#[derive(Debug, Clone, Copy)]
pub struct SpOptions {
    /// Past this, SIGTERM, then SIGKILL after `grace`.
    pub timeout: Option<Duration>,
    pub grace: Duration,
    /// RLIMIT_AS for the child, in bytes.
    pub memory_limit: Option<u64>,
}

impl Default for SpOptions {
    fn default() -> Self {
        SpOptions { timeout: None, grace: Duration::from_millis(500), memory_limit: None }
    }
}

#[cfg(not(lk_fork))]
pub fn run_sp(_: SpFn, _: SendPtr<c_void>, _: &SpOptions) -> Result<Buffer> {
    Err(Error::Unsupported("run_sp needs fork and memfd, which this build does not use (the `portable` feature, or not Linux)".into()))
}

#[cfg(lk_fork)]
pub use self::forked::run_sp;

#[cfg(lk_fork)]
mod forked {
    use std::os::fd::{AsFd, BorrowedFd};
    use std::time::Instant;

    use super::*;
    use crate::buffer;
    use crate::child::{self, Exit, Pumped};
    use crate::fork::Role;
    use crate::seed;
    use crate::sys;
    use crate::wire::Record;

    /// Exit code of a child that could not set its memory limit.
    const NO_LIMIT: i32 = 72;
    /// Exit code of a child that could not hand its result back.
    const NO_RESULT: i32 = 71;

    /// In the child: run the callback and report. Returns the exit code.
    fn child_main(func: SpFn, arg: SendPtr<c_void>, out_fd: BorrowedFd<'_>, side: &child::ChildSide, memory_limit: Option<u64>) -> i32 {
        if let Some(limit) = memory_limit {
            if let Err(e) = sys::limit_address_space(limit) {
                log::error!(target: "lkparallel::sp", "cannot limit the run_sp child's memory to {limit} bytes: {e}");
                return NO_LIMIT;
            }
        }
        let mut out = buffer::child_out(out_fd);
        // SAFETY: the C caller promised `func` is a valid lk_sp_fn and `arg`
        // what it expects; `out` is a buffer of ours for the call.
        let code = unsafe { func(arg.0, &mut out) };
        match buffer::finish_child_out(&out) {
            Ok(len) => {
                side.send(&Record::SpDone { code, len: len as u64 });
                0
            }
            Err(e) => {
                log::error!(target: "lkparallel::sp", "could not hand the result back: {e}");
                NO_RESULT
            }
        }
    }

    /// Run `func(arg, out)` in a child process and return the bytes it appended.
    pub fn run_sp(func: SpFn, arg: SendPtr<c_void>, opts: &SpOptions) -> Result<Buffer> {
        let out_fd = sys::memfd(c"lk-run-sp", true).map_err(|e| Error::os("memfd_create", e))?;
        let child_root = seed::next_sp_root();
        let memory_limit = opts.memory_limit;
        let out = out_fd.as_fd();
        let mut child = child::spawn(Role::SpChild, move |side| {
            seed::init(child_root);
            child_main(func, arg, out, side, memory_limit)
        })?;

        // The first answer counts: a callback that forks has two copies answering.
        let mut done: Option<(i32, u64)> = None;
        let mut on_record = |r: Record| {
            if let Record::SpDone { code, len } = r {
                done.get_or_insert((code, len));
            }
        };
        let deadline = opts.timeout.map(|t| Instant::now() + t);
        let pid = child.pid();
        match child.pump(deadline, &mut on_record) {
            Pumped::Exited(exit) => {
                if let Some(e) = child.garbled() {
                    return Err(Error::WorkerDied(format!("the run_sp child (pid {pid}) sent malformed data ({e})")));
                }
                match (done, exit) {
                    (Some((0, len)), _) => buffer::take_result(&out_fd, len),
                    (Some((code, _)), _) => Err(Error::SpCallback(code)),
                    (None, Exit::Code(NO_LIMIT)) => Err(Error::System(format!(
                        "the run_sp child (pid {pid}) could not set its memory limit (see the log)"
                    ))),
                    (None, _) => Err(Error::WorkerDied(format!(
                        "the run_sp child (pid {pid}) ended with {} before returning from its callback",
                        exit.describe()
                    ))),
                }
            }
            Pumped::DeadlinePassed => {
                let exit = child.terminate(opts.grace, &mut on_record);
                let limit = opts.timeout.unwrap_or_default();
                let how = match exit {
                    Exit::Signal(s) => sys::signal_name(s).to_string(),
                    other => other.describe(),
                };
                Err(Error::Timeout(format!(
                    "the run_sp child (pid {pid}) ran past its {} ms limit and was stopped ({how})",
                    limit.as_millis(),
                )))
            }
        }
    }
}

#[cfg(all(test, lk_fork))]
mod tests {
    use super::*;

    unsafe extern "C" fn hello(arg: *const c_void, out: *mut Buffer) -> i32 {
        let n = *(arg as *const u32);
        for _ in 0..n {
            (*out).append(b"hi".as_ptr(), 2).unwrap();
        }
        0
    }

    unsafe extern "C" fn liar(_: *const c_void, out: *mut Buffer) -> i32 {
        (*out).append(b"short".as_ptr(), 5).unwrap();
        (*out).len = (*out).cap + (1 << 30);
        0
    }

    unsafe extern "C" fn forks(_: *const c_void, out: *mut Buffer) -> i32 {
        (*out).append(b"child-answer".as_ptr(), 12).unwrap();
        if libc::fork() == 0 {
            std::thread::sleep(Duration::from_millis(100));
            let data = (*out).data;
            std::ptr::copy_nonoverlapping(b"GRANDCHILD-G".as_ptr(), data, 12);
        }
        0
    }

    #[test]
    fn result_bytes_come_back() {
        let n = 3u32;
        let mut b = run_sp(hello, SendPtr::from_const((&n as *const u32).cast()), &SpOptions::default()).unwrap();
        assert_eq!(b.as_slice(), b"hihihi");
        b.free();
    }

    /// The parent takes the length from the memfd, never the child's word.
    #[test]
    fn a_lying_length_is_an_error_not_a_fault() {
        let r = run_sp(liar, SendPtr::null(), &SpOptions::default());
        assert!(matches!(r, Err(Error::WorkerDied(ref m)) if m.contains("reported")), "{r:?}");
    }

    /// Once returned, the bytes are the caller's alone.
    #[test]
    fn a_grandchild_cannot_change_the_result() {
        let mut b = run_sp(forks, SendPtr::null(), &SpOptions::default()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(b.as_slice(), b"child-answer");
        b.free();
    }
}
