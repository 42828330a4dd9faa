//! lkparallel: LensKit's parallel-execution API (`invoker`, `map`, `proc_count`,
//! `run_sp`) as a native library with a C ABI.
//!
//! The crate is two layers. The safe core (everything but `ffi`) speaks
//! `Result<T, Error>` and wraps the few raw pointers it must hold in small
//! newtypes. The `ffi` module is the C boundary: each exported function checks
//! its pointers and sizes, runs the core inside the one panic guard, and turns
//! the result into an `lk_status` plus a thread-local message.

pub mod buffer;
pub mod child;
pub mod cpus;
pub mod dist;
pub mod error;
pub mod handles;
pub mod invoker;
pub mod logging;
pub mod seed;
pub mod sp;
pub mod util;

pub mod ffi;

pub use error::{Error, Result};
