//! The writer of one stream: a thread that owns the newest segment and commits in groups.
//!
//! Appends arrive on a channel. The thread takes every request waiting, writes them all with
//! one `write`, makes them durable with one `fdatasync` if any of them asked for it, and only
//! then answers each: many concurrent appends share one disk flush (group commit). Records
//! that asked for `async` are flushed too, within `flush_interval`.
//!
//! Invariants: offsets are assigned here and only here, without gaps; a durable append is
//! answered only after its bytes and every byte before them are on disk; after an I/O error
//! the writer refuses every further append (a reopen runs recovery) rather than guess what
//! the disk holds. Retention deletes whole sealed segments, never the one being written.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use tokio::sync::{oneshot, watch};

use super::EmbeddedOptions;
use super::frame;
use super::segment::{self, Role, Tail};
use crate::{Durability, Error, Position, Reached, Receipt, Record, Stream};

/// Work for the writer thread.
pub(super) enum Request {
    /// Append records and answer once they reached the durability asked for.
    Append {
        records: Vec<Record>,
        durability: Durability,
        reply: oneshot::Sender<Result<Receipt, Error>>,
    },
    /// Delete sealed segments holding only records before `offset` (a drained spool).
    DropBefore { offset: u64 },
}

/// Size and age of what a stream holds on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Offset of the oldest record kept.
    pub first_offset: u64,
    /// Offset the next record will get.
    pub next_offset: u64,
    /// Bytes of every segment kept.
    pub bytes: u64,
}

struct Sealed {
    base: u64,
    path: PathBuf,
    bytes: u64,
    modified: SystemTime,
}

struct Active {
    file: File,
    base: u64,
    path: PathBuf,
    len: u64,
}

pub(super) struct Writer {
    stream: Stream,
    dir: PathBuf,
    options: EmbeddedOptions,
    sealed: VecDeque<Sealed>,
    active: Active,
    next_offset: u64,
    unsynced: bool,
    stopped: Option<String>,
    stats: watch::Sender<StreamStats>,
}

impl Writer {
    /// Opens a stream directory for writing, recovering from whatever a crash left.
    pub(super) fn open(
        stream: Stream,
        dir: &Path,
        options: EmbeddedOptions,
    ) -> Result<Self, Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io("creating stream directory", dir, e))?;
        segment::remove_unfinished(dir)?;
        let mut segments = segment::list(dir)?;
        let Some((newest_base, newest_path)) = segments.pop() else {
            return Self::start_empty(stream, dir, options);
        };
        let (file, scan) = recover_newest(&newest_path, newest_base, options.max_record_size)?;
        let mut sealed = VecDeque::with_capacity(segments.len());
        for (base, path) in segments {
            let meta = fs::metadata(&path).map_err(|e| Error::io("reading segment", &path, e))?;
            let modified = meta.modified().unwrap_or(SystemTime::now());
            sealed.push_back(Sealed {
                base,
                path,
                bytes: meta.len(),
                modified,
            });
        }
        let active = Active {
            file,
            base: newest_base,
            path: newest_path,
            len: scan.valid_len,
        };
        Ok(Self::assemble(
            stream,
            dir,
            options,
            sealed,
            active,
            scan.next_offset,
        ))
    }

    fn start_empty(stream: Stream, dir: &Path, options: EmbeddedOptions) -> Result<Self, Error> {
        let active = create_segment(dir, 0)?;
        Ok(Self::assemble(
            stream,
            dir,
            options,
            VecDeque::new(),
            active,
            0,
        ))
    }

    fn assemble(
        stream: Stream,
        dir: &Path,
        options: EmbeddedOptions,
        sealed: VecDeque<Sealed>,
        active: Active,
        next_offset: u64,
    ) -> Self {
        let (stats, _) = watch::channel(StreamStats::default());
        let mut writer = Writer {
            stream,
            dir: dir.to_owned(),
            options,
            sealed,
            active,
            next_offset,
            unsynced: false,
            stopped: None,
            stats,
        };
        writer.publish_stats();
        writer
    }

    /// A receiver that sees the stream's size after every write.
    pub(super) fn stats(&self) -> watch::Receiver<StreamStats> {
        self.stats.subscribe()
    }

    /// Serves requests until every sender is gone, then flushes what is left.
    pub(super) fn run(mut self, requests: flume::Receiver<Request>) {
        loop {
            let first = match requests.recv_timeout(self.options.flush_interval) {
                Ok(request) => request,
                Err(flume::RecvTimeoutError::Timeout) => {
                    self.sync_if_needed();
                    continue;
                }
                Err(flume::RecvTimeoutError::Disconnected) => break,
            };
            let mut group = vec![first];
            group.extend(requests.try_iter().take(self.options.max_group));
            self.serve(group);
        }
        self.sync_if_needed();
    }

    fn serve(&mut self, group: Vec<Request>) {
        let mut buf = BytesMut::new();
        let mut answers = Vec::with_capacity(group.len());
        let mut durable = false;
        let mut result = Ok(());
        for request in group {
            match request {
                Request::Append {
                    records,
                    durability,
                    reply,
                } => {
                    if let Some(refusal) = self.refusal(&records) {
                        let _ = reply.send(Err(refusal));
                        continue;
                    }
                    if result.is_ok() {
                        match self.encode(&mut buf, &records) {
                            Ok(positions) => {
                                durable |= durability != Durability::Async;
                                answers.push((reply, durability, positions));
                            }
                            Err(e) => {
                                result = Err(e);
                                let _ = reply.send(Err(self.stopped_error()));
                            }
                        }
                    } else {
                        let _ = reply.send(Err(self.stopped_error()));
                    }
                }
                Request::DropBefore { offset } => self.drop_before(offset),
            }
        }
        let result = result
            .and_then(|()| self.write(&buf))
            .and_then(|()| if durable { self.sync() } else { Ok(()) });
        // Stats first: whoever holds a receipt must see a stream at least as long as it.
        self.publish_stats();
        match result {
            Ok(()) => {
                for (reply, durability, positions) in answers {
                    let reached = if durability == Durability::Async {
                        Reached::Queued
                    } else {
                        Reached::OnDisk
                    };
                    let _ = reply.send(Ok(Receipt { reached, positions }));
                }
            }
            Err(e) => {
                tracing::error!(stream = %self.stream, error = %e, "event log writer stopped");
                self.stopped = Some(e.to_string());
                for (reply, _, _) in answers {
                    let _ = reply.send(Err(self.stopped_error()));
                }
            }
        }
    }

    fn refusal(&self, records: &[Record]) -> Option<Error> {
        if self.stopped.is_some() {
            return Some(self.stopped_error());
        }
        let limit = self.options.max_record_size;
        records
            .iter()
            .map(|r| r.key.len() + r.value.len())
            .find(|size| *size > limit)
            .map(|size| Error::RecordTooLarge { size, limit })
    }

    fn stopped_error(&self) -> Error {
        let reason = self
            .stopped
            .clone()
            .unwrap_or_else(|| "an earlier write failed".to_owned());
        Error::WriterStopped {
            stream: self.stream,
            reason,
        }
    }

    /// Frames `records` into `buf`, rolling to a new segment where the current one is full.
    fn encode(&mut self, buf: &mut BytesMut, records: &[Record]) -> Result<Vec<Position>, Error> {
        let now = now_ms();
        let mut positions = Vec::with_capacity(records.len());
        for record in records {
            let len = frame::frame_len(&record.key, &record.value) as u64;
            let used = self.active.len + buf.len() as u64;
            if used + len > self.options.segment_size && used > frame::HEADER_LEN as u64 {
                self.write(buf)?;
                buf.clear();
                self.roll()?;
            }
            frame::encode(buf, self.next_offset, now, &record.key, &record.value);
            positions.push(Position {
                partition: 0,
                offset: self.next_offset,
            });
            self.next_offset += 1;
        }
        Ok(positions)
    }

    fn write(&mut self, buf: &[u8]) -> Result<(), Error> {
        if buf.is_empty() {
            return Ok(());
        }
        let active = &mut self.active;
        active
            .file
            .write_all(buf)
            .map_err(|e| Error::io("writing segment", &active.path, e))?;
        active.len += buf.len() as u64;
        self.unsynced = true;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), Error> {
        let active = &self.active;
        active
            .file
            .sync_data()
            .map_err(|e| Error::io("syncing segment", &active.path, e))?;
        self.unsynced = false;
        Ok(())
    }

    fn sync_if_needed(&mut self) {
        if self.unsynced
            && self.stopped.is_none()
            && let Err(e) = self.sync()
        {
            tracing::error!(stream = %self.stream, error = %e, "event log writer stopped");
            self.stopped = Some(e.to_string());
        }
    }

    /// Seals the active segment (durably, so recovery may treat it strictly) and starts one.
    fn roll(&mut self) -> Result<(), Error> {
        self.sync()?;
        let next = create_segment(&self.dir, self.next_offset)?;
        let old = std::mem::replace(&mut self.active, next);
        self.sealed.push_back(Sealed {
            base: old.base,
            path: old.path,
            bytes: old.len,
            modified: SystemTime::now(),
        });
        self.apply_retention();
        Ok(())
    }

    fn apply_retention(&mut self) {
        let retention = self.options.retention;
        let now = SystemTime::now();
        while let Some(oldest) = self.sealed.front() {
            let total = self.sealed.iter().map(|s| s.bytes).sum::<u64>() + self.active.len;
            let too_big = retention.max_bytes.is_some_and(|max| total > max);
            let too_old = retention.max_age.is_some_and(|max| {
                now.duration_since(oldest.modified)
                    .unwrap_or(Duration::ZERO)
                    > max
            });
            if !(too_big || too_old) {
                break;
            }
            self.remove_oldest("retention");
        }
    }

    fn drop_before(&mut self, offset: u64) {
        // A sealed segment ends where the next one (or the active one) begins.
        while !self.sealed.is_empty() {
            let end = self
                .sealed
                .get(1)
                .map_or(self.active.base, |next| next.base);
            if end > offset {
                break;
            }
            self.remove_oldest("drained");
        }
    }

    fn remove_oldest(&mut self, why: &'static str) {
        let Some(oldest) = self.sealed.pop_front() else {
            return;
        };
        match fs::remove_file(&oldest.path) {
            Ok(()) => tracing::info!(
                stream = %self.stream, segment = %oldest.path.display(), base = oldest.base, why,
                "removed segment"
            ),
            Err(e) => tracing::warn!(
                stream = %self.stream, segment = %oldest.path.display(), error = %e,
                "could not remove segment"
            ),
        }
    }

    fn publish_stats(&mut self) {
        let first_offset = self.sealed.front().map_or(self.active.base, |s| s.base);
        let bytes = self.sealed.iter().map(|s| s.bytes).sum::<u64>() + self.active.len;
        self.stats.send_replace(StreamStats {
            first_offset,
            next_offset: self.next_offset,
            bytes,
        });
    }
}

/// Scans the newest segment, drops a torn tail, and opens it for appending.
fn recover_newest(
    path: &Path,
    base: u64,
    max_payload: usize,
) -> Result<(File, segment::Scan), Error> {
    let scan = segment::scan(path, base, max_payload, Role::Newest)?;
    let file = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| Error::io("opening segment", path, e))?;
    if let Tail::Torn { bytes } = scan.tail {
        tracing::warn!(
            segment = %path.display(), at = scan.valid_len, bytes,
            "dropping the torn tail of an interrupted write"
        );
        file.set_len(scan.valid_len)
            .map_err(|e| Error::io("truncating segment", path, e))?;
        file.sync_all()
            .map_err(|e| Error::io("syncing segment", path, e))?;
    }
    Ok((file, scan))
}

fn create_segment(dir: &Path, base: u64) -> Result<Active, Error> {
    let path = segment::path(dir, base);
    let file = write_new_segment(&path, base)?;
    sync_dir(dir)?;
    Ok(Active {
        file,
        base,
        path,
        len: frame::HEADER_LEN as u64,
    })
}

/// Creates a segment holding only its header, atomically: a segment file never exists
/// without a whole header, so readers and recovery need no case for a half-made one.
fn write_new_segment(path: &Path, base: u64) -> Result<File, Error> {
    let tmp = path.with_extension(segment::UNFINISHED);
    let mut file = File::create(&tmp).map_err(|e| Error::io("creating segment", &tmp, e))?;
    file.write_all(&frame::encode_header(base))
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("writing segment header", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("creating segment", path, e))?;
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| Error::io("opening segment", path, e))
}

/// Makes a directory's entries (a created, renamed or removed file) durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("syncing directory", dir, e))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
