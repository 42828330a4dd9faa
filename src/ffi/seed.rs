//! Seeds.

use super::guard_value;
use crate::seed;

/// Set the root seed, and restart the invoker and `lk_run_sp` counters, so
/// the same calls after it give the same seeds. Without it the root seed is
/// `LK_SEED` (a decimal u64) if set, else fresh entropy. Invokers already
/// made keep the seeds they were made with. Thread-safe.
#[no_mangle]
pub extern "C" fn lk_seed_init(seed: u64) {
    guard_value((), || seed::init(seed))
}

/// The root seed: the value set by `lk_seed_init` or `LK_SEED`, else the
/// entropy drawn once. In an `lk_run_sp` child: that child's derived root
/// seed. Thread-safe.
#[no_mangle]
pub extern "C" fn lk_root_seed() -> u64 {
    guard_value(0, seed::root)
}

/// Derive a seed from `base` and `key` (a 64-bit mix). For a fixed `base`,
/// distinct keys give distinct seeds. This is how `task->seed` is made:
/// `lk_derive_seed(map_seed, task->index)`. Pure; thread-safe.
#[no_mangle]
pub extern "C" fn lk_derive_seed(base: u64, key: u64) -> u64 {
    guard_value(0, || seed::derive(base, key))
}
