//! The zygote: a single-threaded snapshot of the process as it was when the
//! invoker was made. It forks the workers, reaps them, settles what a dead
//! worker was running (its item fails, the rest of its claim runs again or
//! is skipped), and forks a replacement, so every worker — replacements too
//! — sees the model as it was then, and none is forked from a threaded
//! process. It leaves when its lifeline closes (the pool is shut down, or
//! the parent died).

use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::shm::{Arena, Layout, Shared, IDLE, RETRY_FREE, RETRY_PENDING, RETRY_TAKEN};
use super::worker;
use super::RETIRED;
use crate::child::{self, ChildSide, DeathWatch, Exit};
use crate::fork::Role;
use crate::invoker::{Core, Func, ITEM_SKIPPED, ITEM_TIMED_OUT, ITEM_WORKER_DIED};
use crate::sys::{self, RawPid};
use crate::wire::{Kill, Record};

/// What the zygote inherits.
pub struct Spec<'a> {
    pub shared: &'a Shared,
    pub arena_fd: &'a OwnedFd,
    pub events: &'a OwnedFd,
    pub core: &'a Core,
    /// Readable (end of file) when the pool is shut down or the parent dies.
    pub lifeline: OwnedFd,
    /// Kill commands from the parent.
    pub commands: OwnedFd,
    /// Records to the parent.
    pub ctrl: OwnedFd,
    /// Where workers send their log records.
    pub worker_logs: OwnedFd,
}

struct Member {
    pid: RawPid,
    pidfd: Option<OwnedFd>,
    started: Instant,
    /// Wait this long before forking a replacement again (a worker that
    /// dies young again and again is restarted ever more slowly).
    backoff: Duration,
    respawn_at: Option<Instant>,
    /// The parent asked for this pid to be killed (a per-item time-out).
    kill_asked: Option<RawPid>,
}

pub fn main(spec: Spec<'_>) -> i32 {
    // The zygote reaps its workers itself, even if the host ignores SIGCHLD.
    if let Err(e) = sys::default_sigchld() {
        log::error!(target: "lkparallel", "the process pool's zygote cannot reap its workers: {e}");
        return 1;
    }
    let n = spec.shared.n_jobs();
    crate::logging::count_forwards_in(&spec.shared.header().mail);
    let mut z = Zygote {
        members: (0..n).map(|_| Member { pid: 0, pidfd: None, started: Instant::now(), backoff: Duration::ZERO, respawn_at: None, kill_asked: None }).collect(),
        arena: Arena::new(),
        side: ChildSide { ctrl: spec.ctrl.as_raw_fd() },
        spec: &spec,
    };
    for k in 0..n {
        z.spawn(k);
    }
    // Besides the lifeline, watch the parent process itself: a lifeline can
    // outlive it in a child the host forked without lkparallel seeing.
    let parent_pid = sys::getppid();
    let parent = sys::pidfd_open(parent_pid).ok();
    loop {
        let now = Instant::now();
        let next_respawn = z.members.iter().filter_map(|m| m.respawn_at).min();
        let timeout = next_respawn.map(|t| t.saturating_duration_since(now));
        // Without pidfds (old kernels), deaths are noticed within 50 ms.
        let timeout = if parent.is_none() || z.members.iter().any(|m| m.pid > 0 && m.pidfd.is_none()) {
            Some(timeout.map_or(Duration::from_millis(50), |t| t.min(Duration::from_millis(50))))
        } else {
            timeout
        };
        let (ended, commands) = {
            let mut fds = vec![sys::readable(&spec.lifeline), sys::readable(&spec.commands)];
            if let Some(p) = &parent {
                fds.push(sys::readable(p));
            }
            fds.extend(z.members.iter().filter_map(|m| m.pidfd.as_ref()).map(sys::readable));
            if let Err(e) = sys::poll(&mut fds, timeout) {
                log::error!(target: "lkparallel", "the process pool's zygote: poll: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            let ended = sys::ready(&fds[0]) || parent.is_some() && sys::ready(&fds[2]);
            (ended, sys::ready(&fds[1]))
        };
        if ended || sys::getppid() != parent_pid {
            break;
        }
        if commands {
            z.read_commands();
        }
        z.reap();
        let now = Instant::now();
        for k in 0..n {
            if z.members[k].respawn_at.is_some_and(|t| t <= now) {
                z.members[k].respawn_at = None;
                z.spawn(k);
            }
        }
    }
    z.stop_all();
    0
}

struct Zygote<'a> {
    members: Vec<Member>,
    arena: Arena,
    side: ChildSide,
    spec: &'a Spec<'a>,
}

impl Zygote<'_> {
    fn spawn(&mut self, k: usize) {
        let spec = self.spec;
        let slot = &spec.shared.slots()[k];
        // A fresh worker: its predecessor's counters are not its own.
        slot.items_run.store(0, Ordering::Relaxed);
        slot.retiring.store(0, Ordering::Release);
        slot.ready.store(0, Ordering::Release);
        let body = || {
            // The worker keeps none of the zygote's own descriptors: it must
            // not write records as the zygote, nor hold its lifeline.
            for fd in [&spec.lifeline, &spec.commands, &spec.ctrl] {
                // SAFETY: in the worker these descriptors are never used or
                // closed again: it ends with _exit, without dropping `spec`.
                unsafe { sys::close_raw(fd.as_raw_fd()) };
            }
            worker::main(&worker::Spec { shared: spec.shared, arena_fd: spec.arena_fd, events: spec.events, core: spec.core }, k)
        };
        match child::fork_child(Role::PoolWorker, DeathWatch::ForkingThread, spec.worker_logs.as_raw_fd(), body) {
            Ok(pid) => {
                slot.pid.store(pid, Ordering::Release);
                let m = &mut self.members[k];
                m.pid = pid;
                m.pidfd = sys::pidfd_open(pid).ok();
                m.started = Instant::now();
                m.kill_asked = None;
            }
            Err(e) => {
                log::error!(target: "lkparallel", "cannot start worker {k}: {e}");
                let m = &mut self.members[k];
                m.backoff = (m.backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                m.respawn_at = Some(Instant::now() + m.backoff);
            }
        }
    }

    fn read_commands(&mut self) {
        let mut buf = [0u8; Kill::LEN * 64];
        loop {
            match sys::read(self.spec.commands.as_fd(), &mut buf) {
                Ok(n) if n > 0 => {
                    for c in buf[..n - n % Kill::LEN].chunks_exact(Kill::LEN) {
                        let kill = Kill::decode(c.try_into().expect("chunks of Kill::LEN"));
                        if let Some(m) = self.members.get_mut(kill.worker as usize) {
                            // Our own unreaped child: its pid cannot have been reused.
                            if m.pid == kill.pid && m.pid > 0 {
                                m.kill_asked = Some(m.pid);
                                if let Err(e) = sys::kill(m.pid, sys::Sig::KILL) {
                                    log::warn!(target: "lkparallel", "cannot stop worker {} (pid {}): {e}", kill.worker, m.pid);
                                }
                            }
                        }
                    }
                    if n < buf.len() {
                        return;
                    }
                }
                _ => return,
            }
        }
    }

    /// Reap every ended worker, settle its claim, fork its replacement.
    fn reap(&mut self) {
        loop {
            let (pid, status) = match sys::try_wait_any() {
                Ok(Some(p)) => p,
                Ok(None) => return,
                Err(e) => {
                    if e.raw_os_error() != Some(libc::ECHILD) {
                        log::error!(target: "lkparallel", "the process pool's zygote: waitpid: {e}");
                    }
                    return;
                }
            };
            let Some(k) = self.members.iter().position(|m| m.pid == pid) else { continue };
            let slot = &self.spec.shared.slots()[k];
            let exit = Exit::from_wait_status(status);
            let retired = exit == Exit::Code(RETIRED) && slot.retiring.load(Ordering::Acquire) != 0;
            let timed_out = self.members[k].kill_asked == Some(pid);
            let item = self.settle(k, timed_out);
            slot.ready.store(0, Ordering::Release);
            slot.pid.store(0, Ordering::Release);
            let m = &mut self.members[k];
            m.pid = 0;
            m.pidfd = None;
            m.backoff = if !retired && !timed_out && m.started.elapsed() < Duration::from_millis(100) {
                (m.backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1))
            } else {
                Duration::ZERO
            };
            if m.backoff.is_zero() {
                self.spawn(k);
            } else {
                m.respawn_at = Some(Instant::now() + m.backoff);
            }
            let new_pid = self.members[k].pid;
            self.side.send(&Record::WorkerExit {
                worker: k as u32,
                pid,
                status,
                new_pid,
                retired,
                item: item.as_ref().map_or(u64::MAX, |r| r.start as u64),
                item_end: item.as_ref().map_or(u64::MAX, |r| r.end as u64),
                timed_out,
            });
            self.spec.shared.header().mail.fetch_add(1, Ordering::Release);
        }
    }

    /// A worker ended holding a claim: its running item (a range function:
    /// the rest of its range call) fails; the rest of the claim runs again
    /// unless the flow is stopping. Returns the failed items.
    fn settle(&mut self, k: usize, timed_out: bool) -> Option<Range<usize>> {
        let shared = self.spec.shared;
        let (h, slot) = (shared.header(), &shared.slots()[k]);
        let claim = slot.claim.load(Ordering::SeqCst);
        if claim == IDLE {
            return None;
        }
        if let Err(e) = self.arena.follow(self.spec.arena_fd, h) {
            log::error!(target: "lkparallel", "the process pool's zygote: {e}");
            return None;
        }
        let layout = Layout::read(h);
        let end = slot.claim_end.load(Ordering::SeqCst);
        let progress = slot.progress.load(Ordering::SeqCst).max(claim);
        let running = slot.running.load(Ordering::SeqCst);
        let range_fn = matches!(self.spec.core.op.func, Func::Range(_));
        let (failed, rest) = if running != IDLE && running >= progress && running < end {
            let call_end = if range_fn { slot.running_end.load(Ordering::SeqCst).clamp(running + 1, end) } else { running + 1 };
            (running..call_end, call_end..end)
        } else {
            (progress..progress, progress..end)
        };
        let code = if timed_out { ITEM_TIMED_OUT } else { ITEM_WORKER_DIED };
        layout.set_status(h, &self.arena, failed.clone(), code);
        let keep_going = h.keep_going.load(Ordering::Relaxed) != 0;
        if !failed.is_empty() && !keep_going {
            let at = if h.stream.load(Ordering::Relaxed) != 0 { failed.start + 1 } else { 0 };
            h.stop_at.fetch_min(at, Ordering::SeqCst);
        }
        if !rest.is_empty() {
            if rest.start >= h.stop_at.load(Ordering::SeqCst) {
                layout.set_status(h, &self.arena, rest, ITEM_SKIPPED);
            } else if !queue_retry(shared, rest.clone()) {
                log::error!(target: "lkparallel", "too many workers died at once: items {rest:?} of this map do not run again");
                layout.set_status(h, &self.arena, rest, ITEM_WORKER_DIED);
            }
        }
        // It may have been running a re-run itself: that one is over.
        for r in &h.retry {
            if r.state.load(Ordering::SeqCst) == RETRY_TAKEN && r.begin.load(Ordering::SeqCst) == claim && r.end.load(Ordering::SeqCst) == end {
                r.state.store(RETRY_FREE, Ordering::SeqCst);
                break;
            }
        }
        slot.running.store(IDLE, Ordering::SeqCst);
        // Last: the claim's items are settled (or queued) once it is clear.
        slot.claim.store(IDLE, Ordering::SeqCst);
        shared.wake_workers(1);
        (!failed.is_empty()).then_some(failed)
    }

    /// The parent is gone or shutting the pool down: stop the workers.
    fn stop_all(&mut self) {
        let shared = self.spec.shared;
        let h = shared.header();
        h.quit.store(1, Ordering::SeqCst);
        h.stop_at.store(0, Ordering::SeqCst);
        shared.wake_workers(u32::MAX);
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut killed = false;
        loop {
            match sys::try_wait_any() {
                Ok(Some((pid, _))) => {
                    if let Some(m) = self.members.iter_mut().find(|m| m.pid == pid) {
                        m.pid = 0;
                        m.pidfd = None;
                    }
                    continue;
                }
                Ok(None) => {}
                // ECHILD: no children left.
                Err(_) => return,
            }
            if !killed && Instant::now() >= deadline {
                killed = true;
                for m in self.members.iter().filter(|m| m.pid > 0) {
                    // It may have ended meanwhile; nothing to do then.
                    let _ = sys::kill(m.pid, sys::Sig::KILL);
                }
            }
            let mut fds: Vec<_> = self.members.iter().filter_map(|m| m.pidfd.as_ref()).map(sys::readable).collect();
            let wait = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            // Without pidfds (old kernels) the exits are looked for every millisecond.
            if fds.is_empty() || sys::poll(&mut fds, Some(wait)).is_err() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Queue `rest` to run again; false when the table is full.
fn queue_retry(shared: &Shared, rest: std::ops::Range<usize>) -> bool {
    for r in &shared.header().retry {
        if r.state.load(Ordering::SeqCst) == RETRY_FREE {
            r.begin.store(rest.start, Ordering::SeqCst);
            r.end.store(rest.end, Ordering::SeqCst);
            r.state.store(RETRY_PENDING, Ordering::SeqCst);
            return true;
        }
    }
    false
}
