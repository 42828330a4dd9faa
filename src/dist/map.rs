//! One distributed map: check, arguments, compute, outcome, results.
//! (The protocol is described in `dist/mod.rs`.)

use std::ops::Range;
use std::time::{Duration, Instant};

use super::logs::{self, Capture};
use super::{Dist, ResultsAt, Schedule};
use crate::error::{Error, Result};
use crate::invoker::{ErrorMode, Invoker, Items, MapOptions};
use crate::util::SendPtr;

/// The per-item status of an item that never ran (as `invoker::job::ITEM_SKIPPED`).
const ITEM_SKIPPED: i32 = i32::MIN;
/// What one stop signal adds to the shared counter; claims stay below it.
pub(super) const STOP_UNIT: u64 = 1 << 40;
/// DYNAMIC maps at most this many items (claims plus overshoot stay below `STOP_UNIT`).
const DYNAMIC_MAX_ITEMS: usize = 1 << 39;
/// CYCLIC and DYNAMIC aim at this many chunks per rank: enough to balance a
/// skewed cost within a few percent, few enough to keep per-chunk costs small.
const CHUNKS_PER_RANK: usize = 64;
/// ... and at least this many items per worker thread in a chunk, so a
/// rank's threads do not idle at every chunk's end.
const MIN_CHUNK_PER_THREAD: usize = 4;
/// CYCLIC looks for a stop signal from other ranks at most this often.
const POLL_INTERVAL: Duration = Duration::from_millis(1);

const CHECK_MAGIC: u64 = u64::from_le_bytes(*b"lkdmap01");
// Fields of the check record, in the order mismatches are reported.
const C_MAGIC: usize = 0;
const C_N: usize = 1;
const C_ARG_SIZE: usize = 2;
const C_RESULT_SIZE: usize = 3;
const C_INDEX_BASE: usize = 4;
const C_SCHEDULE: usize = 5;
const C_RESULTS_AT: usize = 6;
const C_ARGS_AT_ROOT: usize = 7;
const C_ITEM_STATUS: usize = 8;
const C_ORDINAL: usize = 9;
const C_PROBLEM: usize = 10; // this rank's local problem, 0 if none
const C_COUNTER: usize = 11; // rank 0: the shared counter's value at the start
const C_LOG_MAX: usize = 12; // rank 0: the level its records are wanted at
const CHECK_LEN: usize = 13;
const COMPARED: [(usize, &str); 9] = [
    (C_N, "n_args"),
    (C_ARG_SIZE, "arg_size"),
    (C_RESULT_SIZE, "result_size"),
    (C_INDEX_BASE, "index_base"),
    (C_SCHEDULE, "schedule"),
    (C_RESULTS_AT, "results_at"),
    (C_ARGS_AT_ROOT, "args_at_root"),
    (C_ITEM_STATUS, "item_status (NULL or not)"),
    (C_ORDINAL, "map count on this invoker"),
];
const PROBLEM_ARGUMENTS: u64 = 1;
const PROBLEM_MEMORY: u64 = 2;
const PROBLEM_DYNAMIC_SIZE: u64 = 3;

// Fields of the outcome record.
const O_FLAGS: usize = 0;
const O_INDEX: usize = 1; // lowest failing index, relative to index_base
const O_CODE: usize = 2;
const O_FAILED: usize = 3;
const O_ERROR_KIND: usize = 4;
const O_ERROR_LEN: usize = 5;
const O_LOG_BYTES: usize = 6;
const O_CLAIMED: usize = 7;
const OUTCOME_LEN: usize = 8;
const FLAG_CALLBACK: u64 = 1;
const FLAG_CANCELLED: u64 = 2;
const FLAG_ERROR: u64 = 4;

/// How the items are cut up, the same on every rank.
struct Plan {
    n: usize,
    size: usize,
    rank: usize,
    schedule: Schedule,
    /// Items per chunk (CYCLIC, DYNAMIC).
    chunk: usize,
}

impl Plan {
    fn new(n: usize, size: usize, rank: usize, schedule: Schedule, max_threads: usize) -> Plan {
        let chunk = n.div_ceil(size * CHUNKS_PER_RANK).max(MIN_CHUNK_PER_THREAD * max_threads).clamp(1, n.max(1));
        Plan { n, size, rank, schedule, chunk }
    }

    fn block(&self, r: usize) -> Range<usize> {
        let at = |r: usize| ((self.n as u128 * r as u128) / self.size as u128) as usize;
        at(r)..at(r + 1)
    }

    fn n_chunks(&self) -> usize {
        self.n.div_ceil(self.chunk)
    }

    fn chunk_range(&self, j: usize) -> Range<usize> {
        j * self.chunk..((j + 1) * self.chunk).min(self.n)
    }

    /// CYCLIC: this rank's chunks, in order.
    fn my_cyclic_chunks(&self) -> impl Iterator<Item = usize> {
        (self.rank..self.n_chunks()).step_by(self.size)
    }

    /// Items of this rank's arguments when only rank 0 has them.
    fn my_arg_items(&self) -> usize {
        match self.schedule {
            Schedule::Block => self.block(self.rank).len(),
            Schedule::Cyclic => self.my_cyclic_chunks().map(|j| self.chunk_range(j).len()).sum(),
            Schedule::Dynamic => self.n,
        }
    }

    /// The rounds of an exchange in place: at most one contiguous part per
    /// rank each. `owners[j]` is chunk j's rank (DYNAMIC).
    fn rounds(&self, owners: Option<&[Option<usize>]>) -> Vec<Parts> {
        match self.schedule {
            Schedule::Block => {
                let mut p = Parts::new(self.size);
                for r in 0..self.size {
                    let b = self.block(r);
                    p.set(r, b.start, b.len());
                }
                vec![p]
            }
            Schedule::Cyclic => (0..self.n_chunks())
                .step_by(self.size)
                .map(|first| {
                    let mut p = Parts::new(self.size);
                    for r in 0..self.size {
                        if first + r < self.n_chunks() {
                            let c = self.chunk_range(first + r);
                            p.set(r, c.start, c.len());
                        }
                    }
                    p
                })
                .collect(),
            Schedule::Dynamic => {
                let owners = owners.expect("DYNAMIC rounds need the owners");
                let mut rounds = Vec::new();
                let mut cur = Parts::new(self.size);
                for (j, owner) in owners.iter().enumerate() {
                    let Some(r) = *owner else { continue };
                    let c = self.chunk_range(j);
                    if cur.counts[r] == 0 {
                        cur.set(r, c.start, c.len());
                    } else if cur.displs[r] + cur.counts[r] == c.start {
                        cur.counts[r] += c.len();
                    } else {
                        rounds.push(std::mem::replace(&mut cur, Parts::new(self.size)));
                        cur.set(r, c.start, c.len());
                    }
                }
                rounds.push(cur);
                rounds
            }
        }
    }
}

/// One collective's parts: rank r's is `counts[r]` items at item `displs[r]`.
struct Parts {
    counts: Vec<usize>,
    displs: Vec<usize>,
}

impl Parts {
    fn new(size: usize) -> Parts {
        Parts { counts: vec![0; size], displs: vec![0; size] }
    }
    fn set(&mut self, r: usize, start: usize, len: usize) {
        self.displs[r] = if len == 0 { 0 } else { start };
        self.counts[r] = len;
    }
    fn is_empty(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }
}

/// What this rank's compute phase came to.
#[derive(Default)]
struct Local {
    /// Lowest failing item (relative to index_base) and its code.
    failure: Option<(usize, i32)>,
    failed: u64,
    cancelled: bool,
    error: Option<Error>,
    stopped: bool,
    signalled: bool,
    /// DYNAMIC: the chunks this rank claimed (and ran).
    claimed: Vec<u64>,
}

/// The map, on the calling thread, holding the communicator.
pub(super) fn run(dist: &Dist, inv: &Invoker, items: Result<Items>, mopts: Result<&MapOptions>) -> Result<()> {
    let comm = &*dist.comm;
    let (rank, size) = (comm.rank(), comm.size());
    let core = &inv.core;

    // 1. The check. Local problems travel with it, so all ranks fail together.
    let mut problem: Option<(u64, Error)> = None;
    let defaults = MapOptions::default();
    let (items, mopts) = match (items, mopts) {
        (Ok(i), Ok(m)) => (i, m),
        (Err(e), _) | (_, Err(e)) => {
            problem = Some((PROBLEM_ARGUMENTS, e));
            (Items { args: SendPtr::null(), arg_size: 0, results: SendPtr::null(), result_size: 0, n: 0 }, &defaults)
        }
    };
    let plan = Plan::new(items.n, size, rank, mopts.schedule, dist.max_threads);
    if problem.is_none() && mopts.schedule == Schedule::Dynamic && items.n > DYNAMIC_MAX_ITEMS {
        problem = Some((PROBLEM_DYNAMIC_SIZE, Error::invalid(format!("LK_SCHEDULE_DYNAMIC maps at most {DYNAMIC_MAX_ITEMS} items; map in pieces with index_base"))));
    }
    // Room for this rank's share of the arguments when only rank 0 has them.
    let mut arg_room: Vec<u8> = Vec::new();
    if problem.is_none() && mopts.args_at_root && rank != 0 && size > 1 && items.arg_size > 0 && items.n > 0 {
        let bytes = plan.my_arg_items().checked_mul(items.arg_size);
        if bytes.map_or(true, |b| arg_room.try_reserve_exact(b).is_err()) {
            problem = Some((PROBLEM_MEMORY, Error::System("cannot allocate room for this rank's arguments".into())));
        } else {
            arg_room.resize(bytes.unwrap(), 0);
        }
    }
    // The shared counter: claims (DYNAMIC) and stop signals (every schedule).
    let counter = dist.all_fetch_add;
    let mut record = [0u64; CHECK_LEN];
    record[C_MAGIC] = CHECK_MAGIC;
    record[C_N] = items.n as u64;
    record[C_ARG_SIZE] = items.arg_size as u64;
    record[C_RESULT_SIZE] = items.result_size as u64;
    record[C_INDEX_BASE] = mopts.index_base as u64;
    record[C_SCHEDULE] = mopts.schedule as u64;
    record[C_RESULTS_AT] = mopts.results_at as u64;
    record[C_ARGS_AT_ROOT] = u64::from(mopts.args_at_root);
    record[C_ITEM_STATUS] = u64::from(!mopts.item_status.is_null());
    record[C_ORDINAL] = core.maps.load(std::sync::atomic::Ordering::Acquire);
    record[C_PROBLEM] = problem.as_ref().map_or(0, |p| p.0);
    if rank == 0 {
        record[C_LOG_MAX] = crate::logging::max_for_child() as u64;
        if counter && problem.is_none() {
            record[C_COUNTER] = comm.fetch_add(0)?;
        }
    }
    let all = comm.allgather_u64(&record)?;
    check(&all, rank, problem.map(|p| p.1))?;
    if items.n == 0 {
        return Ok(());
    }
    if mopts.schedule == Schedule::Dynamic && !dist.all_fetch_add {
        return Err(Error::Unsupported("LK_SCHEDULE_DYNAMIC needs a communicator with fetch_add on every rank".into()));
    }

    // Same on every rank: the map's ordinal, so seeds are a single-process map's.
    let ordinal = core.maps.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    let epoch = core.cancel_epoch();
    let base = all[0][C_COUNTER];
    let log_max = filter_from(all[0][C_LOG_MAX]);
    let capture = (rank != 0).then(|| Capture::start(log_max, core.id));

    // 2. Arguments from rank 0.
    let args_here = !(mopts.args_at_root && rank != 0 && size > 1) || items.arg_size == 0;
    if mopts.args_at_root && size > 1 && items.arg_size > 0 {
        scatter_args(comm, &plan, &items, &mut arg_room)?;
    }
    let room = arg_room.as_mut_ptr();
    let arg_ptr = |start: usize, own_offset: usize| -> SendPtr<u8> {
        if args_here {
            SendPtr(items.args.0.wrapping_add(start * items.arg_size))
        } else if plan.schedule == Schedule::Dynamic {
            SendPtr(room.wrapping_add(start * items.arg_size))
        } else {
            SendPtr(room.wrapping_add(own_offset * items.arg_size))
        }
    };

    // 3. Compute this rank's share as local maps.
    let mut local = Local::default();
    let piece = |local: &mut Local, range: Range<usize>, args: SendPtr<u8>| {
        let part = Items {
            args,
            arg_size: items.arg_size,
            results: SendPtr(items.results.0.wrapping_add(range.start * items.result_size)),
            result_size: items.result_size,
            n: range.len(),
        };
        let opts = MapOptions {
            index_base: mopts.index_base.wrapping_add(range.start),
            item_status: SendPtr(if mopts.item_status.is_null() {
                std::ptr::null_mut()
            } else {
                mopts.item_status.0.wrapping_add(range.start)
            }),
            ordinal: Some(ordinal),
            ..MapOptions::default()
        };
        match inv.map_local(part, &opts) {
            Ok(()) => {}
            Err(Error::Callback { index, code, failed }) => {
                let rel = index.wrapping_sub(mopts.index_base);
                if local.failure.map_or(true, |(lowest, _)| rel < lowest) {
                    local.failure = Some((rel, code));
                }
                local.failed += failed as u64;
                if core.opts.error_mode == ErrorMode::FailFast {
                    local.stopped = true;
                }
            }
            Err(Error::Cancelled) => {
                local.cancelled = true;
                local.stopped = true;
            }
            Err(e) => {
                local.error.get_or_insert(e);
                local.stopped = true;
            }
        }
    };
    let cancelled_here = |local: &mut Local| {
        if core.cancelled_since(epoch) {
            local.cancelled = true;
            local.stopped = true;
        }
    };
    // Tell the other ranks to stop: one add to the counter (not when the
    // stop came from another rank through the watched op).
    let signal = |local: &mut Local| -> Result<()> {
        if dist.watch.stopped() {
            local.signalled = true;
        }
        if local.stopped && !local.signalled && counter {
            local.signalled = true;
            comm.fetch_add(STOP_UNIT)?;
        }
        Ok(())
    };
    let status_skip = |range: Range<usize>| {
        if !mopts.item_status.is_null() {
            for i in range {
                unsafe { *mopts.item_status.0.add(i) = ITEM_SKIPPED };
            }
        }
    };
    let compute = |local: &mut Local| -> Result<()> {
        match plan.schedule {
            Schedule::Block => {
                let mine = plan.block(rank);
                cancelled_here(local);
                if local.stopped {
                    status_skip(mine);
                } else if !mine.is_empty() {
                    let args = arg_ptr(mine.start, 0);
                    piece(local, mine, args);
                    signal(local)?;
                }
            }
            Schedule::Cyclic => {
                let mut last_poll = Instant::now();
                let mut own_offset = 0;
                for j in plan.my_cyclic_chunks() {
                    let range = plan.chunk_range(j);
                    cancelled_here(local);
                    if !local.stopped && counter && last_poll.elapsed() >= POLL_INTERVAL {
                        last_poll = Instant::now();
                        if comm.fetch_add(0)?.wrapping_sub(base) >= STOP_UNIT {
                            local.stopped = true;
                            local.signalled = true;
                        }
                    }
                    if local.stopped {
                        signal(local)?;
                        status_skip(range.clone());
                    } else {
                        let args = arg_ptr(range.start, own_offset);
                        piece(local, range.clone(), args);
                        signal(local)?;
                    }
                    own_offset += range.len();
                }
            }
            Schedule::Dynamic => loop {
                cancelled_here(local);
                signal(local)?;
                if local.stopped {
                    break;
                }
                let rel = comm.fetch_add(plan.chunk as u64)?.wrapping_sub(base);
                if rel >= STOP_UNIT || rel >= plan.n as u64 {
                    break;
                }
                let start = rel as usize;
                let j = start / plan.chunk;
                local.claimed.push(j as u64);
                let range = plan.chunk_range(j);
                let args = arg_ptr(range.start, 0);
                piece(local, range, args);
            },
        }
        Ok(())
    };
    if counter {
        dist.watch.arm(base);
    }
    let computed = compute(&mut local);
    let watched = dist.watch.disarm();
    computed?;
    if let Some(e) = watched {
        return Err(e);
    }

    // 4. The outcome, agreed by all.
    let log_bytes = capture.map(Capture::finish).unwrap_or_default();
    let mut out = [0u64; OUTCOME_LEN];
    let error_text = local.error.as_ref().map(|e| e.to_string()).unwrap_or_default();
    if let Some((i, code)) = local.failure {
        out[O_FLAGS] |= FLAG_CALLBACK;
        out[O_INDEX] = i as u64;
        out[O_CODE] = code as u32 as u64;
        out[O_FAILED] = local.failed;
    }
    if local.cancelled {
        out[O_FLAGS] |= FLAG_CANCELLED;
    }
    if let Some(e) = &local.error {
        out[O_FLAGS] |= FLAG_ERROR;
        out[O_ERROR_KIND] = error_kind(e);
        out[O_ERROR_LEN] = error_text.len() as u64;
    }
    out[O_LOG_BYTES] = log_bytes.len() as u64;
    out[O_CLAIMED] = local.claimed.len() as u64;
    let outs = comm.allgather_u64(&out)?;

    let log_counts: Vec<usize> = outs.iter().map(|o| o[O_LOG_BYTES] as usize).collect();
    if log_counts.iter().any(|&c| c > 0) {
        gather_logs(comm, &log_counts, &log_bytes)?;
    }
    let outcome = decide(comm, &outs, &error_text, mopts.index_base)?;

    // 5. Results (on success) and statuses (always) where they belong.
    let exchange_results = outcome.is_ok() && items.result_size > 0 && mopts.results_at != ResultsAt::Owned && size > 1;
    let has_status = !mopts.item_status.is_null();
    if !exchange_results && !(has_status && (size > 1 || plan.schedule == Schedule::Dynamic)) {
        return outcome;
    }
    let owners = if plan.schedule == Schedule::Dynamic {
        let owners = chunk_owners(comm, &plan, &outs, &local.claimed)?;
        if has_status {
            for (j, o) in owners.iter().enumerate() {
                if o.is_none() {
                    status_skip(plan.chunk_range(j));
                }
            }
        }
        Some(owners)
    } else {
        None
    };
    if size > 1 {
        let rounds = plan.rounds(owners.as_deref());
        if exchange_results {
            exchange(comm, &rounds, items.results.0, items.result_size, mopts.results_at)?;
        }
        if has_status && mopts.results_at != ResultsAt::Owned {
            exchange(comm, &rounds, mopts.item_status.0.cast(), 4, mopts.results_at)?;
        }
    }
    outcome
}

/// Every rank has every record: the same verdict, and the same message, on all.
fn check(all: &[Vec<u64>], rank: usize, problem: Option<Error>) -> Result<()> {
    for (r, rec) in all.iter().enumerate() {
        if rec[C_MAGIC] != CHECK_MAGIC {
            return Err(Error::invalid(format!(
                "rank {r} is not in a distributed map at this point (the ranks' collective calls are out of step)"
            )));
        }
    }
    if let Some(r) = all.iter().position(|rec| rec[C_PROBLEM] != 0) {
        let what = match all[r][C_PROBLEM] {
            PROBLEM_ARGUMENTS => "invalid arguments",
            PROBLEM_MEMORY => "arguments it has no memory for",
            _ => "more items than LK_SCHEDULE_DYNAMIC allows",
        };
        let mut msg = format!("distributed map: rank {r} passed {what}, so no rank ran it");
        if r == rank {
            if let Some(e) = problem {
                msg = format!("{msg} ({e})");
            }
        }
        return Err(Error::Invalid(msg));
    }
    for (r, rec) in all.iter().enumerate().skip(1) {
        for &(f, name) in &COMPARED {
            if rec[f] != all[0][f] {
                return Err(Error::Invalid(format!(
                    "distributed map: rank {r} passed {name} {} where rank 0 passed {}, so no rank ran it",
                    rec[f], all[0][f]
                )));
            }
        }
    }
    Ok(())
}

fn filter_from(n: u64) -> log::LevelFilter {
    match n {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// The arguments rank 0 alone has, to the ranks that need them.
fn scatter_args(comm: &super::Comm, plan: &Plan, items: &Items, room: &mut [u8]) -> Result<()> {
    let root = comm.rank() == 0;
    let asz = items.arg_size;
    match plan.schedule {
        Schedule::Dynamic => unsafe {
            let buf = if root { items.args.0 } else { room.as_mut_ptr() };
            comm.bcast_raw(buf, plan.n * asz, 0)
        },
        Schedule::Block | Schedule::Cyclic => {
            let mut own_offset = 0;
            for parts in plan.rounds(None) {
                if parts.is_empty() {
                    continue;
                }
                let mine = parts.counts[comm.rank()];
                // In place: this rank's room stands where its part is in rank 0's array.
                let buf = if root {
                    items.args.0
                } else {
                    room.as_mut_ptr().wrapping_add(own_offset * asz).wrapping_sub(parts.displs[comm.rank()] * asz)
                };
                unsafe { comm.scatterv(buf, &parts.counts, &parts.displs, asz, 0)? };
                own_offset += mine;
            }
            Ok(())
        }
    }
}

/// Rank 0 gathers the log bytes of the others and delivers them.
fn gather_logs(comm: &super::Comm, counts: &[usize], mine: &[u8]) -> Result<()> {
    let mut displs = Vec::with_capacity(counts.len());
    let mut total = 0usize;
    for &c in counts {
        displs.push(total);
        total += c;
    }
    if comm.rank() == 0 {
        let mut all = vec![0u8; total];
        unsafe { comm.gatherv(all.as_mut_ptr(), counts, &displs, 1, 0)? };
        for r in 1..counts.len() {
            logs::deliver(r, &all[displs[r]..displs[r] + counts[r]]);
        }
    } else {
        let mut own = mine.to_vec();
        let base = own.as_mut_ptr().wrapping_sub(displs[comm.rank()]);
        unsafe { comm.gatherv(base, counts, &displs, 1, 0)? };
    }
    Ok(())
}

/// The same status and message on every rank.
fn decide(comm: &super::Comm, outs: &[Vec<u64>], my_error: &str, index_base: usize) -> Result<Result<()>> {
    if let Some((r, o)) =
        outs.iter().enumerate().filter(|(_, o)| o[O_FLAGS] & FLAG_CALLBACK != 0).min_by_key(|(_, o)| o[O_INDEX])
    {
        let failed: u64 = outs.iter().map(|o| o[O_FAILED]).sum();
        return Ok(Err(Error::OnRank {
            rank: r,
            error: Box::new(Error::Callback {
                index: index_base.wrapping_add(o[O_INDEX] as usize),
                code: o[O_CODE] as u32 as i32,
                failed: failed as usize,
            }),
        }));
    }
    if let Some(r) = outs.iter().position(|o| o[O_FLAGS] & FLAG_ERROR != 0) {
        let mut text = if comm.rank() == r { my_error.as_bytes().to_vec() } else { vec![0u8; outs[r][O_ERROR_LEN] as usize] };
        comm.bcast(&mut text, r)?;
        let text = String::from_utf8_lossy(&text).into_owned();
        return Ok(Err(Error::OnRank { rank: r, error: Box::new(error_from(outs[r][O_ERROR_KIND], text)) }));
    }
    if outs.iter().any(|o| o[O_FLAGS] & FLAG_CANCELLED != 0) {
        return Ok(Err(Error::Cancelled));
    }
    Ok(Ok(()))
}

fn error_kind(e: &Error) -> u64 {
    match e {
        Error::Invalid(_) => 1,
        Error::WorkerDied(_) => 3,
        Error::Timeout(_) => 4,
        Error::System(_) => 6,
        Error::Unsupported(_) => 8,
        Error::Comm(_) => 9,
        _ => 7,
    }
}

/// A failure another rank described: its kind, and its message as text.
fn error_from(kind: u64, text: String) -> Error {
    match kind {
        1 => Error::Invalid(text),
        3 => Error::WorkerDied(text),
        4 => Error::Timeout(text),
        6 => Error::System(text),
        8 => Error::Unsupported(text),
        9 => Error::Comm(text),
        _ => Error::Internal(text),
    }
}

/// DYNAMIC: which rank claimed each chunk (None: nobody).
fn chunk_owners(comm: &super::Comm, plan: &Plan, outs: &[Vec<u64>], mine: &[u64]) -> Result<Vec<Option<usize>>> {
    let counts: Vec<usize> = outs.iter().map(|o| o[O_CLAIMED] as usize).collect();
    let mut displs = Vec::with_capacity(counts.len());
    let mut total = 0usize;
    for &c in &counts {
        displs.push(total);
        total += c;
    }
    let mut ids = vec![0u64; total];
    let at = displs[comm.rank()];
    ids[at..at + mine.len()].copy_from_slice(mine);
    if comm.size() > 1 {
        unsafe { comm.allgatherv(ids.as_mut_ptr().cast(), &counts, &displs, 8)? };
    }
    let mut owners = vec![None; plan.n_chunks()];
    for (r, (&d, &c)) in displs.iter().zip(&counts).enumerate() {
        for &j in &ids[d..d + c] {
            if let Some(o) = owners.get_mut(j as usize) {
                *o = Some(r);
            }
        }
    }
    Ok(owners)
}

/// Results (or statuses) in place, round by round.
fn exchange(comm: &super::Comm, rounds: &[Parts], buf: *mut u8, elem: usize, at: ResultsAt) -> Result<()> {
    for parts in rounds {
        if parts.is_empty() {
            continue;
        }
        unsafe {
            match at {
                ResultsAt::All => comm.allgatherv(buf, &parts.counts, &parts.displs, elem)?,
                ResultsAt::Root => comm.gatherv(buf, &parts.counts, &parts.displs, elem, 0)?,
                ResultsAt::Owned => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_every_item_once() {
        for n in [1usize, 2, 3, 7, 100, 1000, 4097] {
            for size in 1..=5 {
                for schedule in [Schedule::Block, Schedule::Cyclic] {
                    let plan = Plan::new(n, size, 0, schedule, 2);
                    let mut seen = vec![0u8; n];
                    for parts in plan.rounds(None) {
                        for r in 0..size {
                            for i in parts.displs[r]..parts.displs[r] + parts.counts[r] {
                                seen[i] += 1;
                            }
                        }
                    }
                    assert!(seen.iter().all(|&s| s == 1), "n {n} size {size} {schedule:?}");
                    let mine: usize = (0..size).map(|r| Plan::new(n, size, r, schedule, 2).my_arg_items()).sum();
                    assert_eq!(mine, n);
                }
                let plan = Plan::new(n, size, 0, Schedule::Dynamic, 1);
                let owners: Vec<Option<usize>> =
                    (0..plan.n_chunks()).map(|j| if j % 5 == 4 { None } else { Some((j * 7 / 3) % size) }).collect();
                let mut seen = vec![0u8; n];
                for parts in plan.rounds(Some(&owners)) {
                    for r in 0..size {
                        for i in parts.displs[r]..parts.displs[r] + parts.counts[r] {
                            seen[i] += 1;
                            assert_eq!(owners[i / plan.chunk], Some(r));
                        }
                    }
                }
                for (i, s) in seen.iter().enumerate() {
                    assert_eq!(*s, u8::from(owners[i / plan.chunk].is_some()));
                }
            }
        }
    }
}
