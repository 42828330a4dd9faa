//! Streams: `source` → the operation → `sink`, in index order, in a window
//! of bounded size (oneTBB's `parallel_pipeline` with a serial in-order
//! input and output filter).
//!
//! The calling thread is the *driver*: it calls `source` to fill free ring
//! slots, publishes them to the workers, and calls `sink` with every run of
//! settled items at the bottom of the window, in order. Workers claim from
//! the published items exactly as in a map. The driver sleeps while the
//! workers compute and is woken when a claim finishes. The same driver runs
//! on the threads backend (`ThreadFlow`) and the process backend (whose
//! ring is in shared memory).

use std::alloc::Layout;
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::job::Job;
use super::report::PROGRESS_INTERVAL;
use super::kernel::Space;
use super::outcomes::Outcomes;
use super::threads::Pool;
use super::{context, Core, ErrorMode};
use crate::error::{Error, Result};
use crate::util::SendPtr;

/// `source(user, args, capacity, &n_filled) -> 0 | code`.
pub type SourceFn = unsafe extern "C" fn(user: *mut c_void, args: *mut c_void, capacity: usize, n_filled: *mut usize) -> i32;
/// `sink(user, first, results, item_status, n) -> 0 | code`.
pub type SinkFn = unsafe extern "C" fn(user: *mut c_void, first: usize, results: *const c_void, item_status: *const i32, n: usize) -> i32;

/// The most bytes of arguments and results an automatic window holds.
const AUTO_WINDOW_BYTES: usize = 64 << 20;
/// Items per worker in an automatic window (several chunks each).
const AUTO_ITEMS_PER_WORKER: usize = 4096;
/// The most argument and result bytes a caller's window holds (a smaller one keeps its promise).
const MAX_WINDOW_BYTES: usize = 256 << 20;

#[derive(Debug, Clone, Copy, Default)]
pub struct StreamOptions {
    /// Most items sourced but not yet sunk (0: the library chooses).
    pub window: usize,
    /// The first item's task index.
    pub index_base: usize,
}

/// The caller's ends of a stream.
pub trait Io {
    /// Fill up to `capacity` arguments at `args`; the number filled (0: the end).
    fn source(&mut self, args: *mut u8, capacity: usize) -> Result<usize>;
    /// Take the results of items `first .. first + n` (task indices).
    fn sink(&mut self, first: usize, results: *const u8, status: *const i32, n: usize) -> Result<()>;
}

/// The C source and sink.
pub struct CallbackIo {
    pub source: SourceFn,
    pub sink: SinkFn,
    pub user: SendPtr<c_void>,
}

impl Io for CallbackIo {
    fn source(&mut self, args: *mut u8, capacity: usize) -> Result<usize> {
        let mut filled = 0usize;
        // SAFETY: the C caller's source and user pointer; `args` has room for
        // `capacity` arguments; `filled` lives across the call.
        let code = unsafe { (self.source)(self.user.0, args.cast(), capacity, &mut filled) };
        if code != 0 {
            return Err(Error::StreamCallback { which: "source", code });
        }
        if filled > capacity {
            return Err(Error::invalid(format!("the stream's source filled {filled} items, more than its capacity {capacity}")));
        }
        Ok(filled)
    }

    fn sink(&mut self, first: usize, results: *const u8, status: *const i32, n: usize) -> Result<()> {
        // SAFETY: the C caller's sink and user pointer; `results` and
        // `status` hold `n` entries, valid during the call.
        let code = unsafe { (self.sink)(self.user.0, first, results.cast(), status, n) };
        if code != 0 {
            return Err(Error::StreamCallback { which: "sink", code });
        }
        Ok(())
    }
}

/// The caller's ends, marked while they run: a map on the same invoker from
/// inside them is refused (from an item callback run inline, it is not).
struct Marked<'a> {
    io: &'a mut dyn Io,
    invoker: u64,
}

impl Io for Marked<'_> {
    fn source(&mut self, args: *mut u8, capacity: usize) -> Result<usize> {
        let _io = context::StreamIo::enter(self.invoker);
        self.io.source(args, capacity)
    }

    fn sink(&mut self, first: usize, results: *const u8, status: *const i32, n: usize) -> Result<()> {
        let _io = context::StreamIo::enter(self.invoker);
        self.io.sink(first, results, status, n)
    }
}

/// A stream's ring, as the driver sees it in this process.
#[derive(Clone, Copy)]
pub(crate) struct Ring {
    pub args: *mut u8,
    pub arg_size: usize,
    pub results: *mut u8,
    pub result_size: usize,
    pub status: *mut i32,
    /// Slots in the arrays (item `rel` is in slot `rel % slots`).
    pub slots: usize,
    /// Most items sourced and not yet sunk (at most `slots`).
    pub window: usize,
    /// Fewest items per claim until the end (`slots` are whole grains).
    pub grain: usize,
}

impl Ring {
    fn arg(&self, rel: usize) -> *mut u8 {
        self.args.wrapping_add((rel % self.slots) * self.arg_size)
    }
    fn result(&self, rel: usize) -> *const u8 {
        self.results.wrapping_add((rel % self.slots) * self.result_size)
    }
    fn status(&self, rel: usize) -> *const i32 {
        self.status.wrapping_add(rel % self.slots)
    }
    /// The statuses of settled items `rel .. rel + n` (not across the end).
    fn settled_statuses(&self, rel: usize, n: usize) -> &[i32] {
        debug_assert!(rel % self.slots + n <= self.slots);
        // SAFETY: the ring holds a status per slot and these `n` do not
        // cross its end; no worker writes a settled item's status (the
        // driver reads it before the slot is sourced again).
        unsafe { std::slice::from_raw_parts(self.status(rel), n) }
    }
}

/// What a backend offers the driver.
pub(crate) trait Flow {
    fn ring(&self) -> Ring;
    /// Items below `avail` may be claimed.
    fn publish(&mut self, avail: usize) -> Result<()>;
    /// No item past `total` will come.
    fn end(&mut self, total: usize) -> Result<()>;
    /// Every item below this has run, failed or been skipped.
    fn settled(&mut self) -> Result<usize>;
    /// Items at or past this are not started (`usize::MAX`: no stop).
    fn stop_at(&self) -> usize;
    /// The flow was cancelled.
    fn cancelled(&self) -> bool;
    /// Sleep until `settled` moves past `seen` (the value the driver last
    /// acted on), the flow is cancelled, or `timeout` passes.
    fn wait(&mut self, seen: usize, timeout: Option<Duration>) -> Result<()>;
    /// Stop: what has not started is skipped; returns once nothing runs
    /// and every published item has settled.
    fn halt(&mut self) -> Result<()>;
    /// Items run or skipped so far (for progress).
    fn done(&self) -> usize;
    /// May a settled item's status be other than 0? (No: the driver reads
    /// none.)
    fn statuses_marked(&self) -> bool {
        true
    }
    /// Items `rel .. rel + n` (not across the ring's end) are sunk: their
    /// slots may be sourced again.
    fn release(&mut self, _rel: usize, _n: usize) {}
    /// Why item `rel` died or timed out, for the message.
    fn death(&mut self, rel: usize) -> String;
}

/// The window for `sizes` (argument and result bytes) and `n_jobs` workers:
/// the caller's, at most `MAX_WINDOW_BYTES` (or the automatic one, if larger).
pub(crate) fn window(opts: &StreamOptions, sizes: (usize, usize), n_jobs: usize) -> usize {
    let per_item = sizes.0.saturating_add(sizes.1).saturating_add(4);
    let auto = n_jobs.saturating_mul(AUTO_ITEMS_PER_WORKER).min(AUTO_WINDOW_BYTES / per_item).max(1);
    match opts.window {
        0 => auto,
        asked => asked.min(auto.max(MAX_WINDOW_BYTES / per_item)),
    }
}

/// A stream ring's slots and grain: whole grains of at most a window, so
/// no claim is cut short at the ring's end.
pub(crate) fn ring_shape(window: usize, grain: usize) -> Result<(usize, usize)> {
    let grain = grain.max(1).min(window);
    let slots = window.checked_next_multiple_of(grain).ok_or_else(|| Error::invalid("the stream's window is too large"))?;
    Ok((slots, grain))
}

/// Maps stop everything at a failure and hand every item's outcome back;
/// streams run the items below a failure and sink only those.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Map,
    Stream,
}

/// Run a flow to its end: fill, compute, drain in order.
pub(crate) fn drive(core: &Core, flow: &mut dyn Flow, io: &mut dyn Io, index_base: usize, mode: Mode) -> Result<()> {
    let io = &mut Marked { io, invoker: core.id };
    let ring = flow.ring();
    let (w, window) = (ring.slots, ring.window);
    // Several sources per window, so the workers start before it is full;
    // a map's copies in, two: each is a pause for the workers where CPUs
    // are few, and a big one is cut among threads (`procs::copy`).
    let sources = if mode == Mode::Map { 2 } else { 4 };
    let batch = (window / sources).max(ring.grain).min(window);
    let stream_stops = mode == Mode::Stream && core.opts.error_mode == ErrorMode::FailFast;
    let (mut sourced, mut sunk, mut ended, mut halted) = (0usize, 0usize, false, false);
    let mut outcomes = Outcomes::default();
    let mut io_error: Option<Error> = None;
    let mut last_report = Instant::now();
    let report = |done: usize, total: usize| {
        if let Some((progress, user)) = core.opts.progress {
            // SAFETY: the C caller's progress callback and user pointer.
            unsafe { progress(done.min(total), total, user.0) };
        }
    };
    let result = loop {
        let cancelled = flow.cancelled();
        if cancelled && mode == Mode::Stream {
            break Err(Error::Cancelled);
        }
        let stopping = cancelled || flow.stop_at() != usize::MAX;
        if stopping && mode == Mode::Map && !halted {
            // A map stops sourcing and skips what has not started; every
            // item it has still reaches the caller with its status.
            flow.halt()?;
            halted = true;
            ended = true;
        }
        // A stream under fail-fast sinks only below its lowest failing item
        // (read after `settled`: an item's failure is recorded before it settles).
        let observed = flow.settled()?;
        let settled = observed.min(sourced);
        let stop = flow.stop_at();
        let limit = if stream_stops && stop != usize::MAX { stop.saturating_sub(1) } else { usize::MAX };
        let settled = settled.min(limit);
        let mut moved = false;
        while sunk < settled {
            let n = (settled - sunk).min(w - sunk % w);
            if flow.statuses_marked() {
                outcomes.scan(sunk, ring.settled_statuses(sunk, n));
            }
            if let Err(e) = io.sink(index_base.wrapping_add(sunk), ring.result(sunk), ring.status(sunk), n) {
                io_error = Some(e);
                break;
            }
            flow.release(sunk, n);
            sunk += n;
            moved = true;
        }
        if io_error.is_some() || sunk == limit {
            break Ok(());
        }
        if ended && sunk == sourced {
            break Ok(());
        }
        // Source into the free slots (never across the ring's end).
        if !ended && !stopping && sourced - sunk < window {
            let capacity = (window - (sourced - sunk)).min(w - sourced % w).min(batch);
            match io.source(ring.arg(sourced), capacity) {
                Ok(0) => {
                    ended = true;
                    flow.end(sourced)?;
                }
                Ok(n) => {
                    sourced += n;
                    flow.publish(sourced)?;
                }
                Err(e) => {
                    io_error = Some(e);
                    break Ok(());
                }
            }
            moved = true;
        }
        if core.opts.progress.is_some() && last_report.elapsed() >= PROGRESS_INTERVAL {
            report(flow.done(), sourced);
            last_report = Instant::now();
        }
        if !moved {
            let timeout = core.opts.progress.map(|_| PROGRESS_INTERVAL);
            flow.wait(observed, timeout)?;
        }
    };
    // Whatever happened, nothing may run on the ring after we return.
    let halt = if halted { Ok(()) } else { flow.halt() };
    report(flow.done(), sourced);
    result?;
    halt?;
    // Items that settled but were not sunk (the one that stopped a stream,
    // those that ran before the source or sink failed) count too.
    let ran = flow.settled()?.min(sourced);
    let mut at = sunk;
    while at < ran {
        let n = (ran - at).min(w - at % w);
        if flow.statuses_marked() {
            outcomes.scan(at, ring.settled_statuses(at, n));
        }
        at += n;
    }
    // The lowest failing item wins, then the source, then the sink.
    // Under keep-going a stream's status is the one a map would return.
    outcomes.verdict(stream_stops, flow, index_base)?;
    if let Some(e) = io_error {
        return Err(e);
    }
    if flow.cancelled() {
        return Err(Error::Cancelled);
    }
    Ok(())
}

/// A ring in this process's memory (the blocks own what `ring` points into).
struct HeapRing {
    _blocks: [Zeroed; 3],
    ring: Ring,
}

impl HeapRing {
    /// Slots aligned to 64 bytes (an element keeps its natural alignment).
    fn new(window: usize, grain: usize, arg_size: usize, result_size: usize) -> Result<HeapRing> {
        let (slots, grain) = ring_shape(window, grain)?;
        let bytes = |size: usize| slots.checked_mul(size).ok_or_else(|| Error::invalid("the stream's window is too large"));
        let blocks = [Zeroed::new(bytes(arg_size)?)?, Zeroed::new(bytes(result_size)?)?, Zeroed::new(bytes(4)?)?];
        let ring = Ring {
            args: blocks[0].ptr.as_ptr(),
            arg_size,
            results: blocks[1].ptr.as_ptr(),
            result_size,
            status: blocks[2].ptr.as_ptr().cast(),
            slots,
            window,
            grain,
        };
        Ok(HeapRing { _blocks: blocks, ring })
    }
}

/// Zeroed memory, its start (`ptr`) aligned to 64 bytes; the block's own
/// alignment stays small so that calloc serves it (untouched pages: a big
/// window costs only what is used).
struct Zeroed {
    block: NonNull<u8>,
    layout: Layout,
    ptr: NonNull<u8>,
}

impl Zeroed {
    fn new(bytes: usize) -> Result<Zeroed> {
        let too_large = || Error::invalid("the stream's window is too large");
        let layout = Layout::from_size_align(bytes.checked_add(64).ok_or_else(too_large)?, 16).map_err(|_| too_large())?;
        // SAFETY: the layout's size is not zero.
        let block = unsafe { std::alloc::alloc_zeroed(layout) };
        let block = NonNull::new(block).ok_or_else(|| Error::System(format!("cannot allocate a stream window of {bytes} bytes")))?;
        // In the block: at most 63 bytes past its start, `bytes` before its end.
        let ptr = NonNull::new(block.as_ptr().wrapping_add(block.as_ptr().align_offset(64).min(63))).unwrap_or(block);
        Ok(Zeroed { block, layout, ptr })
    }
}

impl Drop for Zeroed {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.block.as_ptr(), self.layout) };
    }
}

/// A stream job in this process: on the pool's threads, or (no pool:
/// n_jobs 1) run by the calling thread as it publishes, taking turns.
struct JobFlow<'a> {
    pool: Option<&'a Pool>,
    job: Arc<Job>,
    ring: Ring,
}

impl Flow for JobFlow<'_> {
    fn ring(&self) -> Ring {
        self.ring
    }
    fn publish(&mut self, avail: usize) -> Result<()> {
        self.job.publish(avail);
        if self.pool.is_none() {
            self.job.work(0, None);
        }
        Ok(())
    }
    fn end(&mut self, total: usize) -> Result<()> {
        self.job.end(total);
        // Inline, a tail shorter than a grain runs now that it is the end.
        if self.pool.is_none() {
            self.job.work(0, None);
        }
        Ok(())
    }
    fn settled(&mut self) -> Result<usize> {
        Ok(self.job.settled())
    }
    fn stop_at(&self) -> usize {
        self.job.stop_point()
    }
    fn cancelled(&self) -> bool {
        self.job.was_cancelled()
    }
    fn wait(&mut self, seen: usize, timeout: Option<Duration>) -> Result<()> {
        // Inline, everything published has settled: nothing to wait for.
        if self.pool.is_some() {
            let job = &self.job;
            job.waiter.sleep_unless(|| job.settled() != seen || job.was_cancelled(), timeout);
        }
        Ok(())
    }
    fn halt(&mut self) -> Result<()> {
        self.job.stop_quietly();
        while self.job.running() {
            let job = &self.job;
            job.waiter.sleep_unless(|| !job.running(), None);
        }
        if let Some(pool) = self.pool {
            pool.sched.withdraw(&self.job);
        }
        Ok(())
    }
    fn done(&self) -> usize {
        self.job.done_count()
    }
    fn death(&mut self, rel: usize) -> String {
        format!("item {rel}")
    }
}

/// A stream in this process: with a pool (n_jobs >= 2) the caller drives
/// while the pool's threads compute; without, the caller does both in turn.
pub(crate) fn run_local(pool: Option<&Pool>, core: &Arc<Core>, io: &mut dyn Io, sizes: (usize, usize), opts: &StreamOptions, seed_base: u64) -> Result<()> {
    let window = window(opts, sizes, core.opts.n_jobs);
    let heap = HeapRing::new(window, core.opts.grain, sizes.0, sizes.1)?;
    let job = Job::for_stream(core, pool.map(|p| p.sched.clone()), space(&heap.ring), opts.index_base, seed_base);
    if let Some(p) = pool {
        p.sched.post(&job, 2);
    }
    let mut flow = JobFlow { pool, job, ring: heap.ring };
    let r = drive(core, &mut flow, io, opts.index_base, Mode::Stream);
    drop(flow);
    drop(heap);
    r
}

fn space(ring: &Ring) -> Space {
    // A zero size passes NULL, as for maps.
    let nonzero = |p: *mut u8, size: usize| SendPtr(if size == 0 { std::ptr::null_mut() } else { p });
    Space {
        args: nonzero(ring.args, ring.arg_size),
        arg_size: ring.arg_size,
        results: nonzero(ring.results, ring.result_size),
        result_size: ring.result_size,
        status: SendPtr(ring.status),
        ring: ring.slots,
    }
}
