//! One distributed map, in five steps on the calling thread (which alone
//! uses the communicator): check, scatter, compute, agree, exchange.

use std::sync::atomic::Ordering;

use super::check::{self, Problem};
use super::compute::{Compute, Layout};
use super::exchange::{self, Ended, O_BUSY_NS, O_ITEMS};
use super::layout::{ArgsAt, Out};
use super::logs::Capture;
use super::plan::Plan;
use super::progress::{self, Tracker};
use super::{DistInvoker, MapOptions, ResultsAt, Schedule};
use crate::error::{Error, Result};
use crate::invoker::Items;
use crate::util::SendPtr;

/// DYNAMIC maps at most this many items (claims plus overshoot stay below `STOP_UNIT`).
const DYNAMIC_MAX_ITEMS: usize = 1 << 39;

/// The map, on the calling thread, holding the communicator.
pub(super) fn run(dist: &DistInvoker, items: Result<Items>, mopts: Result<&MapOptions>) -> Result<()> {
    let comm = &*dist.comm;
    // A cancel from here on is this map's.
    let epoch = dist.local.core().cancel_word().load(Ordering::Acquire);
    let defaults = MapOptions::default();
    let (items, mopts, problem) = match (items, mopts) {
        (Ok(i), Ok(m)) => (i, m, None),
        (Err(e), _) | (_, Err(e)) => {
            let none = Items { args: SendPtr::null(), arg_size: 0, results: SendPtr::null(), result_size: 0, n: 0 };
            (none, &defaults, Some((Problem::Arguments, e)))
        }
    };
    let mut plan = Plan::new(items.n, comm.size(), comm.rank(), mopts.schedule, dist.max_threads);
    let (layout, problem) = match problem {
        Some(p) => (None, Some(p)),
        None => match lay_out(&plan, &items, mopts, comm.rank(), comm.size()) {
            Ok(l) => (Some(l), None),
            Err(p) => (None, Some(p)),
        },
    };
    let agreed = check::check(dist, &items, mopts, problem)?;
    let Some(mut layout) = layout else {
        return Err(Error::Internal("a distributed map passed its check without a layout".into()));
    };
    if items.n == 0 {
        if mopts.results_at == ResultsAt::OwnedCompact && !mopts.owned.count.is_null() {
            // SAFETY: the caller's `owned_count`, a valid `size_t` for the call.
            unsafe { *mopts.owned.count.0 = 0 };
        }
        return Ok(());
    }
    if mopts.results_at == ResultsAt::Root && comm.rank() != 0 && !agreed.root_status {
        layout.status = Out::none();
    }
    if mopts.results_at == ResultsAt::OwnedCompact && plan.schedule == Schedule::Dynamic {
        plan.fit_chunk(&agreed.caps);
    }
    if mopts.args_at_root && comm.size() > 1 && items.arg_size > 0 {
        exchange::scatter(comm, &plan, items.arg_size, &layout.args)?;
    }
    let capture = (comm.rank() != 0).then(|| Capture::start(agreed.log_max, dist.local.core().id));
    let mut tracker = Tracker::new(comm, &dist.progress, items.n, agreed.progress_base);
    let step = Compute { dist, plan: &plan, items: &items, mopts, agreed: &agreed, layout: &mut layout, tracker: &mut tracker, epoch };
    let local = step.run()?;
    let (outs, outcome) = exchange::agree(comm, &local, capture, mopts.index_base)?;
    if comm.rank() == 0 {
        report_balance(&plan, &outs, outcome.is_err());
    }
    let ended = Ended { plan: &plan, items: &items, mopts, agreed: &agreed, outs: &outs, local: &local, layout: &layout, ok: outcome.is_ok() };
    exchange::exchange(comm, ended)?;
    tracker.end();
    outcome
}

/// Where this rank's arguments, results and statuses live (see `layout`);
/// a problem with them goes into the check.
fn lay_out(plan: &Plan, items: &Items, mopts: &MapOptions, rank: usize, size: usize) -> std::result::Result<Layout, (Problem, Error)> {
    if mopts.schedule == Schedule::Dynamic && items.n > DYNAMIC_MAX_ITEMS {
        let e = Error::invalid(format!("LK_SCHEDULE_DYNAMIC maps at most {DYNAMIC_MAX_ITEMS} items; map in pieces with index_base"));
        return Err((Problem::DynamicSize, e));
    }
    let share = plan.share();
    let compact = mopts.results_at == ResultsAt::OwnedCompact;
    if compact {
        if let Some(share) = share.filter(|&s| s > mopts.owned.capacity) {
            let e = Error::invalid(format!("owned_capacity is {}, but this rank owns {share} items", mopts.owned.capacity));
            return Err((Problem::Capacity, e));
        }
    }
    let memory = |e: Error| (Problem::Memory, e);
    let args = if mopts.args_at_root && rank != 0 && size > 1 && items.arg_size > 0 && items.n > 0 {
        ArgsAt::room(plan, items.arg_size).map_err(memory)?
    } else {
        ArgsAt::caller(items.args.0, items.arg_size)
    };
    let expect = share.unwrap_or(0);
    let results = if items.result_size == 0 {
        Out::none()
    } else if compact {
        Out::packed(items.results.0, items.result_size)
    } else if items.results.is_null() {
        // ROOT, on a rank other than 0 that passed no array.
        Out::room(items.result_size, expect).map_err(memory)?
    } else {
        Out::full(items.results.0, items.result_size)
    };
    let status_ptr = mopts.item_status.0.cast::<u8>();
    let status = if !status_ptr.is_null() {
        if compact {
            Out::packed(status_ptr, 4)
        } else {
            Out::full(status_ptr, 4)
        }
    } else if mopts.results_at == ResultsAt::Root && rank != 0 && size > 1 {
        // Rank 0 may want the statuses (the check tells): room for ours.
        Out::room(4, expect).map_err(memory)?
    } else {
        Out::none()
    };
    Ok(Layout { args, results, status })
}

/// Rank 0: each rank's items and busy time, at info level.
fn report_balance(plan: &Plan, outs: &[Vec<u64>], stopped: bool) {
    if log::log_enabled!(target: "lkparallel::dist", log::Level::Info) {
        let items: Vec<u64> = outs.iter().map(|o| o[O_ITEMS]).collect();
        let busy: Vec<u64> = outs.iter().map(|o| o[O_BUSY_NS]).collect();
        log::info!(target: "lkparallel::dist", "{}", progress::balance(plan.schedule, plan.n, &items, &busy, stopped));
    }
}
