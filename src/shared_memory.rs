//! Shared memory (`lk_shared_alloc`): blocks that every process forked
//! after the first allocation maps at the same address.
//!
//! Why: a process invoker's workers see the caller's memory as it was when
//! the invoker was made, so a map copies its arguments into a ring and its
//! results back out, and on CPUs that share no cache those copies cost more
//! than the work. Arrays in this memory need neither: the workers read and
//! write them in place, so a map on processes moves the bytes a map on
//! threads moves.
//!
//! One region is reserved at the first allocation (address space the size
//! of the machine's memory, or `LK_SHARED_MEMORY`; backed only where
//! touched) and never moves or grows, so that every process forked from
//! then on (a pool's zygote and its workers, `lk_run_sp` children) maps all
//! of it at the same address.
//! Blocks are carved from it by best fit in cache lines; a freed block's
//! whole pages go back to the system. The bookkeeping is the reserving
//! process's own: a forked child may use blocks, not allocate or free them.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use once_cell::sync::OnceCell;

use crate::error::{Error, Result};
use crate::sync::Mutex;
use crate::sys::{self, Mapping};

/// Blocks start and end on cache lines: the most alignment a map keeps,
/// and no block shares a line with another.
pub(crate) const UNIT: usize = 64;
/// The least address space reserved by default (when the machine's memory
/// is unknown, or bigger reservations fail, as under a tight RLIMIT_AS).
const MIN_REGION: usize = 64 << 20;
/// The least `LK_SHARED_MEMORY` asks for.
const MIN_ASKED: usize = 1 << 20;

struct Region {
    map: Mapping,
    /// The process that reserved it: only it allocates and frees.
    owner: sys::RawPid,
    extents: Mutex<Extents>,
}

static REGION: OnceCell<Region> = OnceCell::new();

/// A block of at least `size` bytes (> 0), aligned to `UNIT`, contents
/// unspecified. Reserves the region at the first call.
pub fn alloc(size: usize) -> Result<*mut u8> {
    let region = REGION.get_or_try_init(reserve)?;
    let extents = region.extents()?;
    let len = size.checked_next_multiple_of(UNIT).ok_or_else(|| Error::invalid(format!("a shared block of {size} bytes overflows")))?;
    let mut extents = extents.lock();
    let start = extents.take(len).ok_or_else(|| {
        Error::System(format!(
            "out of shared memory: {size} bytes asked, {} of {} bytes free, the largest free block {} bytes",
            region.map.len() - extents.in_use,
            region.map.len(),
            extents.largest_free()
        ))
    })?;
    Ok(region.map.as_ptr().wrapping_add(start))
}

/// Free a block `alloc` gave; its whole pages go back to the system.
pub fn free(ptr: *mut u8) -> Result<()> {
    let not_ours = || Error::invalid(format!("{ptr:p} is not a block lk_shared_alloc gave (or it was freed already)"));
    let region = REGION.get().ok_or_else(not_ours)?;
    let start = (ptr as usize).checked_sub(region.base()).filter(|&s| s < region.map.len()).ok_or_else(not_ours)?;
    let mut extents = region.extents()?.lock();
    let freed = extents.give_back(start).ok_or_else(not_ours)?;
    // Under the lock: once it is released, another thread may take and
    // fill these pages. Discarding is an economy: should it fail, the
    // pages stay backed and are used again by the next blocks.
    let pages = whole_pages(freed.block, freed.merged, sys::page_size());
    if let Err(e) = region.map.discard(pages) {
        log::debug!(target: "lkparallel", "shared memory: could not return freed pages: {e}");
    }
    drop(extents);
    Ok(())
}

/// Whether `len` bytes at `addr` lie in the region (reserved or not, in
/// use or not): memory that a process forked since the reservation maps
/// at the same address.
pub fn contains(addr: usize, len: usize) -> bool {
    REGION.get().is_some_and(|r| addr >= r.base() && addr.checked_add(len).is_some_and(|end| end <= r.base() + r.map.len()))
}

/// Whether the region is reserved: a process forked from now on maps it.
pub fn reserved() -> bool {
    REGION.get().is_some()
}

fn reserve() -> Result<Region> {
    let (mut len, least) = match asked_size() {
        Some(len) => (len, len),
        None => (sys::physical_memory().unwrap_or(MIN_REGION).max(MIN_REGION) / UNIT * UNIT, MIN_REGION),
    };
    loop {
        match Mapping::shared_reserve(len) {
            Ok(map) => {
                log::debug!(target: "lkparallel", "shared memory: reserved {len} bytes at {:p}", map.as_ptr());
                return Ok(Region { map, owner: sys::getpid(), extents: Mutex::new(Extents::new(len)) });
            }
            Err(e) if len / 2 < least => return Err(Error::os(&format!("reserving {len} bytes of shared memory"), e)),
            Err(_) => len /= 2,
        }
    }
}

/// `LK_SHARED_MEMORY`, the region's size, when it is set and well formed
/// (a malformed value is logged and ignored).
fn asked_size() -> Option<usize> {
    let value = std::env::var_os("LK_SHARED_MEMORY")?;
    let parsed = value.to_str().and_then(parse_size).filter(|&n| n >= MIN_ASKED);
    if parsed.is_none() {
        log::warn!(target: "lkparallel", "ignoring LK_SHARED_MEMORY={value:?}: not a size of 1M or more (bytes, or a number with K, M, G or T)");
    }
    parsed.map(|n| n / UNIT * UNIT)
}

/// A decimal number of bytes, or of KiB, MiB, GiB or TiB with the suffix
/// K, M, G or T.
fn parse_size(text: &str) -> Option<usize> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 10),
        b'M' | b'm' => (&text[..text.len() - 1], 20),
        b'G' | b'g' => (&text[..text.len() - 1], 30),
        b'T' | b't' => (&text[..text.len() - 1], 40),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<usize>().ok()?.checked_mul(1usize << shift)
}

impl Region {
    fn base(&self) -> usize {
        self.map.as_ptr() as usize
    }

    /// The bookkeeping, in the process that owns it. (A forked child's copy
    /// is a snapshot the owner no longer follows, and its lock may have been
    /// held by a thread that the fork left behind.)
    fn extents(&self) -> Result<&Mutex<Extents>> {
        if sys::getpid() != self.owner {
            return Err(Error::Unsupported(
                "shared memory is allocated and freed by the process that first allocated it, not by a process forked from it".into(),
            ));
        }
        Ok(&self.extents)
    }
}

/// The pages of `block` that lie wholly in the free extent `merged`.
fn whole_pages(block: Range<usize>, merged: Range<usize>, page: usize) -> Range<usize> {
    let down = |x: usize| x / page * page;
    let up = |x: usize| x.div_ceil(page) * page;
    let start = down(block.start).max(up(merged.start));
    let end = up(block.end).min(down(merged.end));
    start..end.max(start)
}

/// A freed block and the free extent it joined.
#[derive(Debug, PartialEq)]
struct Freed {
    block: Range<usize>,
    merged: Range<usize>,
}

/// Free and used extents of a region, by offset: bookkeeping only.
#[derive(Debug)]
struct Extents {
    /// Free extents by start (to merge neighbours) and by length (best fit).
    free_at: BTreeMap<usize, usize>,
    free_by_len: BTreeSet<(usize, usize)>,
    /// Blocks in use by start: a free of anything else is refused.
    used: BTreeMap<usize, usize>,
    in_use: usize,
}

impl Extents {
    fn new(len: usize) -> Extents {
        let mut e = Extents { free_at: BTreeMap::new(), free_by_len: BTreeSet::new(), used: BTreeMap::new(), in_use: 0 };
        if len > 0 {
            e.insert_free(0, len);
        }
        e
    }

    /// The smallest free extent of at least `len` bytes (lowest start among
    /// equals) gives its first `len`: the start.
    fn take(&mut self, len: usize) -> Option<usize> {
        let &(have, start) = self.free_by_len.range((len, 0)..).next()?;
        self.remove_free(start, have);
        if have > len {
            self.insert_free(start + len, have - len);
        }
        self.used.insert(start, len);
        self.in_use += len;
        Some(start)
    }

    /// Free the block at `start`, merged with free neighbours (None: no
    /// block starts there).
    fn give_back(&mut self, start: usize) -> Option<Freed> {
        let len = self.used.remove(&start)?;
        self.in_use -= len;
        let block = start..start + len;
        let mut merged = block.clone();
        if let Some((&s, &l)) = self.free_at.range(..start).next_back() {
            if s + l == start {
                self.remove_free(s, l);
                merged.start = s;
            }
        }
        if let Some(&l) = self.free_at.get(&block.end) {
            self.remove_free(block.end, l);
            merged.end += l;
        }
        self.insert_free(merged.start, merged.len());
        Some(Freed { block, merged })
    }

    fn largest_free(&self) -> usize {
        self.free_by_len.last().map_or(0, |&(len, _)| len)
    }

    fn insert_free(&mut self, start: usize, len: usize) {
        self.free_at.insert(start, len);
        self.free_by_len.insert((len, start));
    }

    fn remove_free(&mut self, start: usize, len: usize) {
        self.free_at.remove(&start);
        self.free_by_len.remove(&(len, start));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn best_fit_and_merging() {
        let mut e = Extents::new(1000);
        let a = e.take(100).unwrap();
        let b = e.take(200).unwrap();
        let c = e.take(100).unwrap();
        assert_eq!((a, b, c), (0, 100, 300));
        assert_eq!(e.give_back(a), Some(Freed { block: 0..100, merged: 0..100 }));
        // Best fit: the 100-byte hole, not the 600-byte tail.
        assert_eq!(e.take(64), Some(0));
        assert_eq!(e.give_back(0), Some(Freed { block: 0..64, merged: 0..100 }));
        assert_eq!(e.give_back(b), Some(Freed { block: 100..300, merged: 0..300 }));
        assert_eq!(e.give_back(c), Some(Freed { block: 300..400, merged: 0..1000 }));
        assert_eq!(e.largest_free(), 1000);
        assert_eq!(e.in_use, 0);
    }

    #[test]
    fn frees_of_anything_but_a_block_are_refused() {
        let mut e = Extents::new(1000);
        let a = e.take(128).unwrap();
        assert_eq!(e.give_back(a + 64), None);
        assert_eq!(e.give_back(900), None);
        assert!(e.give_back(a).is_some());
        assert_eq!(e.give_back(a), None, "a double free");
        assert_eq!(e.take(1001), None);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("256M"), Some(256 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("1T"), Some(1 << 40));
        for bad in ["", "M", "-1M", "1.5G", "12Q", " 1M", "99999999999999999999T"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_pages_wholly_free_are_discarded() {
        let p = 4096;
        // A block inside one page, its neighbours in use: nothing.
        assert!(whole_pages(100..200, 100..200, p).is_empty());
        // The same block once the page around it is free: that page.
        assert_eq!(whole_pages(100..200, 0..8192, p), 0..4096);
        // A big block whose ends share pages with blocks in use.
        assert_eq!(whole_pages(1000..20000, 1000..20000, p), 4096..16384);
    }

    #[test]
    fn blocks_are_aligned_distinct_and_freed_once() {
        let a = alloc(100).unwrap();
        let b = alloc(1).unwrap();
        assert_eq!((a as usize % UNIT, b as usize % UNIT), (0, 0));
        assert!((b as usize).abs_diff(a as usize) >= 128);
        assert!(contains(a as usize, 128) && !contains(a as usize, usize::MAX));
        // SAFETY: `a` is a fresh block of at least 100 bytes.
        unsafe { std::ptr::write_bytes(a, 7, 100) };
        free(a).unwrap();
        assert!(matches!(free(a), Err(Error::Invalid(_))));
        let local = 0u64;
        assert!(!contains(&local as *const u64 as usize, 8));
        assert!(matches!(free((&local as *const u64).cast_mut().cast()), Err(Error::Invalid(_))));
        assert!(matches!(alloc(usize::MAX), Err(Error::Invalid(_))));
        assert!(matches!(alloc(usize::MAX / 2), Err(Error::System(_))));
        free(b).unwrap();
    }

    #[derive(Debug, Clone)]
    enum Step {
        Take(usize),
        Free(usize),
    }

    proptest! {
        /// Blocks never overlap, lie in the region, and every byte is
        /// either in a block or in exactly one free extent; neighbouring
        /// free extents are always merged.
        #[test]
        fn extents_stay_consistent(steps in prop::collection::vec(prop_oneof![
            (1usize..40).prop_map(|u| Step::Take(u * UNIT)),
            (0usize..64).prop_map(Step::Free),
        ], 1..200)) {
            let len = 256 * UNIT;
            let mut e = Extents::new(len);
            let mut live: Vec<(usize, usize)> = Vec::new();
            for step in steps {
                match step {
                    Step::Take(n) => if let Some(s) = e.take(n) { live.push((s, n)) },
                    Step::Free(i) if !live.is_empty() => {
                        let (s, n) = live.swap_remove(i % live.len());
                        let f = e.give_back(s).unwrap();
                        prop_assert_eq!(f.block, s..s + n);
                    }
                    Step::Free(_) => {}
                }
                let mut spans: Vec<(usize, usize, bool)> = live.iter().map(|&(s, n)| (s, n, true)).collect();
                spans.extend(e.free_at.iter().map(|(&s, &n)| (s, n, false)));
                spans.sort();
                let mut at = 0;
                for w in spans.windows(2) {
                    prop_assert!(w[0].2 || w[1].2, "unmerged free neighbours");
                }
                for (s, n, _) in spans {
                    prop_assert_eq!(s, at);
                    at += n;
                }
                prop_assert_eq!(at, len);
                prop_assert_eq!(e.in_use, live.iter().map(|l| l.1).sum::<usize>());
                prop_assert_eq!(e.free_at.len(), e.free_by_len.len());
            }
        }
    }
}
