//! The embedded log: each stream a directory of append-only segment files on local disk.
//!
//! This is the default transport (one process, no broker) and the spool in front of Kafka.
//! One process writes a log directory (an exclusive lock guards it); any number of readers, in
//! this process or others, follow it with their own committed cursors.
//!
//! ```text
//! DIR/LOCK                                   writer lock
//! DIR/<stream>/<base offset>.seg             segments, see `frame` for the bytes
//! DIR/<stream>/cursors/<consumer>            committed positions, see `cursor`
//! ```
//!
//! Invariants: offsets are gap-free per stream; an append answered as `OnDisk` survives a crash
//! of the process or the machine; recovery drops only a torn tail that was never acknowledged,
//! and reports any other damage with the file and byte offset.

mod cursor;
mod frame;
mod reader;
mod segment;
mod writer;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{oneshot, watch};

use crate::{Durability, Entry, Error, EventLog, Position, Receipt, Record, Stream, Subscription};
use cursor::Cursor;
use reader::Reader;
pub use writer::StreamStats;
use writer::{Request, Writer};

/// How the embedded log sizes, flushes and ages its segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// A segment is sealed and a new one started once it would grow past this many bytes.
    pub segment_size: u64,
    /// The largest record (key and value) accepted.
    pub max_record_size: usize,
    /// `async` appends reach the disk at least this often.
    pub flush_interval: Duration,
    /// At most this many queued appends share one write and one flush.
    pub max_group: usize,
    /// How long sealed segments are kept.
    pub retention: Retention,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            segment_size: 64 << 20,
            max_record_size: 8 << 20,
            flush_interval: Duration::from_millis(200),
            max_group: 4096,
            retention: Retention::default(),
        }
    }
}

/// When sealed segments are deleted. The segment being written is always kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Delete a sealed segment last written longer ago than this.
    pub max_age: Option<Duration>,
    /// Delete the oldest sealed segments while the stream holds more bytes than this.
    pub max_bytes: Option<u64>,
}

struct StreamWriter {
    requests: flume::Sender<Request>,
    stats: watch::Receiver<StreamStats>,
    thread: Option<JoinHandle<()>>,
}

/// An embedded log opened for writing (and reading) by this process.
pub struct EmbeddedLog {
    dir: PathBuf,
    options: EmbeddedOptions,
    writers: BTreeMap<Stream, StreamWriter>,
    _lock: File,
}

impl EmbeddedLog {
    /// Opens (creating if needed) the log in `dir`, recovering each stream.
    pub fn open(dir: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self, Error> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).map_err(|e| Error::io("creating log directory", &dir, e))?;
        let lock = lock(&dir)?;
        let mut writers = BTreeMap::new();
        for stream in Stream::ALL {
            let writer = Writer::open(stream, &dir.join(stream.name()), options)?;
            let stats = writer.stats();
            let (requests, queue) = flume::bounded(options.max_group);
            let thread = std::thread::Builder::new()
                .name(format!("eventlog-{stream}"))
                .spawn(move || writer.run(queue))
                .map_err(|e| Error::io("starting writer thread for", &dir, e))?;
            writers.insert(
                stream,
                StreamWriter {
                    requests,
                    stats,
                    thread: Some(thread),
                },
            );
        }
        Ok(EmbeddedLog {
            dir,
            options,
            writers,
            _lock: lock,
        })
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the stream holds on disk now.
    pub fn stats(&self, stream: Stream) -> StreamStats {
        self.writer(stream)
            .map(|w| *w.stats.borrow())
            .unwrap_or_default()
    }

    /// The position `consumer` of `stream` committed last: the next offset it wants.
    pub fn committed(&self, stream: Stream, consumer: &str) -> Result<Option<u64>, Error> {
        crate::log::validate_consumer(consumer)?;
        Cursor::new(&self.dir.join(stream.name()), consumer).load()
    }

    /// Deletes sealed segments of `stream` whose records all precede `offset`.
    pub(crate) fn drop_before(&self, stream: Stream, offset: u64) {
        if let Ok(writer) = self.writer(stream) {
            let _ = writer.requests.try_send(Request::DropBefore { offset });
        }
    }

    fn writer(&self, stream: Stream) -> Result<&StreamWriter, Error> {
        self.writers
            .get(&stream)
            .ok_or_else(|| Error::WriterStopped {
                stream,
                reason: "stream not open".to_owned(),
            })
    }
}

impl Drop for EmbeddedLog {
    fn drop(&mut self) {
        // Closing the channels lets each writer flush and exit; wait so the lock outlives it.
        let threads: Vec<_> = std::mem::take(&mut self.writers)
            .into_values()
            .filter_map(|mut w| w.thread.take())
            .collect();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

#[async_trait]
impl EventLog for EmbeddedLog {
    async fn append(
        &self,
        stream: Stream,
        records: Vec<Record>,
        durability: Durability,
    ) -> Result<Receipt, Error> {
        let writer = self.writer(stream)?;
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::WriterStopped {
            stream,
            reason: "writer thread exited".to_owned(),
        };
        writer
            .requests
            .send_async(Request::Append {
                records,
                durability,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn subscribe(
        &self,
        stream: Stream,
        consumer: &str,
    ) -> Result<Box<dyn Subscription>, Error> {
        let progress = self.writer(stream)?.stats.clone();
        let sub =
            EmbeddedSubscription::open(&self.dir, stream, consumer, &self.options, Some(progress))?;
        Ok(Box::new(sub))
    }
}

/// Read access to an embedded log written by another process.
pub struct EmbeddedReader {
    dir: PathBuf,
    options: EmbeddedOptions,
}

impl EmbeddedReader {
    /// Reads the log in `dir` without taking the writer lock.
    pub fn open(dir: impl AsRef<Path>, options: EmbeddedOptions) -> Self {
        EmbeddedReader {
            dir: dir.as_ref().to_owned(),
            options,
        }
    }

    /// Starts reading `stream` as the named consumer, from its committed position.
    pub fn subscribe(
        &self,
        stream: Stream,
        consumer: &str,
    ) -> Result<Box<dyn Subscription>, Error> {
        let sub = EmbeddedSubscription::open(&self.dir, stream, consumer, &self.options, None)?;
        Ok(Box::new(sub))
    }
}

/// What a full check of a stream found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamCheck {
    /// The stream.
    pub stream: Stream,
    /// Segment files checked.
    pub segments: usize,
    /// Offset of the oldest record kept.
    pub first_offset: u64,
    /// Offset the next record will get.
    pub next_offset: u64,
    /// Bytes after the last record of the newest segment that a crash left (dropped on the
    /// next open for writing).
    pub torn_tail_bytes: u64,
}

/// Reads every segment of every stream in `dir` end to end, checking every checksum, every
/// offset and that each segment ends where the next begins. Takes no lock: safe beside a writer.
pub fn check(dir: impl AsRef<Path>, options: &EmbeddedOptions) -> Result<Vec<StreamCheck>, Error> {
    let mut report = Vec::new();
    for stream in Stream::ALL {
        let stream_dir = dir.as_ref().join(stream.name());
        if !stream_dir.exists() {
            continue;
        }
        let segments = segment::list(&stream_dir)?;
        let first_offset = segments.first().map_or(0, |(base, _)| *base);
        let mut next_offset = first_offset;
        let mut torn_tail_bytes = 0;
        for (i, (base, path)) in segments.iter().enumerate() {
            if *base != next_offset {
                let (first, last) = (next_offset, base.saturating_sub(1));
                return Err(Error::MissingRecords {
                    stream,
                    first,
                    last,
                    path: path.clone(),
                });
            }
            let role = if i + 1 == segments.len() {
                segment::Role::Newest
            } else {
                segment::Role::Sealed
            };
            let scan = segment::scan(path, *base, options.max_record_size, role)?;
            next_offset = scan.next_offset;
            if let segment::Tail::Torn { bytes } = scan.tail {
                torn_tail_bytes = bytes;
            }
        }
        report.push(StreamCheck {
            stream,
            segments: segments.len(),
            first_offset,
            next_offset,
            torn_tail_bytes,
        });
    }
    Ok(report)
}

/// How often a reader without a writer in its process looks for new records.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

struct EmbeddedSubscription {
    stream: Stream,
    reader: Option<Reader>,
    cursor: Cursor,
    /// Wakes the reader when the writer is in this process.
    progress: Option<watch::Receiver<StreamStats>>,
}

impl EmbeddedSubscription {
    fn open(
        dir: &Path,
        stream: Stream,
        consumer: &str,
        options: &EmbeddedOptions,
        progress: Option<watch::Receiver<StreamStats>>,
    ) -> Result<Self, Error> {
        crate::log::validate_consumer(consumer)?;
        let stream_dir = dir.join(stream.name());
        let cursor = Cursor::new(&stream_dir, consumer);
        let start = cursor.load()?.unwrap_or(0);
        let reader = Reader::new(stream, &stream_dir, options.max_record_size, start);
        Ok(EmbeddedSubscription {
            stream,
            reader: Some(reader),
            cursor,
            progress,
        })
    }

    async fn read(&mut self, max: usize) -> Result<Vec<Entry>, Error> {
        let mut reader = self.reader.take().ok_or_else(|| Error::WriterStopped {
            stream: self.stream,
            reason: "a previous read of this subscription failed".to_owned(),
        })?;
        let (reader, result) = tokio::task::spawn_blocking(move || {
            let result = reader.read(max);
            (reader, result)
        })
        .await
        .map_err(|e| Error::io("reading log", "(reader task)", std::io::Error::other(e)))?;
        self.reader = Some(reader);
        result
    }
}

#[async_trait]
impl Subscription for EmbeddedSubscription {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Entry>, Error> {
        let deadline = Instant::now() + wait;
        loop {
            let entries = self.read(max).await?;
            let left = deadline.saturating_duration_since(Instant::now());
            if !entries.is_empty() || left.is_zero() {
                return Ok(entries);
            }
            match self.progress.as_mut() {
                Some(progress) => {
                    if let Ok(Err(_)) = tokio::time::timeout(left, progress.changed()).await {
                        // The writer is gone; fall back to looking now and then.
                        tokio::time::sleep(left.min(POLL_INTERVAL)).await;
                    }
                }
                None => tokio::time::sleep(left.min(POLL_INTERVAL)).await,
            }
        }
    }

    async fn commit(&mut self, position: Position) -> Result<(), Error> {
        let cursor = self.cursor.clone();
        tokio::task::spawn_blocking(move || cursor.store(position.offset + 1))
            .await
            .map_err(|e| {
                Error::io(
                    "committing cursor",
                    "(cursor task)",
                    std::io::Error::other(e),
                )
            })?
    }
}

fn lock(dir: &Path) -> Result<File, Error> {
    let path = dir.join("LOCK");
    let file = File::create(&path).map_err(|e| Error::io("creating lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(fs::TryLockError::Error(e)) => Err(Error::io("locking", &path, e)),
    }
}
