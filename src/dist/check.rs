//! Step 1 of a map, the check: an allgather of what every rank passed.
//! Local problems travel with it, so all ranks fail together, before any
//! result is written; rank 0 adds what every rank must start from (the
//! shared counters, its log level).

use super::{DistInvoker, MapOptions, ResultsAt, Schedule};
use crate::error::{Error, Result};
use crate::invoker::Items;
use crate::seed;

const CHECK_MAGIC: u64 = u64::from_le_bytes(*b"lkdmap02");
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
const C_COUNTER: usize = 11; // rank 0: counter 0's value at the start
const C_LOG_MAX: usize = 12; // rank 0: the level its records are wanted at
const C_CAPACITY: usize = 13; // compact OWNED: this rank's slots
const C_PROGRESS: usize = 14; // rank 0: counter 1's value at the start
const CHECK_LEN: usize = 15;
/// Compared across ranks; `item_status` only where every rank's array
/// takes part alike (under ROOT only rank 0's matters).
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

/// A problem a rank found with its own part of the call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Problem {
    Arguments = 1,
    Memory = 2,
    DynamicSize = 3,
    Capacity = 4,
}

impl Problem {
    fn what(code: u64) -> &'static str {
        match code {
            1 => "invalid arguments",
            2 => "arguments or results it has no memory for",
            3 => "more items than LK_SCHEDULE_DYNAMIC allows",
            _ => "an owned_capacity smaller than its share",
        }
    }
}

/// What every rank agreed on in the check.
pub(super) struct Agreed {
    /// Counter 0's value when the map started (stops and claims count from it).
    pub base: u64,
    /// Counter 1's value when the map started (items done count from it).
    pub progress_base: u64,
    pub log_max: log::LevelFilter,
    pub seed_base: u64,
    /// Compact OWNED: every rank's capacity.
    pub caps: Vec<usize>,
    /// Rank 0 passed `item_status` (under ROOT, the others' statuses go there).
    pub root_status: bool,
    /// Some rank keeps statuses in an `n`-entry array.
    pub any_full_status: bool,
}

/// The check, collective. `problem` is this rank's own, if any.
pub(super) fn check(dist: &DistInvoker, items: &Items, mopts: &MapOptions, problem: Option<(Problem, Error)>) -> Result<Agreed> {
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
    record[C_PROBLEM] = problem.as_ref().map_or(0, |p| p.0 as u64);
    record[C_CAPACITY] = mopts.owned.capacity as u64;
    if comm.rank() == 0 {
        record[C_LOG_MAX] = crate::logging::max_for_child() as u64;
        if counter && problem.is_none() {
            record[C_COUNTER] = comm.fetch_add(0)?;
        }
        if dist.progress.publish && problem.is_none() {
            record[C_PROGRESS] = comm.fetch_add_at(1, 0)?;
        }
    }
    let all = comm.allgather_u64(&record)?;
    verdict(&all, comm.rank(), problem.map(|p| p.1))?;
    let n = items.n;
    if n > 0 && mopts.schedule == Schedule::Dynamic && !counter {
        return Err(Error::Unsupported("LK_SCHEDULE_DYNAMIC needs a communicator with fetch_add on every rank".into()));
    }
    let caps: Vec<usize> = all.iter().map(|rec| rec[C_CAPACITY] as usize).collect();
    if mopts.results_at == ResultsAt::OwnedCompact && mopts.schedule == Schedule::Dynamic {
        let total = caps.iter().fold(0usize, |s, &c| s.saturating_add(c));
        if total < n {
            return Err(Error::Invalid(format!(
                "distributed map: the ranks' owned_capacity add up to {total}, fewer than the {n} items, so no rank \
                 ran it"
            )));
        }
    }
    if n > 0 {
        dist.take_ordinal();
    }
    let compact = mopts.results_at == ResultsAt::OwnedCompact;
    Ok(Agreed {
        base: all[0][C_COUNTER],
        progress_base: all[0][C_PROGRESS],
        log_max: filter_from(all[0][C_LOG_MAX]),
        seed_base: seed::derive(dist.seed_base, ordinal),
        caps,
        root_status: all[0][C_ITEM_STATUS] != 0,
        any_full_status: !compact && all.iter().any(|rec| rec[C_ITEM_STATUS] != 0),
    })
}

/// Every rank has every record: the same verdict, and the same message, on all.
fn verdict(all: &[Vec<u64>], rank: usize, problem: Option<Error>) -> Result<()> {
    for (r, rec) in all.iter().enumerate() {
        if rec[C_MAGIC] != CHECK_MAGIC {
            return Err(Error::invalid(format!(
                "rank {r} is not in a distributed map at this point (the ranks' collective calls are out of step)"
            )));
        }
    }
    if let Some(r) = all.iter().position(|rec| rec[C_PROBLEM] != 0) {
        let mut msg = format!("distributed map: rank {r} passed {}, so no rank ran it", Problem::what(all[r][C_PROBLEM]));
        if r == rank {
            if let Some(e) = problem {
                msg = format!("{msg} ({e})");
            }
        }
        return Err(Error::Invalid(msg));
    }
    let root_only_status = all[0][C_RESULTS_AT] == ResultsAt::Root as u64;
    for (r, rec) in all.iter().enumerate().skip(1) {
        for &(f, name) in &COMPARED {
            if f == C_ITEM_STATUS && root_only_status {
                continue;
            }
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
