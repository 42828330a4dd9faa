//! One distributed map, in five steps on the calling thread (which alone
//! uses the communicator): check, scatter, compute, agree, exchange.

use std::ops::Range;
use std::time::Duration;

use super::logs::{self, Capture};
use super::plan::{Parts, Plan};
use super::{Comm, DistInvoker, MapOptions, ResultsAt, Schedule};
use crate::error::{Error, Result};
use crate::invoker::{self, ErrorMode, Items, Watch, ITEM_SKIPPED};
use crate::seed;
use crate::util::SendPtr;

/// What one stop signal adds to the shared counter; claims stay below it.
pub(super) const STOP_UNIT: u64 = 1 << 40;
/// DYNAMIC maps at most this many items (claims plus overshoot stay below `STOP_UNIT`).
const DYNAMIC_MAX_ITEMS: usize = 1 << 39;
/// While its share runs, a rank looks at the shared counter this often for
/// a stop signalled by another rank.
const WATCH_PERIOD: Duration = Duration::from_millis(1);

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

/// What this rank's compute step came to.
#[derive(Default)]
struct Local {
    /// Lowest failing item (relative to index_base) and its code.
    failure: Option<(usize, i32)>,
    failed: u64,
    cancelled: bool,
    error: Option<Error>,
    /// This rank stops (its own failure or cancel, or another rank's stop).
    stopped: bool,
    /// The other ranks have been told (or the stop came from them).
    signalled: bool,
    /// DYNAMIC: the chunks this rank claimed (and ran).
    claimed: Vec<u64>,
}

/// What every rank agreed on in the check.
struct Agreed {
    /// The shared counter's value when the map started (stops and claims count from it).
    base: u64,
    log_max: log::LevelFilter,
    seed_base: u64,
}

/// The map, on the calling thread, holding the communicator.
pub(super) fn run(dist: &DistInvoker, items: Result<Items>, mopts: Result<&MapOptions>) -> Result<()> {
    let comm = &*dist.comm;
    let defaults = MapOptions::default();
    let (items, mopts, mut problem) = match (items, mopts) {
        (Ok(i), Ok(m)) => (i, m, None),
        (Err(e), _) | (_, Err(e)) => (Items { args: SendPtr::null(), arg_size: 0, results: SendPtr::null(), result_size: 0, n: 0 }, &defaults, Some((PROBLEM_ARGUMENTS, e))),
    };
    let plan = Plan::new(items.n, comm.size(), comm.rank(), mopts.schedule, dist.max_threads);
    if problem.is_none() && mopts.schedule == Schedule::Dynamic && items.n > DYNAMIC_MAX_ITEMS {
        problem = Some((PROBLEM_DYNAMIC_SIZE, Error::invalid(format!("LK_SCHEDULE_DYNAMIC maps at most {DYNAMIC_MAX_ITEMS} items; map in pieces with index_base"))));
    }
    let mut arg_room: Vec<u8> = Vec::new();
    if problem.is_none() {
        if let Err(e) = reserve_arg_room(&plan, &items, mopts, &mut arg_room) {
            problem = Some((PROBLEM_MEMORY, e));
        }
    }
    let agreed = check(dist, &items, mopts, problem)?;
    if items.n == 0 {
        return Ok(());
    }
    if mopts.args_at_root && comm.size() > 1 && items.arg_size > 0 {
        scatter(comm, &plan, &items, &mut arg_room)?;
    }
    let args_here = !(mopts.args_at_root && comm.rank() != 0 && comm.size() > 1) || items.arg_size == 0;
    let args = Args { items: &items, room: if args_here { None } else { Some(arg_room.as_mut_ptr()) }, dynamic: plan.schedule == Schedule::Dynamic };
    let capture = (comm.rank() != 0).then(|| Capture::start(agreed.log_max, dist.local.core().id));
    let local = compute(dist, &plan, &items, mopts, &agreed, &args)?;
    let (outs, outcome) = agree(comm, &local, capture, mopts.index_base)?;
    exchange(comm, &plan, &items, mopts, &outs, &local, outcome.is_ok())?;
    outcome
}

/// Room for this rank's share of the arguments when only rank 0 has them.
fn reserve_arg_room(plan: &Plan, items: &Items, mopts: &MapOptions, room: &mut Vec<u8>) -> Result<()> {
    if mopts.args_at_root && plan.rank != 0 && plan.size > 1 && items.arg_size > 0 && items.n > 0 {
        let bytes = plan.my_arg_items().checked_mul(items.arg_size);
        match bytes {
            Some(b) if room.try_reserve_exact(b).is_ok() => room.resize(b, 0),
            _ => return Err(Error::System("cannot allocate room for this rank's arguments".into())),
        }
    }
    Ok(())
}

/// 1. Check: an allgather of what every rank passed. Local problems travel
/// with it, so all ranks fail together, before any result is written.
fn check(dist: &DistInvoker, items: &Items, mopts: &MapOptions, problem: Option<(u64, Error)>) -> Result<Agreed> {
    let comm = &*dist.comm;
    let counter = dist.all_fetch_add;
    let ordinal = dist.ordinal();
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
    record[C_ORDINAL] = ordinal;
    record[C_PROBLEM] = problem.as_ref().map_or(0, |p| p.0);
    if comm.rank() == 0 {
        record[C_LOG_MAX] = crate::logging::max_for_child() as u64;
        if counter && problem.is_none() {
            record[C_COUNTER] = comm.fetch_add(0)?;
        }
    }
    let all = comm.allgather_u64(&record)?;
    verdict_of_check(&all, comm.rank(), problem.map(|p| p.1))?;
    if items.n > 0 && mopts.schedule == Schedule::Dynamic && !counter {
        return Err(Error::Unsupported("LK_SCHEDULE_DYNAMIC needs a communicator with fetch_add on every rank".into()));
    }
    if items.n > 0 {
        dist.take_ordinal();
    }
    Ok(Agreed { base: all[0][C_COUNTER], log_max: filter_from(all[0][C_LOG_MAX]), seed_base: seed::derive(dist.seed_base, ordinal) })
}

/// Every rank has every record: the same verdict, and the same message, on all.
fn verdict_of_check(all: &[Vec<u64>], rank: usize, problem: Option<Error>) -> Result<()> {
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

/// 2. Scatter: the arguments rank 0 alone has, to the ranks that need them.
fn scatter(comm: &Comm, plan: &Plan, items: &Items, room: &mut [u8]) -> Result<()> {
    let root = comm.rank() == 0;
    let asz = items.arg_size;
    match plan.schedule {
        // SAFETY: at the root `args` holds `n` arguments (read only);
        // elsewhere `room` was sized for all `n` (DYNAMIC needs them all).
        Schedule::Dynamic => unsafe { comm.bcast_raw(if root { items.args.0 } else { room.as_mut_ptr() }, plan.n * asz, 0) },
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
                // SAFETY: at the root `buf` is the caller's full array; elsewhere
                // only this rank's part is touched, which is `room` at `own_offset`.
                unsafe { comm.scatterv(buf, &parts.counts, &parts.displs, asz, 0)? };
                own_offset += mine;
            }
            Ok(())
        }
    }
}

/// Where this rank reads its arguments.
struct Args<'a> {
    items: &'a Items,
    /// This rank's share, scattered from rank 0 (None: the caller's array).
    room: Option<*mut u8>,
    dynamic: bool,
}

impl Args<'_> {
    /// The argument of item `start`, the `own_offset`-th item of this rank's share.
    fn at(&self, start: usize, own_offset: usize) -> SendPtr<u8> {
        let size = self.items.arg_size;
        match self.room {
            None => SendPtr(self.items.args.0.wrapping_add(start * size)),
            Some(room) if self.dynamic => SendPtr(room.wrapping_add(start * size)),
            Some(room) => SendPtr(room.wrapping_add(own_offset * size)),
        }
    }
}

/// 3. Compute: this rank's share as local maps on the local invoker's
/// workers, under the distributed map's seeds and global indices. While a
/// piece runs, the calling thread watches the shared counter about every
/// millisecond: another rank's stop stops this rank's workers (whichever
/// holds which slot), and this rank's own failure or cancel is signalled.
fn compute(dist: &DistInvoker, plan: &Plan, items: &Items, mopts: &MapOptions, agreed: &Agreed, args: &Args<'_>) -> Result<Local> {
    let comm = &*dist.comm;
    let counter = dist.all_fetch_add;
    let fail_fast = dist.local.core().opts.error_mode == ErrorMode::FailFast;
    let epoch = dist.local.core().cancel_word().load(std::sync::atomic::Ordering::Acquire);
    let mut local = Local::default();
    let mut watch_error: Option<Error> = None;

    // One piece: a local map watched for stops.
    let mut piece = |local: &mut Local, range: Range<usize>, arg: SendPtr<u8>| {
        let part = Items {
            args: arg,
            arg_size: items.arg_size,
            results: SendPtr(items.results.0.wrapping_add(range.start * items.result_size)),
            result_size: items.result_size,
            n: range.len(),
        };
        let opts = invoker::MapOptions {
            index_base: mopts.index_base.wrapping_add(range.start),
            item_status: if mopts.item_status.is_null() { SendPtr::null() } else { SendPtr(mopts.item_status.0.wrapping_add(range.start)) },
            seed_base: Some(agreed.seed_base),
        };
        let mut remote_stop = false;
        let mut watch = |stopping_here: bool| -> Watch {
            if !counter || watch_error.is_some() {
                return Watch::Continue;
            }
            if stopping_here && !local.signalled {
                local.signalled = true;
                if let Err(e) = comm.fetch_add(STOP_UNIT) {
                    watch_error = Some(e);
                }
            }
            if !local.signalled {
                match comm.fetch_add(0) {
                    Ok(v) if v.wrapping_sub(agreed.base) >= STOP_UNIT => {
                        remote_stop = true;
                        local.signalled = true;
                    }
                    Ok(_) => {}
                    Err(e) => watch_error = Some(e),
                }
            }
            if remote_stop { Watch::Stop } else { Watch::Continue }
        };
        let r = dist.local.map_watched(part, &opts, WATCH_PERIOD, &mut watch);
        match r {
            Ok(()) => {}
            Err(Error::Callback { index, code, failed }) => {
                let rel = index.wrapping_sub(mopts.index_base);
                if local.failure.is_none_or(|(lowest, _)| rel < lowest) {
                    local.failure = Some((rel, code));
                }
                local.failed += failed as u64;
                local.stopped |= fail_fast;
            }
            // Stopped by another rank: not this rank's cancel.
            Err(Error::Cancelled) if remote_stop => local.stopped = true,
            Err(Error::Cancelled) => {
                local.cancelled = true;
                local.stopped = true;
            }
            Err(e) => {
                local.error.get_or_insert(e);
                local.stopped = true;
            }
        }
        if remote_stop {
            local.stopped = true;
        }
    };
    // Between pieces: this rank's cancel, another rank's stop, and telling them ours.
    let between = |local: &mut Local| -> Result<()> {
        if dist.local.core().cancel_word().load(std::sync::atomic::Ordering::Acquire) != epoch {
            local.cancelled = true;
            local.stopped = true;
        }
        if counter && !local.signalled {
            if local.stopped {
                local.signalled = true;
                comm.fetch_add(STOP_UNIT)?;
            } else if comm.fetch_add(0)?.wrapping_sub(agreed.base) >= STOP_UNIT {
                local.stopped = true;
                local.signalled = true;
            }
        }
        Ok(())
    };
    let status_skip = |range: Range<usize>| {
        if !mopts.item_status.is_null() {
            // SAFETY: `item_status` has `n` entries (the caller's promise).
            unsafe { std::slice::from_raw_parts_mut(mopts.item_status.0.add(range.start), range.len()) }.fill(ITEM_SKIPPED);
        }
    };
    match plan.schedule {
        Schedule::Block => {
            let mine = plan.block(plan.rank);
            between(&mut local)?;
            if local.stopped {
                status_skip(mine);
            } else if !mine.is_empty() {
                piece(&mut local, mine.clone(), args.at(mine.start, 0));
            }
        }
        Schedule::Cyclic => {
            let mut own_offset = 0;
            for j in plan.my_cyclic_chunks() {
                let range = plan.chunk_range(j);
                between(&mut local)?;
                if local.stopped {
                    status_skip(range.clone());
                } else {
                    piece(&mut local, range.clone(), args.at(range.start, own_offset));
                }
                own_offset += range.len();
            }
        }
        Schedule::Dynamic => loop {
            between(&mut local)?;
            if local.stopped {
                break;
            }
            let rel = comm.fetch_add(plan.chunk as u64)?.wrapping_sub(agreed.base);
            if rel >= STOP_UNIT || rel >= plan.n as u64 {
                break;
            }
            let j = rel as usize / plan.chunk;
            local.claimed.push(j as u64);
            let range = plan.chunk_range(j);
            piece(&mut local, range.clone(), args.at(range.start, 0));
        },
    }
    // The last stop of this rank reaches the others even if it came last.
    between(&mut local)?;
    if let Some(e) = watch_error {
        return Err(e);
    }
    Ok(local)
}

/// 4. Agree: an allgather of every rank's outcome (lowest failing index and
/// code, cancellation, log bytes), so every rank returns the same status
/// and message; then rank 0 delivers the others' log records.
fn agree(comm: &Comm, local: &Local, capture: Option<Capture>, index_base: usize) -> Result<(Vec<Vec<u64>>, Result<()>)> {
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
    let outcome = decide(comm, &outs, &error_text, index_base)?;
    Ok((outs, outcome))
}

/// Rank 0 gathers the log bytes of the others and delivers them.
fn gather_logs(comm: &Comm, counts: &[usize], mine: &[u8]) -> Result<()> {
    let displs = offsets(counts);
    if comm.rank() == 0 {
        let total = counts.iter().sum();
        let mut all = vec![0u8; total];
        // SAFETY: `all` holds every rank's part at its displacement.
        unsafe { comm.gatherv(all.as_mut_ptr(), counts, &displs, 1, 0)? };
        for r in 1..counts.len() {
            logs::deliver(r, &all[displs[r]..displs[r] + counts[r]]);
        }
    } else {
        let mut own = mine.to_vec();
        let base = own.as_mut_ptr().wrapping_sub(displs[comm.rank()]);
        // SAFETY: only this rank's part, which is `own`, is read.
        unsafe { comm.gatherv(base, counts, &displs, 1, 0)? };
    }
    Ok(())
}

fn offsets(counts: &[usize]) -> Vec<usize> {
    counts.iter().scan(0, |at, &c| {
        let d = *at;
        *at += c;
        Some(d)
    }).collect()
}

/// The same status and message on every rank.
fn decide(comm: &Comm, outs: &[Vec<u64>], my_error: &str, index_base: usize) -> Result<Result<()>> {
    if let Some((r, o)) = outs.iter().enumerate().filter(|(_, o)| o[O_FLAGS] & FLAG_CALLBACK != 0).min_by_key(|(_, o)| o[O_INDEX]) {
        let failed: u64 = outs.iter().map(|o| o[O_FAILED]).sum();
        return Ok(Err(Error::OnRank {
            rank: r,
            error: Box::new(Error::Callback { index: index_base.wrapping_add(o[O_INDEX] as usize), code: o[O_CODE] as u32 as i32, failed: failed as usize }),
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

/// 5. Exchange: results (on success) and per-item statuses (always) where
/// the placement puts them, in place, round by round.
fn exchange(comm: &Comm, plan: &Plan, items: &Items, mopts: &MapOptions, outs: &[Vec<u64>], local: &Local, ok: bool) -> Result<()> {
    let size = comm.size();
    let results = ok && items.result_size > 0 && mopts.results_at != ResultsAt::Owned && size > 1;
    let has_status = !mopts.item_status.is_null();
    if !results && !(has_status && (size > 1 || plan.schedule == Schedule::Dynamic)) {
        return Ok(());
    }
    let owners = if plan.schedule == Schedule::Dynamic {
        let owners = chunk_owners(comm, plan, outs, &local.claimed)?;
        if has_status {
            for (j, o) in owners.iter().enumerate() {
                if o.is_none() {
                    let r = plan.chunk_range(j);
                    // SAFETY: `item_status` has `n` entries.
                    unsafe { std::slice::from_raw_parts_mut(mopts.item_status.0.add(r.start), r.len()) }.fill(ITEM_SKIPPED);
                }
            }
        }
        Some(owners)
    } else {
        None
    };
    if size > 1 {
        let rounds = plan.rounds(owners.as_deref());
        if results {
            exchange_rounds(comm, &rounds, items.results.0, items.result_size, mopts.results_at)?;
        }
        if has_status && mopts.results_at != ResultsAt::Owned {
            exchange_rounds(comm, &rounds, mopts.item_status.0.cast(), 4, mopts.results_at)?;
        }
    }
    Ok(())
}

/// DYNAMIC: which rank claimed each chunk (None: nobody).
fn chunk_owners(comm: &Comm, plan: &Plan, outs: &[Vec<u64>], mine: &[u64]) -> Result<Vec<Option<usize>>> {
    let counts: Vec<usize> = outs.iter().map(|o| o[O_CLAIMED] as usize).collect();
    let displs = offsets(&counts);
    let mut ids = vec![0u64; counts.iter().sum()];
    let at = displs[comm.rank()];
    ids[at..at + mine.len()].copy_from_slice(mine);
    if comm.size() > 1 {
        // SAFETY: `ids` holds every rank's part at its displacement.
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
fn exchange_rounds(comm: &Comm, rounds: &[Parts], buf: *mut u8, elem: usize, at: ResultsAt) -> Result<()> {
    for parts in rounds.iter().filter(|p| !p.is_empty()) {
        // SAFETY: `buf` is the caller's full array of `n` elements on every rank.
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
