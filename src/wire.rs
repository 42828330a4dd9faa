//! What crosses a pipe between lkparallel's processes: defined once, read
//! defensively.
//!
//! A child (a run_sp child, a process pool's zygote or workers) sends
//! *frames* to its parent: `[magic][u32 LE length][kind][body]`, the
//! length counting the kind byte and the body. Whatever a child sends is
//! untrusted input: bytes that are not a frame, a frame that is too long,
//! too short for its kind, or of an unknown kind are an error for the
//! parent to report, never a panic, a huge allocation or a read past the
//! bytes that arrived. After garbage the reader finds the next magic, so a
//! worker that wrote junk into a shared log pipe silences only itself.

use std::fmt;

/// Largest frame. A write of at most PIPE_BUF (4096) bytes to a pipe is
/// atomic, so frames written by several threads of one child never interleave.
pub(crate) const MAX_FRAME: usize = 4096;
/// Every frame starts with these bytes.
const MAGIC: [u8; 4] = *b"LKf\x01";
const HEADER: usize = 8;

/// The kinds of frame.
const KIND_LOG: u8 = 1;
const KIND_SP_DONE: u8 = 2;
const KIND_WORKER_EXIT: u8 = 3;

/// One message from a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A log record to deliver in the parent (level 1..5, clamped).
    Log { level: u8, target: String, message: String },
    /// A run_sp child's callback returned `code` with `len` result bytes.
    SpDone { code: i32, len: u64 },
    /// A process pool's worker `worker` (pid `pid`) ended with raw wait
    /// status `status`; `new_pid` replaces it (0: none could be started).
    /// `item .. item_end`: the items (relative) that failed with it (one
    /// item, or the rest of a range call), `u64::MAX` if none; `timed_out`: it was killed for running past the per-item limit.
    WorkerExit { worker: u32, pid: i32, status: i32, new_pid: i32, retired: bool, item: u64, item_end: u64, timed_out: bool },
}

/// Input the parent cannot make sense of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Bytes that are not a frame (skipped up to the next frame's start).
    Garbage,
    /// A frame length of 0 or above `MAX_FRAME` (the frame is skipped).
    BadLength(u32),
    /// A kind this library does not send.
    UnknownKind(u8),
    /// A body of the wrong size for its kind.
    BadBody { kind: u8, len: usize },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Garbage => write!(f, "bytes that are not a frame"),
            WireError::BadLength(n) => write!(f, "a frame of length {n} (at most {MAX_FRAME})"),
            WireError::UnknownKind(k) => write!(f, "a frame of unknown kind {k}"),
            WireError::BadBody { kind, len } => write!(f, "a frame of kind {kind} with a {len}-byte body"),
        }
    }
}

impl Record {
    /// The frame for this record. Log records are cut to fit `MAX_FRAME`.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let kind = match self {
            Record::Log { level, target, message } => {
                let target = cut(target.as_bytes(), 255);
                let room = MAX_FRAME - HEADER - 1 - 2 - target.len();
                body.push(*level);
                body.push(target.len() as u8);
                body.extend_from_slice(target);
                body.extend_from_slice(cut(message.as_bytes(), room));
                KIND_LOG
            }
            Record::SpDone { code, len } => {
                body.extend_from_slice(&code.to_le_bytes());
                body.extend_from_slice(&len.to_le_bytes());
                KIND_SP_DONE
            }
            Record::WorkerExit { worker, pid, status, new_pid, retired, item, item_end, timed_out } => {
                body.extend_from_slice(&worker.to_le_bytes());
                body.extend_from_slice(&pid.to_le_bytes());
                body.extend_from_slice(&status.to_le_bytes());
                body.extend_from_slice(&new_pid.to_le_bytes());
                body.push(u8::from(*retired));
                body.extend_from_slice(&item.to_le_bytes());
                body.push(u8::from(*timed_out));
                body.extend_from_slice(&item_end.to_le_bytes());
                KIND_WORKER_EXIT
            }
        };
        let mut frame = Vec::with_capacity(HEADER + 1 + body.len());
        frame.extend_from_slice(&MAGIC);
        frame.extend_from_slice(&((1 + body.len()) as u32).to_le_bytes());
        frame.push(kind);
        frame.extend_from_slice(&body);
        frame
    }

    fn decode(kind: u8, body: &[u8]) -> Result<Record, WireError> {
        let bad = || WireError::BadBody { kind, len: body.len() };
        match kind {
            KIND_LOG => {
                let (&level, rest) = body.split_first().ok_or_else(bad)?;
                let (&tlen, rest) = rest.split_first().ok_or_else(bad)?;
                let target = rest.get(..tlen as usize).ok_or_else(bad)?;
                let message = &rest[tlen as usize..];
                Ok(Record::Log {
                    level: level.clamp(1, 5),
                    target: String::from_utf8_lossy(target).into_owned(),
                    message: String::from_utf8_lossy(message).into_owned(),
                })
            }
            KIND_SP_DONE => {
                let b: &[u8; 12] = body.try_into().map_err(|_| bad())?;
                Ok(Record::SpDone { code: i32::from_le_bytes(word(b, 0)), len: u64::from_le_bytes(dword(b, 4)) })
            }
            KIND_WORKER_EXIT => {
                let b: &[u8; 34] = body.try_into().map_err(|_| bad())?;
                Ok(Record::WorkerExit {
                    worker: u32::from_le_bytes(word(b, 0)),
                    pid: i32::from_le_bytes(word(b, 4)),
                    status: i32::from_le_bytes(word(b, 8)),
                    new_pid: i32::from_le_bytes(word(b, 12)),
                    retired: b[16] != 0,
                    item: u64::from_le_bytes(dword(b, 17)),
                    timed_out: b[25] != 0,
                    item_end: u64::from_le_bytes(dword(b, 26)),
                })
            }
            other => Err(WireError::UnknownKind(other)),
        }
    }
}

fn word(b: &[u8], at: usize) -> [u8; 4] {
    [b[at], b[at + 1], b[at + 2], b[at + 3]]
}

fn dword(b: &[u8], at: usize) -> [u8; 8] {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    w
}

/// At most `max` bytes of `s`, cut at a UTF-8 character boundary when it is UTF-8.
fn cut(s: &[u8], max: usize) -> &[u8] {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && (s[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    &s[..end]
}

/// A command from a process pool's parent to its zygote: kill worker
/// `worker` if it is still process `pid` (it ran past the per-item limit).
/// Eight bytes, so a write is atomic and a read never sees half of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kill {
    pub worker: u32,
    pub pid: i32,
}

impl Kill {
    pub(crate) const LEN: usize = 8;

    pub fn encode(self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[..4].copy_from_slice(&self.worker.to_le_bytes());
        b[4..].copy_from_slice(&self.pid.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8; Self::LEN]) -> Kill {
        Kill { worker: u32::from_le_bytes(word(b, 0)), pid: i32::from_le_bytes(word(b, 4)) }
    }
}

/// Frames from a byte stream that arrives in pieces.
#[derive(Default)]
pub struct Reader {
    pending: Vec<u8>,
    /// Skipping garbage now (one error is reported per run of it).
    skipping: bool,
    /// Garbage was seen at some point.
    garbled: bool,
}

impl Reader {
    /// Add bytes that arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Has the stream ever held something that was not a good frame?
    pub fn is_garbled(&self) -> bool {
        self.garbled
    }

    /// Bytes of an unfinished frame still waiting for the rest.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn bad(&mut self, e: WireError) -> Option<Result<Record, WireError>> {
        self.garbled = true;
        let first = !self.skipping;
        self.skipping = true;
        first.then_some(Err(e))
    }

    /// The next whole record, an error for a bad frame or a run of garbage,
    /// or `None` until more bytes arrive.
    pub fn next_record(&mut self) -> Option<Result<Record, WireError>> {
        loop {
            if !self.pending.starts_with(&MAGIC) {
                // Skip to the next magic; keep a tail that may be its start.
                let at = self.pending.windows(MAGIC.len()).position(|w| w == MAGIC);
                let skip = at.unwrap_or_else(|| self.pending.len().saturating_sub(MAGIC.len() - 1));
                if skip == 0 {
                    return None;
                }
                self.pending.drain(..skip);
                if let Some(e) = self.bad(WireError::Garbage) {
                    return Some(e);
                }
                continue;
            }
            if self.pending.len() < HEADER {
                return None;
            }
            let len = u32::from_le_bytes(word(&self.pending, MAGIC.len()));
            if len == 0 || len as usize > MAX_FRAME - HEADER {
                // Not a frame after all: look past this magic.
                self.pending.drain(..1);
                if let Some(e) = self.bad(WireError::BadLength(len)) {
                    return Some(e);
                }
                continue;
            }
            let end = HEADER + len as usize;
            if self.pending.len() < end {
                return None;
            }
            let result = Record::decode(self.pending[HEADER], &self.pending[HEADER + 1..end]);
            self.pending.drain(..end);
            self.skipping = false;
            if result.is_err() {
                self.garbled = true;
            }
            return Some(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_record() -> impl Strategy<Value = Record> {
        prop_oneof![
            (1u8..=5, ".{0,40}", ".{0,300}").prop_map(|(level, target, message)| Record::Log { level, target, message }),
            (any::<i32>(), any::<u64>()).prop_map(|(code, len)| Record::SpDone { code, len }),
            (any::<u32>(), any::<i32>(), any::<i32>(), any::<i32>(), any::<bool>(), any::<u64>(), any::<u64>(), any::<bool>()).prop_map(
                |(worker, pid, status, new_pid, retired, item, item_end, timed_out)| Record::WorkerExit {
                    worker,
                    pid,
                    status,
                    new_pid,
                    retired,
                    item,
                    item_end,
                    timed_out
                }
            ),
        ]
    }

    fn read_all(reader: &mut Reader) -> Vec<Result<Record, WireError>> {
        std::iter::from_fn(|| reader.next_record()).collect()
    }

    #[test]
    fn long_log_records_are_cut_to_one_atomic_write() {
        let r = Record::Log { level: 3, target: "t".repeat(1000), message: "é".repeat(5000) };
        let frame = r.encode();
        assert!(frame.len() <= MAX_FRAME);
        let mut reader = Reader::default();
        reader.push(&frame);
        match reader.next_record() {
            Some(Ok(Record::Log { target, message, .. })) => {
                assert_eq!(target.len(), 255);
                assert!(message.chars().all(|c| c == 'é'), "cut inside a character");
            }
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        /// Records survive encoding, whatever pieces the bytes arrive in.
        #[test]
        fn round_trip_in_any_pieces(records in prop::collection::vec(arb_record(), 0..20), cuts in prop::collection::vec(1usize..64, 1..50)) {
            let bytes: Vec<u8> = records.iter().flat_map(Record::encode).collect();
            let mut reader = Reader::default();
            let mut got = Vec::new();
            let mut at = 0;
            for c in cuts.iter().cycle() {
                if at >= bytes.len() { break; }
                let end = (at + c).min(bytes.len());
                reader.push(&bytes[at..end]);
                at = end;
                got.extend(read_all(&mut reader));
            }
            let want: Vec<_> = records.into_iter().map(|r| match r {
                Record::Log { level, target, message } => {
                    // What the reader sees is what encode kept.
                    let mut rd = Reader::default();
                    rd.push(&Record::Log { level, target, message }.encode());
                    rd.next_record().unwrap()
                }
                other => Ok(other),
            }).collect();
            prop_assert_eq!(got, want);
        }

        /// Garbage never panics, never yields more records than frames could
        /// fit, and leaves the reader bounded.
        #[test]
        fn garbage_is_an_error_not_a_crash(bytes in prop::collection::vec(any::<u8>(), 0..10_000)) {
            let mut reader = Reader::default();
            reader.push(&bytes);
            let got = read_all(&mut reader);
            prop_assert!(got.len() <= bytes.len() / (HEADER + 1) + 1);
            prop_assert!(reader.pending() <= MAX_FRAME);
            prop_assert!(reader.next_record().is_none());
        }

        /// A truncated stream gives the whole frames before the cut and
        /// nothing for the partial one.
        #[test]
        fn truncation_keeps_what_arrived_whole(records in prop::collection::vec(arb_record(), 1..10), cut in any::<prop::sample::Index>()) {
            let frames: Vec<Vec<u8>> = records.iter().map(Record::encode).collect();
            let bytes: Vec<u8> = frames.concat();
            let at = cut.index(bytes.len());
            let mut reader = Reader::default();
            reader.push(&bytes[..at]);
            let whole = frames.iter().scan(0, |end, f| { *end += f.len(); Some(*end) }).filter(|&e| e <= at).count();
            let got = read_all(&mut reader);
            prop_assert_eq!(got.len(), whole);
            prop_assert!(got.iter().all(Result::is_ok));
        }

        /// Garbage, oversized lengths, bad bodies and unknown kinds cost
        /// only themselves: one error each, and the good frames after them
        /// are read.
        #[test]
        fn bad_frames_are_contained(good in arb_record(), len in (MAX_FRAME as u32 - 7)..u32::MAX, kind in 4u8.., junk in prop::collection::vec(any::<u8>(), 1..100)) {
            let mut reader = Reader::default();
            let mut unknown = MAGIC.to_vec();
            unknown.extend_from_slice(&((1 + junk.len()) as u32).to_le_bytes());
            unknown.push(kind);
            unknown.extend_from_slice(&junk);
            reader.push(&unknown);
            let mut short = MAGIC.to_vec();
            short.extend_from_slice(&[5, 0, 0, 0, KIND_SP_DONE, 1, 2, 3, 4]);
            reader.push(&short);
            reader.push(&good.encode());
            let mut long = MAGIC.to_vec();
            long.extend_from_slice(&len.to_le_bytes());
            reader.push(&long);
            reader.push(&good.encode());
            // Bytes that hold no magic at all, then a good frame.
            let noise: Vec<u8> = junk.iter().map(|b| b & 0x3f).collect();
            reader.push(&noise);
            reader.push(&good.encode());
            let got = read_all(&mut reader);
            prop_assert_eq!(&got[0], &Err(WireError::UnknownKind(kind)));
            prop_assert_eq!(&got[1], &Err(WireError::BadBody { kind: KIND_SP_DONE, len: 4 }));
            prop_assert!(got[2].is_ok());
            prop_assert_eq!(&got[3], &Err(WireError::BadLength(len)));
            prop_assert!(got[4].is_ok());
            prop_assert_eq!(&got[5], &Err(WireError::Garbage));
            prop_assert!(got[6].is_ok());
            prop_assert_eq!(got.len(), 7);
            prop_assert!(reader.is_garbled());
        }
    }
}
