//! `Comm`: a safe face on the C table of collectives (`lk_comm_ops`).
//!
//! Every call goes through one of these methods, which check sizes, turn a
//! non-zero return into `Error::Comm`, and are used only on the thread that
//! called the library (the distributed map holds `Comm::lock` for its whole
//! collective sequence, so two maps never interleave their collectives).

use std::ffi::c_void;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::util::SendPtr;

type BcastFn = unsafe extern "C" fn(*mut c_void, *mut c_void, usize, i32) -> i32;
type AllgatherFn = unsafe extern "C" fn(*mut c_void, *const c_void, *mut c_void, usize) -> i32;
type AllgathervFn = unsafe extern "C" fn(*mut c_void, *mut c_void, *const usize, *const usize, usize) -> i32;
type RootedvFn = unsafe extern "C" fn(*mut c_void, *mut c_void, *const usize, *const usize, usize, i32) -> i32;
type FetchAddFn = unsafe extern "C" fn(*mut c_void, u64, *mut u64) -> i32;
type FetchAddAtFn = unsafe extern "C" fn(*mut c_void, u32, u64, *mut u64) -> i32;
type AbortFn = unsafe extern "C" fn(*mut c_void, i32);
type ReleaseFn = unsafe extern "C" fn(*mut c_void);

/// The table's function pointers, the required ones checked non-NULL.
#[derive(Clone, Copy)]
pub struct Fns {
    pub bcast: BcastFn,
    pub allgather: AllgatherFn,
    pub allgatherv: AllgathervFn,
    pub gatherv: RootedvFn,
    pub scatterv: RootedvFn,
    pub fetch_add: Option<FetchAddFn>,
    pub abort: Option<AbortFn>,
    pub release: Option<ReleaseFn>,
    pub fetch_add_at: Option<FetchAddAtFn>,
}

/// Largest accepted number of ranks (the cancellation counter needs
/// `size * 2^40 < 2^64`).
pub(crate) const MAX_RANKS: usize = 1 << 22;

pub struct Comm {
    rank: usize,
    size: usize,
    local_size: usize,
    ctx: SendPtr<c_void>,
    fns: Fns,
    /// Taken for a whole collective sequence (one map, one invoker creation).
    busy: AtomicBool,
}

/// A buffer pointer fit to hand to the table. An empty `Vec`'s pointer is
/// dangling (`0x1`, which is `MPI_IN_PLACE` in Open MPI) and NULL is refused
/// by some MPIs even for nothing: give them a real, if tiny, buffer instead.
/// Only for transfers that are empty on this rank, which is the only way a
/// real buffer ends up in the first page.
fn real(buf: *mut u8, spare: &mut [u64; 2]) -> *mut c_void {
    if (buf as usize) < 4096 {
        spare.as_mut_ptr().cast()
    } else {
        buf.cast()
    }
}

impl Comm {
    /// Check the numbers of a table and wrap it; `ctx` is owned from here on.
    pub fn new(rank: i32, size: i32, local_size: i32, ctx: *mut c_void, fns: Fns) -> Result<Comm> {
        if size < 1 || size as usize > MAX_RANKS {
            return Err(Error::invalid(format!("lk_comm_ops.size {size} is not in 1 ..= {MAX_RANKS}")));
        }
        if rank < 0 || rank >= size {
            return Err(Error::invalid(format!("lk_comm_ops.rank {rank} is not in 0 .. {size}")));
        }
        if local_size < 0 || local_size > size {
            return Err(Error::invalid(format!("lk_comm_ops.local_size {local_size} is not in 0 ..= {size}")));
        }
        Ok(Comm {
            rank: rank as usize,
            size: size as usize,
            local_size: (local_size as usize).max(1),
            ctx: SendPtr(ctx),
            fns,
            busy: AtomicBool::new(false),
        })
    }

    pub fn rank(&self) -> usize {
        self.rank
    }
    pub fn size(&self) -> usize {
        self.size
    }
    /// Ranks on this machine, this one included (1 when the table did not say).
    pub fn local_size(&self) -> usize {
        self.local_size
    }
    pub fn has_fetch_add(&self) -> bool {
        self.fns.fetch_add.is_some()
    }
    pub fn has_fetch_add_at(&self) -> bool {
        self.fns.fetch_add_at.is_some()
    }

    /// Take the communicator for one collective sequence; false when another
    /// thread of this process is in one (collectives must not interleave).
    pub(crate) fn try_take(&self) -> bool {
        self.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    pub(crate) fn put_back(&self) {
        self.busy.store(false, Ordering::Release);
    }

    fn check(&self, what: &str, rc: i32) -> Result<()> {
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::Comm(format!("{what} returned {rc} on rank {}", self.rank)))
        }
    }

    /// Whether a varying-count collective has nothing to move: every part
    /// is empty (every rank sees the same counts, so all skip it alike).
    /// Panics unless `counts` and `displs` hold one entry per rank.
    fn nothing_to_move(&self, counts: &[usize], displs: &[usize]) -> bool {
        assert!(counts.len() == self.size && displs.len() == self.size, "counts and displs need one entry per rank");
        counts.iter().all(|&c| c == 0)
    }

    /// Rank `root`'s bytes of `buf` to every rank's `buf`.
    pub fn bcast(&self, buf: &mut [u8], root: usize) -> Result<()> {
        let mut spare = [0u64; 2];
        // SAFETY: buf (or `spare`, for an empty one) is valid for its length;
        // the table's bcast reads or writes exactly that many bytes.
        let rc = unsafe { (self.fns.bcast)(self.ctx.0, real(buf.as_mut_ptr(), &mut spare), buf.len(), root as i32) };
        self.check("bcast", rc)
    }

    /// Bcast of a raw array (the user's args at the root, only read there).
    ///
    /// # Safety
    /// `buf` must be valid for `len` bytes, writable on every rank but the root.
    pub unsafe fn bcast_raw(&self, buf: *mut u8, len: usize, root: usize) -> Result<()> {
        let mut spare = [0u64; 2];
        // SAFETY: the caller's promise: `buf` is valid for `len` bytes.
        let rc = unsafe { (self.fns.bcast)(self.ctx.0, real(buf, &mut spare), len, root as i32) };
        self.check("bcast", rc)
    }

    /// Every rank's `send` (all the same length), concatenated in rank order.
    pub fn allgather(&self, send: &[u8]) -> Result<Vec<u8>> {
        let mut recv = vec![0u8; send.len() * self.size];
        let (mut s1, mut s2) = ([0u64; 2], [0u64; 2]);
        let send_ptr = real(send.as_ptr() as *mut u8, &mut s1);
        // SAFETY: `send` holds `len` bytes (only read) and `recv` `size * len`.
        let rc = unsafe { (self.fns.allgather)(self.ctx.0, send_ptr, real(recv.as_mut_ptr(), &mut s2), send.len()) };
        self.check("allgather", rc)?;
        Ok(recv)
    }

    /// Allgather of fixed-size records of `u64`s: one `Vec` per rank.
    pub fn allgather_u64(&self, record: &[u64]) -> Result<Vec<Vec<u64>>> {
        let bytes: Vec<u8> = record.iter().flat_map(|v| v.to_le_bytes()).collect();
        let all = self.allgather(&bytes)?;
        Ok(all
            .chunks_exact(bytes.len().max(1))
            .take(self.size)
            .map(|r| r.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().unwrap())).collect())
            .collect())
    }

    /// In place: every rank's part of `buf` to every rank. Nothing at all
    /// (on every rank alike) when every part is empty.
    ///
    /// # Safety
    /// `buf` must be valid for `max(displs[r] + counts[r]) * elem` bytes.
    pub unsafe fn allgatherv(&self, buf: *mut u8, counts: &[usize], displs: &[usize], elem: usize) -> Result<()> {
        if self.nothing_to_move(counts, displs) {
            return Ok(());
        }
        let mut spare = [0u64; 2];
        // SAFETY: the caller's promise on `buf`; `counts` and `displs` hold
        // one entry per rank (checked above).
        let rc = unsafe { (self.fns.allgatherv)(self.ctx.0, real(buf, &mut spare), counts.as_ptr(), displs.as_ptr(), elem) };
        self.check("allgatherv", rc)
    }

    /// In place, to `root`: every rank's part of `buf` (the full array's
    /// start, on every rank). Nothing at all when every part is empty.
    ///
    /// # Safety
    /// As `allgatherv` at the root; elsewhere `buf + displs[rank] * elem` must
    /// be valid for `counts[rank] * elem` bytes (`buf` itself may point
    /// before memory this rank owns: only its own part is touched).
    pub unsafe fn gatherv(&self, buf: *mut u8, counts: &[usize], displs: &[usize], elem: usize, root: usize) -> Result<()> {
        // SAFETY: the caller's promise, as `rooted_v` asks.
        unsafe { self.rooted_v(self.fns.gatherv, "gatherv", buf, counts, displs, elem, root) }
    }

    /// In place, from `root` (whose `buf` is only read): each rank's part.
    /// Nothing at all when every part is empty.
    ///
    /// # Safety
    /// As `gatherv`.
    pub unsafe fn scatterv(&self, buf: *mut u8, counts: &[usize], displs: &[usize], elem: usize, root: usize) -> Result<()> {
        // SAFETY: the caller's promise, as `rooted_v` asks.
        unsafe { self.rooted_v(self.fns.scatterv, "scatterv", buf, counts, displs, elem, root) }
    }

    /// `gatherv` or `scatterv` (`f`, named `what`): the two differ only in
    /// which way the parts travel.
    ///
    /// # Safety
    /// As `gatherv`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn rooted_v(&self, f: RootedvFn, what: &str, buf: *mut u8, counts: &[usize], displs: &[usize], elem: usize, root: usize) -> Result<()> {
        if self.nothing_to_move(counts, displs) {
            return Ok(());
        }
        let mut spare = [0u64; 2];
        let buf = self.own_part_base(buf, counts, displs, elem, root, &mut spare);
        // SAFETY: the caller's promise on `buf` (an empty part is `spare`);
        // `counts` and `displs` hold one entry per rank (checked above).
        let rc = unsafe { f(self.ctx.0, buf, counts.as_ptr(), displs.as_ptr(), elem, root as i32) };
        self.check(what, rc)
    }

    /// A rank other than the root with nothing to send or receive: a base
    /// whose own (empty) part is a real buffer, never NULL or `0x1`
    /// (`MPI_IN_PLACE` in Open MPI).
    fn own_part_base(&self, buf: *mut u8, counts: &[usize], displs: &[usize], elem: usize, root: usize, spare: &mut [u64; 2]) -> *mut c_void {
        if self.rank != root && counts[self.rank] == 0 {
            let at = displs[self.rank].wrapping_mul(elem);
            return spare.as_mut_ptr().cast::<u8>().wrapping_sub(at).cast();
        }
        buf.cast()
    }

    /// Add to the shared counter on rank 0; its previous value.
    pub fn fetch_add(&self, add: u64) -> Result<u64> {
        let f = self.fns.fetch_add.ok_or_else(|| Error::Unsupported("this communicator has no fetch_add".into()))?;
        let mut old = 0u64;
        // SAFETY: `old` is a valid u64 for the call; `ctx` is the table's own.
        let rc = unsafe { f(self.ctx.0, add, &mut old) };
        self.check("fetch_add", rc)?;
        Ok(old)
    }

    /// Add to counter `counter` (< `LK_COMM_COUNTERS`) on rank 0; its previous value.
    pub fn fetch_add_at(&self, counter: u32, add: u64) -> Result<u64> {
        let f = self.fns.fetch_add_at.ok_or_else(|| Error::Unsupported("this communicator has no fetch_add_at".into()))?;
        let mut old = 0u64;
        // SAFETY: `old` is a valid u64 for the call; `ctx` is the table's own.
        let rc = unsafe { f(self.ctx.0, counter, add, &mut old) };
        self.check("fetch_add_at", rc)?;
        Ok(old)
    }

    /// End the job through the table's `abort`.
    pub fn abort(&self, code: i32) -> Result<()> {
        let f = self.fns.abort.ok_or_else(|| Error::Unsupported("this communicator has no abort".into()))?;
        // SAFETY: `ctx` is the table's own, alive until `release`.
        unsafe { f(self.ctx.0, code) };
        Ok(())
    }
}

impl Drop for Comm {
    fn drop(&mut self) {
        if let Some(release) = self.fns.release {
            // SAFETY: the last use of `ctx`, which the table handed over to us.
            unsafe { release(self.ctx.0) };
        }
    }
}
