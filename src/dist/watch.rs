//! Prompt stops inside a rank's share: the distributed invoker's operation
//! is the user's wrapped in `watched`, which, on the map's calling thread
//! only (the one thread allowed to use the communicator), looks at the
//! shared counter on rank 0 about once a millisecond between items. When
//! another rank has signalled a stop (it was cancelled, or failed in
//! fail-fast mode), this rank's local map is cancelled, so its remaining
//! items are skipped rather than run to the end of its share.
//!
//! Worker threads only pay a thread-local read per item; the calling thread
//! reads the clock every `every` items, `every` adapting so that the clock
//! is read about every 0.1-1 ms whatever an item costs.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::comm::Comm;
use crate::error::Error;
use crate::invoker::{Core, Op, OpFn, Task};
use crate::util::SendPtr;

/// How often the calling thread looks at the counter at most.
const POLL_INTERVAL: Duration = Duration::from_millis(1);

thread_local! {
    /// Items left before the calling thread reads the clock again.
    static COUNTDOWN: Cell<u32> = const { Cell::new(1) };
    static EVERY: Cell<u32> = const { Cell::new(1) };
}

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
        COUNTDOWN.with(|c| c.set(1));
        EVERY.with(|c| c.set(1));
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

    /// On the calling thread, every `EVERY` items.
    #[cold]
    fn tick(&self) {
        let now = Instant::now();
        let mut last = self.last.lock();
        let since = now.duration_since(*last);
        let every = EVERY.with(|e| {
            let v = if since < POLL_INTERVAL / 10 {
                (e.get() * 2).min(1 << 16)
            } else if since > POLL_INTERVAL {
                (e.get() / 2).max(1)
            } else {
                e.get()
            };
            e.set(v);
            v
        });
        COUNTDOWN.with(|c| c.set(every));
        if since < POLL_INTERVAL || !self.armed.load(Ordering::Acquire) {
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

/// The watched operation: the user's, then, on the map's calling thread, a
/// look at the counter when one is due. Never unwinds.
unsafe extern "C" fn watched(model: *const c_void, arg: *const c_void, result: *mut c_void, task: *const Task) -> i32 {
    let w = &*(model as *const Watch);
    let code = (w.user)(w.model.0, arg, result, task);
    if super::on_collective_thread() {
        let due = COUNTDOWN.with(|c| {
            let left = c.get().saturating_sub(1);
            c.set(left);
            left == 0
        });
        if due && w.armed.load(Ordering::Relaxed) {
            w.tick();
        }
    }
    code
}
