//! Archive rows back to events: an `events` batch → [`schemas::Event`]s, row by row.
//!
//! `verify` and `replay` call this on batches read from Parquet (directly, or through
//! DataFusion, which may hand strings back as views: every column is cast to the schema's type
//! first). Invariants: a row becomes exactly the event that was hashed (the body must be
//! canonical, `schemas::arrow::decode_body`); a row that cannot become an event, or whose
//! promoted columns disagree with its body, is returned as a [`RowProblem`] rather than
//! silently repaired, because either means the file was altered.

use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, UInt16Type, UInt64Type};
use schemas::arrow::{Promoted, columns, decode_body};
use schemas::{Actor, Digest, Event, Protocol, Seal, Target, Timestamp};
use uuid::Uuid;

use crate::Error;

/// A row that is not a sound event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// The session the row names, if readable.
    pub session_id: Option<Uuid>,
    /// The seq the row names.
    pub seq: u64,
    /// What is wrong.
    pub reason: String,
}

/// One row: an event, or why it is not one.
pub type RowEvent = Result<Event, RowProblem>;

/// The columns of an `events` batch, cast to the schema's types.
pub(crate) struct Columns {
    pub(crate) schema_version: ArrayRef,
    pub(crate) event_id: ArrayRef,
    pub(crate) session_id: ArrayRef,
    pub(crate) seq: ArrayRef,
    pub(crate) time: ArrayRef,
    pub(crate) kind: ArrayRef,
    pub(crate) actor_subject: ArrayRef,
    pub(crate) actor_agents: ArrayRef,
    pub(crate) actor_groups: ArrayRef,
    pub(crate) actor_issuer: ArrayRef,
    pub(crate) actor_token_id: ArrayRef,
    pub(crate) target_name: ArrayRef,
    pub(crate) target_protocol: ArrayRef,
    pub(crate) client_addr: ArrayRef,
    pub(crate) body: ArrayRef,
    pub(crate) prev: ArrayRef,
    pub(crate) hash: ArrayRef,
    pub(crate) seal_key_id: ArrayRef,
    pub(crate) seal_signature: ArrayRef,
    pub(crate) command_text: ArrayRef,
    pub(crate) verdict: ArrayRef,
    pub(crate) row_count: ArrayRef,
    pub(crate) terminal_data: ArrayRef,
    /// `None` in files written before the column was added.
    pub(crate) command_reads: Option<ArrayRef>,
    /// `None` in files written before the column was added.
    pub(crate) command_writes: Option<ArrayRef>,
    /// `None` in files written before the column was added.
    pub(crate) command_seq: Option<ArrayRef>,
}

fn column(batch: &RecordBatch, name: &'static str, to: &DataType) -> Result<ArrayRef, Error> {
    let found = batch.column_by_name(name).ok_or(Error::Column {
        column: name,
        reason: "missing".into(),
    })?;
    if found.data_type() == to {
        return Ok(Arc::clone(found));
    }
    cast(found, to).map_err(|e| Error::Column {
        column: name,
        reason: e.to_string(),
    })
}

/// A column appended to the schema later: absent from older files.
fn optional(
    batch: &RecordBatch,
    name: &'static str,
    to: &DataType,
) -> Result<Option<ArrayRef>, Error> {
    match batch.column_by_name(name) {
        Some(_) => column(batch, name, to).map(Some),
        None => Ok(None),
    }
}

impl Columns {
    /// The columns of `batch`, cast where the reader handed another type.
    pub(crate) fn of(batch: &RecordBatch) -> Result<Self, Error> {
        use columns::*;
        let text = DataType::Utf8;
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
        let digest = DataType::FixedSizeBinary(32);
        Ok(Columns {
            schema_version: column(batch, SCHEMA_VERSION, &DataType::UInt16)?,
            event_id: column(batch, EVENT_ID, &text)?,
            session_id: column(batch, SESSION_ID, &text)?,
            seq: column(batch, SEQ, &DataType::UInt64)?,
            time: column(batch, TIME, &DataType::Int64)?,
            kind: column(batch, KIND, &text)?,
            actor_subject: column(batch, ACTOR_SUBJECT, &text)?,
            actor_agents: column(batch, ACTOR_AGENTS, &list)?,
            actor_groups: column(batch, ACTOR_GROUPS, &list)?,
            actor_issuer: column(batch, ACTOR_ISSUER, &text)?,
            actor_token_id: column(batch, ACTOR_TOKEN_ID, &text)?,
            target_name: column(batch, TARGET_NAME, &text)?,
            target_protocol: column(batch, TARGET_PROTOCOL, &text)?,
            client_addr: column(batch, CLIENT_ADDR, &text)?,
            body: column(batch, BODY, &text)?,
            prev: column(batch, PREV, &digest)?,
            hash: column(batch, HASH, &digest)?,
            seal_key_id: column(batch, SEAL_KEY_ID, &text)?,
            seal_signature: column(batch, SEAL_SIGNATURE, &DataType::Binary)?,
            command_text: column(batch, COMMAND_TEXT, &text)?,
            verdict: column(batch, VERDICT, &text)?,
            row_count: column(batch, ROW_COUNT, &DataType::UInt64)?,
            terminal_data: column(batch, TERMINAL_DATA, &DataType::Binary)?,
            command_reads: optional(batch, COMMAND_READS, &list)?,
            command_writes: optional(batch, COMMAND_WRITES, &list)?,
            command_seq: optional(batch, COMMAND_SEQ, &DataType::UInt64)?,
        })
    }
}

pub(crate) fn opt_text(array: &ArrayRef, row: usize) -> Option<&str> {
    let strings = array.as_string::<i32>();
    (!strings.is_null(row)).then(|| strings.value(row))
}

pub(crate) fn text(array: &ArrayRef, row: usize) -> &str {
    opt_text(array, row).unwrap_or_default()
}

fn list(array: &ArrayRef, row: usize) -> Vec<String> {
    let lists = array.as_list::<i32>();
    if lists.is_null(row) {
        return Vec::new();
    }
    let items = lists.value(row);
    let items = items.as_string::<i32>();
    (0..items.len())
        .map(|i| items.value(i).to_owned())
        .collect()
}

pub(crate) fn digest(array: &ArrayRef, row: usize) -> Option<Digest> {
    let bytes = array.as_fixed_size_binary();
    if bytes.is_null(row) {
        return None;
    }
    <[u8; 32]>::try_from(bytes.value(row))
        .ok()
        .map(Digest::from_bytes)
}

/// The events of `batch`, one entry per row, in row order.
pub fn events(batch: &RecordBatch) -> Result<Vec<RowEvent>, Error> {
    let columns = Columns::of(batch)?;
    Ok((0..batch.num_rows())
        .map(|row| event(&columns, row))
        .collect())
}

/// Row `row` as an event, decoding and checking every column.
pub(crate) fn event(c: &Columns, row: usize) -> RowEvent {
    let seq = c.seq.as_primitive::<UInt64Type>().value(row);
    let session_id = Uuid::from_str(text(&c.session_id, row)).ok();
    let problem = |reason: String| RowProblem {
        session_id,
        seq,
        reason,
    };
    let session = session_id.ok_or_else(|| problem("the session_id is not a UUID".into()))?;
    let id = Uuid::from_str(text(&c.event_id, row))
        .map_err(|_| problem("the event_id is not a UUID".into()))?;
    let kind = text(&c.kind, row);
    let body = decode_body(kind, text(&c.body, row))
        .map_err(|e| problem(format!("the body column was altered: {e}")))?;
    let protocol = Protocol::from_str(text(&c.target_protocol, row))
        .map_err(|e| problem(format!("target_protocol: {e}")))?;
    let hash = digest(&c.hash, row).ok_or_else(|| problem("the hash is missing".into()))?;
    let seal = match opt_text(&c.seal_key_id, row) {
        None => None,
        Some(key_id) => {
            let signatures = c.seal_signature.as_binary::<i32>();
            let signature = if signatures.is_null(row) {
                &[][..]
            } else {
                signatures.value(row)
            };
            let json = serde_json::json!({
                "key_id": key_id,
                "signature": base64_encode(signature),
            });
            Some(
                serde_json::from_value::<Seal>(json)
                    .map_err(|e| problem(format!("the seal is malformed: {e}")))?,
            )
        }
    };
    let event = Event {
        schema_version: c.schema_version.as_primitive::<UInt16Type>().value(row),
        id,
        session_id: session,
        seq,
        time: Timestamp::from_unix_nanos(c.time.as_primitive::<Int64Type>().value(row)),
        actor: Actor {
            subject: text(&c.actor_subject, row).to_owned(),
            agents: list(&c.actor_agents, row),
            groups: list(&c.actor_groups, row),
            issuer: text(&c.actor_issuer, row).to_owned(),
            token_id: opt_text(&c.actor_token_id, row).map(str::to_owned),
        },
        target: Target {
            name: text(&c.target_name, row).to_owned(),
            protocol,
        },
        client_addr: opt_text(&c.client_addr, row).map(str::to_owned),
        body,
        prev: digest(&c.prev, row),
        hash,
        seal,
    };
    check_promoted(c, row, &event).map_err(problem)?;
    Ok(event)
}

/// The promoted columns must be copies of the body's fields (they are not hashed).
fn check_promoted(c: &Columns, row: usize, event: &Event) -> Result<(), String> {
    let promoted = Promoted::of(&event.body);
    let row_counts = c.row_count.as_primitive::<UInt64Type>();
    let row_count = (!row_counts.is_null(row)).then(|| row_counts.value(row));
    let terminal = c.terminal_data.as_binary::<i32>();
    let terminal = (!terminal.is_null(row)).then(|| terminal.value(row));
    let mismatched = if opt_text(&c.command_text, row) != promoted.command_text {
        Some(columns::COMMAND_TEXT)
    } else if opt_text(&c.verdict, row) != promoted.verdict.map(|v| v.as_str()) {
        Some(columns::VERDICT)
    } else if row_count != promoted.row_count {
        Some(columns::ROW_COUNT)
    } else if terminal != promoted.terminal_data {
        Some(columns::TERMINAL_DATA)
    } else if !list_matches(c.command_reads.as_ref(), row, promoted.command_reads) {
        Some(columns::COMMAND_READS)
    } else if !list_matches(c.command_writes.as_ref(), row, promoted.command_writes) {
        Some(columns::COMMAND_WRITES)
    } else if c.command_seq.as_ref().is_some_and(|seqs| {
        let seqs = seqs.as_primitive::<UInt64Type>();
        (!seqs.is_null(row)).then(|| seqs.value(row)) != promoted.command_seq
    }) {
        Some(columns::COMMAND_SEQ)
    } else {
        None
    };
    match mismatched {
        Some(name) => Err(format!(
            "the {name} column was altered: it differs from the hashed body"
        )),
        None => Ok(()),
    }
}

/// Whether a list column's cell holds exactly `expected` (null for `None`); a file without
/// the column has nothing to compare.
fn list_matches(array: Option<&ArrayRef>, row: usize, expected: Option<&[String]>) -> bool {
    let Some(array) = array else {
        return true;
    };
    let lists = array.as_list::<i32>();
    match expected {
        None => lists.is_null(row),
        Some(expected) => {
            if lists.is_null(row) {
                return false;
            }
            let items = lists.value(row);
            let items = items.as_string::<i32>();
            items.len() == expected.len()
                && expected
                    .iter()
                    .enumerate()
                    .all(|(i, item)| !items.is_null(i) && items.value(i) == item)
        }
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
