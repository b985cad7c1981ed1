//! The query crate's error: what went wrong reading or querying the archive.

use std::path::PathBuf;

/// Why a forensic operation failed (a finding of `verify` is not an error: it is its result).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// DataFusion refused or failed a query.
    #[error("query failed: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    /// Arrow failed converting or formatting rows.
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// A file of the archive could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A column is missing or of the wrong type: the files are not the archive's schema.
    #[error("column {column}: {reason}")]
    Column {
        /// The column.
        column: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No event of the session is in the archive.
    #[error("session {0} is not in the archive")]
    UnknownSession(String),
    /// An argument the caller gave is not usable.
    #[error("{0}")]
    Invalid(String),
    /// A bug: something that cannot happen did (never caused by the archive's contents).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// Writing output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn read(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Error::Read {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
