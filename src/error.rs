//! The one error type of the core. `ffi::error` maps it to `lk_status`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A bad argument: NULL where one is needed, size overflow, dead handle, bad option.
    Invalid(String),
    /// A user callback returned non-zero. `failed` counts every failing item seen.
    Callback { index: usize, code: i32, failed: usize },
    /// The run_sp callback returned non-zero.
    SpCallback(i32),
    /// A stream's source or sink returned non-zero.
    StreamCallback { which: &'static str, code: i32 },
    /// A worker or child process died before finishing.
    WorkerDied(String),
    /// A time limit passed; the child was killed.
    Timeout(String),
    /// The operation was cancelled.
    Cancelled,
    /// An OS call failed.
    System(String),
    /// A bug in lkparallel (a caught panic).
    Internal(String),
    /// Not available on this platform or in this context.
    Unsupported(String),
    /// A communicator operation failed (distributed maps).
    Comm(String),
    /// A distributed map failed on another rank (or on this one): every rank
    /// returns the same error, naming the rank.
    OnRank { rank: usize, error: Box<Error> },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    /// An OS call failed: the message names the call and the `errno` text.
    pub fn last_os(what: &str) -> Self {
        Error::System(format!("{what}: {}", std::io::Error::last_os_error()))
    }

    pub fn os(what: &str, err: std::io::Error) -> Self {
        Error::System(format!("{what}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(m) => write!(f, "invalid argument: {m}"),
            Error::Callback { index, code, failed } => {
                write!(f, "callback failed at index {index} with code {code}")?;
                if *failed > 1 {
                    write!(f, " ({failed} items failed)")?;
                }
                Ok(())
            }
            Error::SpCallback(code) => write!(f, "the run_sp callback returned code {code}"),
            Error::StreamCallback { which, code } => write!(f, "the stream's {which} returned code {code}"),
            Error::WorkerDied(m) => write!(f, "worker died: {m}"),
            Error::Timeout(m) => write!(f, "timed out: {m}"),
            Error::Cancelled => write!(f, "cancelled"),
            Error::System(m) => write!(f, "system error: {m}"),
            Error::Internal(m) => write!(f, "internal error (a bug in lkparallel): {m}"),
            Error::Unsupported(m) => write!(f, "unsupported: {m}"),
            Error::Comm(m) => write!(f, "communicator error: {m}"),
            Error::OnRank { rank, error } => write!(f, "rank {rank}: {error}"),
        }
    }
}

impl std::error::Error for Error {}
