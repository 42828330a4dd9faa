//! Distributed maps: one map over the ranks of a communicator (MPI).
//!
//! The core knows only `Comm`, a table of collectives; the library never
//! links MPI (the user's mpicc compiles `lkparallel_mpi.h`, which fills the
//! table). A distributed invoker is a layer over a local invoker: the local
//! one runs this rank's share on its own threads and knows nothing of
//! ranks; this layer runs the collectives on the calling thread (see
//! `map` for the five steps of a map, `setup` for the creation).
//!
//! A failing collective gives `Error::Comm` and breaks the invoker (the ranks
//! may be out of step; later maps fail at once with `LK_ERR_COMM`).

pub mod comm;
#[cfg(test)]
pub(crate) mod fake;
mod logs;
mod map;
mod plan;
mod setup;
#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub use comm::Comm;

use crate::error::{Error, Result};
use crate::invoker::{Invoker, Items, Op, Options};
use crate::util::SendPtr;

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

/// Per-map settings of a distributed map.
#[derive(Default)]
pub struct MapOptions {
    /// `task.index = index_base + i`.
    pub index_base: usize,
    /// Per-item status out-array (`n` entries), or null.
    pub item_status: SendPtr<i32>,
    pub schedule: Schedule,
    pub results_at: ResultsAt,
    /// Only rank 0's arguments are read.
    pub args_at_root: bool,
}

/// An invoker whose maps run over the ranks of a communicator.
pub struct DistInvoker {
    local: Invoker,
    comm: Arc<Comm>,
    /// Rank 0's invoker seed base: tasks get a single-process map's seeds.
    seed_base: u64,
    /// Maps so far (the same on every rank; seeds follow it).
    maps: AtomicU64,
    /// A collective failed: the ranks may be out of step.
    broken: AtomicBool,
    /// Threads per rank, every rank's (chunk sizes follow the largest).
    max_threads: usize,
    /// Every rank's table has `fetch_add`.
    all_fetch_add: bool,
}

thread_local! {
    /// This thread is inside a distributed collective sequence.
    static IN_COLLECTIVE: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as running a collective sequence on a
/// communicator it has taken; refuses nesting and concurrent use.
pub(crate) struct Collective {
    comm: Arc<Comm>,
}

impl Collective {
    pub(crate) fn enter(comm: &Arc<Comm>) -> Result<Collective> {
        if IN_COLLECTIVE.with(Cell::get) || crate::invoker::in_pool_callback() {
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
}

impl Drop for Collective {
    fn drop(&mut self) {
        IN_COLLECTIVE.with(|c| c.set(false));
        self.comm.put_back();
    }
}

impl DistInvoker {
    /// Collective: every rank makes its invoker together (see `setup`).
    /// `default_threads`: n_jobs was 0, so the threads per rank are chosen
    /// here (the CPUs divided among the ranks that share them).
    pub fn new(op: Op, opts: Options, comm: Arc<Comm>, default_threads: bool) -> Result<DistInvoker> {
        setup::make(op, opts, comm, default_threads)
    }

    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    pub fn local(&self) -> &Invoker {
        &self.local
    }

    /// This map's ordinal (the same on every rank).
    fn ordinal(&self) -> u64 {
        self.maps.load(Ordering::Acquire)
    }

    fn take_ordinal(&self) {
        self.maps.fetch_add(1, Ordering::AcqRel);
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

    /// The distributed map; collective. `items` and `mopts` are `Err` when this
    /// rank's arguments failed the local checks: it still takes part in the
    /// argument check, so every rank returns `LK_ERR_INVALID` together.
    pub fn map(&self, items: Result<Items>, mopts: Result<&MapOptions>) -> Result<()> {
        self.check_usable()?;
        let _collective = Collective::enter(&self.comm)?;
        let r = map::run(self, items, mopts);
        if let Err(Error::Comm(_)) = &r {
            self.broken.store(true, Ordering::Release);
        }
        r
    }

    /// Make this rank's map stop; the others follow (async-signal-safe).
    pub fn cancel(&self) {
        self.local.cancel();
    }
}
