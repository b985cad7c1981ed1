//! The recorder's error type, classified by fault.
//!
//! Environment faults (a directory that cannot be written, an event log that fails) are
//! surfaced to whoever runs the recorder, which stops without committing anything it has not
//! made durable: on restart it resumes from the archive. A configuration that cannot work is
//! refused before anything starts. An archive holding something the recorder cannot explain
//! (two files covering the same offsets) stops it too: writing on would hide the problem.
//! Undecodable records are not errors at all: they are quarantined (see `encode`).

use std::path::PathBuf;

/// What went wrong in the recorder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory of the archive could not be read or written (environment).
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "renaming".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The event log failed (environment).
    #[error("event log: {0}")]
    Log(#[from] eventlog::Error),

    /// The configuration cannot describe a working recorder.
    #[error("invalid recorder configuration: {field}: {reason}")]
    Config {
        /// The offending key of `[recorder]`.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },

    /// Two files of the archive cover the same log offsets: the archive was changed by
    /// something other than this recorder, or a second recorder writes the same partition.
    #[error(
        "the archive holds offsets of partition {partition} twice: {first} and {second} overlap"
    )]
    Overlap {
        /// The log partition.
        partition: u32,
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },

    /// Another process holds the archive's lock for this work.
    #[error("another {what} is running on this archive (it holds {path})")]
    Busy {
        /// The work, e.g. "compaction".
        what: &'static str,
        /// The lock file.
        path: PathBuf,
    },

    /// Building Arrow arrays or Parquet bytes failed: a bug, not bad input.
    #[error("internal error while encoding {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's message.
        reason: String,
    },

    /// A background task of the recorder panicked or was cancelled: a bug.
    #[error("internal error: the {task} task failed: {reason}")]
    Task {
        /// Which task.
        task: &'static str,
        /// What the runtime reported.
        reason: String,
    },
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

    pub(crate) fn encode(what: &'static str, reason: impl ToString) -> Self {
        Error::Encode {
            what,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn task(task: &'static str, error: tokio::task::JoinError) -> Self {
        Error::Task {
            task,
            reason: error.to_string(),
        }
    }
}
