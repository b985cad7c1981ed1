//! The `[log]` section of the configuration: which transport, where, and how it is bounded.
//!
//! ```toml
//! [log]
//! kind = "kafka"              # or "embedded" (the default)
//! dir = "data/log"            # the embedded log, or the spool in front of Kafka
//! retention = { max_age = "30d" }
//! [log.kafka]
//! brokers = ["kafka-1:9092"]
//! [log.spool]
//! max_size = "10 GiB"
//! when_full = "refuse"
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

use crate::{
    EmbeddedLog, EmbeddedOptions, Error, EventLog, KafkaConfig, Retention, SpoolConfig, SpooledLog,
};

/// Which transport carries the events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// Segment files on local disk; one process.
    #[default]
    Embedded,
    /// Kafka, fed through a spool on local disk.
    Kafka,
}

/// The `[log]` section.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Which transport carries the events.
    #[serde(default)]
    pub kind: LogKind,
    /// Directory of the embedded log, or of the spool in front of Kafka. Relative paths are
    /// resolved against the data directory.
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// Segment files are sealed once they reach this size.
    #[serde(default = "default_segment_size")]
    pub segment_size: ByteSize,
    /// The largest single event accepted.
    #[serde(default = "default_max_record_size")]
    pub max_record_size: ByteSize,
    /// Events appended in `async` mode reach the disk at least this often.
    #[serde(default = "default_flush_interval", with = "humantime_serde")]
    pub flush_interval: Duration,
    /// How long the embedded log keeps sealed segments (not used for the spool, which keeps
    /// exactly what Kafka has not acknowledged).
    #[serde(default)]
    pub retention: RetentionConfig,
    /// The Kafka cluster, when `kind = "kafka"`.
    #[serde(default)]
    pub kafka: Option<KafkaConfig>,
    /// Bounds of the spool in front of Kafka.
    #[serde(default)]
    pub spool: SpoolConfig,
}

/// `[log.retention]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Delete sealed segments older than this.
    #[serde(default, with = "humantime_serde")]
    pub max_age: Option<Duration>,
    /// Delete the oldest sealed segments while a stream is larger than this.
    #[serde(default)]
    pub max_size: Option<ByteSize>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            kind: LogKind::default(),
            dir: default_dir(),
            segment_size: default_segment_size(),
            max_record_size: default_max_record_size(),
            flush_interval: default_flush_interval(),
            retention: RetentionConfig::default(),
            kafka: None,
            spool: SpoolConfig::default(),
        }
    }
}

/// An opened log, of whichever kind the configuration named.
pub enum OpenedLog {
    /// The embedded log.
    Embedded(Arc<EmbeddedLog>),
    /// Kafka behind a spool.
    Kafka(Arc<SpooledLog>),
}

impl OpenedLog {
    /// The log, to append to and subscribe from.
    pub fn log(&self) -> Arc<dyn EventLog> {
        match self {
            OpenedLog::Embedded(log) => Arc::clone(log) as Arc<dyn EventLog>,
            OpenedLog::Kafka(log) => Arc::clone(log) as Arc<dyn EventLog>,
        }
    }

    /// Stops background work (the spool's forwarders) after what is in flight.
    pub async fn shutdown(&self) {
        if let OpenedLog::Kafka(log) = self {
            log.shutdown().await;
        }
    }

    /// A one-line description for people: what it is and where.
    pub fn describe(&self) -> String {
        match self {
            OpenedLog::Embedded(log) => format!("embedded log at {}", log.dir().display()),
            OpenedLog::Kafka(log) => {
                let brokers = log.kafka().config().brokers.join(",");
                format!("Kafka at {brokers}, spooled")
            }
        }
    }
}

impl LogConfig {
    /// The embedded log's options from this configuration.
    pub fn embedded_options(&self) -> Result<EmbeddedOptions, Error> {
        let max_record_size = usize::try_from(self.max_record_size.as_u64())
            .map_err(|_| Error::Config("log.max_record_size is too large".to_owned()))?;
        if self.segment_size.as_u64() < 2 * self.max_record_size.as_u64() {
            return Err(Error::Config(format!(
                "log.segment_size ({}) must be at least twice log.max_record_size ({})",
                self.segment_size, self.max_record_size
            )));
        }
        Ok(EmbeddedOptions {
            segment_size: self.segment_size.as_u64(),
            max_record_size,
            flush_interval: self.flush_interval,
            retention: Retention {
                max_age: self.retention.max_age,
                max_bytes: self.retention.max_size.map(|s| s.as_u64()),
            },
            ..EmbeddedOptions::default()
        })
    }

    /// Opens the configured log; relative directories are taken from `data_dir`.
    pub async fn open(&self, data_dir: &Path) -> Result<OpenedLog, Error> {
        let dir = data_dir.join(&self.dir);
        let options = self.embedded_options()?;
        match (self.kind, &self.kafka) {
            (LogKind::Embedded, None) => Ok(OpenedLog::Embedded(Arc::new(EmbeddedLog::open(
                dir, options,
            )?))),
            (LogKind::Embedded, Some(_)) => Err(Error::Config(
                "[log.kafka] is set but log.kind is \"embedded\"; set kind = \"kafka\" to use it"
                    .to_owned(),
            )),
            (LogKind::Kafka, None) => Err(Error::Config(
                "log.kind is \"kafka\" but [log.kafka] is missing".to_owned(),
            )),
            (LogKind::Kafka, Some(kafka)) => {
                let spool =
                    SpooledLog::open(dir, options, kafka.clone(), self.spool.clone()).await?;
                Ok(OpenedLog::Kafka(Arc::new(spool)))
            }
        }
    }
}

fn default_dir() -> PathBuf {
    PathBuf::from("log")
}

fn default_segment_size() -> ByteSize {
    ByteSize::mib(64)
}

fn default_max_record_size() -> ByteSize {
    ByteSize::mib(8)
}

fn default_flush_interval() -> Duration {
    Duration::from_millis(200)
}
