//! `result.returned`: what came back for a command, after masking.
//!
//! The proxy emits it when a command completes (Postgres `CommandComplete` or
//! `ErrorResponse`, SSH exit status, HTTP response), naming the command by `command_seq`.
//!
//! Invariants: `rows` are already masked — unmaskable values are withheld by the proxy, never
//! passed through; `rows` may be a prefix (`truncated`) while `row_count` counts every row the
//! upstream returned. Durations are integer nanoseconds: events carry no floats, so that the
//! canonical encoding is exact.
//!
//! Not here: masking (proxy `masking/`), terminal output of SSH sessions (`terminal`).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Body of `result.returned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultReturned {
    /// The `seq` of the `command.received` event this result answers.
    pub command_seq: u64,
    /// The completion tag (`SELECT 3`, `DELETE 1`), an exit status or an HTTP status line.
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub command_tag: Option<String>,
    /// The result's columns, in order; empty for commands that return no rows.
    pub columns: Vec<Column>,
    /// The recorded rows, masked, as text; `None` is SQL NULL.
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows the upstream returned in total (may exceed `rows.len()` when `truncated`).
    pub row_count: u64,
    /// Whether `rows` holds only a prefix of the rows returned.
    pub truncated: bool,
    /// From forwarding the command to its completion, in nanoseconds.
    pub duration_ns: u64,
    /// The error the upstream reported, if the command failed.
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub error: Option<ResultError>,
    /// What masking did, per column and cause (rule strategy or detector); absent when
    /// nothing was masked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<MaskCount>,
}

impl ResultReturned {
    /// [`ResultReturned::duration_ns`] as a `Duration`.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.duration_ns)
    }
}

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// The column name as the upstream reported it.
    pub name: String,
    /// The upstream's type name, e.g. `int4`, `text`, `timestamptz`.
    pub type_name: String,
}

/// How many values of one column one cause masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskCount {
    /// The column name as the upstream reported it.
    pub column: String,
    /// `rule:<strategy>` (`rule:hash`, `rule:redact`, ...), `detector:<name>`
    /// (`detector:email`, ...) or `withheld` (replaced by NULL: not rewritable safely).
    pub masked_by: String,
    /// Values (or, for detectors, occurrences) masked.
    pub values: u64,
}

/// An error reported by the upstream for one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultError {
    /// The upstream's code: a SQLSTATE, an exit status, an HTTP status.
    pub code: String,
    /// The upstream's message.
    pub message: String,
}
