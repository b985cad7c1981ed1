//! `archive.pruned`: the recorder removed a day of the archive under the retention setting.
//!
//! Removing history is itself history: before the recorder deletes a day's files it appends
//! this event (in a session of its own, sealed like any other) and only removes the files once
//! the event is durable in the log, so the archive can never lose a day without a record of
//! who removed it, when and under which rule.
//!
//! Not here: choosing the days and removing them (the recorder's `retention`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Body of `archive.pruned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchivePruned {
    /// The archive table, e.g. `events`.
    pub table: String,
    /// The day removed, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Files removed.
    pub files: u64,
    /// Rows those files held.
    pub rows: u64,
    /// Bytes those files took.
    pub bytes: u64,
    /// The retention rule: days older than this many seconds are removed.
    pub max_age_secs: u64,
}
