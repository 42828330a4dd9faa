//! The process backend: forked workers that share the model copy-on-write.
//!
//! Three roles, one file each:
//! - the parent (here): runs each map or stream as a *flow* through a ring
//!   in shared memory — it copies arguments in (or calls the stream's
//!   source), wakes the workers, and copies results out (or calls the sink)
//!   in order as items settle; the same driver as a threads stream
//!   (`invoker::stream`);
//! - the zygote (`zygote`): a single-threaded snapshot of the process made
//!   when the invoker was made; it forks, reaps and replaces the workers;
//! - the workers (`worker`): claim guided chunks of the flow from a shared
//!   counter and run them with the same kernel as threads;
//! - and `shm`, the memory they share.
//!
//! Maps on one process invoker take turns. A worker that dies fails only
//! the item it was running (the rest of its claim runs again, or is skipped
//! when the flow is stopping); a zygote that dies is replaced at the next
//! map (see `ensure_zygote`).

mod copy;
mod flow;
mod shm;
mod stage;
mod worker;
mod zygote;

use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::Mutex;

use self::copy::Copier;
use self::shm::{Arena, Layout, Place, Shared, IDLE, RETRY_FREE};
use self::flow::{drain_logs, ProcFlow};
use super::kernel::Items;
use super::stream::{self, Io, Mode, Ring, StreamOptions};
use super::ways::{Tuning, TwoWays};
use super::{Core, ErrorMode, Func, MapOptions, ITEM_SKIPPED, ITEM_TIMED_OUT, ITEM_WORKER_DIED};
use crate::child::{self, Child, DeathWatch, Exit};
use crate::fork::Role;
use crate::error::{Error, Result};
use crate::shared_memory;
use crate::sys;
use crate::util::SendPtr;
use crate::wire::{self, Record};
use crate::fork;

/// Exit code of a worker that retires on purpose (recycling).
pub(super) const RETIRED: i32 = 77;
/// Exit code of a worker that could not map the arena.
pub(super) const NO_ARENA: i32 = 71;
/// A map's ring aims at this many bytes: big claims, and few copies in and
/// out (each a handoff between the parent and the workers). On 2 CPUs,
/// 10^7 u64 through 8, 16, 32 and 64 MiB rings took 14.6, 12.4, 12.4 and
/// 14.5 ms: the smaller of the best two, the likelier to stay in cache.
const MAP_RING_BYTES: usize = 16 << 20;
/// A map's results past this size are copied out past the caches: they
/// cannot all stay there beside the ring.
const STREAM_RESULTS_BYTES: usize = MAP_RING_BYTES;
/// Staged maps against the others: a map or two to start, a few maps a
/// trial (a map of a stage's worth of results or more is not short).
const STAGING: Tuning = Tuning { trial: 3, first_trial_after: 1, retry_after: 16, max_retry: 1024 };

pub struct Pool {
    shared: Arc<Shared>,
    state: Mutex<Parent>,
}

pub(super) struct Parent {
    core: Arc<Core>,
    /// Workers signal it when they finish a claim while the parent sleeps.
    events: OwnedFd,
    arena_fd: OwnedFd,
    arena: Arena,
    zygote: Option<Zygote>,
    /// `Header::mail` when the pipes were last read.
    mail_seen: u32,
    /// Made at the first map whose copies are worth cutting.
    copier: Option<Arc<Copier>>,
    /// Ring statuses from the arena's start known to be 0 (workers write
    /// only codes other than 0, so a flow's statuses must start at 0).
    zero_statuses: usize,
    /// Whether range maps stage their results (`stage`), by measured speed.
    staging: TwoWays,
}

/// The parent's ends of a zygote.
pub(super) struct Zygote {
    child: Child,
    /// Closing it tells the zygote to stop its workers and leave.
    lifeline: Option<OwnedFd>,
    commands: OwnedFd,
    /// The workers' log records.
    logs: OwnedFd,
    log_reader: wire::Reader,
    /// Shared memory was reserved before the zygote was forked: its workers
    /// map it, and may use arrays there in place.
    maps_shared_memory: bool,
}

/// What a flow is: where its ring lies and what it runs under.
struct FlowSpec {
    layout: Layout,
    /// Most items sourced and not yet sunk.
    window: usize,
    /// Fewest items per claim until the end (the slots are whole grains).
    grain: usize,
    /// Items in all (`usize::MAX`: a stream, until it ends).
    total: usize,
    index_base: usize,
    seed_base: u64,
    /// The cancel word when the call began (a cancel while it waits its turn counts).
    epoch: u64,
    mode: Mode,
    /// A staged map's items per range call (0: not staged).
    stage_items: usize,
}

/// How a worker left during a flow.
pub(super) struct Departure {
    worker: u32,
    pid: i32,
    exit: Exit,
    /// The items that failed with it.
    items: Option<Range<usize>>,
    timed_out: bool,
}

impl Pool {
    pub fn new(core: &Arc<Core>) -> Result<Pool> {
        let shared = Arc::new(Shared::new(core.opts.n_jobs)?);
        let events = sys::eventfd().map_err(|e| Error::os("eventfd", e))?;
        let arena_fd = sys::memfd(c"lk-pool-arena", false).map_err(|e| Error::os("memfd_create", e))?;
        let mut parent = Parent { core: core.clone(), events, arena_fd, arena: Arena::new(), zygote: None, mail_seen: 0, copier: None, zero_statuses: 0, staging: TwoWays::new(false, STAGING) };
        parent.zygote = Some(parent.start_zygote(&shared)?);
        log::debug!(target: "lkparallel", "process pool: zygote {} forks {} workers", parent.zygote.as_ref().map_or(0, |z| z.child.pid()), core.opts.n_jobs);
        Ok(Pool { shared, state: Mutex::new(parent) })
    }

    /// Make maps in flight stop (async-signal-safe: one atomic add).
    pub fn cancel(&self) {
        self.shared.header().cancel.fetch_add(1, Ordering::AcqRel);
    }

    /// One map: the caller's arrays through the ring, or in place where
    /// they lie in shared memory that the workers map.
    pub fn map(&self, core: &Core, items: Items, mopts: &MapOptions, seed_base: u64) -> Result<()> {
        // A map waiting for its turn is in flight: a cancel meanwhile stops it.
        let epoch = self.shared.header().cancel.load(Ordering::SeqCst);
        let mut st = self.state.lock();
        st.ensure_zygote(&self.shared)?;
        let workers_map_shared = st.zygote.as_ref().is_some_and(|z| z.maps_shared_memory);
        let args = place(workers_map_shared, items.args.0, items.n, items.arg_size);
        let results = place(workers_map_shared, items.results.0, items.n, items.result_size);
        // What goes through the ring: arrays used in place take no room there.
        let ring_size = |place: Place, size: usize| if matches!(place, Place::Shared(_)) { 0 } else { size };
        let ring_items = Items { arg_size: ring_size(args, items.arg_size), result_size: ring_size(results, items.result_size), ..items };
        let (slots, grain) = map_ring(ring_items, core.opts.n_jobs, core.opts.grain)?;
        let layout = Layout::new(slots, items.arg_size, items.result_size, args, results)?;
        let copier = st.copier_for(ring_items);
        let streaming = items.n.saturating_mul(ring_items.result_size) > STREAM_RESULTS_BYTES;
        // Range maps with a stage's worth of results in the ring, in grains
        // small enough to stage, may be staged; the maps that find their
        // ring mapped are timed (the first touch of new pages, in every
        // process, would count against the way taken).
        let stageable = matches!(core.op.func, Func::Range(_)) && items.n.saturating_mul(ring_items.result_size) >= stage::STAGE_BYTES;
        let per_call = stageable.then(|| stage::Stage::items_per_call(items.result_size, grain)).flatten();
        let staged = per_call.is_some() && st.staging.next();
        let timed = per_call.is_some() && layout.len <= st.arena.len();
        let stage_items = per_call.filter(|_| staged).unwrap_or(0);
        let mut io = MapIo { items: ring_items, status: mopts.item_status, copied: 0, sunk: 0, copier, streaming, staged, header: self.shared.header() };
        let flow = FlowSpec { layout, window: slots, grain, total: items.n, index_base: mopts.index_base, seed_base, epoch, mode: Mode::Map, stage_items };
        let began = Instant::now();
        let r = st.run_flow(&self.shared, core, flow, &mut io);
        if timed && r.is_ok() {
            st.staging.learn(staged, began.elapsed().as_nanos() as f64 / items.n as f64);
        }
        io.skip_rest();
        r
    }

    /// One stream, its ring in shared memory: the source writes arguments
    /// and the sink reads results where the workers use them.
    pub fn stream(&self, core: &Core, io: &mut dyn Io, sizes: (usize, usize), opts: &StreamOptions, seed_base: u64) -> Result<()> {
        let epoch = self.shared.header().cancel.load(Ordering::SeqCst);
        let mut st = self.state.lock();
        st.ensure_zygote(&self.shared)?;
        let window = stream::window(opts, sizes, core.opts.n_jobs);
        let (slots, grain) = stream::ring_shape(window, core.opts.grain)?;
        let ring = Place::Ring { aligned_as: 0 };
        let layout = Layout::new(slots, sizes.0, sizes.1, ring, ring)?;
        let flow = FlowSpec { layout, window, grain, total: usize::MAX, index_base: opts.index_base, seed_base, epoch, mode: Mode::Stream, stage_items: 0 };
        st.run_flow(&self.shared, core, flow, io)
    }
}

/// Where a map's array of `n` items of `size` bytes at `at` lies for the
/// workers: in place when it lies wholly in shared memory they map.
fn place(workers_map_shared: bool, at: *mut u8, n: usize, size: usize) -> Place {
    let addr = at.expose_provenance();
    match n.checked_mul(size) {
        Some(len) if workers_map_shared && size > 0 && shared_memory::contains(addr, len) => Place::Shared(addr),
        _ => Place::Ring { aligned_as: addr },
    }
}

/// A map's ring and grain: a bounded window of the caller's arrays (all of
/// them where that is smaller, or where the grain asks for it), whole
/// grains, and a slot count that keeps every item at its alignment in the
/// caller's arrays (`Layout::new`).
fn map_ring(items: Items, n_jobs: usize, grain: usize) -> Result<(usize, usize)> {
    let grain = grain.max(1).min(items.n.max(1));
    let per_item = items.arg_size.saturating_add(items.result_size).saturating_add(4);
    let slots = items.n.min((MAP_RING_BYTES / per_item).max(64).max(grain.saturating_mul(2 * n_jobs)));
    // Slots × size must be a multiple of 64 for each array: a power of two.
    let align = |size: usize| 64usize >> size.trailing_zeros().min(6);
    let align = align(items.arg_size).max(align(items.result_size));
    let unit = grain.checked_mul(align >> grain.trailing_zeros().min(align.trailing_zeros()));
    let slots = unit.and_then(|u| slots.max(1).checked_next_multiple_of(u));
    let slots = slots.ok_or_else(|| Error::invalid("the map is too large for the process backend's shared memory"))?;
    Ok((slots, grain))
}

impl Drop for Pool {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        st.zygote = None;
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        // Closing the lifeline tells the zygote to stop its workers and exit.
        if let Some(life) = self.lifeline.take() {
            fork::release_from_children(life.as_raw_fd());
        }
        let mut ignore = |_: Record| {};
        if let child::Pumped::DeadlinePassed = self.child.pump(Some(Instant::now() + Duration::from_secs(5)), &mut ignore) {
            self.child.terminate(Duration::from_millis(200), &mut ignore);
        }
        drain_logs(&self.logs, &mut self.log_reader);
    }
}

impl Parent {
    /// The copier for a map whose copies are big enough to cut in parts:
    /// as many threads as its workers, up to the CPUs (with one, the copier
    /// still streams big results past the caches).
    fn copier_for(&mut self, items: Items) -> Option<Arc<Copier>> {
        let bytes = items.n.saturating_mul(items.arg_size.max(items.result_size));
        if bytes < 2 * copy::PART {
            return None;
        }
        let threads = self.core.opts.n_jobs.min(self.core.cpus);
        // Its threads spin between copies unless the workers oversubscribe
        // the CPUs. With as many workers as CPUs, copies are most of a big
        // map's CPU time, so the workers mostly wait for them; a helper
        // that slept between a map's copies left its CPU idle for every
        // wake (~50 us, dozens a map: 10% of a 10^7 map on 2 CPUs).
        let may_spin = self.core.opts.n_jobs <= self.core.cpus;
        Some(self.copier.get_or_insert_with(|| Arc::new(Copier::new(threads, may_spin))).clone())
    }

    /// Fork a zygote from the process as it is now.
    fn start_zygote(&mut self, shared: &Shared) -> Result<Zygote> {
        let pipe = || sys::pipe().map_err(|e| Error::os("pipe", e));
        let (ctrl_rd, ctrl_wr) = pipe()?;
        let (logs_rd, logs_wr) = pipe()?;
        let (life_rd, life_wr) = pipe()?;
        let (cmd_rd, cmd_wr) = pipe()?;
        sys::set_nonblocking(logs_rd.as_fd()).map_err(|e| Error::os("fcntl", e))?;
        fork::keep_from_children(life_wr.as_raw_fd());
        let parent_ends = [ctrl_rd.as_raw_fd(), logs_rd.as_raw_fd(), cmd_wr.as_raw_fd()];
        let ctrl_fd = ctrl_wr.as_raw_fd();
        // Read before the fork: memory reserved later is not the zygote's.
        let maps_shared_memory = shared_memory::reserved();
        let (core, arena_fd, events) = (&*self.core, &self.arena_fd, &self.events);
        // The child's ends move into the body: the zygote owns them, and the
        // parent's copies close when the body is dropped here.
        let forked = child::fork_child(Role::PoolWorker, DeathWatch::Lifeline, ctrl_fd, move || {
            for fd in parent_ends {
                // SAFETY: in the zygote these are the parent's ends, never used
                // or closed again (it ends with _exit).
                unsafe { sys::close_raw(fd) };
            }
            zygote::main(zygote::Spec {
                shared,
                arena_fd,
                events,
                core,
                lifeline: life_rd,
                commands: cmd_rd,
                ctrl: ctrl_wr,
                worker_logs: logs_wr,
            })
        });
        let pid = match forked {
            Ok(pid) => pid,
            Err(e) => {
                fork::release_from_children(life_wr.as_raw_fd());
                return Err(e);
            }
        };
        Ok(Zygote { child: Child::adopt(pid, ctrl_rd)?, lifeline: Some(life_wr), commands: cmd_wr, logs: logs_rd, log_reader: Default::default(), maps_shared_memory })
    }

    /// A zygote that ended (killed from outside) is replaced: its workers
    /// died with it. The new one is a snapshot of the process as it is now,
    /// so the workers see the model as it is now, not as it was when the
    /// invoker was made; this is logged.
    fn ensure_zygote(&mut self, shared: &Shared) -> Result<()> {
        // Killed while the invoker was idle: noticed here, not by a failing map.
        if self.zygote.as_mut().is_some_and(|z| z.child.ended()) {
            self.zygote = None;
        }
        if self.zygote.is_some() {
            return Ok(());
        }
        let h = shared.header();
        h.quit.store(0, Ordering::SeqCst);
        h.avail.store(0, Ordering::SeqCst);
        for s in shared.slots() {
            s.pid.store(0, Ordering::SeqCst);
            s.claim.store(IDLE, Ordering::SeqCst);
            s.running.store(IDLE, Ordering::SeqCst);
        }
        for r in &h.retry {
            r.state.store(RETRY_FREE, Ordering::SeqCst);
        }
        log::warn!(
            target: "lkparallel",
            "the process pool's zygote had ended: forking a new one; its workers see this process (the model included) as it is now, not as it was when the invoker was made"
        );
        self.zygote = Some(self.start_zygote(shared)?);
        Ok(())
    }

    /// Describe a new flow in the header and drive it to its end.
    fn run_flow(&mut self, shared: &Shared, core: &Core, spec: FlowSpec, io: &mut dyn Io) -> Result<()> {
        let FlowSpec { layout, window, grain, total, index_base, seed_base, epoch, mode, stage_items } = spec;
        let h = shared.header();
        self.arena.grow(&self.arena_fd, h, layout.len)?;
        if self.zero_statuses < layout.slots {
            // SAFETY: the arena (grown to the layout, mapped here) holds the
            // flow's `slots` statuses at `off_status`; no worker runs.
            unsafe { std::ptr::write_bytes(self.arena.at(layout.off_status).cast::<i32>(), 0, layout.slots) };
            self.zero_statuses = layout.slots;
        }
        // No claims while the description changes (the last flow has halted).
        h.avail.store(0, Ordering::SeqCst);
        layout.publish(h);
        h.index_base.store(index_base, Ordering::Relaxed);
        h.seed_base.store(seed_base, Ordering::Relaxed);
        h.seeds.store(u32::from(core.opts.item_seeds), Ordering::Relaxed);
        h.stage_items.store(stage_items, Ordering::Relaxed);
        h.keep_going.store(u32::from(core.opts.error_mode == ErrorMode::KeepGoing), Ordering::Relaxed);
        h.stream.store(u32::from(mode == Mode::Stream), Ordering::Relaxed);
        h.grain.store(grain, Ordering::Relaxed);
        h.total.store(total, Ordering::SeqCst);
        h.item_timeout_ns.store(core.opts.item_timeout.map_or(0, |t| t.as_nanos().min(u64::MAX as u128) as u64), Ordering::Relaxed);
        h.next.store(0, Ordering::SeqCst);
        h.stop_at.store(usize::MAX, Ordering::SeqCst);
        h.statuses_marked.store(0, Ordering::SeqCst);
        h.epoch.store(epoch, Ordering::SeqCst);
        h.flow_seq.fetch_add(1, Ordering::SeqCst);
        let ring = Ring {
            args: self.arena.at(layout.off_args),
            arg_size: layout.arg_size,
            results: self.arena.at(layout.off_results),
            result_size: layout.result_size,
            status: self.arena.at(layout.off_status).cast(),
            slots: layout.slots,
            window,
            grain,
        };
        let may_spin = core.opts.n_jobs < core.cpus;
        let mail_seen = self.mail_seen;
        let mut flow = ProcFlow {
            parent: self,
            shared,
            ring,
            departures: Vec::new(),
            kills_sent: Vec::new(),
            may_spin,
            mail_seen,
            last_progress: ((usize::MAX, usize::MAX), 0),
        };
        let r = flow.await_workers().and_then(|()| stream::drive(core, &mut flow, io, index_base, mode));
        flow.finish();
        // Past this flow's statuses lay its arguments and results; and
        // statuses not sunk (a stopped stream's) may be other than 0.
        self.zero_statuses = if h.statuses_marked() { 0 } else { layout.slots };
        r
    }
}

/// A map's ends of the flow: the caller's arrays.
struct MapIo<'a> {
    items: Items,
    status: SendPtr<i32>,
    /// Items copied into the ring so far, and handed back.
    copied: usize,
    sunk: usize,
    copier: Option<Arc<Copier>>,
    /// Results go out past the caches (see `STREAM_RESULTS_BYTES`).
    streaming: bool,
    /// Arguments go in past the caches (a staged map, `stage`).
    staged: bool,
    /// Whether any status may be other than 0.
    header: &'a shm::Header,
}

impl Io for MapIo<'_> {
    fn source(&mut self, args: *mut u8, capacity: usize) -> Result<usize> {
        let n = capacity.min(self.items.n - self.copied);
        let size = self.items.arg_size;
        if size > 0 && n > 0 {
            // SAFETY: the caller's array holds `items.n` arguments; the ring
            // has room for `capacity >= n` of them at `args`; they do not overlap.
            unsafe { self.copy(args, self.items.args.0.add(self.copied * size), n * size, self.staged) };
        }
        self.copied += n;
        Ok(n)
    }

    fn sink(&mut self, _first: usize, results: *const u8, status: *const i32, n: usize) -> Result<()> {
        let rel = self.sunk;
        // SAFETY: the ring holds `n` statuses here (the driver's promise).
        let status = unsafe { std::slice::from_raw_parts(status, n) };
        let size = self.items.result_size;
        if size > 0 {
            let ran = |s: i32| s != ITEM_SKIPPED && s != ITEM_WORKER_DIED && s != ITEM_TIMED_OUT;
            if !self.header.statuses_marked() || status.iter().all(|&s| ran(s)) {
                // SAFETY: the ring holds `n` results at `results`; the
                // caller's array has slots for items `rel .. rel + n`.
                unsafe { self.copy(self.items.results.0.add(rel * size), results, n * size, self.streaming) };
            } else {
                for (i, &s) in status.iter().enumerate() {
                    if ran(s) {
                        // SAFETY: as above, one item.
                        unsafe { std::ptr::copy_nonoverlapping(results.add(i * size), self.items.results.0.add((rel + i) * size), size) };
                    }
                }
            }
        }
        if !self.status.is_null() {
            // SAFETY: `item_status` has `items.n` entries (the caller's promise).
            unsafe { std::ptr::copy_nonoverlapping(status.as_ptr(), self.status.0.add(rel), n) };
        }
        self.sunk += n;
        Ok(())
    }
}

impl MapIo<'_> {
    /// # Safety
    /// As `ptr::copy_nonoverlapping`.
    unsafe fn copy(&self, dst: *mut u8, src: *const u8, len: usize, streaming: bool) {
        match &self.copier {
            // SAFETY: the caller's promise; the copy is done when this returns.
            Some(c) => unsafe { c.copy(dst, src, len, streaming) },
            // SAFETY: the caller's promise.
            None => unsafe { copy::copy_bytes(dst, src, len, streaming) },
        }
    }

    /// Items never copied in (the map stopped first) did not run.
    fn skip_rest(&mut self) {
        if !self.status.is_null() {
            for rel in self.sunk..self.items.n {
                // SAFETY: `item_status` has `items.n` entries.
                unsafe { *self.status.0.add(rel) = ITEM_SKIPPED };
            }
        }
    }
}
