//! Making a distributed invoker: two allgathers on the calling thread.
//!
//! `join` learns every rank's options and machine (to refuse mixed or
//! unsupported options on every rank at once, and to choose the threads per
//! rank); the invoker then builds its workers; `finish` learns that every
//! rank did, and adopts rank 0's seed base, so task seeds are those of a
//! single-process invoker made by rank 0.

use std::fmt::Write as _;
use std::sync::atomic::AtomicBool;

use super::comm::COMMS;
use super::watch::Watch;
use super::{Collective, CommSpec, Dist};
use crate::error::{Error, Result};
use crate::invoker::{Backend, ErrorMode, Op, Options};

const MAGIC: u64 = u64::from_le_bytes(*b"lkdinv02");

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
const JOIN_LEN: usize = 11;

/// Between the two collectives of an invoker's creation.
pub struct Setup {
    collective: Collective,
    all: Vec<Vec<u64>>,
    n_jobs: usize,
    why: String,
    watch: Option<std::sync::Arc<Watch>>,
}

impl Setup {
    /// First collective: every rank's options and CPUs. Refuses the process
    /// backend (`LK_ERR_UNSUPPORTED`) and differing error or seed modes
    /// (`LK_ERR_INVALID`) on every rank alike.
    pub fn join(spec: CommSpec, opts: &Options) -> Result<Setup> {
        let comm = COMMS
            .get(spec.handle)
            .map(|c| c.clone())
            .ok_or_else(|| Error::invalid("unknown or dead communicator handle (freed, or made by another process)"))?;
        let collective = Collective::enter(&comm)?;
        let cpus = crate::cpus::cpu_count().count as u64;
        let num_procs = match std::env::var("LK_NUM_PROCS") {
            Ok(v) if crate::cpus::parse_num_procs(&v).is_ok() => crate::cpus::proc_count(2, 4, 0) as u64,
            _ => 0,
        };
        let mut record = [0u64; JOIN_LEN];
        record[F_MAGIC] = MAGIC;
        record[F_PROCESSES] = u64::from(opts.backend == Backend::Processes);
        record[F_ERROR_MODE] = u64::from(opts.error_mode == ErrorMode::KeepGoing);
        record[F_N_JOBS] = if spec.default_threads { 0 } else { opts.n_jobs as u64 };
        record[F_HOST] = host_hash();
        record[F_MASK] = affinity_hash();
        record[F_CPUS] = cpus;
        record[F_FETCH_ADD] = u64::from(comm.has_fetch_add());
        record[F_SIZE] = comm.size() as u64;
        record[F_NUM_PROCS] = num_procs;
        record[F_SEEDS_OFF] = u64::from(!opts.item_seeds);
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
            return Err(Error::Unsupported(format!(
                "the process backend cannot be used with a communicator (rank {r} asked for it)"
            )));
        }
        // Options that must agree, or ranks' items would behave differently.
        for (field, name) in [(F_ERROR_MODE, "error_mode"), (F_SEEDS_OFF, "seeds")] {
            if let Some(r) = all.iter().position(|rec| rec[field] != all[0][field]) {
                return Err(Error::invalid(format!("rank {r} passed a different {name} from rank 0")));
            }
        }
        let (n_jobs, why) = threads_for(&all, comm.rank(), comm.local_size());
        Ok(Setup { collective, all, n_jobs, why, watch: None })
    }

    /// Threads for this rank's workers.
    pub fn n_jobs(&self) -> usize {
        self.n_jobs
    }

    /// The operation the invoker is to run: `op`, watched for stops
    /// signalled by other ranks (see `dist::watch`).
    pub fn watch(&mut self, op: Op) -> Op {
        let watch = Watch::new(op, self.collective.comm().clone(), super::map::STOP_UNIT);
        let wrapped = watch.op();
        self.watch = Some(watch);
        wrapped
    }

    /// Second collective: every rank started its workers (`started` is this
    /// rank's failure, if any); `seed_base` becomes rank 0's.
    pub fn finish(self, seed_base: &mut u64, started: Option<&Error>) -> Result<Dist> {
        let comm = self.collective.comm().clone();
        let record = [u64::from(started.is_none()), *seed_base, self.n_jobs as u64];
        let all = comm.allgather_u64(&record)?;
        if let Some(r) = all.iter().position(|rec| rec[0] == 0) {
            if let Some(e) = started {
                return Err(e.clone());
            }
            return Err(Error::OnRank {
                rank: r,
                error: Box::new(Error::System("could not start its worker threads".into())),
            });
        }
        *seed_base = all[0][1];
        let threads: Vec<usize> = all.iter().map(|rec| rec[2] as usize).collect();
        if comm.rank() == 0 {
            log::info!(target: "lkparallel::dist", "{}", summary(&threads, &self.why, &self.all));
        }
        log::debug!(target: "lkparallel::dist", "rank {}: {} threads ({})", comm.rank(), self.n_jobs, self.why);
        Ok(Dist {
            max_threads: threads.iter().copied().max().unwrap_or(1).max(1),
            all_fetch_add: self.all.iter().all(|rec| rec[F_FETCH_ADD] != 0),
            broken: AtomicBool::new(false),
            watch: self.watch.expect("Setup::watch gave the invoker its op"),
            comm,
        })
    }
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

fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn host_hash() -> u64 {
    let mut buf = [0u8; 256];
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return 0;
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    fnv1a(buf[..len].iter().copied())
}

/// A hash of this process's CPU affinity mask (0 when it cannot be read).
fn affinity_hash() -> u64 {
    let mut words = 1024 / 64;
    loop {
        let mut mask = vec![0u64; words];
        let r = unsafe { libc::sched_getaffinity(0, words * 8, mask.as_mut_ptr().cast()) };
        if r == 0 {
            return fnv1a(mask.iter().flat_map(|w| w.to_le_bytes()));
        }
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) && words < 1 << 16 {
            words *= 2;
            continue;
        }
        return 0;
    }
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
