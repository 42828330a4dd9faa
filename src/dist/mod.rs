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
//!
//! Memory per rank follows its share: only `LK_RESULTS_ALL` needs every
//! result on every rank; `layout` says where this rank's arguments,
//! results and statuses live (the caller's full arrays, its compact
//! arrays, or rooms of the library's own).

mod check;
pub mod comm;
mod compute;
mod exchange;
#[cfg(test)]
pub(crate) mod fake;
mod layout;
mod logs;
mod map;
mod plan;
mod progress;
mod setup;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_share;
#[cfg(test)]
mod tests_watch;

use std::cell::Cell;
use std::ffi::c_void;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub use comm::Comm;

use crate::error::{Error, Result};
use crate::invoker::{Invoker, Items, Op, Options, ProgressFn};
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
    /// On rank 0; other ranks hold the results they computed (in their full
    /// array, or, when they pass none, nowhere the caller sees).
    Root,
    /// Each rank holds the results it computed, in its full array.
    Owned,
    /// Each rank holds the results it computed, packed in index order in
    /// an array of `MapOptions::owned.capacity` slots.
    OwnedCompact,
}

/// The outputs of a compact OWNED map beyond the results.
#[derive(Default, Clone, Copy)]
pub struct Owned {
    /// Slots in this rank's results (and statuses, and `index`).
    pub capacity: usize,
    /// Optional, `capacity` entries: each slot's task index.
    pub index: SendPtr<usize>,
    /// Optional: how many slots this rank filled.
    pub count: SendPtr<usize>,
}

/// Per-map settings of a distributed map.
#[derive(Default)]
pub struct MapOptions {
    /// `task.index = index_base + i`.
    pub index_base: usize,
    /// Per-item status out-array (`n` entries, or `owned.capacity` for a
    /// compact OWNED map), or null.
    pub item_status: SendPtr<i32>,
    pub schedule: Schedule,
    pub results_at: ResultsAt,
    /// Only rank 0's arguments are read.
    pub args_at_root: bool,
    pub owned: Owned,
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
    /// Progress across ranks (see `progress`).
    progress: progress::Setup,
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

    /// The items this rank will run in a BLOCK or CYCLIC map of `n` items,
    /// as ranges of positions `0 .. n` in increasing order (adjacent ones
    /// merged). Not collective: every rank computes the same plan.
    pub fn owned_ranges(&self, n: usize, schedule: Schedule) -> Result<Vec<Range<usize>>> {
        if schedule == Schedule::Dynamic {
            return Err(Error::Unsupported(
                "which items a rank runs under LK_SCHEDULE_DYNAMIC is known only after the map (owned_index)".into(),
            ));
        }
        let plan = plan::Plan::new(n, self.comm.size(), self.comm.rank(), schedule, self.max_threads);
        Ok(plan.owned_ranges())
    }
}

/// The user's progress callback, as the local invoker would call it.
pub(crate) type UserProgress = Option<(ProgressFn, SendPtr<c_void>)>;
