//! Logging: the library's `log` records and `lk_log` messages go to the host's
//! callback, or to stderr when `LK_LOG` asks for it, or nowhere.
//!
//! In a child process (run_sp or a process-backend worker) records are framed
//! onto a pipe instead and the parent replays them through `deliver`, so they
//! reach the parent's callback exactly once.

use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

use log::{Level, LevelFilter, Log, Metadata, Record};
use once_cell::sync::Lazy;
use crate::sync::RwLock;

use crate::util::SendPtr;

/// The C callback: `(level 1..5, target, message, user)`.
pub type LogFn = unsafe extern "C" fn(level: i32, target: *const c_char, message: *const c_char, user: *mut c_void);

/// Target used for messages passed to `lk_log`.
pub(crate) const USER_TARGET: &str = "app";

struct Sink {
    func: LogFn,
    user: SendPtr<c_void>,
    max: Level,
}

type SinkLock = RwLock<Option<Arc<Sink>>>;

/// The host's callback, behind a lock reached through a pointer: a forked
/// child swaps in a fresh lock, since a parent thread may have held this one
/// at fork time. (The parent's lock is left to the child's exit.)
static SINK: AtomicPtr<SinkLock> = AtomicPtr::new(std::ptr::null_mut());

fn sink() -> &'static SinkLock {
    crate::util::leaked_once(&SINK, || RwLock::new(None))
}
/// In a child process: the pipe that carries records to the parent; else -1.
static FORWARD_FD: AtomicI32 = AtomicI32::new(-1);
/// In a child: the parent's max level, as a number 0..5.
static FORWARD_MAX: AtomicUsize = AtomicUsize::new(0);
static STDERR_MAX: Lazy<Option<Level>> = Lazy::new(|| std::env::var("LK_LOG").ok().and_then(|v| parse_level(&v)));

struct Logger;
static LOGGER: Logger = Logger;

pub fn parse_level(text: &str) -> Option<Level> {
    match text.trim().to_ascii_lowercase().as_str() {
        "error" => Some(Level::Error),
        "warn" | "warning" => Some(Level::Warn),
        "info" => Some(Level::Info),
        "debug" => Some(Level::Debug),
        "trace" => Some(Level::Trace),
        _ => None,
    }
}

/// A C level number clamped to 1..5.
pub fn level_from_c(level: i32) -> Level {
    match level.clamp(1, 5) {
        1 => Level::Error,
        2 => Level::Warn,
        3 => Level::Info,
        4 => Level::Debug,
        _ => Level::Trace,
    }
}

pub fn level_to_c(level: Level) -> i32 {
    level as usize as i32
}

thread_local! {
    /// How deep this thread is in calls from C (no destructor: usable always).
    static LIBRARY_CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Marks the current thread as inside a call from C until dropped.
pub(crate) struct LibraryCall(());

impl LibraryCall {
    pub(crate) fn enter() -> LibraryCall {
        let _ = LIBRARY_CALLS.try_with(|c| c.set(c.get() + 1));
        LibraryCall(())
    }
}

impl Drop for LibraryCall {
    fn drop(&mut self) {
        let _ = LIBRARY_CALLS.try_with(|c| c.set(c.get().saturating_sub(1)));
    }
}

fn in_library_call() -> bool {
    LIBRARY_CALLS.try_with(|c| c.get() > 0).unwrap_or(true)
}

/// Install our logger for the `log` crate (once; a Rust host may already have
/// its own), and a panic hook that sends a panic raised inside lkparallel to
/// the log instead of stderr: the library is quiet unless asked, even when it
/// has a bug. Panics raised elsewhere go to the hook that was there before.
pub fn install() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        let _ = log::set_logger(&LOGGER);
        Lazy::force(&STDERR_MAX);
        update_max_level();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if in_library_call() {
                log::error!(target: "lkparallel", "internal error: {info}");
            } else {
                previous(info);
            }
        }));
    });
}

fn current_max() -> LevelFilter {
    if FORWARD_FD.load(Ordering::Acquire) >= 0 {
        return filter_from_usize(FORWARD_MAX.load(Ordering::Acquire));
    }
    let sink = sink().read().as_ref().map(|s| s.max);
    let own = match sink {
        Some(level) => level.to_level_filter(),
        None => STDERR_MAX.map_or(LevelFilter::Off, |l| l.to_level_filter()),
    };
    own.max(filter_from_usize(TAP_MAX.load(Ordering::Acquire)))
}

fn filter_from_usize(n: usize) -> LevelFilter {
    match n {
        0 => LevelFilter::Off,
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

fn update_max_level() {
    log::set_max_level(current_max());
}

/// Set (or with `None`, clear) the host's callback.
pub fn set_callback(func: Option<LogFn>, user: *mut c_void, max: Level) {
    install();
    *sink().write() = func.map(|func| Arc::new(Sink { func, user: SendPtr(user), max }));
    update_max_level();
}

/// Send one record wherever records go in this process.
pub fn deliver(level: Level, target: &str, message: &str) {
    #[cfg(lk_fork)]
    {
        let fd = FORWARD_FD.load(Ordering::Acquire);
        if fd >= 0 {
            if level as usize <= FORWARD_MAX.load(Ordering::Acquire) {
                forward(fd, level, target, message);
            }
            return;
        }
    }
    if tapped(level, target, message) {
        return;
    }
    // Clone the sink out of the lock so a callback may itself log or replace the sink.
    let sink = sink().read().clone();
    match sink {
        Some(sink) => {
            if level <= sink.max {
                let target = c_string(target);
                let message = c_string(message);
                // SAFETY: the host's callback and user pointer, given for
                // this use; both strings live across the call.
                unsafe { (sink.func)(level_to_c(level), target.as_ptr(), message.as_ptr(), sink.user.0) };
            }
        }
        None => {
            if STDERR_MAX.is_some_and(|max| level <= max) {
                // One write per record so lines from threads do not interleave; no
                // std lock, so this is safe in a forked child too.
                let line = format!("[lkparallel {level:<5} {target}] {message}\n");
                let _ = crate::sys::write_all_raw(2, line.as_bytes());
            }
        }
    }
}

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

/// Is a record of `level` wanted by anyone?
pub fn enabled(level: Level) -> bool {
    level <= current_max()
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        enabled(metadata.level())
    }
    fn log(&self, record: &Record) {
        if enabled(record.level()) {
            deliver(record.level(), record.target(), &record.args().to_string());
        }
    }
    fn flush(&self) {}
}

// ---- taps: records taken on their way (a distributed map sends them to rank 0) ----

/// Takes a record (returns true) or lets it through to this process's sink (false).
pub type Tap = dyn Fn(Level, &str, &str) -> bool + Send + Sync;

static TAPS: RwLock<Vec<(u64, Level, Arc<Tap>)>> = RwLock::new(Vec::new());
/// The most verbose level any tap wants, as a number 0..5 (0: no tap).
static TAP_MAX: AtomicUsize = AtomicUsize::new(0);

/// Offer records up to `max` to `tap` until `remove_tap`; returns its id.
pub fn add_tap(max: Level, tap: Arc<Tap>) -> u64 {
    static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    install();
    let id = IDS.fetch_add(1, Ordering::Relaxed);
    let mut taps = TAPS.write();
    taps.push((id, max, tap));
    TAP_MAX.store(taps.iter().map(|t| t.1 as usize).max().unwrap_or(0), Ordering::Release);
    drop(taps);
    update_max_level();
    id
}

pub fn remove_tap(id: u64) {
    let mut taps = TAPS.write();
    taps.retain(|t| t.0 != id);
    TAP_MAX.store(taps.iter().map(|t| t.1 as usize).max().unwrap_or(0), Ordering::Release);
    drop(taps);
    update_max_level();
}

fn tapped(level: Level, target: &str, message: &str) -> bool {
    if TAP_MAX.load(Ordering::Acquire) == 0 {
        return false;
    }
    TAPS.read().iter().any(|(_, max, tap)| level <= *max && tap(level, target, message))
}

// ---- forwarding between a child and its parent ----

#[cfg(lk_fork)]
/// In a freshly forked child: send records to `fd`, filtered as the parent's were.
/// Touches no lock (the parent's sink lock may have been held at fork time).
pub fn become_child(fd: i32, parent_max: LevelFilter) {
    FORWARD_MAX.store(parent_max as usize, Ordering::Release);
    FORWARD_FD.store(fd, Ordering::Release);
    // A callback set in the child is kept, but records still go to the parent.
    SINK.store(Box::into_raw(Box::new(RwLock::new(None))), Ordering::Release);
    log::set_max_level(parent_max);
}

/// The most verbose level anyone here wants records at (a child, or
/// another rank, is given it).
pub fn max_for_child() -> LevelFilter {
    current_max()
}

#[cfg(lk_fork)]
/// One frame per record: a write of at most `wire::MAX_FRAME` bytes is
/// atomic, so records from several threads of a child never interleave.
fn forward(fd: i32, level: Level, target: &str, message: &str) {
    let frame = crate::wire::Record::Log { level: level as usize as u8, target: target.into(), message: message.into() }.encode();
    // A closed pipe (the parent stopped listening) drops the record.
    let _ = crate::sys::write_all_raw(fd, &frame);
    let count = FORWARDED.load(Ordering::Acquire);
    if !count.is_null() {
        // SAFETY: set by `count_forwards_in` to a word that stays mapped
        // for this process's life.
        unsafe { &*count }.fetch_add(1, Ordering::Release);
    }
}

/// In a child: a word bumped after every record forwarded, so the parent
/// can tell whether there is anything to read without a syscall.
#[cfg(lk_fork)]
static FORWARDED: AtomicPtr<std::sync::atomic::AtomicU32> = AtomicPtr::new(std::ptr::null_mut());

/// In a child: bump `word` (in memory the parent shares, mapped for the
/// rest of this process's life) after each record forwarded.
#[cfg(lk_fork)]
pub fn count_forwards_in(word: &std::sync::atomic::AtomicU32) {
    FORWARDED.store(word as *const _ as *mut _, Ordering::Release);
}

#[cfg(lk_fork)]
/// Deliver a record a child forwarded (level 1..5) here.
pub fn deliver_forwarded(level: u8, target: &str, message: &str) {
    deliver(level_from_c(i32::from(level)), target, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(level_from_c(0), Level::Error);
        assert_eq!(level_from_c(99), Level::Trace);
        assert_eq!(level_to_c(Level::Warn), 2);
        assert_eq!(parse_level("DEBUG"), Some(Level::Debug));
        assert_eq!(parse_level("loud"), None);
    }
}
