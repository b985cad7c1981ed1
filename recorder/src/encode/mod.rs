//! From log records to Arrow rows: decoding each record, and the two tables' batches.
//!
//! The flush (`flush`) hands every record of a range here: a record that decodes as a
//! [`schemas::Event`] of this [`schemas::SCHEMA_VERSION`] becomes a row of the `events` table
//! ([`events`]); anything else — garbage, JSON that is not an event, an event of an unknown
//! future schema version — becomes a row of the `quarantine` table ([`quarantine`]), with its
//! key and value byte for byte and the reason. So every record of the log lands in exactly one
//! row of one table: nothing is dropped for being unreadable.
//!
//! Invariants: decoding is strict (unknown members are refused, as `schemas` does), the body
//! column is the body's canonical JSON (`schemas::arrow::encode_body`), and an event whose body
//! has no canonical encoding is quarantined rather than stored in a form that was not hashed.
//!
//! Not here: Parquet files (`archive::write`), the choice of what goes in one file (`flush`).

pub mod events;
pub mod quarantine;

use std::fmt;

use eventlog::Entry;
use schemas::{Event, SCHEMA_VERSION};

/// Why a record of the log is not an event this version can archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The value is not JSON at all (or not UTF-8).
    NotJson {
        /// The parser's message.
        detail: String,
    },
    /// The value is an event of a schema version this recorder does not know.
    UnknownSchemaVersion {
        /// The version the record claims.
        version: u64,
    },
    /// The value is JSON but not a valid event (a missing member, an unknown kind, ...).
    NotAnEvent {
        /// What decoding reported.
        detail: String,
    },
}

impl Rejection {
    /// A short stable name of the reason, stored in the `reason` column.
    pub const fn code(&self) -> &'static str {
        match self {
            Rejection::NotJson { .. } => "not_json",
            Rejection::UnknownSchemaVersion { .. } => "unknown_schema_version",
            Rejection::NotAnEvent { .. } => "not_an_event",
        }
    }

    /// The version the record claims, when it claims one this recorder does not know.
    pub const fn version(&self) -> Option<u64> {
        match self {
            Rejection::UnknownSchemaVersion { version } => Some(*version),
            _ => None,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotJson { detail } => write!(f, "not JSON: {detail}"),
            Rejection::UnknownSchemaVersion { version } => write!(
                f,
                "schema version {version} is unknown to this recorder (it reads {SCHEMA_VERSION})"
            ),
            Rejection::NotAnEvent { detail } => write!(f, "not an event: {detail}"),
        }
    }
}

/// An event ready to be a row: the event and its body's canonical JSON.
#[derive(Debug)]
pub struct EventRow {
    /// The decoded event.
    pub event: Event,
    /// The `body` column: the body's canonical JSON.
    pub body: String,
}

/// A record of the log: decoded as an event, or rejected with its reason.
#[derive(Debug)]
pub enum Decoded {
    /// An event of this schema version.
    Event(Box<EventRow>),
    /// Anything else; archived in the quarantine table.
    Rejected(Rejection),
}

/// Decodes one record of the events stream.
pub fn decode(entry: &Entry) -> Decoded {
    match serde_json::from_slice::<Event>(&entry.value) {
        Ok(event) if event.schema_version == SCHEMA_VERSION => {
            match schemas::arrow::encode_body(&event.body) {
                Ok(body) => Decoded::Event(Box::new(EventRow { event, body })),
                Err(error) => Decoded::Rejected(Rejection::NotAnEvent {
                    detail: format!("the body has no canonical encoding: {error}"),
                }),
            }
        }
        Ok(event) => Decoded::Rejected(Rejection::UnknownSchemaVersion {
            version: u64::from(event.schema_version),
        }),
        Err(error) => Decoded::Rejected(classify(&entry.value, error)),
    }
}

/// Why a value that did not decode as an event was refused: an unknown schema version is told
/// apart from damage, so that a newer producer's events are recognisable in the quarantine.
fn classify(value: &[u8], error: serde_json::Error) -> Rejection {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(value) else {
        return Rejection::NotJson {
            detail: error.to_string(),
        };
    };
    match json
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(version) if version != u64::from(SCHEMA_VERSION) => {
            Rejection::UnknownSchemaVersion { version }
        }
        _ => Rejection::NotAnEvent {
            detail: error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
