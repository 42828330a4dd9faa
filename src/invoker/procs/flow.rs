//! The parent's side of a flow: what the driver (`invoker::stream`) asks
//! of the process pool, and the news it waits for — finished claims (the
//! pool's eventfd), departures (the zygote's records), the workers' logs,
//! item deadlines.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::shm::{Shared, IDLE};
use super::{Departure, Parent, Zygote};
use crate::child::Exit;
use crate::error::{Error, Result};
use crate::invoker::sched::SPIN;
use crate::invoker::stream::{Flow, Ring};
use crate::invoker::ITEM_SKIPPED;
use crate::sys;
use crate::wire::{self, Kill, Record};

/// A flow on the process pool, as the driver sees it.
pub(super) struct ProcFlow<'a> {
    pub(super) parent: &'a mut Parent,
    pub(super) shared: &'a Shared,
    pub(super) ring: Ring,
    pub(super) departures: Vec<Departure>,
    /// (worker, pid) already asked to be killed for a time-out.
    pub(super) kills_sent: Vec<(u32, i32)>,
    pub(super) may_spin: bool,
    /// `Header::mail` when the pipes were last read.
    pub(super) mail_seen: u32,
    /// (settled, next) when they last moved, and when (per-item limits).
    pub(super) last_progress: ((usize, usize), u64),
}

impl ProcFlow<'_> {
    fn zygote(&mut self) -> Result<&mut Zygote> {
        self.parent.zygote.as_mut().ok_or_else(|| Error::WorkerDied("the process pool's zygote ended".into()))
    }

    /// With a per-item limit: workers holding a claim past their deadline
    /// (running an item too long, or stopped between items) are killed by
    /// the zygote; so are stopped workers when work waits unclaimed for a
    /// whole limit. Returns when to look again: never later than the limit,
    /// so a worker that stops just after a look is still caught.
    fn enforce_deadlines(&mut self) -> Result<Option<Duration>> {
        let limit = self.shared.header().item_timeout_ns.load(Ordering::Relaxed);
        if limit == 0 {
            return Ok(None);
        }
        let now = sys::monotonic_ns();
        let mut next: Option<u64> = Some(now + limit);
        let mut overdue = Vec::new();
        let h = self.shared.header();
        let progress = (self.shared.settled(), h.next.load(Ordering::SeqCst));
        if progress != self.last_progress.0 {
            self.last_progress = (progress, now);
        } else if progress.1 < h.avail.load(Ordering::SeqCst) && now - self.last_progress.1 >= limit {
            // Work waits and no worker takes it: any that is stopped goes.
            for (k, s) in self.shared.slots().iter().enumerate() {
                let pid = s.pid.load(Ordering::Acquire);
                if pid > 0 && sys::is_stopped(pid) && !self.kills_sent.contains(&(k as u32, pid)) {
                    overdue.push(Kill { worker: k as u32, pid });
                }
            }
        }
        for (k, s) in self.shared.slots().iter().enumerate() {
            if s.claim.load(Ordering::Acquire) == IDLE {
                continue;
            }
            let deadline = s.deadline_ns.load(Ordering::Acquire);
            let pid = s.pid.load(Ordering::Acquire);
            if deadline <= now {
                if pid > 0 && !self.kills_sent.contains(&(k as u32, pid)) {
                    overdue.push(Kill { worker: k as u32, pid });
                }
            } else {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
            }
        }
        for kill in overdue {
            self.kills_sent.push((kill.worker, kill.pid));
            let z = self.zygote()?;
            sys::write_all_raw(z.commands.as_raw_fd(), &kill.encode()).map_err(|e| Error::os("writing to the process pool's zygote", e))?;
        }
        Ok(next.map(|d| Duration::from_nanos(d - now)))
    }

    /// Deliver what arrived from the zygote and the workers; an ended
    /// zygote fails the flow (a new one is forked for the next).
    fn take_news(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.mail_seen = self.shared.header().mail.load(Ordering::Acquire);
        let events = self.parent.events.as_fd();
        let z = self.parent.zygote.as_mut().ok_or_else(|| Error::WorkerDied("the process pool's zygote ended".into()))?;
        // The common case, a finished claim and nothing else: one poll and
        // one read of the eventfd.
        let mut timeout = timeout;
        if let Some((ctrl, pidfd)) = z.child.watched_fds() {
            let mut fds = [sys::readable(&events), sys::readable(&z.logs), sys::readable(&ctrl), sys::readable(&pidfd)];
            sys::poll(&mut fds, timeout).map_err(|e| Error::os("poll", e))?;
            if !fds[1..].iter().any(sys::ready) {
                if sys::ready(&fds[0]) {
                    sys::eventfd_clear(events).map_err(|e| Error::os("eventfd", e))?;
                }
                return Ok(());
            }
            timeout = Some(Duration::ZERO);
        }
        let mut exits = Vec::new();
        let logs = z.logs.as_fd();
        let ended = z.child.wait_event(&[events, logs], timeout, &mut |r| {
            if let Record::WorkerExit { worker, pid, status, retired, item, item_end, timed_out, .. } = r {
                if !retired {
                    let items = (item != u64::MAX).then(|| item as usize..(item_end as usize).max(item as usize + 1));
                    exits.push(Departure { worker, pid, exit: Exit::from_wait_status(status), items, timed_out });
                }
            }
        });
        drain_logs(&z.logs, &mut z.log_reader);
        if let Some(e) = z.child.garbled() {
            let why = format!("the process pool's zygote sent malformed data ({e}); it is replaced at the next map");
            self.parent.zygote = None;
            return Err(Error::WorkerDied(why));
        }
        if let Err(e) = sys::eventfd_clear(events) {
            log::error!(target: "lkparallel", "eventfd: {e}");
        }
        for d in exits {
            log::warn!(target: "lkparallel", "worker {} (pid {}) ended with {}; replaced", d.worker, d.pid, d.exit.describe());
            self.departures.push(d);
        }
        if let Some(exit) = ended {
            let why = format!(
                "the process pool's zygote (pid {}) ended with {}, and its workers with it; a new one is forked at the next map",
                self.parent.zygote.as_ref().map_or(0, |z| z.child.pid()),
                exit.describe()
            );
            self.parent.zygote = None;
            return Err(Error::WorkerDied(why));
        }
        Ok(())
    }

    /// Before a flow: wait until every worker has started (and run its
    /// initializer), so a map never runs on fewer workers than asked for;
    /// after 5 s go on with those there are, or fail if there are none.
    pub(super) fn await_workers(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let h = self.shared.header();
        let ready = |s: &Shared| s.slots().iter().filter(|w| w.ready.load(Ordering::SeqCst) != 0).count();
        loop {
            let n = ready(self.shared);
            if n == self.shared.n_jobs() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                if n > 0 {
                    return Ok(());
                }
                return Err(Error::System("no worker process could be started (see the log)".into()));
            }
            h.parent_asleep.store(1, Ordering::SeqCst);
            let timeout = if ready(self.shared) != n { Some(Duration::ZERO) } else { Some(left) };
            let r = self.take_news(timeout);
            h.parent_asleep.store(0, Ordering::SeqCst);
            r?;
        }
    }

    /// Sleep until `changed` holds (spinning briefly first when a CPU is
    /// spare), `timeout` passes or an item's time is up. Every change a
    /// caller waits for is followed by the eventfd when the parent sleeps.
    fn wait_for(&mut self, changed: &dyn Fn(&Shared) -> bool, timeout: Option<Duration>) -> Result<()> {
        let h = self.shared.header();
        if self.may_spin {
            let until = Instant::now() + SPIN;
            let mut spins = 0u32;
            while !changed(self.shared) {
                spins += 1;
                if spins % 64 == 0 && Instant::now() >= until {
                    break;
                }
                std::hint::spin_loop();
            }
            if changed(self.shared) {
                return Ok(());
            }
        }
        let deadline = self.enforce_deadlines()?;
        let timeout = match (timeout, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Asleep before the last look: a worker that finishes a claim after
        // it sees the flag and signals the eventfd.
        h.parent_asleep.store(1, Ordering::SeqCst);
        let timeout = if changed(self.shared) { Some(Duration::ZERO) } else { timeout };
        let r = self.take_news(timeout);
        h.parent_asleep.store(0, Ordering::SeqCst);
        r
    }

    /// After the driver: nothing runs; what the workers logged is delivered.
    pub(super) fn finish(&mut self) {
        let mail = self.shared.header().mail.load(Ordering::Acquire);
        if mail != self.mail_seen {
            if let Some(z) = self.parent.zygote.as_mut() {
                let mut ignore = |_: Record| {};
                z.child.wait_event(&[], Some(Duration::ZERO), &mut ignore);
                drain_logs(&z.logs, &mut z.log_reader);
            }
        }
        self.parent.mail_seen = mail;
    }
}

impl Flow for ProcFlow<'_> {
    fn ring(&self) -> Ring {
        self.ring
    }

    fn publish(&mut self, avail: usize) -> Result<()> {
        self.shared.header().avail.store(avail, Ordering::SeqCst);
        self.shared.wake_workers(1);
        Ok(())
    }

    fn end(&mut self, total: usize) -> Result<()> {
        // A tail shorter than a grain may be claimed now.
        self.shared.header().total.store(total, Ordering::SeqCst);
        self.shared.wake_workers(u32::MAX);
        Ok(())
    }

    fn settled(&mut self) -> Result<usize> {
        Ok(self.shared.settled())
    }

    fn stop_at(&self) -> usize {
        self.shared.header().stop_at.load(Ordering::SeqCst)
    }

    fn cancelled(&self) -> bool {
        let h = self.shared.header();
        h.cancel.load(Ordering::SeqCst) != h.epoch.load(Ordering::SeqCst)
    }

    fn wait(&mut self, seen: usize, timeout: Option<Duration>) -> Result<()> {
        let h = self.shared.header();
        self.wait_for(&|s: &Shared| s.settled() != seen || h.cancel.load(Ordering::SeqCst) != h.epoch.load(Ordering::SeqCst), timeout)
    }

    fn halt(&mut self) -> Result<()> {
        let h = self.shared.header();
        h.stop_at.store(0, Ordering::SeqCst);
        // What no worker claimed is skipped here, once.
        let avail = h.avail.load(Ordering::SeqCst);
        let rest = h.next.swap(avail.max(h.next.load(Ordering::SeqCst)), Ordering::SeqCst);
        if rest < avail {
            h.mark_statuses();
        }
        for rel in rest..avail {
            // SAFETY: the ring holds a status per slot, mapped here.
            unsafe { *self.ring.status.add(rel % self.ring.slots) = ITEM_SKIPPED };
        }
        // Wait for no claim to be held, not for `settled` to move: a claim
        // announced and withdrawn meanwhile leaves `settled` where it was
        // (that wait missed its wake and hung).
        while self.shared.busy() {
            self.wait_for(&|s: &Shared| !s.busy(), None)?;
        }
        Ok(())
    }

    fn done(&self) -> usize {
        self.shared.settled()
    }

    fn statuses_marked(&self) -> bool {
        self.shared.header().statuses_marked()
    }

    fn release(&mut self, rel: usize, n: usize) {
        // Statuses are 0 at rest (workers write only other codes).
        if self.statuses_marked() {
            // SAFETY: the ring holds a status per slot, mapped here; these
            // `n` do not cross its end, and no worker writes them until
            // they are sourced again.
            unsafe { std::ptr::write_bytes(self.ring.status.add(rel % self.ring.slots), 0, n) };
        }
    }

    fn death(&mut self, rel: usize) -> String {
        let base = self.shared.header().index_base.load(Ordering::Relaxed);
        let started_at = |d: &Departure| d.items.as_ref().is_some_and(|r| r.start == rel);
        // The zygote marks the item, then forks a replacement, then sends
        // the record that says who died and how: wait for it (briefly).
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.departures.iter().any(started_at) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.take_news(Some(left)).is_err() {
                break;
            }
        }
        let Some(d) = self.departures.iter().find(|d| started_at(d)) else {
            return format!("the worker running item {} died; it was replaced", base.wrapping_add(rel));
        };
        // A range function's call fails as a whole: name all of it.
        let what = match &d.items {
            Some(r) if r.len() > 1 => format!("items {}..{}", base.wrapping_add(r.start), base.wrapping_add(r.end - 1)),
            _ => format!("item {}", base.wrapping_add(rel)),
        };
        if d.timed_out {
            let limit = self.parent.core.opts.item_timeout.unwrap_or_default().as_millis();
            format!("{what} ran past the per-item time limit of {limit} ms; worker {} (pid {}) was killed and replaced", d.worker, d.pid)
        } else {
            format!("worker {} (pid {}) died with {} while running {what}; it was replaced", d.worker, d.pid, d.exit.describe())
        }
    }
}

/// Deliver the workers' log records that have arrived. Garbage stops the
/// reading of logs (the flow goes on); it is said once.
pub(super) fn drain_logs(fd: &OwnedFd, reader: &mut wire::Reader) {
    let mut buf = [0u8; 16384];
    loop {
        match sys::read(fd.as_fd(), &mut buf) {
            Ok(n) if n > 0 => reader.push(&buf[..n]),
            _ => break,
        }
    }
    let was_garbled = reader.is_garbled();
    while let Some(r) = reader.next_record() {
        match r {
            Ok(Record::Log { level, target, message }) => crate::logging::deliver_forwarded(level, &target, &message),
            Ok(_) => {}
            // Said once per pool: the reader skips to the next good record.
            Err(e) if !was_garbled => log::warn!(target: "lkparallel", "a worker process wrote into the log pipe what is not a log record ({e}); it is skipped"),
            Err(_) => {}
        }
    }
}

