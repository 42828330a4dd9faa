//! `lk_buffer`: bytes owned by the library, appended to by C code.
//!
//! The `priv` field tells where the bytes live, and so how to grow and free
//! them: nowhere yet (zeroed), the C heap, a read-back mapping of a child's
//! result, or — in an `lk_run_sp` child — a memfd the parent will map, so a
//! large result crosses processes without passing through a pipe.

use std::ffi::c_void;
use std::sync::atomic::{AtomicI32, Ordering};

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
static CHILD_OUT: u8 = 3;

/// In an `lk_run_sp` child: the memfd behind its `out` buffer.
static CHILD_OUT_FD: AtomicI32 = AtomicI32::new(-1);

#[derive(Debug, PartialEq, Eq)]
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

const PAGE: usize = 4096;

fn round_to_page(n: usize) -> Option<usize> {
    n.checked_add(PAGE - 1).map(|x| x & !(PAGE - 1))
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
        } else if p == tag(&CHILD_OUT) {
            Kind::ChildOut
        } else {
            Kind::Foreign
        }
    }

    /// The bytes in use.
    pub fn as_slice(&self) -> &[u8] {
        if self.len == 0 || self.data.is_null() {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(self.data, self.len) }
        }
    }

    /// Append `bytes`, growing as needed. On failure the buffer is unchanged.
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let kind = self.kind();
        if kind == Kind::Foreign {
            return Err(Error::invalid("the buffer was not made by lkparallel (start it zeroed)"));
        }
        let new_len = self
            .len
            .checked_add(bytes.len())
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(|| Error::invalid("the buffer would exceed the address space"))?;
        if kind == Kind::ChildOut {
            return self.append_child_out(bytes, new_len);
        }
        if new_len > self.cap || kind == Kind::Mapped {
            self.grow_heap(new_len)?;
        }
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data.add(self.len), bytes.len()) };
        self.len = new_len;
        Ok(())
    }

    /// Move to (or grow on) the C heap, so failure is an error, not an abort.
    fn grow_heap(&mut self, need: usize) -> Result<()> {
        let new_cap = need.max(self.cap.saturating_mul(2)).max(64);
        let fail = || Error::System(format!("cannot allocate a buffer of {need} bytes"));
        match self.kind() {
            Kind::Heap => {
                let p = unsafe { libc::realloc(self.data.cast(), new_cap) };
                if p.is_null() {
                    return Err(fail());
                }
                self.data = p.cast();
            }
            _ => {
                let p = unsafe { libc::malloc(new_cap) };
                if p.is_null() {
                    return Err(fail());
                }
                if self.len > 0 {
                    unsafe { std::ptr::copy_nonoverlapping(self.data, p.cast(), self.len) };
                }
                self.release_storage();
                self.data = p.cast();
                self.r#priv = tag(&HEAP);
            }
        }
        self.cap = new_cap;
        Ok(())
    }

    /// In a run_sp child: bytes go in with pwrite(2), which fills the memfd's
    /// pages without a page fault each, and `data` stays a shared mapping of
    /// the memfd, so the callback can still read and patch what it wrote.
    fn append_child_out(&mut self, bytes: &[u8], new_len: usize) -> Result<()> {
        let fd = CHILD_OUT_FD.load(Ordering::Acquire);
        if new_len > self.cap {
            let new_cap = round_to_page(new_len.max(self.cap.saturating_mul(2)).max(1 << 20))
                .ok_or_else(|| Error::invalid("the buffer would exceed the address space"))?;
            if unsafe { libc::ftruncate(fd, new_cap as libc::off_t) } != 0 {
                return Err(Error::last_os("growing the result memfd"));
            }
            let p = unsafe {
                if self.data.is_null() {
                    libc::mmap(std::ptr::null_mut(), new_cap, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
                } else {
                    libc::mremap(self.data.cast(), self.cap, new_cap, libc::MREMAP_MAYMOVE)
                }
            };
            if p == libc::MAP_FAILED {
                let err = Error::last_os(&format!("mapping a result buffer of {new_cap} bytes"));
                unsafe { libc::ftruncate(fd, self.cap as libc::off_t) };
                return Err(err);
            }
            self.data = p.cast();
            self.cap = new_cap;
        }
        write_at(fd, bytes, self.len)?;
        self.len = new_len;
        Ok(())
    }

    fn release_storage(&mut self) {
        match self.kind() {
            Kind::Heap => unsafe { libc::free(self.data.cast()) },
            Kind::Mapped | Kind::ChildOut if !self.data.is_null() && self.cap > 0 => unsafe {
                libc::munmap(self.data.cast(), self.cap);
            },
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

fn write_at(fd: i32, mut bytes: &[u8], mut offset: usize) -> Result<()> {
    while !bytes.is_empty() {
        let n = unsafe { libc::pwrite(fd, bytes.as_ptr().cast(), bytes.len(), offset as libc::off_t) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(Error::last_os("writing the result memfd"));
        }
        bytes = &bytes[n as usize..];
        offset += n as usize;
    }
    Ok(())
}

/// In a run_sp child: the `out` buffer handed to the callback, backed by `fd`.
pub fn child_out(fd: i32) -> Buffer {
    CHILD_OUT_FD.store(fd, Ordering::Release);
    Buffer { data: std::ptr::null_mut(), len: 0, cap: 0, r#priv: tag(&CHILD_OUT) }
}

/// In a run_sp child after the callback: make sure the memfd holds exactly
/// the buffer's bytes (the callback may have freed `out` and started a heap
/// buffer in it), and return their length.
pub fn finish_child_out(out: &Buffer, fd: i32) -> Result<usize> {
    if out.kind() != Kind::ChildOut {
        write_at(fd, out.as_slice(), 0)?;
    }
    Ok(out.len)
}

/// In the parent: map `len` bytes of a child's result memfd as a buffer.
pub fn map_result(fd: i32, len: usize) -> Result<Buffer> {
    if len == 0 {
        return Ok(Buffer::empty());
    }
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            // The caller asked for every byte: map the page tables in one go.
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::last_os(&format!("mapping a run_sp result of {len} bytes")));
    }
    Ok(Buffer { data: p.cast(), len, cap: len, r#priv: tag(&MAPPED) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_append_and_free() {
        let mut b = Buffer::empty();
        b.append(b"hello ").unwrap();
        b.append(&[b'x'; 1000]).unwrap();
        assert_eq!(b.len, 1006);
        assert_eq!(&b.as_slice()[..6], b"hello ");
        b.free();
        assert!(b.is_empty_struct());
        b.free();
    }

    #[test]
    fn impossible_sizes_are_errors() {
        let mut b = Buffer::empty();
        b.append(b"a").unwrap();
        // Pretend a huge length so the next append overflows.
        let real = b.len;
        b.len = usize::MAX;
        assert!(matches!(b.append(b"b"), Err(Error::Invalid(_))));
        b.len = real;
        b.free();
    }

    #[test]
    fn foreign_buffers_are_refused() {
        let mut x = 0u8;
        let mut b = Buffer { data: &mut x, len: 1, cap: 1, r#priv: std::ptr::null_mut() };
        assert!(matches!(b.append(b"b"), Err(Error::Invalid(_))));
        b.free();
        assert!(b.is_empty_struct());
    }
}
