//! The `[recorder]` section of the configuration, and the validated [`Settings`] it becomes.
//!
//! ```toml
//! [recorder]
//! enabled = true            # started by `blastwall up`
//! dir = "archive"           # relative to data_dir
//! consumer = "recorder"     # the Kafka consumer group, or the embedded log's cursor name
//! flush_interval = "5s"     # an event is in the archive at most this long after it is read
//! max_flush_events = 500000 # a partition's buffer is written once it holds this many records
//! max_flush_size = "128 MiB"
//! row_group_rows = 131072
//! zstd_level = 3
//! check_on_start = "footers" # or "full": read every row of every file at start
//! repair_wait = "10s"
//!
//! [recorder.compaction]
//! enabled = true
//! interval = "10m"          # how often small files are merged
//! target_size = "128 MiB"   # a merged file grows up to about this size
//! grace = "5m"              # merged-away files stay this long for queries already running
//!
//! [recorder.retention]       # absent: the archive keeps everything
//! max_age = "400d"           # days older than this are removed, each removal an event first
//! interval = "1h"
//! ```
//!
//! The binary deserializes [`RecorderConfig`] and calls [`RecorderConfig::settings`]; tests and
//! embedders build [`Settings::new`] directly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

use crate::Error;
use crate::archive::{Check, Encoding};
use crate::compaction::CompactionSettings;
use crate::retention::RetentionSettings;

/// `[recorder]`: where the archive goes and how often it is written.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RecorderConfig {
    /// Whether `blastwall up` starts the recorder beside the proxy.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// The archive's root directory; a relative path is resolved against the data directory.
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// The consumer name: a Kafka consumer group, or the embedded log's cursor.
    #[serde(default = "default_consumer")]
    pub consumer: String,
    /// Buffered records are written at least this often, so a query sees an event within
    /// about this long after it happened.
    #[serde(default = "default_flush_interval", with = "humantime_serde")]
    pub flush_interval: Duration,
    /// A partition's buffer is written as soon as it holds this many records.
    #[serde(default = "default_max_flush_events")]
    pub max_flush_events: usize,
    /// A partition's buffer is written as soon as its records take this many bytes (as read
    /// from the log, JSON).
    #[serde(default = "default_max_flush_size")]
    pub max_flush_size: ByteSize,
    /// Rows per Parquet row group at most.
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
    /// The zstd compression level, 1 (fastest) to 22 (smallest).
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
    /// How much of the archive is read back at start to find damage.
    #[serde(default)]
    pub check_on_start: CheckConfig,
    /// How long rewriting damaged ranges from the log waits for records before it reports the
    /// rest as no longer in the log.
    #[serde(default = "default_repair_wait", with = "humantime_serde")]
    pub repair_wait: Duration,
    /// `[recorder.compaction]`: merging small files.
    #[serde(default)]
    pub compaction: CompactionConfig,
    /// `[recorder.retention]`: removing old days; absent, nothing is ever removed.
    #[serde(default)]
    pub retention: Option<RetentionConfig>,
}

/// `[recorder.retention]`: how long the archive keeps a day.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days that ended longer ago than this are removed.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// How often the running recorder looks for such days.
    #[serde(default = "default_retention_interval", with = "humantime_serde")]
    pub interval: Duration,
}

fn default_retention_interval() -> Duration {
    Duration::from_secs(3600)
}

/// `[recorder.compaction]`: how the running recorder merges a day's small files.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionConfig {
    /// Whether the running recorder compacts at all (`blastwall recorder compact` always can).
    pub enabled: bool,
    /// How often it looks for files to merge.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// A merged file grows up to about this size.
    pub target_size: ByteSize,
    /// Merged-away files stay on disk this long, for queries that listed them before.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        let defaults = CompactionSettings::default();
        CompactionConfig {
            enabled: true,
            interval: defaults.interval,
            target_size: ByteSize::b(defaults.target_size),
            grace: defaults.grace,
        }
    }
}

/// `check_on_start`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConfig {
    /// Every footer, and every row of each partition's newest files.
    #[default]
    Footers,
    /// Every row of every file.
    Full,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            enabled: default_enabled(),
            dir: default_dir(),
            consumer: default_consumer(),
            flush_interval: default_flush_interval(),
            max_flush_events: default_max_flush_events(),
            max_flush_size: default_max_flush_size(),
            row_group_rows: default_row_group_rows(),
            zstd_level: default_zstd_level(),
            check_on_start: CheckConfig::default(),
            repair_wait: default_repair_wait(),
            compaction: CompactionConfig::default(),
            retention: None,
        }
    }
}

/// The recorder's validated settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The archive's root directory.
    pub archive: PathBuf,
    /// The consumer name (group or cursor).
    pub consumer: String,
    /// Buffered records are written at least this often.
    pub flush_interval: Duration,
    /// A partition's buffer is written at this many records.
    pub max_flush_events: usize,
    /// ... or at this many bytes.
    pub max_flush_bytes: u64,
    /// How Parquet is encoded.
    pub encoding: Encoding,
    /// How much the start-up survey reads.
    pub check: Check,
    /// How long a repair read waits for more records.
    pub repair_wait: Duration,
    /// Periodic compaction, unless turned off.
    pub compaction: Option<CompactionSettings>,
    /// Retention, when configured.
    pub retention: Option<RetentionSettings>,
    /// An open session's row in the session index is rewritten at most this often.
    pub session_refresh: Duration,
}

impl Settings {
    /// The defaults of [`RecorderConfig`] with the archive at `archive`.
    pub fn new(archive: impl Into<PathBuf>) -> Self {
        let config = RecorderConfig::default();
        Settings {
            archive: archive.into(),
            consumer: config.consumer,
            flush_interval: config.flush_interval,
            max_flush_events: config.max_flush_events,
            max_flush_bytes: config.max_flush_size.as_u64(),
            encoding: Encoding {
                zstd_level: config.zstd_level,
                row_group_rows: config.row_group_rows,
            },
            check: Check::Footers,
            repair_wait: config.repair_wait,
            compaction: Some(CompactionSettings::default()),
            retention: None,
            session_refresh: crate::sessions::DEFAULT_REFRESH,
        }
    }
}

impl RecorderConfig {
    /// Checks the section and resolves the archive directory against `data_dir`.
    pub fn settings(&self, data_dir: &Path) -> Result<Settings, Error> {
        let refuse = |field, reason: &str| Error::Config {
            field,
            reason: reason.to_owned(),
        };
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if self.consumer.is_empty() || !self.consumer.chars().all(plain) {
            return Err(refuse("consumer", "use 1-128 of A-Z a-z 0-9 . _ -"));
        }
        if self.flush_interval.is_zero() {
            return Err(refuse("flush_interval", "must be more than zero"));
        }
        if self.max_flush_events == 0 || self.row_group_rows == 0 {
            return Err(refuse("max_flush_events", "counts must be at least 1"));
        }
        if !(1..=22).contains(&self.zstd_level) {
            return Err(refuse("zstd_level", "must be between 1 and 22"));
        }
        Ok(Settings {
            archive: data_dir.join(&self.dir),
            consumer: self.consumer.clone(),
            flush_interval: self.flush_interval,
            max_flush_events: self.max_flush_events,
            max_flush_bytes: self.max_flush_size.as_u64().max(1),
            encoding: Encoding {
                zstd_level: self.zstd_level,
                row_group_rows: self.row_group_rows,
            },
            check: match self.check_on_start {
                CheckConfig::Footers => Check::Footers,
                CheckConfig::Full => Check::Full,
            },
            repair_wait: self.repair_wait,
            compaction: self.compaction.settings()?,
            retention: match &self.retention {
                Some(retention) if retention.max_age.is_zero() || retention.interval.is_zero() => {
                    return Err(refuse(
                        "retention",
                        "max_age and interval must be more than zero",
                    ));
                }
                Some(retention) => Some(RetentionSettings {
                    max_age: retention.max_age,
                    interval: retention.interval,
                }),
                None => None,
            },
            session_refresh: crate::sessions::DEFAULT_REFRESH,
        })
    }
}

impl CompactionConfig {
    /// The validated settings; `None` when turned off.
    pub fn settings(&self) -> Result<Option<CompactionSettings>, Error> {
        if self.interval.is_zero() || self.target_size.as_u64() == 0 {
            return Err(Error::Config {
                field: "compaction",
                reason: "interval and target_size must be more than zero".to_owned(),
            });
        }
        Ok(self.enabled.then(|| CompactionSettings {
            target_size: self.target_size.as_u64(),
            grace: self.grace,
            interval: self.interval,
        }))
    }
}

fn default_enabled() -> bool {
    true
}

fn default_dir() -> PathBuf {
    PathBuf::from("archive")
}

fn default_consumer() -> String {
    "recorder".to_owned()
}

fn default_flush_interval() -> Duration {
    Duration::from_secs(5)
}

fn default_max_flush_events() -> usize {
    500_000
}

fn default_max_flush_size() -> ByteSize {
    ByteSize::mib(128)
}

fn default_row_group_rows() -> usize {
    128 * 1024
}

fn default_zstd_level() -> i32 {
    3
}

fn default_repair_wait() -> Duration {
    Duration::from_secs(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_resolve_against_the_data_dir() {
        let settings = RecorderConfig::default()
            .settings(Path::new("/var/lib/blastwall"))
            .expect("defaults are valid");
        assert_eq!(settings.archive, Path::new("/var/lib/blastwall/archive"));
        assert_eq!(settings.flush_interval, Duration::from_secs(5));
        assert_eq!(settings, Settings::new("/var/lib/blastwall/archive"));
    }

    #[test]
    fn nonsense_is_refused_with_the_key() {
        let config = RecorderConfig {
            zstd_level: 40,
            ..RecorderConfig::default()
        };
        let err = config.settings(Path::new("/")).expect_err("refused");
        assert!(err.to_string().contains("zstd_level"), "{err}");
        let config = RecorderConfig {
            consumer: "../x".into(),
            ..RecorderConfig::default()
        };
        assert!(config.settings(Path::new("/")).is_err());
    }
}
