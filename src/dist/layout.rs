//! Where this rank's arguments, results and statuses live during a map.
//!
//! An output array (results, statuses) is one of: the caller's full array
//! (item `i` at slot `i`); the caller's compact array (compact OWNED: this
//! rank's items packed in index order); a room of the library's own, packed
//! the same way (ROOT, on a rank that passed no array), which lives for
//! the map only. A packed array's slot of an item is its position among
//! this rank's items (`own`), which the compute step counts as it goes;
//! the exchange's rounds visit this rank's items in the same order.

use super::plan::Plan;
use crate::error::{Error, Result};
use crate::util::SendPtr;

/// 64 bytes, 64-aligned: rooms keep the alignment a caller's array would have.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([u8; 64]);

/// Memory of the library's own, grown on demand, never moved while a map
/// piece uses it (it grows only between pieces).
#[derive(Default)]
pub(super) struct Room {
    blocks: Vec<Block>,
}

impl Room {
    /// Room for at least `bytes`, zeroed.
    pub fn grow(&mut self, bytes: usize) -> Result<()> {
        let need = bytes.div_ceil(64);
        if need > self.blocks.len() {
            self.blocks
                .try_reserve(need - self.blocks.len())
                .map_err(|_| Error::System(format!("cannot allocate {bytes} bytes for this rank's share of the map")))?;
            self.blocks.resize(need, Block([0; 64]));
        }
        Ok(())
    }

    pub fn ptr(&mut self) -> *mut u8 {
        self.blocks.as_mut_ptr().cast()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// No array (element size 0, or no statuses kept).
    None,
    /// The caller's `n`-slot array.
    Full,
    /// The caller's compact array.
    Packed,
    /// `room`, packed.
    Room,
}

/// One output array of this rank.
pub(super) struct Out {
    place: Place,
    ptr: *mut u8,
    elem: usize,
    room: Room,
}

impl Out {
    pub fn none() -> Out {
        Out { place: Place::None, ptr: std::ptr::null_mut(), elem: 0, room: Room::default() }
    }

    /// The caller's array of `n` slots.
    pub fn full(ptr: *mut u8, elem: usize) -> Out {
        Out { place: Place::Full, ptr, elem, room: Room::default() }
    }

    /// The caller's compact array (big enough: the check saw to it).
    pub fn packed(ptr: *mut u8, elem: usize) -> Out {
        Out { place: Place::Packed, ptr, elem, room: Room::default() }
    }

    /// A room for this rank's items, `expect` of them made now (BLOCK,
    /// CYCLIC: its share, so that running out shows in the check; DYNAMIC
    /// grows it chunk by chunk).
    pub fn room(elem: usize, expect: usize) -> Result<Out> {
        let mut out = Out { place: Place::Room, ptr: std::ptr::null_mut(), elem, room: Room::default() };
        out.make_room(expect)?;
        Ok(out)
    }

    pub fn elem(&self) -> usize {
        self.elem
    }

    pub fn is_none(&self) -> bool {
        self.place == Place::None
    }

    /// The caller's array with every item's slot.
    pub fn is_full(&self) -> bool {
        self.place == Place::Full
    }

    /// Slots for this rank's items `0 .. own_end` (a room grows; the
    /// caller's arrays are big enough).
    pub fn make_room(&mut self, own_end: usize) -> Result<()> {
        if self.place == Place::Room {
            let bytes = own_end.checked_mul(self.elem).ok_or_else(|| Error::System("this rank's share overflows".into()))?;
            self.room.grow(bytes)?;
            self.ptr = self.room.ptr();
        }
        Ok(())
    }

    /// Where item `start`, this rank's `own`-th, goes (null: no array).
    pub fn at(&self, start: usize, own: usize) -> SendPtr<u8> {
        match self.place {
            Place::None => SendPtr::null(),
            Place::Full => SendPtr(self.ptr.wrapping_add(start * self.elem)),
            Place::Packed | Place::Room => SendPtr(self.ptr.wrapping_add(own * self.elem)),
        }
    }

    /// For an in-place collective round whose part for this rank starts
    /// at item `displ`, its `own`-th: the array's start as the collective
    /// sees it (for a packed one, a base that may point outside it; only
    /// this rank's part is touched).
    pub fn round_base(&self, displ: usize, own: usize) -> *mut u8 {
        match self.place {
            Place::Full | Place::None => self.ptr,
            Place::Packed | Place::Room => self.ptr.wrapping_add(own * self.elem).wrapping_sub(displ * self.elem),
        }
    }

    /// Fill slots of items `start ..` (`len` of them, from this rank's
    /// `own`-th) with `value` (statuses only).
    pub fn fill_i32(&self, start: usize, own: usize, len: usize, value: i32) {
        if self.place == Place::None || len == 0 {
            return;
        }
        debug_assert_eq!(self.elem, 4);
        let at = self.at(start, own).0.cast::<i32>();
        // SAFETY: a status array holds a slot for each of these items: the
        // caller's full array has `n`, a packed one this rank's share, and a
        // room was grown to it (`make_room`) before the items were given out.
        unsafe { std::slice::from_raw_parts_mut(at, len) }.fill(value);
    }
}

/// Where this rank reads its arguments.
pub(super) struct ArgsAt {
    ptr: *mut u8,
    size: usize,
    /// Only this rank's share, packed (scattered from rank 0).
    packed: bool,
    /// Owns what `ptr` points to, for a room.
    _room: Room,
}

impl ArgsAt {
    /// The caller's array (or none, for size 0).
    pub fn caller(ptr: *mut u8, size: usize) -> ArgsAt {
        ArgsAt { ptr, size, packed: false, _room: Room::default() }
    }

    /// A room for what rank 0 sends: this rank's share (BLOCK, CYCLIC,
    /// packed) or every argument (DYNAMIC).
    pub fn room(plan: &Plan, size: usize) -> Result<ArgsAt> {
        let items = plan.my_arg_items();
        let bytes = items.checked_mul(size).ok_or_else(|| Error::System("this rank's arguments overflow".into()))?;
        let mut room = Room::default();
        room.grow(bytes)?;
        Ok(ArgsAt { ptr: room.ptr(), size, packed: plan.share().is_some(), _room: room })
    }

    /// The argument of item `start`, this rank's `own`-th.
    pub fn at(&self, start: usize, own: usize) -> SendPtr<u8> {
        if self.size == 0 {
            return SendPtr::null();
        }
        SendPtr(self.ptr.wrapping_add(if self.packed { own } else { start } * self.size))
    }

    /// For a scatter round (as `Out::round_base`); the root passes its full array.
    pub fn round_base(&self, displ: usize, own: usize) -> *mut u8 {
        if self.packed {
            self.ptr.wrapping_add(own * self.size).wrapping_sub(displ * self.size)
        } else {
            self.ptr
        }
    }

    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }
}
