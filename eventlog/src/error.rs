//! The one error type of the event log.
//!
//! Errors are classified by what the caller can do about them: a damaged log on disk names the
//! file and the byte offset so an operator can look; an unreachable broker is an environment
//! fault the proxy turns into a refusal (in `strict` mode) or rides out (the spool).

use std::path::PathBuf;

use crate::Stream;

/// What went wrong in the event log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file of the log could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "writing segment".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A segment holds bytes that are not a valid record where a record must be.
    #[error("corrupt segment {path} at byte {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the damaged record's frame within the file.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// Records are missing between two segments: a segment file was deleted or truncated.
    #[error("missing records {first}..={last} of stream {stream}: expected them before {path}")]
    MissingRecords {
        /// The stream.
        stream: Stream,
        /// First missing offset.
        first: u64,
        /// Last missing offset.
        last: u64,
        /// The segment that should have followed them.
        path: PathBuf,
    },

    /// Another process holds the log's writer lock.
    #[error("the event log at {path} is already open for writing by another process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },

    /// The log's writer stopped after an unrecoverable error; appends are refused.
    #[error("the event log writer for stream {stream} has stopped: {reason}")]
    WriterStopped {
        /// The stream.
        stream: Stream,
        /// Why it stopped.
        reason: String,
    },

    /// A single record is larger than a segment may hold.
    #[error("record of {size} bytes exceeds the limit of {limit} bytes")]
    RecordTooLarge {
        /// The record's encoded size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },

    /// A consumer name that cannot name a cursor file or a consumer group.
    #[error(
        "invalid consumer name {name:?}: use 1-128 of A-Z a-z 0-9 . _ -, not starting with '.'"
    )]
    InvalidConsumer {
        /// The rejected name.
        name: String,
    },

    /// The spool in front of Kafka is full and configured to refuse new records.
    #[error(
        "the event spool holds {pending_bytes} bytes not yet in Kafka (limit {limit}); refusing new events"
    )]
    SpoolFull {
        /// Bytes waiting to be forwarded.
        pending_bytes: u64,
        /// The configured limit.
        limit: u64,
    },

    /// Kafka did not acknowledge a `strict` append in time.
    #[error("Kafka did not acknowledge the events within {waited:?}")]
    NotReplicated {
        /// How long the append waited.
        waited: std::time::Duration,
    },

    /// Kafka refused or failed an operation.
    #[error("kafka {action}: {source}")]
    Kafka {
        /// What was being done.
        action: &'static str,
        /// The client's error.
        source: rdkafka::error::KafkaError,
    },

    /// The configuration cannot describe a working log.
    #[error("invalid event log configuration: {0}")]
    Config(String),
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn kafka(action: &'static str, source: rdkafka::error::KafkaError) -> Self {
        Error::Kafka { action, source }
    }
}
