//! `lk_buffer`: bytes owned by the library, appended to by C code.
//!
//! The `priv` field tells where the bytes live, and so how to grow and free
//! them: nowhere yet (zeroed), the C heap, a mapping of a run_sp child's
//! result, or — in an `lk_run_sp` child — a memfd the parent will read, so a
//! large result crosses processes without passing through a pipe.

use std::ffi::c_void;

use crate::error::{Error, Result};

/// A byte buffer (C: `lk_buffer`). Start it zeroed; free it with `lk_buffer_free`.
#[repr(C)]
#[derive(Debug)]
pub struct Buffer {
    /// The bytes; owned by the library until `lk_buffer_free`.
    pub data: *mut u8,
    /// How many bytes are in use.
    pub len: usize,
    /// How many bytes `data` can hold.
    pub cap: usize,
    /// The library's bookkeeping (where the bytes live); start it zeroed.
    pub r#priv: *mut c_void,
}

static HEAP: u8 = 1;
static MAPPED: u8 = 2;
#[cfg(lk_fork)]
static CHILD_OUT: u8 = 3;

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Kind {
    Empty,
    Heap,
    Mapped,
    ChildOut,
    Foreign,
}

fn tag(t: &'static u8) -> *mut c_void {
    t as *const u8 as *mut c_void
}

impl Buffer {
    pub const fn empty() -> Buffer {
        Buffer { data: std::ptr::null_mut(), len: 0, cap: 0, r#priv: std::ptr::null_mut() }
    }

    pub fn is_empty_struct(&self) -> bool {
        self.data.is_null() && self.len == 0 && self.cap == 0 && self.r#priv.is_null()
    }

    fn kind(&self) -> Kind {
        let p = self.r#priv;
        if p.is_null() {
            if self.data.is_null() && self.len == 0 { Kind::Empty } else { Kind::Foreign }
        } else if p == tag(&HEAP) {
            Kind::Heap
        } else if p == tag(&MAPPED) {
            Kind::Mapped
        } else if self.is_child_out() {
            Kind::ChildOut
        } else {
            Kind::Foreign
        }
    }

    #[cfg(lk_fork)]
    fn is_child_out(&self) -> bool {
        self.r#priv == tag(&CHILD_OUT)
    }

    #[cfg(not(lk_fork))]
    fn is_child_out(&self) -> bool {
        false
    }

    /// The bytes in use.
    pub fn as_slice(&self) -> &[u8] {
        if self.len == 0 || self.data.is_null() {
            &[]
        } else {
            // SAFETY: a buffer of ours holds `len` initialised bytes at
            // `data` (the invariant every method keeps).
            unsafe { std::slice::from_raw_parts(self.data, self.len) }
        }
    }

    /// Where `src` starts inside our own storage, if it does: appending a
    /// buffer's own bytes must survive the storage moving.
    fn offset_of(&self, src: *const u8) -> Option<usize> {
        let start = self.data as usize;
        let at = src as usize;
        (!self.data.is_null() && at >= start && at < start + self.cap).then(|| at - start)
    }

    /// Append `len` bytes from `src`, growing as needed. `src` may point
    /// into this buffer's own storage. On failure the buffer is unchanged.
    ///
    /// # Safety
    /// `src` must be readable for `len` bytes.
    pub unsafe fn append(&mut self, src: *const u8, len: usize) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let kind = self.kind();
        if kind == Kind::Foreign {
            return Err(Error::invalid("the buffer was not made by lkparallel (start it zeroed)"));
        }
        let new_len = self
            .len
            .checked_add(len)
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(|| Error::invalid("the buffer would exceed the address space"))?;
        let inside = self.offset_of(src);
        if kind == Kind::ChildOut {
            return self.append_child_out(src, inside, len, new_len);
        }
        if new_len > self.cap || kind == Kind::Mapped {
            self.grow_heap(new_len)?;
        }
        let src = match inside {
            Some(off) => self.data.add(off).cast_const(),
            None => src,
        };
        // SAFETY: `data` has room for `new_len` bytes; `src` is readable for
        // `len` bytes (the caller's promise, or our own storage at the same
        // offset after a move); `copy` allows the ranges to overlap.
        std::ptr::copy(src, self.data.add(self.len), len);
        self.len = new_len;
        Ok(())
    }

    /// Move to (or grow on) the C heap, so failure is an error, not an abort.
    fn grow_heap(&mut self, need: usize) -> Result<()> {
        let new_cap = need.max(self.cap.saturating_mul(2)).max(64);
        let fail = || Error::System(format!("cannot allocate a buffer of {need} bytes"));
        if self.kind() == Kind::Heap {
            // SAFETY: `data` came from malloc/realloc (kind Heap); on failure
            // realloc leaves it untouched.
            let p = unsafe { libc::realloc(self.data.cast(), new_cap) };
            if p.is_null() {
                return Err(fail());
            }
            self.data = p.cast();
        } else {
            // SAFETY: a fresh allocation; checked for NULL below.
            let p: *mut u8 = unsafe { libc::malloc(new_cap) }.cast();
            if p.is_null() {
                return Err(fail());
            }
            if self.len > 0 {
                // SAFETY: `len` bytes are readable at `data` and writable at
                // the fresh `p`, which cannot overlap them.
                unsafe { std::ptr::copy_nonoverlapping(self.data, p, self.len) };
            }
            self.release_storage();
            self.data = p;
            self.r#priv = tag(&HEAP);
        }
        self.cap = new_cap;
        Ok(())
    }

    fn release_storage(&mut self) {
        match self.kind() {
            // SAFETY: kind Heap means `data` came from malloc/realloc.
            Kind::Heap => unsafe { libc::free(self.data.cast()) },
            #[cfg(lk_fork)]
            Kind::Mapped | Kind::ChildOut if !self.data.is_null() && self.cap > 0 => {
                // SAFETY: kinds Mapped and ChildOut own a mapping of `cap`
                // bytes at `data` (made by `crate::sys::Mapping`).
                drop(unsafe { crate::sys::Mapping::from_raw_parts(self.data, self.cap) });
            }
            _ => {}
        }
    }

    /// Free the bytes and zero the struct; safe to repeat. A buffer lkparallel
    /// did not make is only zeroed (its memory is not ours to free).
    pub fn free(&mut self) {
        self.release_storage();
        *self = Buffer::empty();
    }
}

#[cfg(not(lk_fork))]
impl Buffer {
    /// # Safety
    /// Never called: no child buffers exist without fork.
    unsafe fn append_child_out(&mut self, _: *const u8, _: Option<usize>, _: usize, _: usize) -> Result<()> {
        Err(Error::Unsupported("no run_sp children in this build".into()))
    }
}

#[cfg(lk_fork)]
pub use self::child_out::{child_out, finish_child_out, take_result};

#[cfg(lk_fork)]
mod child_out {
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
    use std::sync::atomic::{AtomicI32, Ordering};

    use super::{tag, Buffer, Kind, CHILD_OUT, HEAP, MAPPED};
    use crate::error::{Error, Result};
    use crate::sys::{self, Mapping};

    /// In an `lk_run_sp` child: the memfd behind its `out` buffer.
    static CHILD_OUT_FD: AtomicI32 = AtomicI32::new(-1);

    fn out_fd() -> BorrowedFd<'static> {
        // SAFETY: set by `child_out` before the buffer exists, and the memfd
        // stays open until the child exits.
        unsafe { BorrowedFd::borrow_raw(CHILD_OUT_FD.load(Ordering::Acquire)) }
    }

    impl Buffer {
        /// In a run_sp child: bytes go in with pwrite(2), which fills the
        /// memfd's pages without a page fault each, and `data` stays a shared
        /// mapping of the memfd, so the callback can still read and patch
        /// what it wrote.
        ///
        /// # Safety
        /// As `append`; `inside` is `src`'s offset in our own mapping.
        pub(super) unsafe fn append_child_out(&mut self, src: *const u8, inside: Option<usize>, len: usize, new_len: usize) -> Result<()> {
            let fd = out_fd();
            if new_len > self.cap {
                let page = sys::page_size();
                let want = new_len.max(self.cap.saturating_mul(2)).max(1 << 20);
                let new_cap = want
                    .checked_next_multiple_of(page)
                    .ok_or_else(|| Error::invalid("the buffer would exceed the address space"))?;
                sys::set_file_size(fd, new_cap as u64).map_err(|e| Error::os("growing the result memfd", e))?;
                // A new mapping of the longer file, then the old one goes
                // (the bytes are the file's, so nothing is copied).
                match Mapping::of_file(fd, new_cap, true) {
                    Ok(m) => {
                        if !self.data.is_null() {
                            // SAFETY: kind ChildOut owns a mapping of `cap` bytes at `data`.
                            drop(Mapping::from_raw_parts(self.data, self.cap));
                        }
                        (self.data, self.cap) = m.into_raw();
                    }
                    Err(e) => {
                        // Leave the file as long as the mapping that stays.
                        let _ = sys::set_file_size(fd, self.cap as u64);
                        return Err(Error::os(&format!("mapping a result buffer of {new_cap} bytes"), e));
                    }
                }
            }
            let src = match inside {
                Some(off) => self.data.add(off).cast_const(),
                None => src,
            };
            // SAFETY: `src` is readable for `len` bytes (the caller's promise,
            // or our own mapping, which covers `off + len <= cap`).
            let bytes = std::slice::from_raw_parts(src, len);
            sys::pwrite_all(fd, bytes, self.len as u64).map_err(|e| Error::os("writing the result memfd", e))?;
            self.len = new_len;
            Ok(())
        }
    }

    /// In a run_sp child: the `out` buffer handed to the callback, backed by `fd`.
    pub fn child_out(fd: BorrowedFd<'_>) -> Buffer {
        use std::os::fd::AsRawFd;
        CHILD_OUT_FD.store(fd.as_raw_fd(), Ordering::Release);
        Buffer { data: std::ptr::null_mut(), len: 0, cap: 0, r#priv: tag(&CHILD_OUT) }
    }

    /// In a run_sp child after the callback: make sure the memfd holds the
    /// buffer's bytes from its start (the callback may have freed `out` and
    /// started a heap buffer in it), and return their length.
    pub fn finish_child_out(out: &Buffer) -> Result<usize> {
        match out.kind() {
            Kind::ChildOut => Ok(out.len),
            Kind::Empty | Kind::Heap | Kind::Mapped => {
                sys::pwrite_all(out_fd(), out.as_slice(), 0).map_err(|e| Error::os("writing the result memfd", e))?;
                Ok(out.len)
            }
            Kind::Foreign => Err(Error::invalid("the callback left a buffer lkparallel did not make in `out`")),
        }
    }

    /// In the parent, after the child has ended: the `claimed` bytes of the
    /// child's result memfd as a buffer only the caller can change.
    ///
    /// The child's word is not trusted: the memfd's size is frozen first (no
    /// process can shrink it under our mapping, which would be SIGBUS), and
    /// a claim past its real size is an error. When its bytes can be frozen
    /// too, they are mapped privately; when some descendant of the child
    /// still maps it writable, they are copied, so nothing the descendant
    /// does later reaches the caller.
    pub fn take_result(fd: &OwnedFd, claimed: u64) -> Result<Buffer> {
        let fd = fd.as_fd();
        let frozen = sys::seal(fd).map_err(|e| Error::os("sealing the run_sp result", e))?;
        let real = sys::file_size(fd).map_err(|e| Error::os("reading the run_sp result's size", e))?;
        if claimed > real {
            return Err(Error::WorkerDied(format!(
                "the run_sp child reported {claimed} result bytes, but its result holds only {real}"
            )));
        }
        let len = usize::try_from(claimed).map_err(|_| Error::invalid("the run_sp result is larger than the address space"))?;
        if len == 0 {
            return Ok(Buffer::empty());
        }
        if frozen {
            let m = Mapping::of_file(fd, len, false).map_err(|e| Error::os(&format!("mapping a run_sp result of {len} bytes"), e))?;
            let (data, cap) = m.into_raw();
            return Ok(Buffer { data, len, cap, r#priv: tag(&MAPPED) });
        }
        log::debug!(target: "lkparallel::sp", "a descendant of the run_sp child still maps its result: copying it");
        // SAFETY: a fresh allocation, checked for NULL.
        let data: *mut u8 = unsafe { libc::malloc(len) }.cast();
        if data.is_null() {
            return Err(Error::System(format!("cannot allocate a buffer of {len} bytes")));
        }
        let mut out = Buffer { data, len, cap: len, r#priv: tag(&HEAP) };
        // SAFETY: `data` is a fresh allocation of `len` bytes that only `out` owns.
        let bytes = unsafe { std::slice::from_raw_parts_mut(out.data, len) };
        if let Err(e) = sys::pread_exact(fd, bytes, 0) {
            out.free();
            return Err(Error::os("reading the run_sp result", e));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(b: &mut Buffer, bytes: &[u8]) -> Result<()> {
        // SAFETY: a slice is readable for its length.
        unsafe { b.append(bytes.as_ptr(), bytes.len()) }
    }

    #[test]
    fn heap_append_and_free() {
        let mut b = Buffer::empty();
        append(&mut b, b"hello ").unwrap();
        append(&mut b, &[b'x'; 1000]).unwrap();
        assert_eq!(b.len, 1006);
        assert_eq!(&b.as_slice()[..6], b"hello ");
        b.free();
        assert!(b.is_empty_struct());
        b.free();
    }

    /// Appending a buffer's own bytes survives the storage moving (it used
    /// to read the freed block).
    #[test]
    fn appending_own_bytes_survives_growth() {
        let mut b = Buffer::empty();
        append(&mut b, b"abc").unwrap();
        for _ in 0..18 {
            // SAFETY: the buffer's own `len` bytes are readable.
            unsafe { b.append(b.data, b.len) }.unwrap();
        }
        assert_eq!(b.len, 3 << 18);
        assert!(b.as_slice().chunks(3).all(|c| c == b"abc"));
        // An overlapping range from the middle.
        let before = b.len;
        // SAFETY: bytes 1 .. 1+100 are inside the buffer.
        unsafe { b.append(b.data.add(1), 100) }.unwrap();
        assert_eq!(&b.as_slice()[before..before + 3], b"bca");
        b.free();
    }

    #[test]
    fn impossible_sizes_are_errors() {
        let mut b = Buffer::empty();
        append(&mut b, b"a").unwrap();
        // Pretend a huge length so the next append overflows.
        let real = b.len;
        b.len = usize::MAX;
        assert!(matches!(append(&mut b, b"b"), Err(Error::Invalid(_))));
        b.len = real;
        b.free();
    }

    #[test]
    fn foreign_buffers_are_refused() {
        let mut x = 0u8;
        let mut b = Buffer { data: &mut x, len: 1, cap: 1, r#priv: std::ptr::null_mut() };
        assert!(matches!(append(&mut b, b"b"), Err(Error::Invalid(_))));
        b.free();
        assert!(b.is_empty_struct());
    }
}
