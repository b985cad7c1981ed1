//! Kafka behind a local spool: the `durable` path of DESIGN.md.
//!
//! An append goes to the embedded log on local disk first (group commit), so a broker outage
//! never blocks or loses a command's event. A forwarder per stream drains the spool to Kafka in
//! order, commits its spool cursor only after Kafka acknowledged, and drops drained segments.
//! `strict` appends wait for the forwarder to get past them. Consumers read from Kafka.
//!
//! Nothing is lost (the spool is on disk until Kafka has it) and nothing is sent twice: the
//! idempotent producer never duplicates within a run, and `marks` recognises what an earlier
//! run delivered but did not get to commit. When the spool grows past its limit it either
//! refuses new events (the proxy then refuses commands) or keeps growing, as configured.

mod forwarder;
mod marks;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytesize::ByteSize;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{
    Durability, EmbeddedLog, EmbeddedOptions, Error, EventLog, KafkaConfig, KafkaLog, Reached,
    Receipt, Record, Stream, Subscription,
};
use forwarder::{Forwarder, Progress};
pub use marks::{SPOOL_ID_HEADER, SPOOL_OFFSET_HEADER};

/// How the spool in front of Kafka is bounded.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// Once the spool holds this much on disk, `when_full` applies.
    #[serde(default = "default_max_size")]
    pub max_size: ByteSize,
    /// What a full spool does with new events.
    #[serde(default)]
    pub when_full: WhenFull,
    /// Log a warning while the oldest event not yet in Kafka is older than this.
    #[serde(default = "default_warn_after", with = "humantime_serde")]
    pub warn_after: Duration,
    /// How many records back from each partition's end a restarting forwarder looks for what
    /// it already delivered.
    #[serde(default = "default_dedup_window")]
    pub dedup_window: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            max_size: default_max_size(),
            when_full: WhenFull::default(),
            warn_after: default_warn_after(),
            dedup_window: default_dedup_window(),
        }
    }
}

/// What a full spool does with new events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Refuse the append, so the proxy refuses the command: nothing runs unrecorded.
    #[default]
    Refuse,
    /// Keep writing to local disk until it runs out.
    Grow,
}

/// How far behind Kafka a spooled stream is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStatus {
    /// Records in the spool that Kafka has not acknowledged yet.
    pub pending_records: u64,
    /// Bytes the spool holds on disk.
    pub spool_bytes: u64,
    /// Age of the oldest record not yet acknowledged, if any is waiting.
    pub oldest_pending: Option<Duration>,
}

/// Kafka, fed through a local spool.
pub struct SpooledLog {
    spool: Arc<EmbeddedLog>,
    kafka: Arc<KafkaLog>,
    config: SpoolConfig,
    progress: BTreeMap<Stream, watch::Receiver<Progress>>,
    stop: watch::Sender<bool>,
    forwarders: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl SpooledLog {
    /// Opens the spool in `dir`, connects to Kafka and starts draining.
    pub async fn open(
        dir: impl AsRef<Path>,
        options: EmbeddedOptions,
        kafka: KafkaConfig,
        config: SpoolConfig,
    ) -> Result<Self, Error> {
        let spool = Arc::new(EmbeddedLog::open(dir.as_ref(), options)?);
        let spool_id = forwarder::spool_id(dir.as_ref())?;
        let kafka = Arc::new(KafkaLog::connect(kafka).await?);
        let (stop, stopped) = watch::channel(false);
        let mut progress = BTreeMap::new();
        let mut forwarders = Vec::new();
        for stream in Stream::ALL {
            let forwarder =
                Forwarder::new(stream, &spool, &kafka, &spool_id, &config, stopped.clone());
            progress.insert(stream, forwarder.progress());
            forwarders.push(tokio::spawn(forwarder.run()));
        }
        Ok(SpooledLog {
            spool,
            kafka,
            config,
            progress,
            stop,
            forwarders: std::sync::Mutex::new(forwarders),
        })
    }

    /// How far behind Kafka the stream is.
    pub fn status(&self, stream: Stream) -> SpoolStatus {
        let stats = self.spool.stats(stream);
        let progress = self
            .progress
            .get(&stream)
            .map(|p| *p.borrow())
            .unwrap_or_default();
        SpoolStatus {
            pending_records: stats.next_offset.saturating_sub(progress.forwarded),
            spool_bytes: stats.bytes,
            oldest_pending: progress.oldest_pending_since.map(|since| since.elapsed()),
        }
    }

    /// The Kafka side, for consumers and tests.
    pub fn kafka(&self) -> &KafkaLog {
        &self.kafka
    }

    /// Stops the forwarders after their current batch. What is left stays in the spool.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let forwarders = match self.forwarders.lock() {
            Ok(mut forwarders) => std::mem::take(&mut *forwarders),
            Err(_) => Vec::new(),
        };
        for forwarder in forwarders {
            let _ = forwarder.await;
        }
    }

    fn check_room(&self, stream: Stream) -> Result<(), Error> {
        let spool_bytes = self.spool.stats(stream).bytes;
        let limit = self.config.max_size.as_u64();
        if spool_bytes >= limit && self.config.when_full == WhenFull::Refuse {
            return Err(Error::SpoolFull {
                pending_bytes: spool_bytes,
                limit,
            });
        }
        Ok(())
    }

    /// Waits until the forwarder got past `offset`, or the Kafka ack timeout passes.
    async fn await_forwarded(&self, stream: Stream, offset: u64) -> Result<(), Error> {
        let waited = self.kafka.config().ack_timeout;
        let Some(mut progress) = self.progress.get(&stream).cloned() else {
            return Err(Error::NotReplicated {
                waited: Duration::ZERO,
            });
        };
        tokio::time::timeout(waited, progress.wait_for(|p| p.forwarded > offset))
            .await
            .map_err(|_| Error::NotReplicated { waited })?
            .map_err(|_| Error::NotReplicated { waited })?;
        Ok(())
    }
}

impl Drop for SpooledLog {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[async_trait]
impl EventLog for SpooledLog {
    async fn append(
        &self,
        stream: Stream,
        records: Vec<Record>,
        durability: Durability,
    ) -> Result<Receipt, Error> {
        self.check_room(stream)?;
        let on_disk = match durability {
            Durability::Async => Durability::Async,
            Durability::Durable | Durability::Strict => Durability::Durable,
        };
        let receipt = self.spool.append(stream, records, on_disk).await?;
        if durability != Durability::Strict {
            return Ok(receipt);
        }
        if let Some(last) = receipt.positions.last() {
            self.await_forwarded(stream, last.offset).await?;
        }
        Ok(Receipt {
            reached: Reached::Replicated,
            positions: receipt.positions,
        })
    }

    async fn subscribe(
        &self,
        stream: Stream,
        consumer: &str,
    ) -> Result<Box<dyn Subscription>, Error> {
        self.kafka.subscribe(stream, consumer).await
    }
}

fn default_max_size() -> ByteSize {
    ByteSize::gib(10)
}

fn default_warn_after() -> Duration {
    Duration::from_secs(10)
}

fn default_dedup_window() -> u64 {
    1_000_000
}
