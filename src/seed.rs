//! Reproducible seeds.
//!
//! A task's seed depends only on the root seed, the invoker's creation order,
//! the map's order on that invoker and the item index: it is computed from
//! those numbers, never from which worker happened to run the item.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::sync::Once;

static ROOT: AtomicU64 = AtomicU64::new(0);
static ROOT_READY: AtomicBool = AtomicBool::new(false);
static ROOT_INIT: Once = Once::new();
static INVOKERS: AtomicU64 = AtomicU64::new(0);
static SP_CALLS: AtomicU64 = AtomicU64::new(0);

/// Domain separation so invoker seeds and run_sp seeds never coincide.
const SP_DOMAIN: u64 = 0x7370_5f63_6869_6c64; // "sp_child"

/// The murmur3 64-bit finaliser: a bijection with good avalanche.
#[inline]
fn fmix64(mut z: u64) -> u64 {
    z ^= z >> 33;
    z = z.wrapping_mul(0xff51_afd7_ed55_8ccd);
    z ^= z >> 33;
    z = z.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
}

/// Derive a child seed: SplitMix64's output function at position `key` of
/// the stream `base`. For a fixed `base` it is a bijection of `key` (an odd
/// multiplier, an xor, then a bijective mix), so distinct keys (item
/// indices) always give distinct seeds; one mix keeps it cheap enough for
/// the per-item path.
#[inline]
pub fn derive(base: u64, key: u64) -> u64 {
    fmix64(base ^ weyl(key))
}

/// The golden-ratio increment of SplitMix64's stream.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline]
fn weyl(key: u64) -> u64 {
    key.wrapping_add(1).wrapping_mul(GOLDEN)
}

/// `derive(base, key)` for consecutive keys, a multiplication cheaper per
/// key: the per-item loop's seeds.
pub struct Keys(u64);

impl Keys {
    /// Start at `key`.
    #[inline]
    pub fn starting_at(key: u64) -> Keys {
        Keys(weyl(key))
    }

    /// `derive(base, key)` for the current key, then move to `key + 1`.
    #[inline]
    pub fn next_seed(&mut self, base: u64) -> u64 {
        let seed = fmix64(base ^ self.0);
        self.0 = self.0.wrapping_add(GOLDEN);
        seed
    }
}

/// The root seed: set by `init`, else `LK_SEED`, else fresh entropy.
pub fn root() -> u64 {
    if !ROOT_READY.load(Ordering::Acquire) {
        ROOT_INIT.call_once(|| {
            if !ROOT_READY.load(Ordering::Acquire) {
                ROOT.store(initial_root(), Ordering::Release);
                ROOT_READY.store(true, Ordering::Release);
            }
        });
    }
    ROOT.load(Ordering::Acquire)
}

fn initial_root() -> u64 {
    if let Ok(text) = std::env::var("LK_SEED") {
        match text.trim().parse::<u64>() {
            Ok(seed) => return seed,
            Err(_) => log::warn!(target: "lkparallel", "ignoring LK_SEED={text:?}: not a decimal u64"),
        }
    }
    entropy()
}

fn entropy() -> u64 {
    if let Some(r) = crate::sys::random_u64() {
        return r;
    }
    // No getrandom: time and pid are enough for an unseeded run.
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64);
    derive(t.unwrap_or(0), std::process::id() as u64)
}

/// Set the root seed and restart the invoker and run_sp counters.
pub fn init(seed: u64) {
    ROOT_INIT.call_once(|| {});
    ROOT.store(seed, Ordering::Release);
    ROOT_READY.store(true, Ordering::Release);
    INVOKERS.store(0, Ordering::Release);
    SP_CALLS.store(0, Ordering::Release);
}

/// The seed base of the next invoker, in creation order.
pub fn next_invoker_base() -> u64 {
    let ordinal = INVOKERS.fetch_add(1, Ordering::AcqRel);
    invoker_base(root(), ordinal)
}

pub fn invoker_base(root: u64, ordinal: u64) -> u64 {
    derive(root, ordinal)
}

/// The root seed of the next run_sp child, in call order.
pub fn next_sp_root() -> u64 {
    let ordinal = SP_CALLS.fetch_add(1, Ordering::AcqRel);
    derive(derive(root(), SP_DOMAIN), ordinal)
}

/// Make sure the root seed exists before a fork, so a child never runs the
/// one-time initialisation (whose lock another parent thread could hold).
pub fn ready_for_fork() {
    root();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_is_distinct_and_stable() {
        let base = derive(42, 7);
        let seeds: std::collections::HashSet<u64> = (0..100_000).map(|i| derive(base, i)).collect();
        assert_eq!(seeds.len(), 100_000);
        assert_eq!(derive(1, 2), derive(1, 2));
        assert_ne!(derive(1, 2), derive(2, 1));
    }

    #[test]
    fn keys_follow_derive() {
        let base = derive(3, 9);
        for start in [0u64, 1, 1000, u64::MAX - 2] {
            let mut keys = Keys::starting_at(start);
            for i in 0..5 {
                assert_eq!(keys.next_seed(base), derive(base, start.wrapping_add(i)));
            }
        }
    }
}
