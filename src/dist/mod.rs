//! Distributed maps: one map over the ranks of a communicator (MPI).
//!
//! The core knows only `Comm`, a table of collectives; the library never
//! links MPI (the user's mpicc compiles `lkparallel_mpi.h`, which fills the
//! table). A distributed invoker is an ordinary invoker (its own threads run
//! this rank's items) plus a `Dist`. Its map is a fixed sequence of
//! collectives, all on the thread that called the library:
//!
//! 1. check: an allgather of what every rank passed (counts, sizes, options,
//!    the map's ordinal); any difference and every rank returns
//!    `LK_ERR_INVALID` before a result is written;
//! 2. arguments from rank 0 when only it has them (scatterv, or bcast for
//!    `DYNAMIC`);
//! 3. compute: this rank's share runs as one or more local maps on the
//!    invoker's own workers, with the distributed map's ordinal and global
//!    indices, so tasks get exactly the seeds of a single-process map. BLOCK
//!    sends nothing meanwhile; CYCLIC and DYNAMIC use the optional shared
//!    counter on rank 0 (claims, and a stop signal for cancellation and
//!    fail-fast failures);
//! 4. outcome: an allgather of every rank's outcome (lowest failing index and
//!    code, cancellation, log bytes), so every rank returns the same status
//!    and message; log records of ranks >= 1 then go to rank 0 (a gatherv,
//!    only when there are some);
//! 5. results in place (allgatherv, or gatherv to rank 0), only on success;
//!    per-item statuses likewise, also on failure.
//!
//! A failing collective gives `Error::Comm` and breaks the invoker (the ranks
//! may be out of step; later maps fail at once with `LK_ERR_COMM`).

pub mod comm;
#[cfg(test)]
pub(crate) mod fake;
mod logs;
mod map;
mod setup;
#[cfg(test)]
mod tests;
mod watch;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use comm::Comm;
pub use setup::Setup;

use crate::error::{Error, Result};
use crate::invoker::{Invoker, Items, MapOptions};

/// How a distributed map splits its items among ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schedule {
    /// Contiguous ranges, one per rank; no messages while computing.
    #[default]
    Block,
    /// Interleaved chunks, chunk `j` on rank `j % size`: for cost that
    /// follows the index.
    Cyclic,
    /// Chunks claimed on demand from a counter on rank 0.
    Dynamic,
}

/// Where a distributed map's results end up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResultsAt {
    /// On every rank.
    #[default]
    All,
    /// On rank 0; other ranks hold the results they computed.
    Root,
    /// Each rank holds the results it computed.
    Owned,
}

/// What `lk_invoker_options.comm` becomes in `invoker::Options` (a handle,
/// so that `Options` stays `Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommSpec {
    /// The `lk_comm` handle (a key into `comm::COMMS`).
    pub handle: usize,
    /// `n_jobs` was 0: choose the threads per rank here (CPUs divided among
    /// the ranks that share them) rather than the single-process default.
    pub default_threads: bool,
}

/// The distributed half of an invoker.
pub struct Dist {
    comm: Arc<Comm>,
    /// A collective failed: the ranks may be out of step.
    broken: AtomicBool,
    /// Threads per rank, every rank's (chunk sizes follow the largest).
    max_threads: usize,
    /// Every rank's table has `fetch_add`.
    all_fetch_add: bool,
    /// The invoker's operation, watched for stops from other ranks.
    watch: Arc<watch::Watch>,
}

thread_local! {
    /// This thread is inside a distributed collective sequence.
    static IN_COLLECTIVE: Cell<bool> = const { Cell::new(false) };
}

/// Is this thread the one running a distributed map's collectives?
#[inline]
pub(crate) fn on_collective_thread() -> bool {
    IN_COLLECTIVE.with(|c| c.get())
}

/// Marks the calling thread as running a collective sequence on a
/// communicator it has taken; refuses nesting and concurrent use.
pub(crate) struct Collective {
    comm: Arc<Comm>,
}

impl Collective {
    pub(crate) fn enter(comm: &Arc<Comm>) -> Result<Collective> {
        if IN_COLLECTIVE.with(|c| c.get()) || crate::invoker::in_pool_callback() {
            return Err(Error::Unsupported(
                "a distributed call from inside a callback (nested distributed maps would run collectives off \
                 the calling thread)"
                    .into(),
            ));
        }
        if !comm.try_take() {
            return Err(Error::Unsupported(
                "another thread of this rank is in a collective call on this communicator (call distributed \
                 maps from one thread at a time, in the same order on every rank)"
                    .into(),
            ));
        }
        IN_COLLECTIVE.with(|c| c.set(true));
        Ok(Collective { comm: comm.clone() })
    }

    pub(crate) fn comm(&self) -> &Arc<Comm> {
        &self.comm
    }
}

impl Drop for Collective {
    fn drop(&mut self) {
        IN_COLLECTIVE.with(|c| c.set(false));
        self.comm.put_back();
    }
}

impl Dist {
    pub fn comm(&self) -> &Comm {
        &self.comm
    }

    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// Give the watched operation its invoker, to cancel on a remote stop.
    pub fn attach(&self, core: &Arc<crate::invoker::Core>) {
        self.watch.attach(core);
    }

    fn check_usable(&self) -> Result<()> {
        if self.broken.load(Ordering::Acquire) {
            return Err(Error::Comm(
                "an earlier communicator operation failed, so this invoker is broken (the ranks may be out of \
                 step); end the job, for example with lk_comm_abort"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Note a communicator failure: the invoker is broken from now on.
    fn broke<T>(&self, r: Result<T>) -> Result<T> {
        if let Err(Error::Comm(_)) = &r {
            self.broken.store(true, Ordering::Release);
        }
        r
    }

    /// The distributed map; collective. `items` and `mopts` are `Err` when this
    /// rank's arguments failed the local checks: it still takes part in the
    /// argument check, so every rank returns `LK_ERR_INVALID` together.
    pub fn map(&self, invoker: &Invoker, items: Result<Items>, mopts: Result<&MapOptions>) -> Result<()> {
        self.check_usable()?;
        let _collective = Collective::enter(&self.comm)?;
        let r = map::run(self, invoker, items, mopts);
        self.broke(r)
    }
}
