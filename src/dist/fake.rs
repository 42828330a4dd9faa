//! A fake communicator for `cargo test`: threads of one process act as ranks.
//!
//! It fills a real `lk_comm_ops` table with C functions, so tests go through
//! exactly the path an MPI program takes. Each collective is a rendezvous of
//! all ranks; it also checks the rules the library promises to keep: every
//! rank calls the same operation with the same root and sizes, and only on
//! the thread that owns the rank (workers never call the communicator).

use std::ffi::c_void;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::ffi::comm::lk_comm_ops;

/// What one rank brings to a collective.
struct Deposit {
    op: &'static str,
    root: i32,
    shape: Vec<usize>,
    data: Vec<u8>,
}

struct State {
    gen: u64,
    arrived: usize,
    slots: Vec<Option<Deposit>>,
    done: Option<Arc<Vec<Deposit>>>,
}

/// The shared side of a fake communicator of `n` ranks.
pub struct Hub {
    n: usize,
    state: Mutex<State>,
    turn: Condvar,
    /// The counters `fetch_add` (0) and `fetch_add_at` add to, "on rank 0".
    counters: Mutex<[u64; 2]>,
    /// Rule breaks seen (a test asserts this stays empty).
    pub violations: Mutex<Vec<String>>,
    /// Make every rank's collective number `k` (counted per rank) fail.
    pub fail_op: Mutex<Option<usize>>,
    /// Offer `fetch_add` in the tables made from now on.
    pub with_fetch_add: bool,
    /// Offer `fetch_add_at` in the tables made from now on.
    pub with_fetch_add_at: bool,
    pub aborted: Mutex<Vec<(usize, i32)>>,
    pub released: Mutex<usize>,
    pub ops_done: Mutex<Vec<usize>>,
}

/// One rank's `ctx`.
struct Rank {
    hub: Arc<Hub>,
    rank: usize,
    owner: ThreadId,
}

const TIMEOUT: Duration = Duration::from_secs(30);
const RC_FAIL: i32 = 17;
const RC_BROKEN_RULE: i32 = 99;

impl Hub {
    pub fn new(n: usize) -> Arc<Hub> {
        Arc::new(Hub {
            n,
            state: Mutex::new(State { gen: 0, arrived: 0, slots: (0..n).map(|_| None).collect(), done: None }),
            turn: Condvar::new(),
            counters: Mutex::new([0; 2]),
            violations: Mutex::new(Vec::new()),
            fail_op: Mutex::new(None),
            with_fetch_add: true,
            with_fetch_add_at: true,
            aborted: Mutex::new(Vec::new()),
            released: Mutex::new(0),
            ops_done: Mutex::new(vec![0; n]),
        })
    }

    pub fn without_fetch_add(n: usize) -> Arc<Hub> {
        let mut hub = Hub::new(n);
        let h = Arc::get_mut(&mut hub).unwrap();
        h.with_fetch_add = false;
        h.with_fetch_add_at = false;
        hub
    }

    /// A hub whose tables have `fetch_add` but no `fetch_add_at` (an older adapter).
    pub fn without_fetch_add_at(n: usize) -> Arc<Hub> {
        let mut hub = Hub::new(n);
        Arc::get_mut(&mut hub).unwrap().with_fetch_add_at = false;
        hub
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.n
    }

    /// The table for `rank`, owned by the calling thread.
    pub fn table(self: &Arc<Hub>, rank: usize) -> lk_comm_ops {
        let ctx = Box::into_raw(Box::new(Rank { hub: self.clone(), rank, owner: std::thread::current().id() }));
        lk_comm_ops {
            struct_size: std::mem::size_of::<lk_comm_ops>() as u32,
            rank: rank as i32,
            size: self.n as i32,
            local_size: self.n as i32,
            ctx: ctx.cast(),
            bcast: Some(bcast),
            allgather: Some(allgather),
            allgatherv: Some(allgatherv),
            gatherv: Some(rooted_v::<false>),
            scatterv: Some(rooted_v::<true>),
            fetch_add: if self.with_fetch_add { Some(fetch_add) } else { None },
            abort: Some(abort),
            release: Some(release),
            fetch_add_at: if self.with_fetch_add_at { Some(fetch_add_at) } else { None },
        }
    }

    fn violation(&self, what: String) -> i32 {
        self.violations.lock().push(what);
        RC_BROKEN_RULE
    }

    /// Rendezvous: every rank's deposit, once all have come.
    fn exchange(&self, rank: usize, dep: Deposit) -> Result<Arc<Vec<Deposit>>, i32> {
        let mut st = self.state.lock();
        let gen = st.gen;
        st.slots[rank] = Some(dep);
        st.arrived += 1;
        if st.arrived == self.n {
            let all: Vec<Deposit> = st.slots.iter_mut().map(|s| s.take().unwrap()).collect();
            st.done = Some(Arc::new(all));
            st.arrived = 0;
            st.gen += 1;
            self.turn.notify_all();
        } else {
            while st.gen == gen {
                if self.turn.wait_for(&mut st, TIMEOUT).timed_out() {
                    drop(st);
                    return Err(self.violation(format!("rank {rank}: a collective waited {TIMEOUT:?} for the others")));
                }
            }
        }
        let all = st.done.clone().unwrap();
        drop(st);
        let first = &all[0];
        for (r, d) in all.iter().enumerate() {
            if d.op != first.op || d.root != first.root || d.shape != first.shape {
                return Err(self.violation(format!(
                    "rank {r} called {}(root {}, {:?}) while rank 0 called {}(root {}, {:?})",
                    d.op, d.root, d.shape, first.op, first.root, first.shape
                )));
            }
        }
        Ok(all)
    }
}

/// The rank behind `ctx`, after the thread, pointer and failure-injection checks.
unsafe fn enter<'a>(ctx: *mut c_void, op: &str, bufs: &[*const c_void]) -> Result<&'a Rank, i32> {
    let me = &*(ctx as *const Rank);
    if let Some(b) = bufs.iter().find(|b| (**b as usize) < 4096) {
        // NULL, or 0x1 (an empty Vec's pointer, MPI_IN_PLACE in Open MPI).
        return Err(me.hub.violation(format!("rank {}: {op} got the buffer pointer {b:?}", me.rank)));
    }
    if std::thread::current().id() != me.owner {
        return Err(me.hub.violation(format!("rank {}: {op} called off the rank's own thread", me.rank)));
    }
    if op.starts_with("fetch_add") {
        return Ok(me); // not collective: ranks call it different numbers of times
    }
    let k = {
        let mut done = me.hub.ops_done.lock();
        done[me.rank] += 1;
        done[me.rank] - 1
    };
    if *me.hub.fail_op.lock() == Some(k) {
        return Err(RC_FAIL);
    }
    Ok(me)
}

/// Where a rank reads or writes its own part: never NULL, nor `0x1`
/// (`MPI_IN_PLACE` in Open MPI), whatever its `buf`.
fn check_ptr(me: &Rank, op: &str, p: *const u8) -> Result<(), i32> {
    if (p as usize) < 4096 {
        return Err(me.hub.violation(format!("rank {}: {op} would use its part at {p:?}", me.rank)));
    }
    Ok(())
}

fn rc(r: Result<(), i32>) -> i32 {
    r.err().unwrap_or(0)
}

unsafe extern "C" fn bcast(ctx: *mut c_void, buf: *mut c_void, len: usize, root: i32) -> i32 {
    rc((|| {
        let me = enter(ctx, "bcast", &[buf])?;
        let data = if me.rank == root as usize { std::slice::from_raw_parts(buf as *const u8, len).to_vec() } else { Vec::new() };
        let all = me.hub.exchange(me.rank, Deposit { op: "bcast", root, shape: vec![len], data })?;
        if me.rank != root as usize {
            std::ptr::copy_nonoverlapping(all[root as usize].data.as_ptr(), buf.cast(), len);
        }
        Ok(())
    })())
}

unsafe extern "C" fn allgather(ctx: *mut c_void, send: *const c_void, recv: *mut c_void, len: usize) -> i32 {
    rc((|| {
        let me = enter(ctx, "allgather", &[send, recv])?;
        let data = std::slice::from_raw_parts(send as *const u8, len).to_vec();
        let all = me.hub.exchange(me.rank, Deposit { op: "allgather", root: -1, shape: vec![len], data })?;
        for (r, d) in all.iter().enumerate() {
            std::ptr::copy_nonoverlapping(d.data.as_ptr(), (recv as *mut u8).add(r * len), len);
        }
        Ok(())
    })())
}

fn shape(n: usize, counts: *const usize, displs: *const usize, elem: usize) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    // SAFETY: the caller's promise: the table passes one entry per rank.
    let counts = unsafe { std::slice::from_raw_parts(counts, n) }.to_vec();
    // SAFETY: the caller's promise: the table passes one entry per rank.
    let displs = unsafe { std::slice::from_raw_parts(displs, n) }.to_vec();
    let mut s = counts.clone();
    s.extend_from_slice(&displs);
    s.push(elem);
    (s, counts, displs)
}

unsafe extern "C" fn allgatherv(ctx: *mut c_void, buf: *mut c_void, counts: *const usize, displs: *const usize, elem: usize) -> i32 {
    rc((|| {
        let me = enter(ctx, "allgatherv", &[buf])?;
        let (s, counts, displs) = shape(me.hub.n, counts, displs, elem);
        let buf = buf as *mut u8;
        let mine = std::slice::from_raw_parts(buf.add(displs[me.rank] * elem), counts[me.rank] * elem).to_vec();
        let all = me.hub.exchange(me.rank, Deposit { op: "allgatherv", root: -1, shape: s, data: mine })?;
        copy_others(me, &all, buf, &counts, &displs, elem);
        Ok(())
    })())
}

/// Every other rank's part from `all` to its place in `buf`.
///
/// # Safety
/// `buf` must be writable at every other rank's part.
unsafe fn copy_others(me: &Rank, all: &[Deposit], buf: *mut u8, counts: &[usize], displs: &[usize], elem: usize) {
    for (r, d) in all.iter().enumerate() {
        if r != me.rank {
            // SAFETY: the caller's promise; `d` holds rank `r`'s part (the shapes agree).
            unsafe { std::ptr::copy_nonoverlapping(d.data.as_ptr(), buf.add(displs[r] * elem), counts[r] * elem) };
        }
    }
}

/// gatherv (`SCATTER` false) and scatterv (true): one entry point for the
/// two, which take the same arguments and differ in which way parts travel.
unsafe extern "C" fn rooted_v<const SCATTER: bool>(
    ctx: *mut c_void,
    buf: *mut c_void,
    counts: *const usize,
    displs: *const usize,
    elem: usize,
    root: i32,
) -> i32 {
    let op = if SCATTER { "scatterv" } else { "gatherv" };
    rc((|| {
        let me = enter(ctx, op, &[])?;
        let (s, counts, displs) = shape(me.hub.n, counts, displs, elem);
        let buf = buf as *mut u8;
        let is_root = me.rank == root as usize;
        // In place on every rank: a rank's part is at displs[rank].
        let own = buf.wrapping_add(displs[me.rank] * elem);
        if SCATTER {
            let data = if is_root {
                let end = (0..me.hub.n).map(|r| (displs[r] + counts[r]) * elem).max().unwrap_or(0);
                std::slice::from_raw_parts(buf as *const u8, end).to_vec()
            } else {
                Vec::new()
            };
            let all = me.hub.exchange(me.rank, Deposit { op, root, shape: s, data })?;
            if !is_root {
                check_ptr(me, op, own)?;
                let src = &all[root as usize].data[displs[me.rank] * elem..(displs[me.rank] + counts[me.rank]) * elem];
                std::ptr::copy_nonoverlapping(src.as_ptr(), own, src.len());
            }
        } else {
            check_ptr(me, op, own)?;
            let data = if is_root { Vec::new() } else { std::slice::from_raw_parts(own, counts[me.rank] * elem).to_vec() };
            let all = me.hub.exchange(me.rank, Deposit { op, root, shape: s, data })?;
            if is_root {
                copy_others(me, &all, buf, &counts, &displs, elem);
            }
        }
        Ok(())
    })())
}

unsafe extern "C" fn fetch_add(ctx: *mut c_void, add: u64, old: *mut u64) -> i32 {
    fetch_add_at(ctx, 0, add, old)
}

unsafe extern "C" fn fetch_add_at(ctx: *mut c_void, counter: u32, add: u64, old: *mut u64) -> i32 {
    rc((|| {
        // SAFETY: `ctx` is a `Rank` this hub made; `old` is checked non-NULL by `enter`.
        let me = unsafe { enter(ctx, "fetch_add", &[old as *const c_void])? };
        let mut c = me.hub.counters.lock();
        let Some(c) = c.get_mut(counter as usize) else {
            return Err(me.hub.violation(format!("rank {}: fetch_add_at on counter {counter}", me.rank)));
        };
        // SAFETY: the library passes a valid u64 (checked non-NULL above).
        unsafe { *old = *c };
        *c = c.wrapping_add(add);
        Ok(())
    })())
}

unsafe extern "C" fn abort(ctx: *mut c_void, code: i32) {
    let me = &*(ctx as *const Rank);
    me.hub.aborted.lock().push((me.rank, code));
}

unsafe extern "C" fn release(ctx: *mut c_void) {
    let me = Box::from_raw(ctx as *mut Rank);
    *me.hub.released.lock() += 1;
}
