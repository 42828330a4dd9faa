//! The memory a process pool's parent, zygote and workers share.
//!
//! `Shared`: one MAP_SHARED mapping made before the zygote is forked, so
//! every process of the pool has it at the same address: the `Header` (the
//! flow in progress, its claim counter and stop word, the cancel word) and
//! one `Slot` per worker. Only atomics live here.
//!
//! `Arena`: a memfd holding the flow's ring (arguments, results, statuses),
//! mapped by each process as it needs, and grown by the parent between flows
//! (each process remaps when `Header::arena_gen` moves).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::sys::{self, Mapping};

/// A claim slot or running item that is not there.
pub(crate) const IDLE: usize = usize::MAX;
/// Re-runs (keep-going, after a worker died mid-claim) that can wait at once.
pub(crate) const RETRY_CAP: usize = 64;

pub(crate) const RETRY_FREE: u32 = 0;
pub(crate) const RETRY_PENDING: u32 = 1;
pub(crate) const RETRY_TAKEN: u32 = 2;

/// Items of a dead worker's claim that must run again.
#[repr(C)]
pub struct Retry {
    pub state: AtomicU32,
    pub begin: AtomicUsize,
    pub end: AtomicUsize,
}

/// The pool and the flow (a map or a stream) in progress.
#[repr(C)]
pub struct Header {
    /// Workers and zygote leave.
    pub quit: AtomicU32,
    /// Futex word: bumped whenever workers may have something new to do.
    pub work_gen: AtomicU32,
    /// Workers blocked on `work_gen`.
    pub workers_asleep: AtomicU32,
    /// The parent is blocked in poll: a worker that finishes a claim signals
    /// the pool's eventfd.
    pub parent_asleep: AtomicU32,
    /// The invoker's cancel word (`lk_invoker_cancel` bumps it; async-signal-safe).
    pub cancel: AtomicU64,
    /// Bumped after every record the zygote or a worker writes to the
    /// parent: nothing to read while it stands still.
    pub mail: AtomicU32,

    /// Bumped for each new flow: workers re-read the description below.
    pub flow_seq: AtomicU64,
    pub index_base: AtomicUsize,
    pub seed_base: AtomicU64,
    /// `cancel` when the flow started.
    pub epoch: AtomicU64,
    pub arg_size: AtomicUsize,
    pub result_size: AtomicUsize,
    /// Ring slots: item `rel` lives in slot `rel % slots`.
    pub slots: AtomicUsize,
    pub off_args: AtomicUsize,
    pub off_results: AtomicUsize,
    pub off_status: AtomicUsize,
    /// The caller's arrays where they are used in place (`Place::Shared`; 0: in the ring).
    pub args_at: AtomicUsize,
    pub results_at: AtomicUsize,
    pub arena_gen: AtomicU64,
    pub arena_len: AtomicUsize,
    pub keep_going: AtomicU32,
    /// A stream: under fail-fast, items below the failing one still run.
    pub stream: AtomicU32,
    pub seeds: AtomicU32,
    /// A staged map (`stage`): its range calls' most items (0: not staged).
    pub stage_items: AtomicUsize,
    /// Fewest items per claim until the end (the slots are whole grains).
    pub grain: AtomicUsize,
    /// Items in all: `usize::MAX` for a stream until it ends.
    pub total: AtomicUsize,
    /// Per-item time limit in ns (0: none).
    pub item_timeout_ns: AtomicU64,
    /// Items below `avail` may be claimed.
    pub avail: AtomicUsize,
    pub next: AtomicUsize,
    /// Items at or past this are not started.
    pub stop_at: AtomicUsize,
    /// Set for the flow before any item's status is other than 0 (see
    /// `Header::mark_statuses`): until then the parent reads none.
    pub statuses_marked: AtomicU32,
    pub retry: [Retry; RETRY_CAP],
}

impl Header {
    /// Say that some status of this flow is not 0, before writing it and so
    /// before its item settles: the parent, which reads this after it reads
    /// `settled`, then scans statuses, and skips them while none is marked
    /// (almost every map: its statuses were a pass over 4 bytes per item).
    pub fn mark_statuses(&self) {
        // (SeqCst, not Relaxed, for the look too: a mark seen here is then
        // one the parent sees once it sees this item settle.)
        if self.statuses_marked.load(Ordering::SeqCst) == 0 {
            self.statuses_marked.store(1, Ordering::SeqCst);
        }
    }

    pub fn statuses_marked(&self) -> bool {
        self.statuses_marked.load(Ordering::SeqCst) != 0
    }
}

/// One worker's mailbox, on cache lines of its own: a worker writes it
/// after every item, and a line shared with another worker's slot cost
/// item maps 4× (a locked add waiting for the line on every item).
#[repr(C, align(64))]
pub struct Slot {
    /// Written by the zygote: the worker's pid, 0 while there is none.
    pub pid: AtomicI32,
    /// Set by a worker that is about to retire (recycling).
    pub retiring: AtomicU32,
    /// Set by a worker once its initializer has run (cleared by the zygote
    /// when it forks the next one).
    pub ready: AtomicU32,
    /// The first item of the claim it holds, or `IDLE`; and its end.
    pub claim: AtomicUsize,
    pub claim_end: AtomicUsize,
    /// The first item of the claim not finished yet.
    pub progress: AtomicUsize,
    /// The item (or range call) running now, or `IDLE`; a range call's
    /// end (a claim may be run in several calls, `stage`); and when its
    /// time is up.
    pub running: AtomicUsize,
    pub running_end: AtomicUsize,
    pub deadline_ns: AtomicU64,
    /// Items run since it started (recycling).
    pub items_run: AtomicU64,
}

/// Where the slots start: past the header, at their alignment.
const SLOTS_AT: usize = std::mem::size_of::<Header>().next_multiple_of(std::mem::align_of::<Slot>());

/// The shared header and slots.
pub struct Shared {
    map: Mapping,
    n_jobs: usize,
}

impl Shared {
    pub fn new(n_jobs: usize) -> Result<Shared> {
        let len = SLOTS_AT + n_jobs * std::mem::size_of::<Slot>();
        let map = Mapping::shared_anonymous(len).map_err(|e| Error::os("mmap of the process pool's shared memory", e))?;
        let shared = Shared { map, n_jobs };
        let h = shared.header();
        h.stop_at.store(usize::MAX, Ordering::Relaxed);
        for s in shared.slots() {
            s.claim.store(IDLE, Ordering::Relaxed);
            s.running.store(IDLE, Ordering::Relaxed);
        }
        Ok(shared)
    }

    pub fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a `Header`, is page-aligned and
        // zero-filled (a valid `Header`: all atomics at 0), and lives as
        // long as `self`; it holds only atomics, so shared access is sound.
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    pub fn slots(&self) -> &[Slot] {
        // SAFETY: `n_jobs` `Slot`s lie at `SLOTS_AT`, past the header and
        // aligned (the mapping is page-aligned), zero-filled or initialised
        // by `new`.
        unsafe {
            std::slice::from_raw_parts(self.map.as_ptr().add(SLOTS_AT).cast::<Slot>(), self.n_jobs)
        }
    }

    pub fn n_jobs(&self) -> usize {
        self.n_jobs
    }

    /// The lowest item not yet settled (run, failed or skipped): no item
    /// below it is claimed-and-running or waiting to run again. Slots are
    /// read after `next`, and retries after the slots: a claim is announced
    /// in a slot before it is taken, and a retry is queued before its dead
    /// claim is cleared, so nothing unsettled slips between the reads.
    pub fn settled(&self) -> usize {
        let h = self.header();
        let mut low = h.next.load(Ordering::SeqCst);
        for s in self.slots() {
            low = low.min(s.claim.load(Ordering::SeqCst));
        }
        for r in &h.retry {
            if r.state.load(Ordering::SeqCst) != RETRY_FREE {
                low = low.min(r.begin.load(Ordering::SeqCst));
            }
        }
        low
    }

    /// Does any worker hold a claim, or any retry wait?
    pub fn busy(&self) -> bool {
        self.slots().iter().any(|s| s.claim.load(Ordering::SeqCst) != IDLE)
            || self.header().retry.iter().any(|r| r.state.load(Ordering::SeqCst) != RETRY_FREE)
    }

    /// Something changed: wake up to `n` workers blocked on `work_gen`
    /// (woken workers wake more while there is work for them).
    pub fn wake_workers(&self, n: u32) {
        let h = self.header();
        h.work_gen.fetch_add(1, Ordering::SeqCst);
        if h.workers_asleep.load(Ordering::SeqCst) > 0 {
            sys::futex_wake_shared(&h.work_gen, n);
        }
    }
}

/// One process's mapping of the pool's arena memfd.
pub struct Arena {
    map: Option<Mapping>,
    gen: u64,
}

impl Arena {
    pub fn new() -> Arena {
        Arena { map: None, gen: 0 }
    }

    /// Map the arena as the header describes it now, if it moved.
    pub fn follow(&mut self, fd: &OwnedFd, h: &Header) -> Result<()> {
        let gen = h.arena_gen.load(Ordering::Acquire);
        if gen == self.gen {
            return Ok(());
        }
        let len = h.arena_len.load(Ordering::Acquire);
        self.map = None;
        if len > 0 {
            self.map = Some(Mapping::of_file(fd.as_fd(), len, true).map_err(|e| Error::os("mmap of the process pool's arena", e))?);
        }
        self.gen = gen;
        Ok(())
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, Mapping::len)
    }

    /// The parent: make the arena at least `need` bytes (a new generation).
    pub fn grow(&mut self, fd: &OwnedFd, h: &Header, need: usize) -> Result<()> {
        let have = self.len();
        if need <= have {
            return Ok(());
        }
        let len = need.max(have * 2).next_multiple_of(sys::page_size());
        sys::set_file_size(fd.as_fd(), len as u64).map_err(|e| Error::os("growing the process pool's arena", e))?;
        self.map = Some(Mapping::of_file(fd.as_fd(), len, true).map_err(|e| Error::os("mmap of the process pool's arena", e))?);
        self.gen += 1;
        h.arena_len.store(len, Ordering::Release);
        h.arena_gen.store(self.gen, Ordering::Release);
        Ok(())
    }

    /// The byte at `off` (the arena must be mapped and hold it).
    pub fn at(&self, off: usize) -> *mut u8 {
        self.map.as_ref().map_or(std::ptr::null_mut(), |m| m.as_ptr().wrapping_add(off))
    }
}

/// Where a flow's array of arguments or results lies.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Place {
    /// In the ring, each slot with the alignment, up to 64 bytes, that
    /// this address has (the caller's array; 0 for 64-byte alignment).
    Ring { aligned_as: usize },
    /// At this address of shared memory (`crate::shared_memory`), which
    /// every worker maps at the same address: item `rel` at `rel × size`
    /// from it, used in place.
    Shared(usize),
}

/// Where a flow's ring lies in the arena, and how an item maps to a slot.
#[derive(Clone, Copy)]
pub struct Layout {
    pub slots: usize,
    pub arg_size: usize,
    pub result_size: usize,
    pub off_args: usize,
    pub off_results: usize,
    pub off_status: usize,
    /// Arrays used in place (`Place::Shared`), or 0: in the ring.
    pub args_at: usize,
    pub results_at: usize,
    pub len: usize,
}

impl Layout {
    /// A ring of `slots` statuses and, for arrays placed in it, arguments
    /// and results. For a caller's array, `slots × size` must be a multiple
    /// of 64, so that every item keeps its own alignment lap after lap.
    pub fn new(slots: usize, arg_size: usize, result_size: usize, args: Place, results: Place) -> Result<Layout> {
        let overflow = || Error::invalid("the map is too large for the process backend's shared memory");
        let up = |x: usize| x.checked_next_multiple_of(64).ok_or_else(overflow);
        // An array's bytes in the ring from `start`, and its address in place (or 0).
        let span = |start: usize, place: Place, size: usize| -> Result<(usize, usize, usize)> {
            match place {
                Place::Shared(at) => Ok((start, start, at)),
                Place::Ring { aligned_as } => {
                    let off = up(start)? + aligned_as % 64;
                    let end = off.checked_add(slots.checked_mul(size).ok_or_else(overflow)?).ok_or_else(overflow)?;
                    Ok((off, end, 0))
                }
            }
        };
        let off_status = 0;
        let (off_args, args_end, args_at) = span(slots.checked_mul(4).ok_or_else(overflow)?, args, arg_size)?;
        let (off_results, len, results_at) = span(args_end, results, result_size)?;
        Ok(Layout { slots, arg_size, result_size, off_args, off_results, off_status, args_at, results_at, len: len.max(1) })
    }

    pub fn publish(&self, h: &Header) {
        h.slots.store(self.slots, Ordering::Relaxed);
        h.arg_size.store(self.arg_size, Ordering::Relaxed);
        h.result_size.store(self.result_size, Ordering::Relaxed);
        h.off_args.store(self.off_args, Ordering::Relaxed);
        h.off_results.store(self.off_results, Ordering::Relaxed);
        h.off_status.store(self.off_status, Ordering::Relaxed);
        h.args_at.store(self.args_at, Ordering::Relaxed);
        h.results_at.store(self.results_at, Ordering::Relaxed);
    }

    pub fn read(h: &Header) -> Layout {
        Layout {
            slots: h.slots.load(Ordering::Relaxed),
            arg_size: h.arg_size.load(Ordering::Relaxed),
            result_size: h.result_size.load(Ordering::Relaxed),
            off_args: h.off_args.load(Ordering::Relaxed),
            off_results: h.off_results.load(Ordering::Relaxed),
            off_status: h.off_status.load(Ordering::Relaxed),
            args_at: h.args_at.load(Ordering::Relaxed),
            results_at: h.results_at.load(Ordering::Relaxed),
            len: 0,
        }
    }

    pub fn slot(&self, rel: usize) -> usize {
        rel % self.slots
    }

    pub fn arg(&self, arena: &Arena, rel: usize) -> *mut u8 {
        item_at(arena, self.off_args, self.args_at, self.slot(rel), rel, self.arg_size)
    }

    pub fn result(&self, arena: &Arena, rel: usize) -> *mut u8 {
        item_at(arena, self.off_results, self.results_at, self.slot(rel), rel, self.result_size)
    }

    pub fn status(&self, arena: &Arena, rel: usize) -> *mut i32 {
        arena.at(self.off_status + self.slot(rel) * 4).cast()
    }

    /// Set the statuses of `rels` (which must not cross the ring's end).
    pub fn set_status(&self, h: &Header, arena: &Arena, rels: std::ops::Range<usize>, code: i32) {
        if code != 0 && !rels.is_empty() {
            h.mark_statuses();
        }
        for rel in rels {
            // SAFETY: the arena holds `slots` statuses and is mapped here.
            unsafe { *self.status(arena, rel) = code };
        }
    }
}

/// Item `rel`'s slot of an array: in place at `at` (non-zero), else slot
/// `slot` of the ring's array at `off`; NULL for items of size 0.
fn item_at(arena: &Arena, off: usize, at: usize, slot: usize, rel: usize, size: usize) -> *mut u8 {
    match (size, at) {
        (0, _) => std::ptr::null_mut(),
        (_, 0) => arena.at(off + slot * size),
        // The address came from the parent, whose shared memory this
        // process maps at the same address (it was forked after it).
        _ => std::ptr::with_exposed_provenance_mut(at.wrapping_add(rel * size)),
    }
}
