//! `lk_comm_*`: the communicator a distributed invoker runs on, given as a
//! table of collective operations. The library never links MPI: the
//! header-only adapter `lkparallel_mpi.h` fills this table from an `MPI_Comm`.

use std::ffi::c_void;
use std::sync::Arc;

use super::{guard, guard_value, lk_status, read_sized};
use super::handles::Registry;
use crate::dist::comm::{Comm, Fns};
use crate::error::{Error, Result};

/// A communicator: `size` ranks that call the same collective operations in
/// the same order. Opaque; the pointer is a handle, looked up on every call.
#[allow(non_camel_case_types)]
pub struct lk_comm {
    _private: [u8; 0],
}

/// The collective operations a distributed map needs, as C function pointers.
///
/// The library calls them only on the thread that called it (the thread
/// that calls `lk_invoker_map`, `lk_invoker_new_with`, `lk_comm_free` ...),
/// never on a worker thread, so MPI's `MPI_THREAD_FUNNELED` suffices, and
/// one call at a time per communicator. Every rank calls the same operations
/// in the same order with the same `len`, `counts`, `displs`, `elem_size` and
/// `root` (those arrays hold one entry per rank). Each operation returns 0 on
/// success; any other value makes the map fail with `LK_ERR_COMM` (the
/// invoker is then broken: the ranks may be out of step).
///
/// Counts and displacements are in elements of `elem_size` bytes. "In place",
/// on every rank: `buf` is the start of the full array, and rank `r`'s part
/// is the `counts[r]` elements at element `displs[r]`. An operation reads
/// only the parts a rank sends and writes only the parts it receives; on a
/// rank other than the root, `gatherv` and `scatterv` touch only that rank's
/// own part, so the rest of its `buf` need not be memory it owns.
///
/// Fill it in, set `struct_size = sizeof(lk_comm_ops)`, and pass it to
/// `lk_comm_new`. `lkparallel_mpi.h` does all of this for an `MPI_Comm`.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct lk_comm_ops {
    /// `sizeof(lk_comm_ops)` as the caller compiled it; lets the table grow.
    pub struct_size: u32,
    /// This process's rank, `0 .. size-1`.
    pub rank: i32,
    /// The number of ranks, >= 1.
    pub size: i32,
    /// The number of ranks on this machine (this one included); 0 if unknown.
    /// Used to divide the CPUs among ranks that share them.
    pub local_size: i32,
    /// Passed to every operation; owned by the table (freed by `release`).
    pub ctx: *mut c_void,
    /// Required. Copy `len` bytes of `buf` on rank `root` to `buf` on every rank.
    /// At the root `buf` is only read.
    pub bcast: Option<unsafe extern "C" fn(ctx: *mut c_void, buf: *mut c_void, len: usize, root: i32) -> i32>,
    /// Required. Every rank sends `len` bytes; `recv` (`size * len` bytes)
    /// receives rank `r`'s bytes at offset `r * len`, on every rank.
    pub allgather:
        Option<unsafe extern "C" fn(ctx: *mut c_void, send: *const c_void, recv: *mut c_void, len: usize) -> i32>,
    /// Required. In place: `buf` is the full array on every rank; each rank's
    /// part is sent to every other rank's `buf`, at the same place
    /// (`MPI_Allgatherv` with `MPI_IN_PLACE`).
    pub allgatherv: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            buf: *mut c_void,
            counts: *const usize,
            displs: *const usize,
            elem_size: usize,
        ) -> i32,
    >,
    /// Required. In place: every rank's part of `buf` to the same place in
    /// `buf` at `root` (`MPI_Gatherv` with `MPI_IN_PLACE` at the root; another
    /// rank sends from `buf + displs[rank] * elem_size`).
    pub gatherv: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            buf: *mut c_void,
            counts: *const usize,
            displs: *const usize,
            elem_size: usize,
            root: i32,
        ) -> i32,
    >,
    /// Required. In place: each rank's part of `buf` at `root` to the same
    /// place in that rank's `buf`; at the root `buf` is only read
    /// (`MPI_Scatterv` with `MPI_IN_PLACE` at the root; another rank receives
    /// into `buf + displs[rank] * elem_size`).
    pub scatterv: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            buf: *mut c_void,
            counts: *const usize,
            displs: *const usize,
            elem_size: usize,
            root: i32,
        ) -> i32,
    >,
    /// Optional (NULL: `LK_SCHEDULE_DYNAMIC` is unsupported and cancellation
    /// reaches other ranks only when the map ends). One 64-bit counter that
    /// lives on rank 0 and starts at 0: add `add` to it atomically and store
    /// its previous value in `*old`. Not collective: any rank calls it at any
    /// time, and it must complete without rank 0 taking part (an MPI window
    /// with passive-target `MPI_Fetch_and_op` + `MPI_Win_flush`).
    pub fetch_add: Option<unsafe extern "C" fn(ctx: *mut c_void, add: u64, old: *mut u64) -> i32>,
    /// Optional. End every rank of the job with exit status `code`
    /// (`MPI_Abort`); called only by `lk_comm_abort`.
    pub abort: Option<unsafe extern "C" fn(ctx: *mut c_void, code: i32)>,
    /// Optional. Collective: free `ctx` and what it holds. Called once, when
    /// the communicator is freed (see `lk_comm_free`).
    pub release: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    /// Optional (NULL: a progress callback sees the other ranks' items only
    /// when the map ends). `fetch_add` on counter `counter` of
    /// `LK_COMM_COUNTERS` 64-bit counters that live on rank 0, each starting
    /// at 0; counter 0 is the one `fetch_add` adds to. Not collective, as
    /// `fetch_add`. The library uses counter 1 to add up the items every
    /// rank has done, for progress across ranks.
    pub fetch_add_at: Option<unsafe extern "C" fn(ctx: *mut c_void, counter: u32, add: u64, old: *mut u64) -> i32>,
}

/// How many counters `lk_comm_ops.fetch_add_at` must offer (0 .. 1).
pub const LK_COMM_COUNTERS: u32 = 2;

/// The smallest table accepted: everything up to and including `scatterv`
/// (four 32-bit fields, `ctx`, five function pointers).
const OPS_MIN: usize = 16 + 6 * std::mem::size_of::<usize>();

fn handle_of(comm: *const lk_comm) -> usize {
    comm as usize
}

/// The communicator behind a handle, for `lk_invoker_options.comm`.
pub(crate) fn lookup(comm: *const lk_comm) -> Result<Arc<Comm>> {
    if comm.is_null() {
        return Err(Error::invalid("comm is NULL"));
    }
    COMMS
        .get(handle_of(comm))
        .map(|c| Arc::clone(&c))
        .ok_or_else(|| Error::invalid("unknown or dead communicator handle (freed, or made by another process)"))
}

/// Live communicators, by the handle C holds. An invoker made with one keeps
/// its own `Arc`, so freeing the handle never pulls it from under a map.
pub(crate) static COMMS: Registry<Arc<Comm>> = Registry::new();

fn table(ops: &lk_comm_ops) -> Result<Fns> {
    let need = |f: bool, what: &str| if f { Ok(()) } else { Err(Error::invalid(format!("lk_comm_ops.{what} is NULL"))) };
    need(ops.bcast.is_some(), "bcast")?;
    need(ops.allgather.is_some(), "allgather")?;
    need(ops.allgatherv.is_some(), "allgatherv")?;
    need(ops.gatherv.is_some(), "gatherv")?;
    need(ops.scatterv.is_some(), "scatterv")?;
    Ok(Fns {
        bcast: ops.bcast.unwrap(),
        allgather: ops.allgather.unwrap(),
        allgatherv: ops.allgatherv.unwrap(),
        gatherv: ops.gatherv.unwrap(),
        scatterv: ops.scatterv.unwrap(),
        fetch_add: ops.fetch_add,
        abort: ops.abort,
        release: ops.release,
        fetch_add_at: ops.fetch_add_at,
    })
}

/// Make a communicator from a table of collective operations (see
/// `lk_comm_ops`); `lk_mpi_comm_new` in `lkparallel_mpi.h` calls it for an
/// `MPI_Comm`. Not collective: it only checks and copies the table.
///
/// - `ops`: read during the call, not kept (the caller's struct may go
///   away). On success the communicator owns `ops->ctx` and calls
///   `ops->release(ctx)` when it is freed; on failure the caller keeps it.
/// - `out`: receives the handle, only on success.
///
/// Returns `LK_OK`; `LK_ERR_INVALID` (NULL `ops` or `out`; `struct_size` too
/// small, or describing fields this library does not know set; a required
/// operation NULL; `size` < 1 or above 4194304; `rank` outside `0 .. size-1`;
/// `local_size` negative or above `size`). Thread-safe.
///
/// # Safety
/// `ops` must be NULL or point to `ops->struct_size` readable bytes, with
/// function pointers of the types shown (or NULL) and a `ctx` they accept;
/// `out` must be NULL or point to writable memory for a pointer.
#[no_mangle]
pub unsafe extern "C" fn lk_comm_new(ops: *const lk_comm_ops, out: *mut *mut lk_comm) -> lk_status {
    guard(|| {
        let out_ref = super::out(out, "out")?;
        if ops.is_null() {
            return Err(Error::invalid("ops is NULL"));
        }
        let ops = read_sized(ops, OPS_MIN, "lk_comm_ops")?;
        let fns = table(&ops)?;
        let comm = Comm::new(ops.rank, ops.size, ops.local_size, ops.ctx, fns)?;
        // In a forked child the parent's communicators are dead: a child must
        // never run the parent's collectives (nor `release` them).
        crate::fork::on_child(|| COMMS.forget_all_after_fork());
        let handle = COMMS
            .insert(Box::new(Arc::new(comm)))
            .ok_or_else(|| Error::invalid("too many live communicators (over a million)"))?;
        *out_ref = handle as *mut lk_comm;
        Ok(())
    })
}

/// Free a communicator. Collective: every rank calls it, in the same order
/// relative to the maps and invokers that use it.
///
/// The handle is dead afterwards (every call with it gives `LK_ERR_INVALID`).
/// Invokers made with it keep it alive: then `release` runs when the last of
/// them is shut down (and that `lk_invoker_shutdown` is the collective call);
/// otherwise it runs now. With MPI, free it before `MPI_Finalize`.
///
/// `comm` NULL: a no-op returning `LK_OK`. Returns `LK_ERR_INVALID` for an
/// unknown or already freed handle. Thread-safe, but on a given rank no
/// other call may be using the communicator in a collective at the same time.
///
/// # Safety
/// None beyond the handle being any value: it is looked up, never trusted.
/// The table's `release` (run here or by the last invoker's shutdown) must
/// be safe to call then.
#[no_mangle]
pub unsafe extern "C" fn lk_comm_free(comm: *mut lk_comm) -> lk_status {
    guard(|| {
        if comm.is_null() {
            return Ok(());
        }
        let comm = COMMS.remove(handle_of(comm)).ok_or_else(|| Error::invalid("unknown or dead communicator handle"))?;
        drop(comm);
        Ok(())
    })
}

/// `number(comm)` for the handle `comm`, or -1 for a NULL, unknown or freed
/// handle (with `lk_last_error()` saying so): what `lk_comm_rank` and
/// `lk_comm_size` return.
fn number_of(comm: *const lk_comm, number: fn(&Comm) -> usize) -> i32 {
    match lookup(comm) {
        Ok(c) => number(&c) as i32,
        Err(e) => {
            super::error::set_last_error(&e);
            -1
        }
    }
}

/// This process's rank in `comm` (`0 .. size-1`), or -1 for a NULL, unknown
/// or freed handle (then `lk_last_error()` says so). Thread-safe.
///
/// # Safety
/// None: the handle is looked up, never trusted.
#[no_mangle]
pub unsafe extern "C" fn lk_comm_rank(comm: *const lk_comm) -> i32 {
    guard_value(-1, || number_of(comm, Comm::rank))
}

/// The number of ranks in `comm`, or -1 for a NULL, unknown or freed handle
/// (then `lk_last_error()` says so). Thread-safe.
///
/// # Safety
/// None: the handle is looked up, never trusted.
#[no_mangle]
pub unsafe extern "C" fn lk_comm_size(comm: *const lk_comm) -> i32 {
    guard_value(-1, || number_of(comm, Comm::size))
}

/// End every rank of the job with exit status `code`, through the table's
/// `abort` (`MPI_Abort` for `lkparallel_mpi.h`): for a program that got
/// `LK_ERR_COMM`, after which the ranks are out of step and a collective
/// would wait forever. Not collective. Does not return when `abort` works.
///
/// Returns `LK_ERR_INVALID` for a NULL, unknown or freed handle;
/// `LK_ERR_UNSUPPORTED` when the table has no `abort`. Thread-safe.
///
/// # Safety
/// The handle is looked up, never trusted; the table's `abort` must be safe
/// to call from this thread.
#[no_mangle]
pub unsafe extern "C" fn lk_comm_abort(comm: *mut lk_comm, code: i32) -> lk_status {
    guard(|| lookup(comm)?.abort(code))
}

/// Set this thread's `lk_last_error()` to `message` (NUL-terminated, read
/// during the call; NULL: a generic text) and return `LK_ERR_COMM`. For
/// adapters such as `lkparallel_mpi.h` whose own calls (MPI's) fail before a
/// communicator exists, so that their failures read like the library's.
/// Thread-safe.
///
/// # Safety
/// `message` must be NULL or a NUL-terminated string, readable during the call.
#[no_mangle]
pub unsafe extern "C" fn lk_comm_report_failure(message: *const std::ffi::c_char) -> lk_status {
    guard(|| {
        let text = if message.is_null() {
            "a communicator adapter failed".to_string()
        } else {
            std::ffi::CStr::from_ptr(message).to_string_lossy().into_owned()
        };
        Err(Error::Comm(text))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_layout_has_no_padding() {
        let ops = std::mem::MaybeUninit::<lk_comm_ops>::uninit();
        let base = ops.as_ptr() as usize;
        // SAFETY: addr_of! on an uninitialised struct only computes a field's address.
        let ctx = unsafe { std::ptr::addr_of!((*ops.as_ptr()).ctx) } as usize;
        // SAFETY: addr_of! on an uninitialised struct only computes a field's address.
        let fetch_add = unsafe { std::ptr::addr_of!((*ops.as_ptr()).fetch_add) } as usize;
        assert_eq!(ctx - base, 16);
        assert_eq!(fetch_add - base, OPS_MIN);
        assert_eq!(std::mem::size_of::<lk_comm_ops>(), 16 + 10 * std::mem::size_of::<usize>());
    }
}
