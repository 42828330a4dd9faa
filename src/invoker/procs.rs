//! The process backend: forked workers that share the model copy-on-write.
//!
//! At creation the parent forks a *zygote*: a single-threaded snapshot of
//! the process as it was then. The zygote forks the `n_jobs` workers, reaps
//! them, and forks replacements when one dies or retires, so every worker —
//! a replacement too — sees the model exactly as it was when the invoker was
//! made, and no worker is ever forked from a threaded process.
//!
//! A map copies the arguments into a shared arena (a memfd every process
//! maps), and runs in *rounds*: the parent writes the round's description
//! into a shared header and wakes each worker on its own futex word; workers
//! claim chunks from a shared counter (guided, as the threads backend), write
//! results and per-item statuses into the arena, and acknowledge through an
//! eventfd. No syscall is made per item. A worker that dies is reported by
//! the zygote with the item it was running (its slot says which); the items
//! it never reached stay pending and run in another round (keep-going mode)
//! or are skipped (fail-fast).

use std::ffi::c_void;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::job::{Items, ITEM_SKIPPED};
use super::{Core, ErrorMode, MapOptions, Task};
use crate::child::{self, Child, DeathWatch, Exit, Role};
use crate::error::{Error, Result};
use crate::seed;

/// An item's status while it has not run (and after, if it never does).
const PENDING: i32 = ITEM_SKIPPED;
/// The status of an item whose worker died while running it.
pub(crate) const ITEM_WORKER_DIED: i32 = i32::MIN + 1;
/// Exit code of a worker that retires on purpose (recycling).
const RETIRED: i32 = 77;
const NONE: u64 = u64::MAX;
/// Control frame from the zygote: `[k u32][old pid i32][wait status i32][new pid i32][retired u8]`.
const FRAME_WORKER_EXIT: u8 = 3;
/// Rounds a map may take before giving up on workers that keep vanishing.
const MAX_ROUNDS: usize = 64;

/// The shared header, in a MAP_SHARED mapping all processes of the pool inherit.
#[repr(C)]
struct Header {
    round_items: AtomicU64,
    use_list: AtomicU64,
    arg_size: AtomicU64,
    result_size: AtomicU64,
    index_base: AtomicU64,
    seed_base: AtomicU64,
    keep_going: AtomicU64,
    off_status: AtomicU64,
    off_args: AtomicU64,
    off_results: AtomicU64,
    off_list: AtomicU64,
    arena_gen: AtomicU64,
    arena_len: AtomicU64,
    next: AtomicU64,
    items_done: AtomicU64,
    stop: AtomicU32,
    quit: AtomicU32,
}

/// One worker's mailbox.
#[repr(C)]
struct Slot {
    /// Futex word: the round the parent last commanded on this slot.
    cmd_seq: AtomicU32,
    /// The process that command is for (a replacement ignores its predecessor's).
    cmd_pid: AtomicI32,
    ack_seq: AtomicU32,
    /// Written by the zygote: the worker's pid, 0 while there is none.
    pid: AtomicI32,
    /// The item being run, or NONE.
    running: AtomicU64,
    items_run: AtomicU64,
    /// Set by a worker about to retire; cleared by the zygote's replacement.
    retiring: AtomicU32,
}

impl Slot {
    /// Has a worker that will take commands (not gone, not retiring)?
    fn available(&self) -> bool {
        self.pid.load(Ordering::Acquire) > 0 && self.retiring.load(Ordering::Acquire) == 0
    }
}

/// The header and slots, shared by parent, zygote and workers.
struct Shared {
    ptr: *mut u8,
    len: usize,
    n_jobs: usize,
}

// The mapping is MAP_SHARED memory holding only atomics.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    fn new(n_jobs: usize) -> Result<Shared> {
        let len = std::mem::size_of::<Header>() + n_jobs * std::mem::size_of::<Slot>();
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0)
        };
        if p == libc::MAP_FAILED {
            return Err(Error::last_os("mmap of the process pool's shared header"));
        }
        // Zero-filled memory is a valid Header and Slots (all atomics at 0).
        let shared = Shared { ptr: p.cast(), len, n_jobs };
        for s in shared.slots() {
            s.running.store(NONE, Ordering::Relaxed);
        }
        Ok(shared)
    }
    fn header(&self) -> &Header {
        unsafe { &*(self.ptr as *const Header) }
    }
    fn slots(&self) -> &[Slot] {
        unsafe {
            std::slice::from_raw_parts(self.ptr.add(std::mem::size_of::<Header>()) as *const Slot, self.n_jobs)
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|t| libc::timespec { tv_sec: t.as_secs() as libc::time_t, tv_nsec: t.subsec_nanos() as _ });
    let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, tsp) };
}

fn futex_wake(word: &AtomicU32) {
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
}

/// A process's view of the arena memfd.
struct ArenaMap {
    fd: RawFd,
    ptr: *mut u8,
    len: usize,
    gen: u64,
}

// An owned mapping, used by one thread at a time (under the pool's lock).
unsafe impl Send for ArenaMap {}

impl ArenaMap {
    /// Map (again) at `len` bytes.
    fn remap(&mut self, len: usize, gen: u64) -> Result<()> {
        if !self.ptr.is_null() {
            unsafe { libc::munmap(self.ptr.cast(), self.len) };
            self.ptr = std::ptr::null_mut();
            self.len = 0;
        }
        if len > 0 {
            let p = unsafe {
                libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, self.fd, 0)
            };
            if p == libc::MAP_FAILED {
                return Err(Error::last_os("mmap of the process pool's arena"));
            }
            self.ptr = p.cast();
            self.len = len;
        }
        self.gen = gen;
        Ok(())
    }

    fn at<T>(&self, off: u64) -> *mut T {
        unsafe { self.ptr.add(off as usize).cast() }
    }
}

impl Drop for ArenaMap {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            unsafe { libc::munmap(self.ptr.cast(), self.len) };
        }
    }
}

/// Everything a worker process needs, captured before the zygote forks.
#[derive(Clone, Copy)]
struct WorkerSpec {
    events: RawFd,
    arena: RawFd,
    recycle_after_items: u64,
    recycle_above_rss: u64,
}

pub struct ProcPool {
    shared: Arc<Shared>,
    state: Mutex<ParentState>,
}

struct ParentState {
    zygote: Option<Child>,
    broken: Option<String>,
    lifeline: Option<OwnedFd>,
    events: OwnedFd,
    arena_fd: OwnedFd,
    arena: ArenaMap,
    seq: u32,
}

/// Why a worker left during a round.
struct Departure {
    worker: usize,
    pid: i32,
    exit: Exit,
    item: Option<u64>,
}

impl ProcPool {
    pub fn new(core: &Arc<Core>) -> Result<ProcPool> {
        let n_jobs = core.opts.n_jobs;
        let shared = Arc::new(Shared::new(n_jobs)?);
        let events = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if events < 0 {
            return Err(Error::last_os("eventfd"));
        }
        let events = unsafe { OwnedFd::from_raw_fd(events) };
        let arena = unsafe { libc::memfd_create(c"lk-pool-arena".as_ptr(), libc::MFD_CLOEXEC) };
        if arena < 0 {
            return Err(Error::last_os("memfd_create"));
        }
        let arena_fd = unsafe { OwnedFd::from_raw_fd(arena) };
        let (ctrl_rd, ctrl_wr) = child::pipe_cloexec()?;
        let (life_rd, life_wr) = child::pipe_cloexec()?;
        child::keep_from_children(life_wr.as_raw_fd());

        let spec = WorkerSpec {
            events: events.as_raw_fd(),
            arena: arena_fd.as_raw_fd(),
            recycle_after_items: core.opts.recycle_after_items,
            recycle_above_rss: core.opts.recycle_above_rss,
        };
        let ctrl_fd = ctrl_wr.as_raw_fd();
        let life_fd = life_rd.as_raw_fd();
        let zshared = shared.clone();
        let zcore = core.clone();
        let ctrl_rd_fd = ctrl_rd.as_raw_fd();
        let pid = child::fork_child(Role::PoolWorker, DeathWatch::Lifeline, ctrl_fd, move || {
            unsafe { libc::close(ctrl_rd_fd) };
            zygote_main(&zshared, &zcore, spec, life_fd, ctrl_fd)
        });
        drop(life_rd);
        drop(ctrl_wr);
        let pid = match pid {
            Ok(pid) => pid,
            Err(e) => {
                child::release_from_children(life_wr.as_raw_fd());
                return Err(e);
            }
        };
        let arena = ArenaMap { fd: arena_fd.as_raw_fd(), ptr: std::ptr::null_mut(), len: 0, gen: 0 };
        let state = ParentState {
            zygote: Some(Child::adopt(pid, ctrl_rd)),
            broken: None,
            lifeline: Some(life_wr),
            events,
            arena_fd,
            arena,
            seq: 0,
        };
        log::debug!(target: "lkparallel", "process pool: zygote {pid} forks {n_jobs} workers");
        Ok(ProcPool { shared, state: Mutex::new(state) })
    }

    /// Run one map. Maps on one process pool take turns.
    pub fn map(&self, core: &Core, items: Items, mopts: &MapOptions, seed_base: u64, epoch: u64) -> Result<()> {
        let mut st = self.state.lock();
        if let Some(why) = &st.broken {
            return Err(Error::WorkerDied(why.clone()));
        }
        let n = items.n;
        let layout = Layout::new(n, items.arg_size, items.result_size)?;
        st.ensure_arena(self.shared.header(), layout.total)?;
        let h = self.shared.header();
        let arena = &st.arena;
        let status: *mut i32 = arena.at(layout.status);
        unsafe {
            std::slice::from_raw_parts_mut(status, n).fill(PENDING);
            if items.arg_size > 0 {
                std::ptr::copy_nonoverlapping(items.args.0, arena.at(layout.args), n * items.arg_size);
            }
        }
        h.arg_size.store(items.arg_size as u64, Ordering::Relaxed);
        h.result_size.store(items.result_size as u64, Ordering::Relaxed);
        h.index_base.store(mopts.index_base as u64, Ordering::Relaxed);
        h.seed_base.store(seed_base, Ordering::Relaxed);
        h.keep_going.store(u64::from(core.opts.error_mode == ErrorMode::KeepGoing), Ordering::Relaxed);
        h.off_status.store(layout.status, Ordering::Relaxed);
        h.off_args.store(layout.args, Ordering::Relaxed);
        h.off_results.store(layout.results, Ordering::Relaxed);
        h.off_list.store(layout.list, Ordering::Relaxed);
        h.items_done.store(0, Ordering::Relaxed);
        h.stop.store(0, Ordering::Relaxed);

        let mut reporter = core.opts.progress.map(|p| (p, Instant::now()));
        let mut departures: Vec<Departure> = Vec::new();
        let mut cancelled = false;
        let mut pending: Option<Vec<u64>> = None;
        for round in 0.. {
            if round >= MAX_ROUNDS {
                st.broken = None;
                return Err(Error::WorkerDied(format!("workers kept dying: gave up after {MAX_ROUNDS} rounds")));
            }
            match &pending {
                None => {
                    h.use_list.store(0, Ordering::Relaxed);
                    h.round_items.store(n as u64, Ordering::Relaxed);
                }
                Some(list) => {
                    let dst: *mut u64 = st.arena.at(layout.list);
                    unsafe { std::ptr::copy_nonoverlapping(list.as_ptr(), dst, list.len()) };
                    h.use_list.store(1, Ordering::Relaxed);
                    h.round_items.store(list.len() as u64, Ordering::Relaxed);
                }
            }
            h.next.store(0, Ordering::Relaxed);
            st.run_round(&self.shared, core, epoch, &mut departures, &mut cancelled, &mut reporter, n)?;
            let stopped = h.stop.load(Ordering::Acquire) != 0;
            if stopped || cancelled {
                break;
            }
            let status = unsafe { std::slice::from_raw_parts(st.arena.at::<i32>(layout.status), n) };
            let left: Vec<u64> = (0..n as u64).filter(|&i| status[i as usize] == PENDING).collect();
            if left.is_empty() {
                break;
            }
            pending = Some(left);
        }

        // Results and statuses back to the caller.
        let status = unsafe { std::slice::from_raw_parts(st.arena.at::<i32>(layout.status), n) };
        if items.result_size > 0 {
            let src: *const u8 = st.arena.at(layout.results);
            let sz = items.result_size;
            if status.iter().all(|&s| s != PENDING && s != ITEM_WORKER_DIED) {
                unsafe { std::ptr::copy_nonoverlapping(src, items.results.0, n * sz) };
            } else {
                for (i, &s) in status.iter().enumerate() {
                    if s != PENDING && s != ITEM_WORKER_DIED {
                        unsafe { std::ptr::copy_nonoverlapping(src.add(i * sz), items.results.0.add(i * sz), sz) };
                    }
                }
            }
        }
        if !mopts.item_status.is_null() {
            unsafe { std::ptr::copy_nonoverlapping(status.as_ptr(), mopts.item_status.0, n) };
        }
        // As with threads: at the end every item is finished (run or skipped).
        if let Some(((progress, user), _)) = reporter {
            unsafe { progress(n, n, user.0) };
        }
        outcome(status, &departures, cancelled, mopts.index_base)
    }
}

/// Where a map's arrays live in the arena.
struct Layout {
    status: u64,
    args: u64,
    results: u64,
    list: u64,
    total: usize,
}

impl Layout {
    fn new(n: usize, arg_size: usize, result_size: usize) -> Result<Layout> {
        let align = |x: usize| x.checked_add(63).map(|v| v & !63);
        let overflow = || Error::invalid("the map is too large for the process backend's shared arena");
        let status = 0usize;
        let args = align(n.checked_mul(4).ok_or_else(overflow)?).ok_or_else(overflow)?;
        let results = align(args + n.checked_mul(arg_size).ok_or_else(overflow)?).ok_or_else(overflow)?;
        let list = align(results + n.checked_mul(result_size).ok_or_else(overflow)?).ok_or_else(overflow)?;
        let total = list.checked_add(n.checked_mul(8).ok_or_else(overflow)?).ok_or_else(overflow)?;
        Ok(Layout { status: status as u64, args: args as u64, results: results as u64, list: list as u64, total })
    }
}

fn outcome(status: &[i32], departures: &[Departure], cancelled: bool, index_base: usize) -> Result<()> {
    if let Some(d) = departures.iter().find(|d| d.item.is_some()) {
        let item = d.item.unwrap() as usize;
        return Err(Error::WorkerDied(format!(
            "worker {} (pid {}) died with {} while running item {}; it was replaced",
            d.worker,
            d.pid,
            d.exit.describe(),
            index_base.wrapping_add(item)
        )));
    }
    let mut failed = status.iter().enumerate().filter(|(_, &s)| s != 0 && s != PENDING);
    if let Some((i, &code)) = failed.next() {
        return Err(Error::Callback { index: index_base.wrapping_add(i), code, failed: 1 + failed.count() });
    }
    if cancelled {
        return Err(Error::Cancelled);
    }
    if let Some(d) = departures.iter().find(|d| d.exit != Exit::Code(RETIRED)) {
        // Died between items: nothing was lost, but say so.
        log::warn!(target: "lkparallel", "worker {} (pid {}) died with {} between items", d.worker, d.pid, d.exit.describe());
    }
    Ok(())
}

impl ParentState {
    fn ensure_arena(&mut self, h: &Header, need: usize) -> Result<()> {
        if need <= self.arena.len {
            return Ok(());
        }
        let len = need.max(self.arena.len * 2).max(1 << 16);
        if unsafe { libc::ftruncate(self.arena_fd.as_raw_fd(), len as libc::off_t) } != 0 {
            return Err(Error::last_os("growing the process pool's arena"));
        }
        let gen = self.arena.gen + 1;
        self.arena.remap(len, gen)?;
        h.arena_len.store(len as u64, Ordering::Relaxed);
        h.arena_gen.store(gen, Ordering::Release);
        Ok(())
    }

    /// Command every live worker to run the current round and wait until
    /// each has acknowledged or left.
    #[allow(clippy::too_many_arguments)]
    fn run_round(
        &mut self,
        shared: &Shared,
        core: &Core,
        epoch: u64,
        departures: &mut Vec<Departure>,
        cancelled: &mut bool,
        reporter: &mut Option<((super::ProgressFn, crate::util::SendPtr<c_void>), Instant)>,
        n: usize,
    ) -> Result<()> {
        let h = shared.header();
        let slots = shared.slots();
        self.await_workers(slots)?;
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        // (worker, pid) still owed an acknowledgement.
        let mut awaited: Vec<(usize, i32)> = Vec::new();
        for (k, s) in slots.iter().enumerate() {
            let pid = s.pid.load(Ordering::Acquire);
            if s.available() {
                s.cmd_pid.store(pid, Ordering::Relaxed);
                s.cmd_seq.store(seq, Ordering::Release);
                futex_wake(&s.cmd_seq);
                awaited.push((k, pid));
            }
        }
        let keep_going = h.keep_going.load(Ordering::Relaxed) != 0;
        let status_off = h.off_status.load(Ordering::Relaxed);
        loop {
            awaited.retain(|&(k, pid)| !(slots[k].ack_seq.load(Ordering::Acquire) == seq && slots[k].cmd_pid.load(Ordering::Relaxed) == pid));
            if awaited.is_empty() {
                // Records logged before the acknowledgements are in the pipe:
                // deliver them before the map returns.
                if let Some(z) = self.zygote.as_mut() {
                    z.wait_event(None, Duration::ZERO, &mut |_, _| {});
                }
                break;
            }
            let zygote = self.zygote.as_mut().expect("zygote");
            let mut exits: Vec<(usize, i32, i32, bool)> = Vec::new();
            let mut on_frame = |kind: u8, body: &[u8]| {
                if kind == FRAME_WORKER_EXIT && body.len() == 17 {
                    let k = u32::from_le_bytes(body[0..4].try_into().unwrap()) as usize;
                    let old = i32::from_le_bytes(body[4..8].try_into().unwrap());
                    let status = i32::from_le_bytes(body[8..12].try_into().unwrap());
                    exits.push((k, old, status, body[16] != 0));
                }
            };
            let ended = zygote.wait_event(Some(self.events.as_raw_fd()), Duration::from_millis(10), &mut on_frame);
            let mut drain = [0u8; 8];
            unsafe { libc::read(self.events.as_raw_fd(), drain.as_mut_ptr().cast(), 8) };
            for (k, old, wstatus, _retired) in exits {
                let exit = if libc::WIFSIGNALED(wstatus) {
                    Exit::Signal(libc::WTERMSIG(wstatus))
                } else {
                    Exit::Code(libc::WEXITSTATUS(wstatus))
                };
                if let Some(pos) = awaited.iter().position(|&(kk, pid)| kk == k && pid == old) {
                    awaited.swap_remove(pos);
                    let running = slots[k].running.load(Ordering::Acquire);
                    let mut item = None;
                    if running != NONE && (running as usize) < n {
                        let st: *mut i32 = self.arena.at(status_off);
                        let st = unsafe { &mut *st.add(running as usize) };
                        if *st == PENDING {
                            *st = ITEM_WORKER_DIED;
                            item = Some(running);
                        }
                    }
                    if item.is_some() && !keep_going {
                        h.stop.store(1, Ordering::Release);
                    }
                    log::warn!(target: "lkparallel", "worker {k} (pid {old}) ended with {}; replaced", exit.describe());
                    departures.push(Departure { worker: k, pid: old, exit, item });
                }
            }
            if let Some(exit) = ended {
                let why = format!("the process pool's zygote ended with {}; the invoker cannot run maps", exit.describe());
                self.zygote = None;
                self.broken = Some(why.clone());
                return Err(Error::WorkerDied(why));
            }
            if !*cancelled && core.cancelled_since(epoch) {
                *cancelled = true;
                h.stop.store(1, Ordering::Release);
            }
            if let Some(((progress, user), last)) = reporter {
                if last.elapsed() >= Duration::from_millis(250) {
                    unsafe { progress(h.items_done.load(Ordering::Acquire).min(n as u64) as usize, n, user.0) };
                    *last = Instant::now();
                }
            }
        }
        Ok(())
    }

    /// Before a round: wait (briefly) until every slot has a worker, so the
    /// first map does not run on fewer workers than asked for.
    fn await_workers(&mut self, slots: &[Slot]) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let live = slots.iter().filter(|s| s.available()).count();
            if live == slots.len() || (live > 0 && Instant::now() >= deadline) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::System("no worker process could be started".into()));
            }
            let zygote = self.zygote.as_mut().expect("zygote");
            if let Some(exit) = zygote.wait_event(None, Duration::from_millis(1), &mut |_, _| {}) {
                let why = format!("the process pool's zygote ended with {}", exit.describe());
                self.zygote = None;
                self.broken = Some(why.clone());
                return Err(Error::WorkerDied(why));
            }
        }
    }
}

impl Drop for ProcPool {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        // Closing the lifeline tells the zygote to stop its workers and exit.
        if let Some(life) = st.lifeline.take() {
            child::release_from_children(life.as_raw_fd());
        }
        if let Some(mut z) = st.zygote.take() {
            let mut ignore = |_: u8, _: &[u8]| {};
            if let child::Pumped::DeadlinePassed = z.pump(Some(Instant::now() + Duration::from_secs(5)), &mut ignore) {
                z.terminate(Duration::from_millis(200), &mut ignore);
            }
        }
    }
}

// ---------------- the zygote ----------------

fn zygote_main(shared: &Shared, core: &Arc<Core>, spec: WorkerSpec, lifeline: RawFd, ctrl: RawFd) -> i32 {
    // The zygote reaps its workers itself, even if the host ignores SIGCHLD.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    let n = shared.n_jobs;
    let slots = shared.slots();
    let mut pidfds: Vec<Option<OwnedFd>> = (0..n).map(|_| None).collect();
    let mut started: Vec<Instant> = vec![Instant::now(); n];
    let mut backoff: Vec<Duration> = vec![Duration::ZERO; n];
    let spawn = |k: usize, pidfds: &mut Vec<Option<OwnedFd>>, started: &mut Vec<Instant>| {
        let c = core.clone();
        // A fresh worker: its predecessor's counters are not its own.
        slots[k].items_run.store(0, Ordering::Relaxed);
        slots[k].retiring.store(0, Ordering::Release);
        match child::fork_child(Role::PoolWorker, DeathWatch::ForkingThread, ctrl, move || worker_main(shared, &c, k, spec)) {
            Ok(pid) => {
                slots[k].pid.store(pid, Ordering::Release);
                pidfds[k] = child::pidfd_open(pid);
                started[k] = Instant::now();
                pid
            }
            Err(e) => {
                log::error!(target: "lkparallel", "cannot start worker {k}: {e}");
                0
            }
        }
    };
    for k in 0..n {
        spawn(k, &mut pidfds, &mut started);
    }
    let side = child::ChildSide { ctrl };
    // Besides the lifeline, watch the parent process itself: a lifeline can
    // outlive it in a child the host forked without lkparallel seeing.
    let parent_pid = unsafe { libc::getppid() };
    let parent = child::pidfd_open(parent_pid);
    loop {
        let mut fds = vec![libc::pollfd { fd: lifeline, events: libc::POLLIN, revents: 0 }];
        if let Some(p) = &parent {
            fds.push(libc::pollfd { fd: p.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        let watched = fds.len();
        fds.extend(pidfds.iter().flatten().map(|p| libc::pollfd { fd: p.as_raw_fd(), events: libc::POLLIN, revents: 0 }));
        let have_all_pidfds = pidfds.iter().all(|p| p.is_some());
        let timeout = if have_all_pidfds { -1 } else { 50 };
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if fds[..watched].iter().any(|f| f.revents != 0) || unsafe { libc::getppid() } != parent_pid {
            break;
        }
        loop {
            let mut wstatus = 0;
            let pid = unsafe { libc::waitpid(-1, &mut wstatus, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            let Some(k) = slots.iter().position(|s| s.pid.load(Ordering::Acquire) == pid) else { continue };
            slots[k].pid.store(0, Ordering::Release);
            pidfds[k] = None;
            let retired = libc::WIFEXITED(wstatus) && libc::WEXITSTATUS(wstatus) == RETIRED;
            // A worker that dies young again and again is restarted ever more slowly.
            backoff[k] = if !retired && started[k].elapsed() < Duration::from_millis(100) {
                (backoff[k] * 2).clamp(Duration::from_millis(10), Duration::from_secs(1))
            } else {
                Duration::ZERO
            };
            if !backoff[k].is_zero() {
                std::thread::sleep(backoff[k]);
            }
            let new_pid = spawn(k, &mut pidfds, &mut started);
            let mut body = [0u8; 17];
            body[0..4].copy_from_slice(&(k as u32).to_le_bytes());
            body[4..8].copy_from_slice(&pid.to_le_bytes());
            body[8..12].copy_from_slice(&wstatus.to_le_bytes());
            body[12..16].copy_from_slice(&new_pid.to_le_bytes());
            body[16] = u8::from(retired);
            side.send(FRAME_WORKER_EXIT, &body);
        }
    }
    // The parent is gone or shutting the pool down: stop the workers.
    let h = shared.header();
    h.quit.store(1, Ordering::Release);
    h.stop.store(1, Ordering::Release);
    for s in slots {
        s.cmd_seq.fetch_add(1, Ordering::AcqRel);
        futex_wake(&s.cmd_seq);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let mut wstatus = 0;
        let pid = unsafe { libc::waitpid(-1, &mut wstatus, libc::WNOHANG) };
        if pid < 0 {
            break; // no children left
        }
        if pid == 0 {
            if Instant::now() >= deadline {
                for s in slots {
                    let p = s.pid.load(Ordering::Acquire);
                    if p > 0 {
                        unsafe { libc::kill(p, libc::SIGKILL) };
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    0
}

// ---------------- a worker ----------------

fn rss_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn worker_main(shared: &Shared, core: &Core, k: usize, spec: WorkerSpec) -> i32 {
    let me = unsafe { libc::getpid() };
    let h = shared.header();
    let slot = &shared.slots()[k];
    core.ensure_worker_init(k as u32);
    let mut arena = ArenaMap { fd: spec.arena, ptr: std::ptr::null_mut(), len: 0, gen: 0 };
    loop {
        let seq = slot.cmd_seq.load(Ordering::Acquire);
        if h.quit.load(Ordering::Acquire) != 0 {
            return 0;
        }
        if seq != slot.ack_seq.load(Ordering::Relaxed) && slot.cmd_pid.load(Ordering::Relaxed) == me {
            let gen = h.arena_gen.load(Ordering::Acquire);
            if gen != arena.gen {
                if let Err(e) = arena.remap(h.arena_len.load(Ordering::Relaxed) as usize, gen) {
                    log::error!(target: "lkparallel", "worker {k}: {e}");
                    return 71;
                }
            }
            let retire = run_round(h, slot, core, k as u32, &arena, &spec);
            if retire {
                // Announce it before the acknowledgement, so the parent sends
                // the next round to the replacement, not to this process.
                slot.retiring.store(1, Ordering::Release);
            }
            slot.ack_seq.store(seq, Ordering::Release);
            let one: u64 = 1;
            unsafe { libc::write(spec.events, (&one as *const u64).cast(), 8) };
            if retire {
                let items = slot.items_run.load(Ordering::Relaxed);
                log::debug!(target: "lkparallel", "worker {k} retires after {items} items");
                return RETIRED;
            }
            continue;
        }
        futex_wait(&slot.cmd_seq, seq, None);
    }
}

/// Has this worker reached a recycling limit?
fn should_retire(slot: &Slot, spec: &WorkerSpec) -> bool {
    (spec.recycle_after_items > 0 && slot.items_run.load(Ordering::Relaxed) >= spec.recycle_after_items)
        || (spec.recycle_above_rss > 0 && rss_bytes() > spec.recycle_above_rss)
}

/// Run this worker's share of a round. Returns true when the worker must
/// retire: it stops between items, and what it claimed but did not run stays
/// pending for the next round.
fn run_round(h: &Header, slot: &Slot, core: &Core, worker: u32, arena: &ArenaMap, spec: &WorkerSpec) -> bool {
    let m = h.round_items.load(Ordering::Relaxed);
    let use_list = h.use_list.load(Ordering::Relaxed) != 0;
    let arg_size = h.arg_size.load(Ordering::Relaxed) as usize;
    let result_size = h.result_size.load(Ordering::Relaxed) as usize;
    let index_base = h.index_base.load(Ordering::Relaxed) as usize;
    let seed_base = h.seed_base.load(Ordering::Relaxed);
    let keep_going = h.keep_going.load(Ordering::Relaxed) != 0;
    let status: *mut i32 = arena.at(h.off_status.load(Ordering::Relaxed));
    let args: *const u8 = arena.at(h.off_args.load(Ordering::Relaxed));
    let results: *mut u8 = arena.at(h.off_results.load(Ordering::Relaxed));
    let list: *const u64 = arena.at(h.off_list.load(Ordering::Relaxed));
    let spread = 2 * core.opts.n_jobs as u64;
    'claims: loop {
        let mut cur = h.next.load(Ordering::Relaxed);
        let range = loop {
            if cur >= m {
                break 'claims;
            }
            let size = ((m - cur) / spread).max(1);
            match h.next.compare_exchange_weak(cur, cur + size, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break cur..cur + size,
                Err(now) => cur = now,
            }
        };
        let mut ran = 0;
        for p in range {
            if h.stop.load(Ordering::Relaxed) != 0 {
                h.items_done.fetch_add(ran, Ordering::Relaxed);
                return should_retire(slot, spec);
            }
            let i = if use_list { unsafe { *list.add(p as usize) } } else { p } as usize;
            slot.running.store(i as u64, Ordering::Release);
            let index = index_base.wrapping_add(i);
            let seed = if core.opts.item_seeds { seed::derive(seed_base, index as u64) } else { 0 };
            let task = Task { index, seed, worker };
            let arg = if arg_size == 0 { std::ptr::null() } else { unsafe { args.add(i * arg_size) } };
            let result = if result_size == 0 { std::ptr::null_mut() } else { unsafe { results.add(i * result_size) } };
            let code = unsafe { core.op.call(arg, result, &task) };
            unsafe { *status.add(i) = code };
            slot.running.store(NONE, Ordering::Release);
            slot.items_run.fetch_add(1, Ordering::Relaxed);
            ran += 1;
            if code != 0 && !keep_going {
                h.stop.store(1, Ordering::Release);
            }
            if should_retire(slot, spec) {
                h.items_done.fetch_add(ran, Ordering::Relaxed);
                return true;
            }
        }
        h.items_done.fetch_add(ran, Ordering::Relaxed);
    }
    should_retire(slot, spec)
}
