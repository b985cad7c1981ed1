//! The transport of blastwall's events: named streams of keyed records.
//!
//! Everything the proxy records goes through an [`EventLog`]: the embedded segment log on
//! local disk (the default, one process), or Kafka behind a local spool (production), so that
//! the recorder, SIEM sinks and other proxies can consume the same streams. The crate knows
//! bytes and positions, not events: encoding is `schemas`' job, deciding what to record is the
//! proxy's.
//!
//! # Layout
//!
//! - [`log`]: the `EventLog` and `Subscription` traits and their vocabulary.
//! - [`embedded`]: segment files with CRC32C frames, group commit, recovery, cursors, retention.
//! - [`kafka`]: rdkafka with `acks=all` and idempotence; topics created when absent.
//! - [`spool`]: Kafka behind the embedded log, drained by a forwarder that never sends twice.
//! - [`config`]: the `[log]` section of the configuration file.
//!
//! # Example
//!
//! ```
//! # tokio_test::block_on(async {
//! use eventlog::{Durability, EmbeddedLog, EmbeddedOptions, EventLog, Record, Stream};
//! use std::time::Duration;
//!
//! let dir = tempfile::tempdir()?;
//! let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default())?;
//! let record = Record::new("session-1", "an encoded event");
//! log.append(Stream::Events, vec![record], Durability::Durable).await?;
//!
//! let mut recorder = log.subscribe(Stream::Events, "recorder").await?;
//! let entries = recorder.poll(100, Duration::from_secs(1)).await?;
//! assert_eq!(&entries[0].value[..], b"an encoded event");
//! recorder.commit(entries[0].position).await?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod config;
pub mod embedded;
mod error;
pub mod kafka;
pub mod log;
pub mod spool;

pub use config::{LogConfig, OpenedLog};
pub use embedded::{
    EmbeddedLog, EmbeddedOptions, EmbeddedReader, Retention, StreamCheck, StreamStats, check,
};
pub use error::Error;
pub use kafka::{KafkaConfig, KafkaLog};
pub use log::{
    Assignment, Durability, Entry, EventLog, Position, Reached, Receipt, Record, Stream,
    Subscription,
};
pub use spool::{SpoolConfig, SpoolStatus, SpooledLog, WhenFull};
