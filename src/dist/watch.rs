//! Prompt stops inside a rank's share: the distributed invoker's operation
//! is the user's wrapped in `watched`, which, on the map's calling thread
//! only (the one thread allowed to use the communicator), looks at the
//! shared counter on rank 0 about once a millisecond between items. When
//! another rank has signalled a stop (it was cancelled, or failed in
//! fail-fast mode), this rank's local map is cancelled, so its remaining
//! items are skipped rather than run to the end of its share.
//!
//! The calling thread runs as worker 0 (it takes the first free slot before
//! any helper starts). Other workers pay one comparison per item; worker 0
//! counts items down in a field only it touches, and every `every` items
//! checks that it is indeed the collective thread and reads the clock,
//! `every` adapting so that happens about every 0.1-1 ms whatever an item
//! costs. (Thread-locals would cost a call per item in a shared library.)

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::comm::Comm;
use crate::error::Error;
use crate::invoker::{Core, Op, OpFn, Task};
use crate::util::SendPtr;

/// How often the calling thread looks at the counter at most.
const POLL_INTERVAL: Duration = Duration::from_millis(1);

pub(crate) struct Watch {
    user: OpFn,
    model: SendPtr<c_void>,
    comm: Arc<Comm>,
    core: OnceLock<Weak<Core>>,
    /// A map is computing and the counter may be read.
    armed: AtomicBool,
    /// The counter's value when the map started.
    base: AtomicU64,
    /// What one stop signal adds.
    unit: u64,
    /// A stop from another rank was seen during this map.
    stopped: AtomicBool,
    last: Mutex<Instant>,
    /// Worker 0's items left before it looks again, and how many it waits.
    countdown: AtomicU32,
    every: AtomicU32,
    /// A failed read of the counter (reported by the map after its compute).
    error: Mutex<Option<Error>>,
}

impl Watch {
    pub(crate) fn new(op: Op, comm: Arc<Comm>, unit: u64) -> Arc<Watch> {
        Arc::new(Watch {
            user: op.func,
            model: op.model,
            comm,
            core: OnceLock::new(),
            armed: AtomicBool::new(false),
            base: AtomicU64::new(0),
            unit,
            stopped: AtomicBool::new(false),
            last: Mutex::new(Instant::now()),
            countdown: AtomicU32::new(1),
            every: AtomicU32::new(1),
            error: Mutex::new(None),
        })
    }

    /// The operation the invoker runs: the user's, watched.
    pub(crate) fn op(self: &Arc<Watch>) -> Op {
        Op { func: watched, model: SendPtr(Arc::as_ptr(self) as *mut c_void) }
    }

    pub(crate) fn attach(&self, core: &Arc<Core>) {
        let _ = self.core.set(Arc::downgrade(core));
    }

    /// Start watching for the map whose counter started at `base`.
    pub(crate) fn arm(&self, base: u64) {
        self.base.store(base, Ordering::Relaxed);
        self.stopped.store(false, Ordering::Relaxed);
        *self.last.lock() = Instant::now();
        self.countdown.store(1, Ordering::Relaxed);
        self.every.store(1, Ordering::Relaxed);
        self.armed.store(true, Ordering::Release);
    }

    /// Stop watching; a failed read of the counter, if any.
    pub(crate) fn disarm(&self) -> Option<Error> {
        self.armed.store(false, Ordering::Release);
        self.error.lock().take()
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// On worker 0, every `every` items.
    #[cold]
    fn tick(&self) {
        if !super::on_collective_thread() || !self.armed.load(Ordering::Acquire) {
            // Worker 0 is another thread (or no map is watched): look less often.
            let every = (self.every.load(Ordering::Relaxed) * 2).min(1 << 16);
            self.every.store(every, Ordering::Relaxed);
            self.countdown.store(every, Ordering::Relaxed);
            return;
        }
        let now = Instant::now();
        let mut last = self.last.lock();
        let since = now.duration_since(*last);
        let e = self.every.load(Ordering::Relaxed);
        let every = if since < POLL_INTERVAL / 10 {
            (e * 2).min(1 << 16)
        } else if since > POLL_INTERVAL {
            (e / 2).max(1)
        } else {
            e
        };
        self.every.store(every, Ordering::Relaxed);
        self.countdown.store(every, Ordering::Relaxed);
        if since < POLL_INTERVAL {
            return;
        }
        *last = now;
        drop(last);
        match self.comm.fetch_add(0) {
            Ok(v) if v.wrapping_sub(self.base.load(Ordering::Relaxed)) >= self.unit => {
                self.stopped.store(true, Ordering::Relaxed);
                self.armed.store(false, Ordering::Release);
                if let Some(core) = self.core.get().and_then(Weak::upgrade) {
                    core.cancel();
                }
            }
            Ok(_) => {}
            Err(e) => {
                self.armed.store(false, Ordering::Release);
                *self.error.lock() = Some(e);
            }
        }
    }
}

/// The watched operation: the user's, then, on worker 0 when it is the
/// map's calling thread, a look at the counter when one is due. Never unwinds.
unsafe extern "C" fn watched(model: *const c_void, arg: *const c_void, result: *mut c_void, task: *const Task) -> i32 {
    let w = &*(model as *const Watch);
    let code = (w.user)(w.model.0, arg, result, task);
    if (*task).worker == 0 {
        // Only worker 0 touches the countdown: plain loads and stores.
        let left = w.countdown.load(Ordering::Relaxed);
        if left > 1 {
            w.countdown.store(left - 1, Ordering::Relaxed);
        } else {
            w.tick();
        }
    }
    code
}
