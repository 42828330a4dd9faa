//! Progress reports on a map's calling thread.

use std::ffi::c_void;
use std::time::{Duration, Instant};

use super::job::Job;
use super::ProgressFn;
use crate::util::SendPtr;

/// How often progress is reported at most.
pub(crate) const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Reports a job's progress, at most every `PROGRESS_INTERVAL`.
pub struct Reporter {
    progress: (ProgressFn, SendPtr<c_void>),
    last: Instant,
}

impl Reporter {
    pub(crate) fn new(progress: (ProgressFn, SendPtr<c_void>)) -> Reporter {
        Reporter { progress, last: Instant::now() }
    }

    pub(crate) fn maybe_report(&mut self, job: &Job) {
        if self.last.elapsed() >= PROGRESS_INTERVAL {
            self.report(job);
        }
    }

    pub(crate) fn report(&mut self, job: &Job) {
        let (progress, user) = self.progress;
        let total = job.n();
        let done = job.done_count().min(total);
        // SAFETY: the C caller's progress callback and user pointer.
        unsafe { progress(done, total, user.0) };
        self.last = Instant::now();
    }
}
