//! Making a distributed invoker: two allgathers on the calling thread.
//!
//! The first learns every rank's options and machine (to refuse mixed or
//! unsupported options on every rank at once, and to choose the threads per
//! rank); each rank then makes its local invoker; the second learns that
//! every rank did, and adopts rank 0's seed base, so task seeds are those of
//! a single-process invoker made by rank 0.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use super::{progress, Collective, Comm, DistInvoker};
use crate::error::{Error, Result};
use crate::invoker::{Backend, ErrorMode, Invoker, Op, Options};
use crate::sys;

const MAGIC: u64 = u64::from_le_bytes(*b"lkdinv03");

// Fields of the join record.
const F_MAGIC: usize = 0;
const F_PROCESSES: usize = 1;
const F_ERROR_MODE: usize = 2;
const F_N_JOBS: usize = 3; // 0: the default
const F_HOST: usize = 4;
const F_MASK: usize = 5;
const F_CPUS: usize = 6;
const F_FETCH_ADD: usize = 7;
const F_SIZE: usize = 8;
const F_NUM_PROCS: usize = 9; // LK_NUM_PROCS's level-0 count, 0 when unset
const F_SEEDS_OFF: usize = 10;
const F_PROGRESS: usize = 11; // this rank has a progress callback
const F_FETCH_ADD_AT: usize = 12;
const JOIN_LEN: usize = 13;

/// The whole creation, collective.
pub(super) fn make(op: Op, mut opts: Options, comm: Arc<Comm>, default_threads: bool) -> Result<DistInvoker> {
    let collective = Collective::enter(&comm)?;
    let all = join(&comm, &opts, default_threads)?;
    let (n_jobs, why) = threads_for(&all, comm.rank(), comm.local_size());
    opts.n_jobs = n_jobs;
    // The user's progress callback sees the whole map; the local invoker
    // reports each piece to the distributed layer instead.
    let any_user = all.iter().any(|rec| rec[F_PROGRESS] != 0);
    let all_counters = all.iter().all(|rec| rec[F_FETCH_ADD_AT] != 0);
    let progress = progress::Setup::new(opts.progress, any_user, all_counters, comm.size());
    opts.progress = progress.local_hook();
    // The calling thread runs the collectives and watches for stops while
    // the local workers compute.
    opts.caller_waits = true;
    let local = Invoker::new(op, opts);
    let record = [u64::from(local.is_ok()), local.as_ref().map_or(0, |l| l.core().seed_base), n_jobs as u64];
    let others = comm.allgather_u64(&record)?;
    if let Some(r) = others.iter().position(|rec| rec[0] == 0) {
        return Err(match local {
            Err(e) => e,
            Ok(_) => Error::OnRank { rank: r, error: Box::new(Error::System("could not start its worker threads".into())) },
        });
    }
    let threads: Vec<usize> = others.iter().map(|rec| rec[2] as usize).collect();
    if comm.rank() == 0 {
        log::info!(target: "lkparallel::dist", "{}", summary(&threads, &why, &all));
    }
    log::debug!(target: "lkparallel::dist", "rank {}: {} threads ({why})", comm.rank(), n_jobs);
    drop(collective);
    Ok(DistInvoker {
        local: local?,
        seed_base: others[0][1],
        maps: AtomicU64::new(0),
        broken: AtomicBool::new(false),
        max_threads: threads.iter().copied().max().unwrap_or(1).max(1),
        all_fetch_add: all.iter().all(|rec| rec[F_FETCH_ADD] != 0),
        progress,
        comm,
    })
}

/// First collective: every rank's options and CPUs. Refuses the process
/// backend (`LK_ERR_UNSUPPORTED`) and differing error or seed modes
/// (`LK_ERR_INVALID`) on every rank alike.
fn join(comm: &Comm, opts: &Options, default_threads: bool) -> Result<Vec<Vec<u64>>> {
    let cpus = crate::cpus::cpu_count().count as u64;
    let num_procs = match crate::cpus::num_procs_env() {
        Some(Ok(_)) => crate::cpus::proc_count(2, 4, 0) as u64,
        _ => 0,
    };
    let mut record = [0u64; JOIN_LEN];
    record[F_MAGIC] = MAGIC;
    record[F_PROCESSES] = u64::from(opts.backend == Backend::Processes);
    record[F_ERROR_MODE] = u64::from(opts.error_mode == ErrorMode::KeepGoing);
    record[F_N_JOBS] = if default_threads { 0 } else { opts.n_jobs as u64 };
    record[F_HOST] = sys::hostname_hash();
    record[F_MASK] = sys::affinity_hash();
    record[F_CPUS] = cpus;
    record[F_FETCH_ADD] = u64::from(comm.has_fetch_add());
    record[F_SIZE] = comm.size() as u64;
    record[F_NUM_PROCS] = num_procs;
    record[F_SEEDS_OFF] = u64::from(!opts.item_seeds);
    record[F_PROGRESS] = u64::from(opts.progress.is_some());
    record[F_FETCH_ADD_AT] = u64::from(comm.has_fetch_add_at());
    let all = comm.allgather_u64(&record)?;

    for (r, rec) in all.iter().enumerate() {
        if rec[F_MAGIC] != MAGIC || rec[F_SIZE] != comm.size() as u64 {
            return Err(Error::invalid(format!(
                "rank {r} is not making a distributed invoker at this point (the ranks' collective calls are out \
                 of step)"
            )));
        }
    }
    if let Some(r) = all.iter().position(|rec| rec[F_PROCESSES] != 0) {
        return Err(Error::Unsupported(format!("the process backend cannot be used with a communicator (rank {r} asked for it)")));
    }
    // Options that must agree, or ranks' items would behave differently.
    for (field, name) in [(F_ERROR_MODE, "error_mode"), (F_SEEDS_OFF, "seeds")] {
        if let Some(r) = all.iter().position(|rec| rec[field] != all[0][field]) {
            return Err(Error::invalid(format!("rank {r} passed a different {name} from rank 0")));
        }
    }
    Ok(all)
}

/// This rank's threads, and why. With the default, ranks that share CPUs
/// (same machine, same affinity mask: not bound) divide them.
fn threads_for(all: &[Vec<u64>], me: usize, local_size: usize) -> (usize, String) {
    let mine = &all[me];
    if mine[F_N_JOBS] != 0 {
        return (mine[F_N_JOBS] as usize, format!("n_jobs {} as asked", mine[F_N_JOBS]));
    }
    if mine[F_NUM_PROCS] != 0 {
        return (mine[F_NUM_PROCS] as usize, "from LK_NUM_PROCS".into());
    }
    let cpus = mine[F_CPUS].max(1) as usize;
    let same = all.iter().filter(|rec| rec[F_HOST] == mine[F_HOST] && rec[F_MASK] == mine[F_MASK]).count();
    let sharers = same.min(local_size).max(1);
    let threads = (cpus / sharers).max(1);
    let why = if sharers > 1 {
        format!("{cpus} usable CPUs shared by {sharers} ranks on this machine, which are not bound to CPUs of their own")
    } else if local_size > 1 {
        let hint = if cpus == 1 { "; launch with --bind-to none to let its threads use the machine" } else { "" };
        format!("bound to {cpus} usable CPU{} of its own{hint}", if cpus == 1 { "" } else { "s" })
    } else {
        format!("{cpus} usable CPUs, the only rank on this machine")
    };
    (threads, why)
}

fn summary(threads: &[usize], why0: &str, all: &[Vec<u64>]) -> String {
    let mut s = format!("distributed invoker on {} ranks: ", threads.len());
    if threads.iter().all(|&t| t == threads[0]) {
        let _ = write!(s, "{} thread{} on each rank", threads[0], if threads[0] == 1 { "" } else { "s" });
    } else {
        s.push_str("threads per rank ");
        for (r, t) in threads.iter().enumerate().take(16) {
            let _ = write!(s, "{}{t}", if r == 0 { "" } else { ", " });
        }
        if threads.len() > 16 {
            s.push_str(", ...");
        }
    }
    let _ = write!(s, " (rank 0: {why0})");
    if !all.iter().all(|rec| rec[F_FETCH_ADD] != 0) {
        s.push_str("; no fetch_add on some rank, so LK_SCHEDULE_DYNAMIC is unavailable");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(host: u64, mask: u64, cpus: u64) -> Vec<u64> {
        let mut r = vec![0u64; JOIN_LEN];
        r[F_HOST] = host;
        r[F_MASK] = mask;
        r[F_CPUS] = cpus;
        r
    }

    #[test]
    fn unbound_ranks_divide_the_cpus() {
        let all = vec![rec(1, 7, 8), rec(1, 7, 8), rec(2, 7, 8)];
        assert_eq!(threads_for(&all, 0, 2).0, 4);
        assert_eq!(threads_for(&all, 2, 1).0, 8);
        // Bound: each rank has its own mask.
        let all = vec![rec(1, 1, 1), rec(1, 2, 1)];
        let (t, why) = threads_for(&all, 1, 2);
        assert_eq!(t, 1);
        assert!(why.contains("--bind-to none"), "{why}");
        // Asked for explicitly.
        let mut r = rec(1, 7, 8);
        r[F_N_JOBS] = 3;
        assert_eq!(threads_for(&[r, rec(1, 7, 8)], 0, 2).0, 3);
    }
}
