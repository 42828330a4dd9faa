//! run_sp: run one callback in a forked child, for isolation, and bring its
//! result bytes back. Built on `child`: the child writes its result into a
//! memfd and sends a DONE frame (return code and length); the parent maps
//! the memfd. Every way a child can end is told apart, none is waited on
//! forever.

use std::ffi::c_void;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::buffer::{self, Buffer};
use crate::child::{self, Exit, Pumped, Role, FRAME_DONE};
use crate::error::{Error, Result};
use crate::seed;
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

fn memfd(name: &std::ffi::CStr) -> Result<OwnedFd> {
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last_os("memfd_create"));
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// In the child: run the callback and report. Returns the exit code.
fn child_main(func: SpFn, arg: SendPtr<c_void>, out_fd: i32, side: &child::ChildSide, memory_limit: Option<u64>) -> i32 {
    if let Some(limit) = memory_limit {
        let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
        unsafe { libc::setrlimit(libc::RLIMIT_AS, &rl) };
    }
    let mut out = buffer::child_out(out_fd);
    let code = unsafe { func(arg.0, &mut out) };
    let len = match buffer::finish_child_out(&out, out_fd) {
        Ok(len) => len,
        Err(e) => {
            log::error!(target: "lkparallel::sp", "could not hand the result back: {e}");
            return 71;
        }
    };
    let mut done = [0u8; 12];
    done[..4].copy_from_slice(&code.to_le_bytes());
    done[4..].copy_from_slice(&(len as u64).to_le_bytes());
    side.send(FRAME_DONE, &done);
    0
}

/// Run `func(arg, out)` in a child process and return the bytes it appended.
pub fn run_sp(func: SpFn, arg: SendPtr<c_void>, opts: &SpOptions) -> Result<Buffer> {
    let out_fd = memfd(c"lk-run-sp")?;
    let child_root = seed::next_sp_root();
    let raw_out = out_fd.as_raw_fd();
    let memory_limit = opts.memory_limit;
    let mut child = child::spawn(Role::SpChild, move |side| {
        seed::init(child_root);
        child_main(func, arg, raw_out, side, memory_limit)
    })?;

    let mut done: Option<(i32, u64)> = None;
    let mut on_frame = |kind: u8, body: &[u8]| {
        if kind == FRAME_DONE && body.len() == 12 {
            let code = i32::from_le_bytes(body[..4].try_into().unwrap());
            let len = u64::from_le_bytes(body[4..].try_into().unwrap());
            done = Some((code, len));
        }
    };
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    match child.pump(deadline, &mut on_frame) {
        Pumped::Exited(exit) => match done {
            Some((0, len)) => buffer::map_result(out_fd.as_raw_fd(), len as usize),
            Some((code, _)) => Err(Error::SpCallback(code)),
            None => Err(Error::WorkerDied(format!(
                "the run_sp child (pid {}) ended with {} before returning from its callback",
                child.pid(),
                exit.describe()
            ))),
        },
        Pumped::DeadlinePassed => {
            let exit = child.terminate(opts.grace, &mut on_frame);
            let limit = opts.timeout.unwrap_or_default();
            let how = match exit {
                Exit::Signal(s) => child::signal_name(s).to_string(),
                other => other.describe(),
            };
            Err(Error::Timeout(format!(
                "the run_sp child (pid {}) ran past its {} ms limit and was stopped ({how})",
                child.pid(),
                limit.as_millis(),
            )))
        }
    }
}
