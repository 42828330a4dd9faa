//! lkparallel: LensKit's parallel-execution API (`invoker`, `map`, `proc_count`,
//! `run_sp`) as a native library with a C ABI.
//!
//! The crate is two layers. The safe core (everything but `ffi`) speaks
//! `Result<T, Error>` and wraps the few raw pointers it must hold in small
//! newtypes. The `ffi` module is the C boundary: each exported function checks
//! its pointers and sizes, runs the core inside the one panic guard, and turns
//! the result into an `lk_status` plus a thread-local message.

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

// Leaves: they import nothing above them.
pub mod cpus;
pub mod error;
pub mod logging;
pub mod seed;
pub(crate) mod sync;
pub(crate) mod sys;
pub mod util;

// Processes and what crosses between them.
pub mod buffer;
#[cfg(lk_fork)]
pub mod child;
pub mod fork;
#[cfg(lk_fork)]
pub mod shared_memory;
pub mod sp;
#[cfg(lk_fork)]
pub(crate) mod wire;

// The core: local maps, and distributed maps as a layer over them.
pub mod dist;
pub mod invoker;

// The C boundary, over all of the above.
pub mod ffi;

pub use error::{Error, Result};
