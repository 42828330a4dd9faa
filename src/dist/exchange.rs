//! The collective steps around the compute step: 2. scatter (arguments that
//! only rank 0 has), 4. agree (every rank's outcome, and the log records
//! of ranks >= 1), 5. exchange (results and statuses where the placement
//! puts them).

use super::check::Agreed;
use super::compute::{Layout, Local};
use super::layout::{ArgsAt, Out};
use super::logs::{self, Capture};
use super::plan::{Parts, Plan};
use super::{Comm, MapOptions, ResultsAt, Schedule};
use crate::error::{Error, Result};
use crate::invoker::{Items, ITEM_SKIPPED};

// Fields of the outcome record.
const O_FLAGS: usize = 0;
const O_INDEX: usize = 1; // lowest failing index, relative to index_base
const O_CODE: usize = 2;
const O_FAILED: usize = 3;
const O_ERROR_KIND: usize = 4;
const O_ERROR_LEN: usize = 5;
const O_LOG_BYTES: usize = 6;
const O_CLAIMED: usize = 7;
pub(super) const O_ITEMS: usize = 8;
pub(super) const O_BUSY_NS: usize = 9;
const OUTCOME_LEN: usize = 10;
const FLAG_CALLBACK: u64 = 1;
const FLAG_CANCELLED: u64 = 2;
const FLAG_ERROR: u64 = 4;

/// Step 2, scatter: the arguments rank 0 alone has, to the ranks that
/// need them (rank 0's `args` is the caller's array; the others' a room).
pub(super) fn scatter(comm: &Comm, plan: &Plan, asz: usize, args: &ArgsAt) -> Result<()> {
    match plan.schedule {
        // SAFETY: at the root `args` holds `n` arguments (only read there);
        // elsewhere the room was sized for all `n` (DYNAMIC needs them all).
        Schedule::Dynamic => unsafe { comm.bcast_raw(args.ptr(), plan.n * asz, 0) },
        Schedule::Block | Schedule::Cyclic => {
            let mut own = 0;
            for parts in plan.rounds(None).iter().filter(|p| !p.is_empty()) {
                let buf = args.round_base(parts.displs[comm.rank()], own);
                // SAFETY: at the root `buf` is the caller's full array;
                // elsewhere only this rank's part is touched, which is its
                // room at `own`, sized for its share.
                unsafe { comm.scatterv(buf, &parts.counts, &parts.displs, asz, 0)? };
                own += parts.counts[comm.rank()];
            }
            Ok(())
        }
    }
}

/// Step 4, agree: an allgather of every rank's outcome (lowest failing
/// index and code, cancellation, log bytes, items and busy time), so every
/// rank returns the same status and message; then rank 0 delivers the
/// others' log records.
pub(super) fn agree(comm: &Comm, local: &Local, capture: Option<Capture>, index_base: usize) -> Result<(Vec<Vec<u64>>, Result<()>)> {
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
    out[O_ITEMS] = local.items as u64;
    out[O_BUSY_NS] = u64::try_from(local.busy.as_nanos()).unwrap_or(u64::MAX);
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
    counts
        .iter()
        .scan(0, |at, &c| {
            let d = *at;
            *at += c;
            Some(d)
        })
        .collect()
}

/// The same status and message on every rank.
fn decide(comm: &Comm, outs: &[Vec<u64>], my_error: &str, index_base: usize) -> Result<Result<()>> {
    let callback = outs.iter().enumerate().filter(|(_, o)| o[O_FLAGS] & FLAG_CALLBACK != 0).min_by_key(|(_, o)| o[O_INDEX]);
    if let Some((r, o)) = callback {
        let failed: u64 = outs.iter().map(|o| o[O_FAILED]).sum();
        let index = index_base.wrapping_add(o[O_INDEX] as usize);
        let error = Error::Callback { index, code: o[O_CODE] as u32 as i32, failed: failed as usize };
        return Ok(Err(Error::OnRank { rank: r, error: Box::new(error) }));
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

/// What the exchange works from: the map, and how it went everywhere.
pub(super) struct Ended<'a> {
    pub plan: &'a Plan,
    pub items: &'a Items,
    pub mopts: &'a MapOptions,
    pub agreed: &'a Agreed,
    /// Every rank's outcome record.
    pub outs: &'a [Vec<u64>],
    pub local: &'a Local,
    pub layout: &'a Layout,
    /// The map succeeded on every rank.
    pub ok: bool,
}

/// Step 5, exchange: results (on success) and per-item statuses (always)
/// where the placement puts them, in place, round by round. Every decision
/// here is the same on every rank (it follows the check and the outcome).
pub(super) fn exchange(comm: &Comm, e: Ended<'_>) -> Result<()> {
    let Ended { plan, items, mopts, agreed, outs, local, layout, ok } = e;
    let at = mopts.results_at;
    let gathers = matches!(at, ResultsAt::All | ResultsAt::Root) && comm.size() > 1;
    let results = ok && items.result_size > 0 && gathers;
    let statuses = gathers
        && match at {
            ResultsAt::All => !layout.status.is_none(),
            _ => agreed.root_status,
        };
    if plan.schedule == Schedule::Dynamic && (results || statuses || agreed.any_full_status) {
        let owners = chunk_owners(comm, plan, outs, &local.claimed)?;
        if layout.status.is_full() {
            for (j, o) in owners.iter().enumerate() {
                if o.is_none() {
                    let r = plan.chunk_range(j);
                    layout.status.fill_i32(r.start, 0, r.len(), ITEM_SKIPPED);
                }
            }
        }
        let rounds = plan.rounds(Some(&owners));
        if results {
            exchange_rounds(comm, &rounds, &layout.results, at)?;
        }
        if statuses {
            exchange_rounds(comm, &rounds, &layout.status, at)?;
        }
    } else if results || statuses {
        let rounds = plan.rounds(None);
        if results {
            exchange_rounds(comm, &rounds, &layout.results, at)?;
        }
        if statuses {
            exchange_rounds(comm, &rounds, &layout.status, at)?;
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

/// Results (or statuses) in place, round by round. This rank's parts come
/// in the order its items have in a packed array.
fn exchange_rounds(comm: &Comm, rounds: &[Parts], out: &Out, at: ResultsAt) -> Result<()> {
    let rank = comm.rank();
    let mut own = 0;
    for parts in rounds.iter().filter(|p| !p.is_empty()) {
        let buf = out.round_base(parts.displs[rank], own);
        // SAFETY: on every rank `out` has a slot for each of this rank's
        // items (a full array: every item's; a packed one: its own, of
        // which this round's part starts at `own`); ALL has full arrays on
        // every rank, and under ROOT rank 0's array is full.
        unsafe {
            match at {
                ResultsAt::All => comm.allgatherv(buf, &parts.counts, &parts.displs, out.elem())?,
                _ => comm.gatherv(buf, &parts.counts, &parts.displs, out.elem(), 0)?,
            }
        }
        own += parts.counts[rank];
    }
    Ok(())
}
