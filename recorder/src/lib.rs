//! The recorder: the events stream archived as Parquet, every record exactly once.
//!
//! The proxy appends each session's events to the event log; the recorder follows the log as a
//! named consumer (a Kafka consumer group, or a cursor of the embedded log) and writes what it
//! reads to `ARCHIVE/events/date=YYYY-MM-DD/part-<partition>-<first>-<last>.parquet` (zstd,
//! rows sorted by session and seq, the Arrow schema of `schemas::arrow`), which the query crate
//! reads. Records that are not events it can read (a future schema version, garbage) go to the
//! `quarantine` table beside it, byte for byte, and are reported: nothing is dropped.
//!
//! Files are durable before the log position is committed, and on start the recorder resumes
//! from the highest offset already archived per partition, so a crash at any moment neither
//! loses nor duplicates an event. Damage found at start is set aside and rewritten from the log.
//!
//! # Layout
//!
//! | module | concept |
//! | --- | --- |
//! | [`writer`] | [`start`]: survey, repair, follow the log, flush by time and size, commit |
//! | [`flush`] | one flush: a gap-free run of a partition's records → one group of files |
//! | [`encode`] | decoding records; the `events` and `quarantine` tables' Arrow batches |
//! | [`archive`] | the layout on disk, durable group writes, the survey at start, visibility |
//! | [`compaction`] | small files of a day merged into large ones, atomically for readers |
//! | [`retention`] | days past the configured age removed, each removal an event first |
//! | [`sessions`] | the session index `ARCHIVE/sessions/`: one row per session, refreshed while it runs |
//! | [`repair`] | rewriting damaged or missing ranges from the log |
//! | [`source`] | [`EventSource`]: an opened [`eventlog::EventLog`] or an [`eventlog::EmbeddedReader`] |
//! | [`config`] | `[recorder]` ([`RecorderConfig`]) → [`Settings`] |
//! | [`status`] | [`Status`]: what a running recorder has done |
//!
//! Several recorders in one Kafka consumer group share its partitions (see `writer`).
//!
//! # Example
//!
//! ```
//! # tokio_test::block_on(async {
//! use std::sync::Arc;
//! use eventlog::{Durability, EmbeddedLog, EmbeddedOptions, EventLog, Record, Stream};
//! use tokio::sync::watch;
//!
//! let dir = tempfile::tempdir()?;
//! let log: Arc<dyn EventLog> =
//!     Arc::new(EmbeddedLog::open(dir.path().join("log"), EmbeddedOptions::default())?);
//! let record = Record::new("a-session", "not an event at all");
//! log.append(Stream::Events, vec![record], Durability::Durable).await?;
//!
//! let mut settings = recorder::Settings::new(dir.path().join("archive"));
//! settings.flush_interval = std::time::Duration::from_millis(50);
//! let (stop, stopped) = watch::channel(false);
//! let running = recorder::start(settings, Arc::new(log), stopped).await?;
//! running.status().wait_for(|s| s.quarantined == 1).await?;
//! stop.send(true)?; // flushes what it still holds, then stops
//! let status = running.wait().await?;
//! assert_eq!((status.events, status.quarantined), (0, 1));
//! assert!(dir.path().join("archive/quarantine").is_dir());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod archive;
pub mod compaction;
pub mod config;
pub mod encode;
mod error;
pub mod flush;
pub mod repair;
pub mod retention;
pub mod sessions;
pub mod source;
pub mod status;
pub mod writer;

pub use config::{RecorderConfig, Settings};
pub use error::Error;
pub use source::EventSource;
pub use status::{Phase, Status};
pub use writer::{RunningRecorder, start};
