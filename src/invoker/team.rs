//! The team path: a map's caller hands its job straight to the pool threads
//! that spin between maps, each keeping its slot, instead of listing it on
//! the board for them to find.
//!
//! In a loop of maps the board costs the helper a chain of look-ups, each
//! waiting for a line the caller has just written (the signal, the board's
//! lock and list, the job's fields), before it starts its block; OpenMP's
//! threads read one line. Each slot has a mailbox on a line of its own,
//! open while the thread keeping that slot spins: the caller puts the job
//! in with one compare-and-swap, the thread sees it on the line it spins
//! on and starts at once. A thread that stops spinning closes its mailbox
//! first, taking any job handed to it meanwhile, so none is lost; a job the
//! caller could not hand over (the mailbox was closed) goes on the board.
//!
//! Where a map's owners claim their home blocks whole, the caller claims
//! the helper's block for it before handing the job over (`RESERVED`): the
//! helper then starts without a compare-and-swap on a line the caller
//! has just written, and runs the block as surely as if it had claimed it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::job::Job;
use crate::util::CachePadded;

/// No one is listening: the slot's thread is not spinning.
const CLOSED: usize = 0;
/// The slot's thread is spinning and takes a job handed to it.
const OPEN: usize = 1;
/// Set beside a job's address: its home block was claimed for the thread.
/// (A job's address is a multiple of its alignment, which leaves the two
/// low bits for `OPEN` and this.)
const RESERVED: usize = 2;
const _: () = assert!(std::mem::align_of::<Job>() > (OPEN | RESERVED));

/// Where a job is handed to the thread that keeps one slot. Holds `CLOSED`,
/// `OPEN`, or a job's `Arc::into_raw` address (with `RESERVED`, perhaps),
/// which carries one strong count: whoever takes the address out owns that
/// count.
pub(crate) struct Mailbox {
    word: CachePadded<AtomicUsize>,
    /// The slot it belongs to (read-only).
    worker: u32,
}

/// A job handed to a pool thread, which must run it (its home block may be
/// reserved for it: no one else will run those items).
pub(crate) struct Handed {
    pub job: Arc<Job>,
    pub reserved: bool,
    /// The slot it was handed to: the worker it runs as.
    pub worker: u32,
}

impl Handed {
    /// Run it; the job, to let go of when convenient.
    pub fn run(self) -> Arc<Job> {
        self.job.prefetch_start();
        if self.reserved {
            self.job.work_reserved(self.worker);
        } else {
            self.job.work(self.worker, None);
        }
        self.job
    }

    fn from_word(word: usize, worker: u32) -> Option<Handed> {
        if word <= OPEN {
            return None;
        }
        // SAFETY: a word above OPEN is an address from `Arc::into_raw` in
        // `Mailbox::hand`, with RESERVED perhaps set beside it, carrying one
        // strong count; the caller took the word out of its mailbox, so it
        // alone owns that count.
        let job = unsafe { Arc::from_raw((word & !RESERVED) as *const Job) };
        Some(Handed { job, reserved: word & RESERVED != 0, worker })
    }
}

impl Mailbox {
    /// Slot `worker`'s mailbox.
    pub fn new(worker: u32) -> Mailbox {
        Mailbox { word: CachePadded(AtomicUsize::new(CLOSED)), worker }
    }

    /// The slot's thread starts spinning: jobs may be handed to it.
    pub fn open(&self) {
        self.word.store(OPEN, Ordering::SeqCst);
    }

    /// Has a job been handed over? (A plain load: what the thread spins on.)
    pub fn has_job(&self) -> bool {
        self.word.load(Ordering::Acquire) > OPEN
    }

    /// The job handed over, if any, closing the mailbox. (No
    /// read-modify-write: a mailbox that holds a job changes only here or in
    /// `close`, both run by the one thread keeping the slot, as `hand`
    /// writes only an open one. The map's helper starts sooner for it.)
    pub fn take(&self) -> Option<Handed> {
        let word = self.word.load(Ordering::Acquire);
        if word > OPEN {
            self.word.store(CLOSED, Ordering::Relaxed);
        }
        Handed::from_word(word, self.worker)
    }

    /// Stop taking jobs; the job handed over meanwhile, if any.
    pub fn close(&self) -> Option<Handed> {
        Handed::from_word(self.word.swap(CLOSED, Ordering::AcqRel), self.worker)
    }

    /// Hand `job` to the slot's thread, if it is listening (`reserved`: its
    /// home block is claimed for it).
    pub fn hand(&self, job: &Arc<Job>, reserved: bool) -> bool {
        let p = Arc::into_raw(job.clone()) as usize;
        debug_assert_eq!(p & (RESERVED | OPEN), 0);
        let word = if reserved { p | RESERVED } else { p };
        if self.word.compare_exchange(OPEN, word, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            return true;
        }
        // SAFETY: `p` came from `Arc::into_raw` just above and was not
        // stored: the count it carries is still ours to drop.
        drop(unsafe { Arc::from_raw(p as *const Job) });
        false
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        drop(self.close());
    }
}

#[cfg(test)]
mod tests {
    use super::Mailbox;
    use crate::invoker::job::Job;
    use crate::invoker::kernel::Items;
    use crate::invoker::{Func, Invoker, MapOptions, Op, Options, Range};
    use crate::util::SendPtr;
    use std::ffi::c_void;
    use std::sync::Arc;

    unsafe extern "C" fn nothing(_: *const c_void, _: *const c_void, _: *mut c_void, _: *mut Range) -> i32 {
        0
    }

    #[test]
    fn a_handed_job_has_one_owner_and_none_is_lost() {
        let inv = Invoker::new(Op { func: Func::Range(nothing), model: SendPtr::null() }, Options::new(2)).unwrap();
        let items = Items { args: SendPtr::null(), arg_size: 0, results: SendPtr::null(), result_size: 0, n: 10 };
        let job = Arc::new(Job::for_map(inv.core(), None, items, &MapOptions::default(), 0, false));
        let m = Mailbox::new(1);
        assert!(!m.hand(&job, false), "closed: no one listens");
        assert_eq!(Arc::strong_count(&job), 1, "a refused hand keeps no count");
        m.open();
        assert!(!m.has_job() && m.take().is_none());
        assert!(m.hand(&job, true));
        assert!(!m.hand(&job, false), "one job at a time");
        assert_eq!(Arc::strong_count(&job), 2);
        let handed = m.take().expect("handed");
        assert!(handed.reserved && handed.worker == 1 && Arc::ptr_eq(&handed.job, &job));
        assert!(!m.hand(&job, false), "taking it closed the mailbox");
        drop(handed);
        assert_eq!(Arc::strong_count(&job), 1);
        // Closing takes a job handed meanwhile; dropping the mailbox lets go of one.
        m.open();
        assert!(m.hand(&job, false));
        let handed = m.close().expect("handed before the close");
        assert!(!handed.reserved);
        drop(handed);
        m.open();
        assert!(m.hand(&job, false));
        drop(m);
        assert_eq!(Arc::strong_count(&job), 1);
    }
}
