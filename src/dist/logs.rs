//! Log records of ranks >= 1 travel to rank 0's callback.
//!
//! While a distributed map runs on a rank >= 1, a logging tap takes the
//! records logged by the map (on its calling thread, or inside one of the
//! invoker's callbacks, on any thread) at up to rank 0's level, and keeps
//! them in a buffer. The outcome exchange carries the buffer's size; rank 0
//! gathers the bytes (one extra collective, only when some rank has records)
//! and delivers each record once, tagged `[rank N]`, before the map returns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;

use log::{Level, LevelFilter};
use parking_lot::Mutex;

use crate::logging;

/// Bytes of records one rank keeps per map; later records are counted, not kept.
const MAX_BYTES: usize = 64 * 1024;

struct Buffer {
    bytes: Mutex<Vec<u8>>,
    records: AtomicU64,
    dropped: AtomicU64,
    thread: ThreadId,
    invoker: u64,
}

impl Buffer {
    fn take(&self, level: Level, target: &str, message: &str) -> bool {
        if std::thread::current().id() != self.thread && !crate::invoker::inside_invoker(self.invoker) {
            return false;
        }
        let target = &target.as_bytes()[..target.len().min(u16::MAX as usize)];
        let message = &message.as_bytes()[..message.len().min(MAX_BYTES)];
        let mut bytes = self.bytes.lock();
        if bytes.len() + 7 + target.len() + message.len() > MAX_BYTES {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        encode(&mut bytes, level, target, message);
        self.records.fetch_add(1, Ordering::Relaxed);
        true
    }
}

fn encode(out: &mut Vec<u8>, level: Level, target: &[u8], message: &[u8]) {
    out.push(level as usize as u8);
    out.extend_from_slice(&(target.len() as u16).to_le_bytes());
    out.extend_from_slice(&(message.len() as u32).to_le_bytes());
    out.extend_from_slice(target);
    out.extend_from_slice(message);
}

/// The records a map on this rank logged, taken while it lives.
pub struct Capture {
    tap: Option<u64>,
    buffer: Arc<Buffer>,
}

impl Capture {
    /// Start taking records at up to `max` (rank 0's level; `Off`: take none).
    pub fn start(max: LevelFilter, invoker: u64) -> Capture {
        let buffer = Arc::new(Buffer {
            bytes: Mutex::new(Vec::new()),
            records: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            thread: std::thread::current().id(),
            invoker,
        });
        let tap = max.to_level().map(|max| {
            let b = buffer.clone();
            logging::add_tap(max, Arc::new(move |level: Level, target: &str, message: &str| b.take(level, target, message)))
        });
        Capture { tap, buffer }
    }

    /// Stop taking records; the encoded bytes (with a note of any dropped).
    pub fn finish(mut self) -> Vec<u8> {
        if let Some(id) = self.tap.take() {
            logging::remove_tap(id);
        }
        let mut bytes = std::mem::take(&mut *self.buffer.bytes.lock());
        let dropped = self.buffer.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            let note = format!("{dropped} more log records of this map were dropped (over {MAX_BYTES} bytes)");
            encode(&mut bytes, Level::Warn, b"lkparallel::dist", note.as_bytes());
        }
        bytes
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(id) = self.tap.take() {
            logging::remove_tap(id);
        }
    }
}

/// On rank 0: deliver the records `rank` sent, each tagged with its rank.
pub fn deliver(rank: usize, mut bytes: &[u8]) {
    while bytes.len() >= 7 {
        let level = logging::level_from_c(i32::from(bytes[0]));
        let tlen = u16::from_le_bytes([bytes[1], bytes[2]]) as usize;
        let mlen = u32::from_le_bytes([bytes[3], bytes[4], bytes[5], bytes[6]]) as usize;
        let Some(rest) = bytes.get(7..7 + tlen + mlen) else { return };
        let target = String::from_utf8_lossy(&rest[..tlen]);
        let message = String::from_utf8_lossy(&rest[tlen..]);
        if logging::enabled(level) {
            logging::deliver(level, &target, &format!("[rank {rank}] {message}"));
        }
        bytes = &bytes[7 + tlen + mlen..];
    }
}
