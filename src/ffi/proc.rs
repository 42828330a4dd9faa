//! Process counts and where the caller is running.

use super::guard_value;
use crate::fork::{self, Role};
use crate::{cpus, invoker};

/// LensKit's `proc_count`: how many workers to use.
///
/// `core_div <= 0` and `max_default <= 0` mean "none". If `LK_NUM_PROCS` is
/// set it is a comma-separated list, one count per nesting `level` ("8",
/// "7,3"); a level past its end gets 1. Otherwise level 0 gets
/// `max(cpus / core_div, 1)` capped at `max_default`, level 1 gets
/// `core_div`, deeper levels 1; with no `core_div` every level gets 1.
/// `cpus` is `lk_cpu_count()`. `LK_NUM_PROCS` is read at each call; a
/// malformed value (empty, or an entry that is not a positive decimal
/// `int32_t`) is logged as a warning and ignored as a whole.
///
/// Returns a count >= 1. Thread-safe.
#[no_mangle]
pub extern "C" fn lk_proc_count(core_div: i32, max_default: i32, level: i32) -> i32 {
    guard_value(1, || cpus::proc_count(core_div, max_default, level))
}

/// The number of CPUs this process may actually run on: the smaller of its
/// affinity mask and its cgroup (v1 or v2) CPU quota, rounded up, at least 1.
/// Which limit decided it is logged at debug level. Thread-safe.
#[no_mangle]
pub extern "C" fn lk_cpu_count() -> i32 {
    guard_value(1, || {
        let c = cpus::cpu_count();
        log::debug!(target: "lkparallel", "{} usable CPUs, decided by {}", c.count, c.decided_by);
        i32::try_from(c.count).unwrap_or(i32::MAX)
    })
}

/// The thread budget for parallel work nested inside the current callback
/// (BLAS, OpenMP): `LK_NUM_PROCS`'s level-1 entry when it is set (1 past its
/// end, as `lk_proc_count(.., .., 1)`), else `lk_cpu_count()` divided among
/// the invoker's workers, at least 1. Outside any callback: `lk_cpu_count()`.
/// Thread-safe; cheap enough to call from every callback.
#[no_mangle]
pub extern "C" fn lk_inner_threads() -> i32 {
    guard_value(1, invoker::current_inner_threads)
}

/// 1 inside a callback of a pool invoker (`n_jobs >= 2`, whatever thread runs
/// it), in a worker process, or in an `lk_run_sp` child; 0 elsewhere (n_jobs
/// 1 callbacks included). Thread-safe, async-signal-safe.
#[no_mangle]
pub extern "C" fn lk_is_worker() -> i32 {
    guard_value(0, || i32::from(fork::role() != Role::Parent || invoker::in_pool_callback()))
}

/// 1 only in a worker process of a process-backend invoker; 0 elsewhere.
/// Thread-safe, async-signal-safe.
#[no_mangle]
pub extern "C" fn lk_is_mp_worker() -> i32 {
    guard_value(0, || i32::from(fork::role() == Role::PoolWorker))
}
