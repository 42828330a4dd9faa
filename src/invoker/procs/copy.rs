//! The parent's copies of a big map: the caller's arguments into the ring
//! and results out of it, cut in parts that helper threads take beside the
//! calling one.
//!
//! Why: those copies are the process backend's cost. One core copies about
//! 10 GB/s, so a map of 10^7 u64 spent about 15 ms in them while the whole
//! map took 6 ms on the threads backend, whose threads move the same bytes
//! on every core.
//!
//! The caller claims parts too, from the same counter, so a helper that is
//! slow to wake (its CPU runs a worker) delays nothing: the caller takes
//! the parts it has not, and waits only for parts being copied. Helpers are
//! made at the first copy worth cutting, as many as the map's workers less
//! the caller, up to the CPUs this process may use; they sleep between
//! copies, spinning first (`SPIN`) unless the workers oversubscribe the
//! CPUs (`Parent::copier_for` says why).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::invoker::sched::SPIN;
use crate::sync::Mutex;
use crate::sys;

/// A part: big enough that claiming it costs nothing beside copying it.
pub(super) const PART: usize = 64 << 10;

pub(super) struct Copier {
    crew: Arc<Crew>,
    threads: Vec<JoinHandle<()>>,
    /// One copy at a time.
    turn: Mutex<u32>,
}

#[derive(Default)]
struct Crew {
    /// The copy being made; set before `claims` is published.
    dst: AtomicUsize,
    src: AtomicUsize,
    len: AtomicUsize,
    streaming: AtomicBool,
    /// `Claims` packed: which copy, its parts, the next part to take.
    claims: AtomicU64,
    /// Parts copied; the caller sleeps on it (counted in `caller_asleep`).
    done: AtomicU32,
    caller_asleep: AtomicU32,
    /// Bumped for each copy; helpers sleep on it (counted in `helpers_asleep`).
    news: AtomicU32,
    helpers_asleep: AtomicU32,
    may_spin: bool,
    quit: AtomicBool,
}

/// The claim word: one atomic, so a part is claimed only from the copy
/// whose description the claimer then reads (a compare-and-swap that sees
/// a newer copy fails).
#[derive(Clone, Copy)]
struct Claims {
    copy: u32,
    parts: u16,
    next: u16,
}

impl Claims {
    fn pack(self) -> u64 {
        u64::from(self.copy) << 32 | u64::from(self.parts) << 16 | u64::from(self.next)
    }
    fn unpack(w: u64) -> Claims {
        Claims { copy: (w >> 32) as u32, parts: (w >> 16) as u16, next: w as u16 }
    }
}

impl Copier {
    /// A copier for `threads` threads in all (the caller's one of them).
    pub(super) fn new(threads: usize, may_spin: bool) -> Copier {
        let crew = Arc::new(Crew { may_spin, ..Crew::default() });
        let mut spawned = Vec::new();
        for k in 0..threads.saturating_sub(1) {
            let c = crew.clone();
            match std::thread::Builder::new().name(format!("lk-copy-{k}")).spawn(move || helper_loop(&c)) {
                Ok(t) => spawned.push(t),
                Err(e) => {
                    // Fewer threads copy more each; the copies still happen.
                    log::debug!(target: "lkparallel", "cannot start a copy thread ({e}); copying with {} threads", spawned.len() + 1);
                    break;
                }
            }
        }
        Copier { crew, threads: spawned, turn: Mutex::new(0) }
    }

    /// Copy `len` bytes from `src` to `dst`. `streaming`: the destination
    /// bypasses the caches (it is big, and nobody reads it soon).
    ///
    /// # Safety
    /// `src` is readable and `dst` writable for `len` bytes, they do not
    /// overlap, and nothing else touches them until this returns.
    pub(super) unsafe fn copy(&self, dst: *mut u8, src: *const u8, len: usize, streaming: bool) {
        let parts = len.div_ceil(PART).min(usize::from(u16::MAX));
        if self.threads.is_empty() || parts < 2 {
            // SAFETY: the caller's promise.
            return unsafe { copy_bytes(dst, src, len, streaming) };
        }
        let mut turn = self.turn.lock();
        *turn = turn.wrapping_add(1);
        let crew = &*self.crew;
        crew.done.store(0, Ordering::Relaxed);
        crew.dst.store(dst as usize, Ordering::Relaxed);
        crew.src.store(src as usize, Ordering::Relaxed);
        crew.len.store(len, Ordering::Relaxed);
        crew.streaming.store(streaming, Ordering::Relaxed);
        crew.claims.store(Claims { copy: *turn, parts: parts as u16, next: 0 }.pack(), Ordering::Release);
        crew.news.fetch_add(1, Ordering::SeqCst);
        if crew.helpers_asleep.load(Ordering::SeqCst) != 0 {
            sys::futex_wake_shared(&crew.news, u32::MAX);
        }
        crew.take_parts();
        // The helpers' parts are the caller's memory: wait until they are copied.
        crew.wait_on(&crew.done, &crew.caller_asleep, crew.may_spin, |done| done == parts as u32);
    }
}

impl Crew {
    /// Wait until `word` holds a value `ready` takes, and return it: spin
    /// first (`spin`), then sleep on `word`, counted in
    /// `sleepers` (whoever changes `word` wakes it while that is not 0; it
    /// changes `word` before it looks, we count ourselves before we look).
    fn wait_on(&self, word: &AtomicU32, sleepers: &AtomicU32, spin: bool, ready: impl Fn(u32) -> bool) -> u32 {
        let until = Instant::now() + SPIN;
        let mut spins = 0u32;
        loop {
            let now = word.load(Ordering::SeqCst);
            if ready(now) {
                return now;
            }
            spins += 1;
            if spin && (spins % 64 != 0 || Instant::now() < until) {
                std::hint::spin_loop();
                continue;
            }
            sleepers.fetch_add(1, Ordering::SeqCst);
            let now = word.load(Ordering::SeqCst);
            if !ready(now) {
                sys::futex_wait_shared(word, now, None);
            }
            sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Claim and copy parts of the current copy until none is left.
    fn take_parts(&self) {
        let mut seen = self.claims.load(Ordering::Acquire);
        loop {
            let c = Claims::unpack(seen);
            if c.next >= c.parts {
                return;
            }
            let next = Claims { next: c.next + 1, ..c }.pack();
            if let Err(now) = self.claims.compare_exchange_weak(seen, next, Ordering::AcqRel, Ordering::Acquire) {
                seen = now;
                continue;
            }
            seen = next;
            // Read after the claim: this copy's description (the caller
            // rewrites it only after every part is done, this one included).
            let len = self.len.load(Ordering::Relaxed);
            let at = usize::from(c.next) * PART;
            let (dst, src) = (self.dst.load(Ordering::Relaxed) + at, self.src.load(Ordering::Relaxed) + at);
            let n = if c.next + 1 == c.parts { len - at } else { PART };
            // SAFETY: part `next` of the copy `Copier::copy` described from
            // its caller's promise; parts are disjoint, and it waits for
            // `done` to count this one before the memory is touched again.
            unsafe { copy_bytes(dst as *mut u8, src as *const u8, n, self.streaming.load(Ordering::Relaxed)) };
            // SeqCst, as the flag after it: the caller sets its flag and then
            // looks at `done`, so one of the two sees the other (no lost wake).
            if self.done.fetch_add(1, Ordering::SeqCst) + 1 == u32::from(c.parts) && self.caller_asleep.load(Ordering::SeqCst) != 0 {
                sys::futex_wake_shared(&self.done, 1);
            }
        }
    }
}

impl Drop for Copier {
    fn drop(&mut self) {
        self.crew.quit.store(true, Ordering::SeqCst);
        self.crew.news.fetch_add(1, Ordering::SeqCst);
        sys::futex_wake_shared(&self.crew.news, u32::MAX);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn helper_loop(crew: &Crew) {
    // From 0, the word's first value: a copy published before this thread
    // ran is not missed.
    let mut seen = 0;
    // Spin for the next copy only when the last one came within `SPIN`: in
    // a map whose workers wait for the copies they come back to back;
    // where the workers are the slower side, a spin only takes their CPU.
    let mut spin = crew.may_spin;
    loop {
        let idle_since = Instant::now();
        seen = crew.wait_on(&crew.news, &crew.helpers_asleep, spin, |news| news != seen);
        spin = crew.may_spin && idle_since.elapsed() <= SPIN;
        if crew.quit.load(Ordering::SeqCst) {
            return;
        }
        crew.take_parts();
    }
}

/// Copy `len` bytes; `streaming`: with non-temporal stores where the CPU
/// has them (x86-64), which write whole lines without reading them first:
/// copying results out of the ring then moves a third fewer bytes.
///
/// # Safety
/// As `ptr::copy_nonoverlapping`.
pub(super) unsafe fn copy_bytes(dst: *mut u8, src: *const u8, len: usize, streaming: bool) {
    #[cfg(target_arch = "x86_64")]
    if streaming {
        // SAFETY: the caller's promise.
        return unsafe { copy_streaming(dst, src, len) };
    }
    let _ = streaming;
    // SAFETY: the caller's promise.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
}

/// # Safety
/// As `ptr::copy_nonoverlapping`.
#[cfg(target_arch = "x86_64")]
unsafe fn copy_streaming(dst: *mut u8, src: *const u8, len: usize) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    let head = dst.align_offset(16).min(len);
    // SAFETY: the first `head <= len` bytes of the caller's ranges.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, head) };
    let mut at = head;
    while at + 64 <= len {
        // SAFETY: bytes `at .. at + 64` lie in the caller's ranges; the
        // stores are 16-byte aligned (`dst + head` is); SSE2 is part of x86-64.
        unsafe {
            let (s, d) = (src.add(at).cast::<__m128i>(), dst.add(at).cast::<__m128i>());
            let (a, b, c, e) = (_mm_loadu_si128(s), _mm_loadu_si128(s.add(1)), _mm_loadu_si128(s.add(2)), _mm_loadu_si128(s.add(3)));
            _mm_stream_si128(d, a);
            _mm_stream_si128(d.add(1), b);
            _mm_stream_si128(d.add(2), c);
            _mm_stream_si128(d.add(3), e);
        }
        at += 64;
    }
    // SAFETY: the rest of the caller's ranges. The fence: streaming stores
    // are weakly ordered, and must be seen before what the caller publishes
    // next (a part done, a map's end).
    unsafe {
        std::ptr::copy_nonoverlapping(src.add(at), dst.add(at), len - at);
        _mm_sfence();
    }
}

#[cfg(test)]
mod tests {
    use super::{Copier, PART};

    fn pattern(len: usize, salt: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt ^ (i >> 8) as u8)).collect()
    }

    /// Every byte lands once, whatever the sizes and alignments, the threads
    /// and the kind of stores; nothing around the destination is touched.
    #[test]
    fn copies_every_byte_and_nothing_else() {
        for threads in [1, 2, 4] {
            for may_spin in [false, true] {
                let copier = Copier::new(threads, may_spin);
                for (len, src_off, dst_off) in [(0, 0, 0), (1, 3, 5), (63, 1, 0), (PART - 1, 0, 7), (2 * PART, 0, 0), (3 * PART + 17, 5, 9), (40 * PART + 123, 3, 1)] {
                    for streaming in [false, true] {
                        let src = pattern(len + src_off, len as u8);
                        let mut dst = vec![0xeeu8; len + dst_off + 64];
                        // SAFETY: both buffers hold the ranges; they are distinct.
                        unsafe { copier.copy(dst.as_mut_ptr().add(dst_off), src.as_ptr().add(src_off), len, streaming) };
                        let what = format!("threads {threads}, len {len}, offsets {src_off}/{dst_off}, streaming {streaming}");
                        assert!(dst[..dst_off].iter().all(|&b| b == 0xee), "{what}: bytes before");
                        assert!(dst[dst_off..dst_off + len] == src[src_off..], "{what}: the copy");
                        assert!(dst[dst_off + len..].iter().all(|&b| b == 0xee), "{what}: bytes after");
                    }
                }
            }
        }
    }

    /// Helpers take parts of copies made back to back from several threads
    /// (one at a time), and leave when the copier is dropped.
    #[test]
    fn copies_back_to_back_from_several_threads() {
        let copier = std::sync::Arc::new(Copier::new(3, false));
        let runs: Vec<_> = (0..4u8)
            .map(|t| {
                let copier = copier.clone();
                std::thread::spawn(move || {
                    for round in 0..50u8 {
                        let len = (round as usize % 7 + 2) * PART + t as usize * 13;
                        let src = pattern(len, round ^ t);
                        let mut dst = vec![0u8; len];
                        // SAFETY: both buffers hold `len` bytes; distinct.
                        unsafe { copier.copy(dst.as_mut_ptr(), src.as_ptr(), len, round % 2 == 0) };
                        assert!(dst == src, "thread {t}, round {round}");
                    }
                })
            })
            .collect();
        for r in runs {
            r.join().unwrap();
        }
        let copier = std::sync::Arc::try_unwrap(copier).ok().expect("no other owner");
        assert_eq!(copier.threads.len(), 2);
        drop(copier);
    }
}
