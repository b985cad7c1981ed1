//! The `EventLog` abstraction: named streams of keyed records, appended in batches and read
//! by named consumers from a committed position.
//!
//! Producers (the proxy's audit module, approvers) append; consumers (the recorder, SIEM sinks,
//! proxies waiting for approval decisions) subscribe. Every implementation keeps the records
//! of one key (a session id) in append order, and never reports a batch as stored before it is,
//! at the [`Durability`] the caller asked for.
//!
//! What a record means is not known here: values are opaque bytes, encoded by `schemas`.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::Error;

/// A named stream of the log: a directory of segments in the embedded log, a topic in Kafka.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// Everything that happens in sessions, keyed by session id.
    Events,
    /// Decisions travelling to proxies: approvals decided, sessions killed, locks.
    Control,
}

impl Stream {
    /// Every stream, in a fixed order.
    pub const ALL: [Stream; 2] = [Stream::Events, Stream::Control];

    /// The stream's name, as used for directories and default topic names.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Events => "events",
            Stream::Control => "control",
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How far an appended batch must get before `append` returns.
///
/// This is the per-target choice of DESIGN.md: no mode drops events, they differ in what a
/// crash or a broker outage at the wrong moment can cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Queued for writing; a crash of the machine can lose the last moments.
    Async,
    /// On local disk (fsync'd, shared with concurrent appends) before `append` returns.
    #[default]
    Durable,
    /// Acknowledged by every in-sync Kafka replica; refused while Kafka is unreachable.
    /// On the embedded log, the same as `Durable`: there is nothing further to reach.
    Strict,
}

/// One record to append: a key that keeps related records in order, and an opaque value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Ordering key; records with the same key are read back in append order.
    pub key: Bytes,
    /// The encoded payload.
    pub value: Bytes,
}

impl Record {
    /// A record from anything that converts into bytes.
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Record {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Where a record sits in a stream: a partition (always 0 in the embedded log) and an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// The partition of the stream.
    pub partition: u32,
    /// The record's offset within the partition, from 0.
    pub offset: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.partition, self.offset)
    }
}

/// How far an appended batch got before `append` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reached {
    /// Handed to the writer; not yet known to be on disk.
    Queued,
    /// On local disk: the embedded log, or the spool in front of Kafka.
    OnDisk,
    /// Acknowledged by Kafka with `acks=all`.
    Replicated,
}

/// The answer to an append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// How far the batch got.
    pub reached: Reached,
    /// Where each record landed, in append order, in the log that took it first (for a
    /// spooled log, the spool). Empty when the positions are not known yet.
    pub positions: Vec<Position>,
}

/// A record read back from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Where the record sits.
    pub position: Position,
    /// Milliseconds since the Unix epoch at which the log stored it.
    pub timestamp_ms: i64,
    /// The record's key.
    pub key: Bytes,
    /// The record's value.
    pub value: Bytes,
}

/// The transport every producer and consumer of events goes through.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Appends `records` to `stream` in order and returns once they reached `durability`.
    async fn append(
        &self,
        stream: Stream,
        records: Vec<Record>,
        durability: Durability,
    ) -> Result<Receipt, Error>;

    /// Starts reading `stream` as the named consumer, from its last committed position
    /// (or from the oldest record still kept, for a consumer never seen before).
    async fn subscribe(
        &self,
        stream: Stream,
        consumer: &str,
    ) -> Result<Box<dyn Subscription>, Error>;
}

/// A named consumer's reading of one stream.
#[async_trait]
pub trait Subscription: Send {
    /// Returns up to `max` records, waiting at most `wait` when none is available yet.
    /// An empty batch means nothing arrived in time; it is not the end of the stream.
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Entry>, Error>;

    /// Records that everything up to and including `position` is processed, so that the
    /// next subscription of this consumer starts after it.
    async fn commit(&mut self, position: Position) -> Result<(), Error>;

    /// For a member of a consumer group that shares partitions with other members: the
    /// partitions it reads now. `None` for a consumer that reads every partition alone.
    ///
    /// It changes only inside [`Subscription::poll`], so between two polls a member may act
    /// on its partitions knowing no other member reads them.
    fn assignment(&self) -> Option<Assignment> {
        None
    }
}

/// The partitions a consumer group member reads, and which rebalance gave them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Counts the rebalances this member went through: a change means the partitions did.
    pub generation: u64,
    /// The partitions it reads now.
    pub partitions: std::collections::BTreeSet<u32>,
}

/// Checks a consumer name: it names files and Kafka groups, so it stays plain.
pub(crate) fn validate_consumer(name: &str) -> Result<(), Error> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 128 || !name.chars().all(plain) || name.starts_with('.') {
        return Err(Error::InvalidConsumer {
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_names_are_plain() {
        assert!(validate_consumer("recorder-1").is_ok());
        assert!(validate_consumer("kafka.forwarder_2").is_ok());
        for bad in ["", "../etc", "a/b", ".hidden", "spa ce", &"x".repeat(129)] {
            assert!(validate_consumer(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn durability_reads_from_config_words() {
        #[derive(Deserialize)]
        struct Target {
            durability: Durability,
        }
        let t: Target = toml_like("strict");
        assert_eq!(t.durability, Durability::Strict);

        fn toml_like(word: &str) -> Target {
            let json = format!(r#"{{"durability":"{word}"}}"#);
            serde_json::from_str(&json).expect("parses")
        }
    }
}
