//! Handles: the pointer C holds is a key into a registry, never a Rust pointer.
//!
//! A handle packs a slot index and a generation. Generations come from one
//! process-wide counter, so a handle value is never reused within a process
//! (nor by a forked child, which inherits the counter). Lookups are lock-free
//! atomics, which keeps `lk_invoker_cancel` async-signal-safe and lets a forked
//! child reject inherited handles without touching a lock a parent thread
//! might have held: after fork the child swaps in an empty table (and a
//! lookup in an empty table allocates nothing).
//!
//! Removal waits for the calls in flight on a futex word the last of them
//! bumps: no lock, so a guard dropped in a signal handler (a cancel) is safe.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use crate::sync::Mutex;

const CHUNK: usize = 256;
const MAX_CHUNKS: usize = 4096; // 1M live handles at once
const IDX_BITS: u32 = 20;
const REF_BITS: u32 = 23;
const REF_MASK: u64 = (1 << REF_BITS) - 1;
const CLOSING: u64 = 1 << REF_BITS;
const GEN_SHIFT: u32 = REF_BITS + 1;
/// Low bits of a handle value: always zero, so it looks like an aligned pointer.
const TAG_BITS: u32 = 4;

static NEXT_GEN: AtomicU64 = AtomicU64::new(1);

struct Slot<T> {
    /// generation << GEN_SHIFT | closing | refs. Generation 0: free.
    state: AtomicU64,
    value: AtomicPtr<T>,
    /// Bumped by the last call to leave a closing slot; `remove` waits on it.
    left: AtomicU32,
}

struct Table<T> {
    chunks: Box<[AtomicPtr<[Slot<T>; CHUNK]>]>,
    next_idx: AtomicU64,
    free: Mutex<Vec<u32>>,
}

/// A registry of values of type `T` reachable from C by handle.
pub struct Registry<T> {
    table: AtomicPtr<Table<T>>,
}

/// A reference held for the duration of one call; shutdown waits for these.
pub struct Guard<'a, T> {
    slot: &'a Slot<T>,
    value: &'a T,
}

impl<T> std::ops::Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        let before = self.slot.state.fetch_sub(1, Ordering::SeqCst);
        if before & CLOSING != 0 && before & REF_MASK == 1 {
            // The last call out of a closing slot: wake the remover.
            self.slot.left.fetch_add(1, Ordering::SeqCst);
            crate::sys::futex_wake_private(&self.slot.left);
        }
    }
}

impl<T> Table<T> {
    fn new() -> Self {
        Table {
            chunks: (0..MAX_CHUNKS).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect(),
            next_idx: AtomicU64::new(0),
            free: Mutex::new(Vec::new()),
        }
    }

    fn slot(&self, idx: u64) -> Option<&Slot<T>> {
        let chunk = self.chunks.get(idx as usize / CHUNK)?.load(Ordering::Acquire);
        if chunk.is_null() {
            return None;
        }
        // SAFETY: a non-null chunk pointer was made by `claim_slot` from a
        // Box, and chunks are never freed while the table lives (tables are
        // never freed).
        Some(unsafe { &(*chunk)[idx as usize % CHUNK] })
    }

    fn claim_slot(&self) -> Option<u64> {
        if let Some(idx) = self.free.lock().pop() {
            return Some(idx as u64);
        }
        let idx = self.next_idx.fetch_add(1, Ordering::AcqRel);
        let c = idx as usize / CHUNK;
        if c >= MAX_CHUNKS {
            return None;
        }
        if self.chunks[c].load(Ordering::Acquire).is_null() {
            let fresh: Box<[Slot<T>; CHUNK]> = Box::new(std::array::from_fn(|_| Slot {
                state: AtomicU64::new(0),
                value: AtomicPtr::new(std::ptr::null_mut()),
                left: AtomicU32::new(0),
            }));
            let fresh = Box::into_raw(fresh);
            if self.chunks[c]
                .compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // SAFETY: another thread installed its chunk first; ours was
                // never shared, so we own it.
                drop(unsafe { Box::from_raw(fresh) });
            }
        }
        Some(idx)
    }
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Registry<T> {
    pub const fn new() -> Self {
        Registry { table: AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// The table, if there is one: lookups never allocate (a forked child's
    /// lookup in an emptied registry must not touch the allocator's locks).
    fn existing(&self) -> Option<&Table<T>> {
        let t = self.table.load(Ordering::Acquire);
        // SAFETY: a non-null table pointer was made from a Box by `table`,
        // and tables are never freed (a forked child leaks the parent's).
        (!t.is_null()).then(|| unsafe { &*t })
    }

    /// The table, made on first use.
    fn table(&self) -> &Table<T> {
        crate::util::leaked_once(&self.table, Table::new)
    }

    /// Store `value`; returns its handle value (never 0), or `None` when full.
    pub fn insert(&self, value: Box<T>) -> Option<usize> {
        let table = self.table();
        let idx = table.claim_slot()?;
        let slot = table.slot(idx)?;
        let gen = NEXT_GEN.fetch_add(1, Ordering::AcqRel);
        slot.value.store(Box::into_raw(value), Ordering::Release);
        slot.state.store(gen << GEN_SHIFT, Ordering::Release);
        Some((((gen << IDX_BITS) | idx) << TAG_BITS) as usize)
    }

    fn decode(&self, handle: usize) -> Option<(&Slot<T>, u64)> {
        let h = handle as u64;
        if h == 0 || h & ((1 << TAG_BITS) - 1) != 0 {
            return None;
        }
        let h = h >> TAG_BITS;
        let gen = h >> IDX_BITS;
        let slot = self.existing()?.slot(h & ((1 << IDX_BITS) - 1))?;
        Some((slot, gen))
    }

    /// Take a reference for one call; `None` for unknown, dead or closing handles.
    /// Lock-free and async-signal-safe.
    pub fn get(&self, handle: usize) -> Option<Guard<'_, T>> {
        let (slot, gen) = self.decode(handle)?;
        let mut s = slot.state.load(Ordering::Acquire);
        loop {
            if gen == 0 || s >> GEN_SHIFT != gen || s & CLOSING != 0 || s & REF_MASK == REF_MASK {
                return None;
            }
            match slot.state.compare_exchange_weak(s, s + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        // SAFETY: the reference we hold keeps the slot's value alive: it is
        // taken out only by `remove`, after every reference is dropped.
        let value = unsafe { &*slot.value.load(Ordering::Acquire) };
        Some(Guard { slot, value })
    }

    /// Mark the handle closing (new lookups fail), wait until calls in flight
    /// are done, and take the value out. `None` if the handle is not live.
    pub fn remove(&self, handle: usize) -> Option<Box<T>> {
        let (slot, gen) = self.decode(handle)?;
        let mut s = slot.state.load(Ordering::Acquire);
        loop {
            if gen == 0 || s >> GEN_SHIFT != gen || s & CLOSING != 0 {
                return None;
            }
            match slot.state.compare_exchange_weak(s, s | CLOSING, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        // Wait for the calls in flight: the last one out bumps `left`.
        loop {
            let seen = slot.left.load(Ordering::SeqCst);
            if slot.state.load(Ordering::SeqCst) & REF_MASK == 0 {
                break;
            }
            crate::sys::futex_wait_private(&slot.left, seen);
        }
        let value = slot.value.swap(std::ptr::null_mut(), Ordering::AcqRel);
        slot.state.store(0, Ordering::Release);
        let idx = ((handle as u64 >> TAG_BITS) & ((1 << IDX_BITS) - 1)) as u32;
        self.table().free.lock().push(idx);
        // SAFETY: `insert` stored a Box here; the closing flag stops new
        // references and none is left, so we own it again.
        Some(unsafe { Box::from_raw(value) })
    }

    /// In a forked child: forget every handle (they belong to the parent).
    /// The old table is leaked on purpose: its values own parent threads and
    /// locks that must not be touched or dropped here. Lock-free.
    pub fn forget_all_after_fork(&self) {
        self.table.store(std::ptr::null_mut(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove() {
        let reg: Registry<u32> = Registry::new();
        let a = reg.insert(Box::new(7)).unwrap();
        assert_eq!(*reg.get(a).unwrap(), 7);
        assert_eq!(*reg.remove(a).unwrap(), 7);
        assert!(reg.get(a).is_none());
        assert!(reg.remove(a).is_none());
        let b = reg.insert(Box::new(8)).unwrap();
        assert_ne!(a, b, "handle values are never reused");
        assert!(reg.get(a).is_none());
        assert!(reg.get(0).is_none());
        assert!(reg.get(3).is_none());
        assert!(reg.get(usize::MAX & !15).is_none());
        reg.forget_all_after_fork();
        assert!(reg.get(b).is_none());
    }

    #[test]
    fn remove_waits_for_guards() {
        let reg: &'static Registry<u32> = Box::leak(Box::new(Registry::new()));
        let h = reg.insert(Box::new(1)).unwrap();
        let g = reg.get(h).unwrap();
        let t = std::thread::spawn(move || reg.remove(h).is_some());
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!t.is_finished());
        assert!(reg.get(h).is_none(), "closing handles refuse new calls");
        drop(g);
        assert!(t.join().unwrap());
    }
}
