//! The threads backend's scheduler: worker slots, the board of maps that
//! have work, and the waits — every one woken by the event it waits for.
//!
//! A *slot* is the right to run callbacks as worker `k`; there are exactly
//! `n_jobs`, so at most `n_jobs` callbacks of an invoker run at once however
//! many threads call `map`. Pool threads and map callers take slots; a
//! thread inside a callback keeps its slot while it waits for a nested map,
//! and lends it to maps on the same invoker meanwhile (`context::help_once`).
//! A pool thread that spins between maps keeps its slot too, and gives it
//! back before it blocks: in a loop of maps, the slots' lock is then the
//! caller's alone (the helper's take and put moved its line between the
//! cores twice a map).
//!
//! Events: posting a map, freeing a slot while maps wait, and shutdown bump
//! `gen`; idle pool threads wait for `gen` to change (spinning briefly
//! first when the workers fit the CPUs, then blocking), and threads waiting
//! inside callbacks are woken through their registered `Waiter`. At most
//! `n_jobs - 1` threads spin (the caller is the other worker), and an event
//! futex-wakes only the sleepers it needs beyond the spinners, so a loop of
//! small maps makes no system call; nor does a pool thread touch a small
//! map's lines while its caller may finish it alone (`defer_to_small_maps`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};

use super::job::Job;
use super::team::{Handed, Mailbox};
use super::waiter::Waiter;
use crate::util::CachePadded;

/// How long a waiting thread spins before it blocks (when the workers fit
/// the CPUs): long enough to catch the next map of a loop of small maps,
/// short enough that an idle library costs nothing.
pub(crate) const SPIN: Duration = Duration::from_micros(50);
/// How long pool threads let the working caller of a map of at most
/// `job::SMALL_MAP` items run alone: a few short items end within it (a handoff
/// would cost more), longer ones lose at most this. Bigger maps: at once.
pub(crate) const JOIN_DELAY: Duration = Duration::from_micros(1);
/// Small maps posted back to back restart a pool thread's `JOIN_DELAY`;
/// it looks at the board at least this often all the same, so a small map
/// of long items gets help while other callers post maps all the time.
pub(crate) const MAX_DEFER: Duration = Duration::from_micros(20);

pub(crate) struct Sched {
    slots: Mutex<Vec<u32>>,
    /// Slots free now, read without the lock.
    free: AtomicUsize,
    board: Mutex<Vec<Arc<Job>>>,
    /// What idle pool threads watch, on a cache line of its own: spinning
    /// threads read it all the time, a small map's caller writes it once.
    signal: CachePadded<Signal>,
    idle: Mutex<()>,
    wake: Condvar,
    sleepers: AtomicUsize,
    /// Idle pool threads spinning now, and how many may: the map's caller
    /// works too, so more spinners than the other `n_jobs - 1` workers
    /// would only take CPU time from the callers. (Apart: pool threads
    /// write it, and a map's caller writes the fields around it.)
    spinners: CachePadded<AtomicUsize>,
    max_spinners: usize,
    /// Threads waiting inside a callback that holds one of our slots, and
    /// how many (read without the lock: a map's post looks at it, and there
    /// are seldom any).
    helpers: Mutex<Vec<Arc<Waiter>>>,
    helpers_n: AtomicUsize,
    /// Idle pool threads spin before blocking (the workers fit the CPUs).
    spin: bool,
    /// Per slot: where a map's caller hands its job to the thread that
    /// keeps the slot while it spins (`team`).
    mailboxes: Box<[Mailbox]>,
}

/// What ended an idle pool thread's wait.
pub(crate) enum Woken {
    /// An event; whether the thread is still counted as spinning.
    Event(bool),
    /// A job handed to the slot it kept (it is still counted, and keeps
    /// the slot).
    Handed(Handed),
}

impl Sched {
    pub fn new(n_jobs: usize, spin: bool, max_spinners: usize) -> Sched {
        Sched {
            slots: Mutex::new((0..n_jobs as u32).rev().collect()),
            free: AtomicUsize::new(n_jobs),
            board: Mutex::new(Vec::new()),
            signal: CachePadded(Signal { gen: AtomicU64::new(0), posted: AtomicUsize::new(0), eager: AtomicUsize::new(0), quit: AtomicBool::new(false) }),
            idle: Mutex::new(()),
            wake: Condvar::new(),
            sleepers: AtomicUsize::new(0),
            spinners: CachePadded(AtomicUsize::new(0)),
            max_spinners,
            helpers: Mutex::new(Vec::new()),
            helpers_n: AtomicUsize::new(0),
            spin,
            mailboxes: (0..n_jobs as u32).map(Mailbox::new).collect(),
        }
    }

    /// A free slot: `want` when it is free (the one this thread held last,
    /// so its home block's items are still in this core's caches), else any.
    pub fn try_take_slot(&self, want: Option<u32>) -> Option<u32> {
        let mut slots = self.slots.lock();
        let k = take_slot(&mut slots, want);
        self.free.store(slots.len(), Ordering::Release);
        k
    }

    pub fn put_slot(&self, k: u32) {
        let mut slots = self.slots.lock();
        slots.push(k);
        self.free.store(slots.len(), Ordering::Release);
        drop(slots);
        // A map may be waiting for a free slot's thread.
        if self.signal.posted.load(Ordering::SeqCst) > 0 {
            self.notify(1);
        }
    }

    /// List `job` on the board and wake up to `wanted` idle pool threads
    /// (and every thread waiting inside one of our callbacks).
    pub fn post(&self, job: &Arc<Job>, wanted: usize) {
        self.board.lock().push(job.clone());
        self.signal.posted.fetch_add(1, Ordering::SeqCst);
        if !job.joins_late() {
            self.signal.eager.fetch_add(1, Ordering::SeqCst);
        }
        self.notify(wanted);
        // A helper counts itself before it looks at the board (`posted`),
        // and we count the job before we look at the helpers: none is missed.
        if self.helpers_n.load(Ordering::SeqCst) > 0 {
            for h in self.helpers.lock().iter() {
                h.wake();
            }
        }
    }

    /// Hand `job` to up to `wanted` pool threads that spin keeping their
    /// slots (`team`), not `mine`'s; how many took it.
    pub fn hand_to_team(&self, job: &Arc<Job>, mine: Option<u32>, wanted: usize) -> usize {
        // Only a spinning thread listens. (The count's line stays put while
        // a team spins map after map; a pool asleep costs no look at each
        // mailbox.)
        if self.spinners.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        let mut handed = 0;
        for (k, m) in self.mailboxes.iter().enumerate() {
            if handed == wanted {
                break;
            }
            let k = k as u32;
            if mine == Some(k) {
                continue;
            }
            let reserved = job.reserve_home(k);
            if m.hand(job, reserved) {
                handed += 1;
            } else if reserved {
                job.release_home(k);
            }
        }
        handed
    }

    /// The thread keeping slot `k` spins: jobs may be handed to it.
    pub fn listen(&self, k: u32) {
        self.mailboxes[k as usize].open();
    }

    /// Has a job been handed to slot `k`?
    pub fn handed(&self, k: u32) -> bool {
        self.mailboxes[k as usize].has_job()
    }

    /// The job handed to slot `k`, if any; the mailbox is closed.
    pub fn take_handed(&self, k: u32) -> Option<Handed> {
        self.mailboxes[k as usize].take()
    }

    /// The thread keeping slot `k` stops taking jobs; the job handed to it
    /// meanwhile, if any.
    pub fn stop_listening(&self, k: u32) -> Option<Handed> {
        self.mailboxes[k as usize].close()
    }

    /// Take `job` off the board (it may have left already).
    pub fn withdraw(&self, job: &Arc<Job>) {
        self.unlist(&mut self.board.lock(), |j| !Arc::ptr_eq(j, job));
    }

    /// Keep the board's jobs that `keep` holds, counting the others out.
    fn unlist(&self, board: &mut Vec<Arc<Job>>, keep: impl Fn(&Arc<Job>) -> bool) {
        let (mut gone, mut gone_eager) = (0, 0);
        board.retain(|j| {
            let kept = keep(j);
            gone += usize::from(!kept);
            gone_eager += usize::from(!kept && !j.joins_late());
            kept
        });
        if gone > 0 {
            self.signal.posted.fetch_sub(gone, Ordering::SeqCst);
        }
        if gone_eager > 0 {
            self.signal.eager.fetch_sub(gone_eager, Ordering::SeqCst);
        }
    }

    /// Is a job on the board that wants help at once? (Else only small
    /// maps whose callers run alone first, or none: a pool thread lets them,
    /// without touching the board or the jobs meanwhile; see
    /// `defer_to_small_maps`.)
    pub fn eager_posted(&self) -> bool {
        self.signal.eager.load(Ordering::SeqCst) > 0
    }

    /// An idle pool thread that saw event `seen`: when no map on the board
    /// wants help at once (small maps, whose callers run alone first, or
    /// none), give their callers `JOIN_DELAY` before it looks, touching
    /// neither the board's lock nor the jobs' lines meanwhile (a look per
    /// map cost more than the map). Returns true when another event came
    /// first: the thread starts over, and the wait again, for at most
    /// `MAX_DEFER` in all (`since`), so a small map of long items gets help
    /// while other callers post small maps back to back. The thread counts
    /// as spinning meanwhile (`counted`), when there is room.
    pub fn defer_to_small_maps(&self, seen: u64, kept: Option<u32>, since: &mut Option<Instant>, counted: &mut bool) -> bool {
        if self.eager_posted() {
            *since = None;
            return false;
        }
        let started = *since.get_or_insert_with(Instant::now);
        // Without spinning (more workers than CPUs): one wait, no more.
        let cap = if self.spin { MAX_DEFER } else { JOIN_DELAY };
        if started.elapsed() >= cap {
            *since = None;
            return false;
        }
        if !*counted {
            *counted = self.count_spinner();
        }
        let until = Instant::now() + JOIN_DELAY;
        let mut spins = 0u32;
        while self.signal.gen.load(Ordering::SeqCst) == seen && !kept.is_some_and(|k| self.handed(k)) {
            spins += 1;
            if spins % 16 == 0 && Instant::now() >= until {
                *since = None;
                return false;
            }
            std::hint::spin_loop();
        }
        true
    }

    /// The first job on the board with an item to claim now. Jobs that will
    /// never have one again leave the board.
    pub fn claimable(&self) -> Option<Arc<Job>> {
        if self.signal.posted.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut board = self.board.lock();
        self.unlist(&mut board, |j| !j.exhausted());
        board.iter().find(|j| j.claimable()).cloned()
    }

    pub fn has_claimable(&self) -> bool {
        self.signal.posted.load(Ordering::SeqCst) > 0 && self.board.lock().iter().any(|j| j.claimable())
    }

    /// Wake up to `n` idle pool threads for work already posted (no new
    /// event: nothing to do when none sleeps, or no slot is free for it —
    /// a slot freed later wakes a thread itself).
    pub fn wake_idle(&self, n: usize) {
        let n = n.min(self.free.load(Ordering::SeqCst));
        if n > 0 && self.sleepers.load(Ordering::SeqCst) > 0 {
            self.notify(n);
        }
    }

    /// Something changed: wake up to `n` idle pool threads.
    pub fn notify(&self, n: usize) {
        self.signal.gen.fetch_add(1, Ordering::SeqCst);
        // A thread counted as spinning looks at `gen` again before it
        // sleeps, so it sees this event: it needs no futex wake.
        let n = n.saturating_sub(self.spinners.load(Ordering::SeqCst));
        let sleeping = self.sleepers.load(Ordering::SeqCst);
        if sleeping > 0 && n > 0 {
            let _g = self.idle.lock();
            if n >= sleeping {
                self.wake.notify_all();
            } else {
                for _ in 0..n {
                    self.wake.notify_one();
                }
            }
        }
    }

    /// Count this thread as spinning, when spinning is allowed and there is
    /// room (true); undone by `uncount`, or by `wait_for_work` for a
    /// counted thread. A pool thread that leaves a job counts itself on its
    /// way back: it looks at the board before it can sleep, so an event
    /// meanwhile needs no wake for it. Without this the caller of a loop of
    /// maps, posting the next while the last one's helper was on its way
    /// back, woke a sleeping thread every map, which then took the helper's CPU.
    pub fn count_spinner(&self) -> bool {
        if !self.spin {
            return false;
        }
        if self.spinners.fetch_add(1, Ordering::SeqCst) < self.max_spinners {
            return true;
        }
        self.uncount();
        false
    }

    pub fn uncount(&self) {
        self.spinners.fetch_sub(1, Ordering::SeqCst);
    }

    /// An idle pool thread: wait until `gen` moves past `seen` (or shutdown);
    /// `counted`: already by `count_spinner`. Returns whether the thread is
    /// still counted: a spinner that sees the event stays counted while it
    /// looks at the board, so a map posted meanwhile wakes no sleeper for
    /// work this thread is about to find (in a loop of small maps that
    /// wake, a futex call per map, was most of the map's cost).
    /// The sleeper counts itself before it looks at `gen` again, and a
    /// notifier bumps `gen` before it looks at the count: no wake is lost.
    /// `kept`: the slot a spinning thread kept for the next map; it is
    /// given back before the thread blocks, so a slot is never held asleep.
    pub fn wait_for_work(&self, seen: u64, counted: bool, kept: &mut Option<u32>) -> Woken {
        if counted || self.count_spinner() {
            let until = Instant::now() + SPIN;
            let mut spins = 0u32;
            while self.signal.gen.load(Ordering::SeqCst) == seen && !kept.is_some_and(|k| self.handed(k)) {
                spins += 1;
                if spins % 64 == 0 && Instant::now() >= until {
                    break;
                }
                std::hint::spin_loop();
            }
            if self.signal.gen.load(Ordering::SeqCst) != seen {
                return Woken::Event(true);
            }
            // Not listening once the slot is given back.
            if let Some(handed) = kept.and_then(|k| self.stop_listening(k)) {
                return Woken::Handed(handed);
            }
            self.uncount();
        }
        if let Some(k) = kept.take() {
            self.put_slot(k);
        }
        let mut g = self.idle.lock();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        while self.signal.gen.load(Ordering::SeqCst) == seen && !self.signal.quit.load(Ordering::SeqCst) {
            g = self.wake.wait(g);
        }
        drop(g);
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        Woken::Event(false)
    }

    pub fn generation(&self) -> u64 {
        self.signal.gen.load(Ordering::SeqCst)
    }

    pub fn quitting(&self) -> bool {
        self.signal.quit.load(Ordering::SeqCst)
    }

    /// Every pool thread leaves its loop.
    pub fn shut_down(&self) {
        self.signal.quit.store(true, Ordering::SeqCst);
        self.notify(usize::MAX);
    }

    pub fn add_helper(&self, w: &Arc<Waiter>) {
        let mut h = self.helpers.lock();
        h.push(w.clone());
        self.helpers_n.store(h.len(), Ordering::SeqCst);
    }

    pub fn remove_helper(&self, w: &Arc<Waiter>) {
        let mut h = self.helpers.lock();
        if let Some(pos) = h.iter().position(|x| Arc::ptr_eq(x, w)) {
            h.swap_remove(pos);
            self.helpers_n.store(h.len(), Ordering::SeqCst);
        }
    }
}

/// Take `want` from the free slots if it is among the most recently freed
/// (where a thread that runs map after map finds its own), else the top one.
fn take_slot(free: &mut Vec<u32>, want: Option<u32>) -> Option<u32> {
    let recent = free.len().saturating_sub(RECENT_SLOTS);
    match want.and_then(|k| free[recent..].iter().rposition(|&s| s == k)) {
        Some(i) => Some(free.remove(recent + i)),
        None => free.pop(),
    }
}

/// How deep `take_slot` looks.
const RECENT_SLOTS: usize = 8;

/// Read by every idle pool thread, written by events. (Not beside the
/// slots, which a map's caller takes and gives back every map: an idle
/// thread's look at `posted` took that line from the caller each time.)
struct Signal {
    /// Bumped by every event an idle pool thread may be waiting for.
    gen: AtomicU64,
    /// Jobs on the board, read without the lock.
    posted: AtomicUsize,
    /// Jobs on the board whose callers want help at once (not `joins_late`).
    eager: AtomicUsize,
    quit: AtomicBool,
}

#[cfg(test)]
mod tests {
    use super::{take_slot, Sched};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_kept_slot_is_given_back_before_its_thread_blocks() {
        let sched = Arc::new(Sched::new(2, true, 1));
        assert_eq!(sched.try_take_slot(Some(1)), Some(1));
        assert!(sched.count_spinner());
        let idle = {
            let sched = sched.clone();
            std::thread::spawn(move || matches!(sched.wait_for_work(sched.generation(), true, &mut Some(1)), super::Woken::Event(true)))
        };
        // It spins for `SPIN` with the slot, then gives it back and sleeps.
        let deadline = Instant::now() + Duration::from_secs(10);
        while sched.free.load(Ordering::SeqCst) < 2 {
            assert!(Instant::now() < deadline, "the slot was kept while its thread slept");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(sched.try_take_slot(Some(1)), Some(1));
        sched.shut_down();
        assert!(!idle.join().unwrap(), "it blocked: no longer counted as spinning");
    }

    #[test]
    fn a_thread_gets_its_slot_back_when_it_is_free() {
        let mut free: Vec<u32> = (0..4).rev().collect();
        assert_eq!(take_slot(&mut free, None), Some(0), "slot 0 first");
        assert_eq!(take_slot(&mut free, Some(2)), Some(2));
        assert_eq!(take_slot(&mut free, Some(2)), Some(1), "2 is taken: the top one");
        free.extend([2, 0]);
        assert_eq!(take_slot(&mut free, Some(2)), Some(2));
        assert_eq!(take_slot(&mut free, Some(3)), Some(3));
        assert_eq!(take_slot(&mut free, Some(3)), Some(0));
        assert_eq!(take_slot(&mut free, None), None);
    }
}
