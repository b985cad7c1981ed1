//! The archive's `events` table: its Arrow schema, column names, and how a body is stored.
//!
//! The recorder writes one row per event with [`events_schema`]; the query crate reads those
//! rows back, rebuilds each `Event` (with [`decode_body`]) and re-verifies the chain. Column
//! names are constants in [`columns`], so neither crate spells them.
//!
//! Invariants: every envelope member has a column, and `body` holds the body's canonical JSON
//! ([`encode_body`]), so a row carries everything its hash covers. [`decode_body`] accepts only
//! canonical text, so the stored text is exactly what was hashed. The promoted columns
//! (`command_text`, `verdict`, `row_count`, `terminal_data`, `command_reads`,
//! `command_writes`, `command_seq`) are copies of body fields for fast queries, defined by [`Promoted::of`];
//! they are not hashed, so a verifier compares them with `Promoted::of` of the decoded body.
//! New columns are only ever appended, nullable: files written before one was added lack it,
//! and readers take it as null there (a verifier has nothing to compare). Each field carries a
//! `description` in its metadata.
//!
//! Not here: writing Parquet (recorder), partitioning and file naming (recorder), queries (query).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::body::{EventBody, EventKind, UnknownKind, Verdict};
use crate::canonical::{self, CanonicalError};

pub mod sessions;

/// Column names of the `events` table, in schema order.
pub mod columns {
    /// `schema_version`: the event format version.
    pub const SCHEMA_VERSION: &str = "schema_version";
    /// `event_id`: the event's UUIDv7, hyphenated lowercase.
    pub const EVENT_ID: &str = "event_id";
    /// `session_id`: the session's UUID, hyphenated lowercase.
    pub const SESSION_ID: &str = "session_id";
    /// `seq`: position in the session.
    pub const SEQ: &str = "seq";
    /// `time`: when the event happened.
    pub const TIME: &str = "time";
    /// `kind`: the event kind's wire name.
    pub const KIND: &str = "kind";
    /// `actor_subject`: the actor's subject.
    pub const ACTOR_SUBJECT: &str = "actor_subject";
    /// `actor_agents`: the actor's `act` chain, outermost first.
    pub const ACTOR_AGENTS: &str = "actor_agents";
    /// `actor_groups`: the actor's groups.
    pub const ACTOR_GROUPS: &str = "actor_groups";
    /// `actor_issuer`: the actor's token issuer.
    pub const ACTOR_ISSUER: &str = "actor_issuer";
    /// `actor_token_id`: the actor's token id.
    pub const ACTOR_TOKEN_ID: &str = "actor_token_id";
    /// `target_name`: the target's configured name.
    pub const TARGET_NAME: &str = "target_name";
    /// `target_protocol`: the target's protocol.
    pub const TARGET_PROTOCOL: &str = "target_protocol";
    /// `client_addr`: the client's socket address.
    pub const CLIENT_ADDR: &str = "client_addr";
    /// `body`: the body's canonical JSON.
    pub const BODY: &str = "body";
    /// `prev`: the previous event's hash.
    pub const PREV: &str = "prev";
    /// `hash`: this event's hash.
    pub const HASH: &str = "hash";
    /// `seal_key_id`: the sealing key's id.
    pub const SEAL_KEY_ID: &str = "seal_key_id";
    /// `seal_signature`: the seal's signature bytes.
    pub const SEAL_SIGNATURE: &str = "seal_signature";
    /// `command_text`: promoted from `command.received`.
    pub const COMMAND_TEXT: &str = "command_text";
    /// `verdict`: promoted from `policy.decided`.
    pub const VERDICT: &str = "verdict";
    /// `row_count`: promoted from `result.returned`.
    pub const ROW_COUNT: &str = "row_count";
    /// `terminal_data`: promoted from `terminal.output` and `terminal.input`.
    pub const TERMINAL_DATA: &str = "terminal_data";
    /// `command_reads`: promoted from `command.received` `summary.reads`.
    pub const COMMAND_READS: &str = "command_reads";
    /// `command_writes`: promoted from `command.received` `summary.writes`.
    pub const COMMAND_WRITES: &str = "command_writes";
    /// `command_seq`: promoted from `policy.decided`, `approval.requested`, `result.returned`.
    pub const COMMAND_SEQ: &str = "command_seq";
}

/// The metadata key under which each field's description is stored.
pub const DESCRIPTION_KEY: &str = "description";

/// The Arrow schema of the archive's `events` table.
pub fn events_schema() -> SchemaRef {
    use columns::*;
    let list_of_text = || DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    let digest = DataType::FixedSizeBinary(32);
    Arc::new(Schema::new(vec![
        field(
            SCHEMA_VERSION,
            DataType::UInt16,
            false,
            "Event format version (SCHEMA_VERSION).",
        ),
        field(
            EVENT_ID,
            DataType::Utf8,
            false,
            "The event's UUIDv7, hyphenated lowercase.",
        ),
        field(
            SESSION_ID,
            DataType::Utf8,
            false,
            "The session's UUID, hyphenated lowercase.",
        ),
        field(
            SEQ,
            DataType::UInt64,
            false,
            "Position in the session: 0, 1, 2, ... without gaps.",
        ),
        field(
            TIME,
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
            "When the event happened, UTC nanoseconds.",
        ),
        field(
            KIND,
            DataType::Utf8,
            false,
            "The event kind, e.g. command.received.",
        ),
        field(
            ACTOR_SUBJECT,
            DataType::Utf8,
            false,
            "The actor's subject (token sub).",
        ),
        field(
            ACTOR_AGENTS,
            list_of_text(),
            false,
            "The RFC 8693 act chain, outermost first (items are never null).",
        ),
        field(
            ACTOR_GROUPS,
            list_of_text(),
            false,
            "The actor's groups (items are never null).",
        ),
        field(
            ACTOR_ISSUER,
            DataType::Utf8,
            false,
            "The token issuer; empty if unauthenticated.",
        ),
        field(
            ACTOR_TOKEN_ID,
            DataType::Utf8,
            true,
            "The token id (jti), if any.",
        ),
        field(
            TARGET_NAME,
            DataType::Utf8,
            false,
            "The target's configured name.",
        ),
        field(
            TARGET_PROTOCOL,
            DataType::Utf8,
            false,
            "postgres, ssh, kubernetes or http.",
        ),
        field(
            CLIENT_ADDR,
            DataType::Utf8,
            true,
            "The client's socket address as text.",
        ),
        field(
            BODY,
            DataType::Utf8,
            false,
            "The body as RFC 8785 canonical JSON: with the other columns, everything hashed.",
        ),
        field(
            PREV,
            digest.clone(),
            true,
            "SHA-256 of the previous event; null at seq 0.",
        ),
        field(
            HASH,
            digest,
            false,
            "SHA-256 of this event's canonical encoding.",
        ),
        field(
            SEAL_KEY_ID,
            DataType::Utf8,
            true,
            "Id of the key that sealed session.ended.",
        ),
        field(
            SEAL_SIGNATURE,
            DataType::Binary,
            true,
            "The 64-byte Ed25519 seal signature.",
        ),
        field(
            COMMAND_TEXT,
            DataType::Utf8,
            true,
            "Promoted: command.received text.",
        ),
        field(
            VERDICT,
            DataType::Utf8,
            true,
            "Promoted: policy.decided verdict.",
        ),
        field(
            ROW_COUNT,
            DataType::UInt64,
            true,
            "Promoted: result.returned row_count.",
        ),
        field(
            TERMINAL_DATA,
            DataType::Binary,
            true,
            "Promoted: terminal.output and terminal.input bytes.",
        ),
        field(
            COMMAND_READS,
            list_of_text(),
            true,
            "Promoted: command.received summary.reads (null without a summary; absent from files written before it).",
        ),
        field(
            COMMAND_WRITES,
            list_of_text(),
            true,
            "Promoted: command.received summary.writes (null without a summary; absent from files written before it).",
        ),
        field(
            COMMAND_SEQ,
            DataType::UInt64,
            true,
            "Promoted: the seq of the command a policy.decided, approval.requested or result.returned answers (absent from files written before it).",
        ),
    ]))
}

fn field(name: &str, data_type: DataType, nullable: bool, description: &str) -> Field {
    Field::new(name, data_type, nullable).with_metadata(HashMap::from([(
        DESCRIPTION_KEY.to_owned(),
        description.to_owned(),
    )]))
}

/// The promoted columns' values for one body: `None` where the kind has no such field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Promoted<'a> {
    /// `command_text`: the text of a `command.received`.
    pub command_text: Option<&'a str>,
    /// `verdict`: the verdict of a `policy.decided` (stored as [`Verdict::as_str`]).
    pub verdict: Option<Verdict>,
    /// `row_count`: the row count of a `result.returned`.
    pub row_count: Option<u64>,
    /// `terminal_data`: the bytes of a `terminal.output` or `terminal.input`.
    pub terminal_data: Option<&'a [u8]>,
    /// `command_reads`: the objects a `command.received` reads, when it has a summary.
    pub command_reads: Option<&'a [String]>,
    /// `command_writes`: the objects a `command.received` writes, when it has a summary.
    pub command_writes: Option<&'a [String]>,
    /// `command_seq`: the command a `policy.decided`, `approval.requested` or
    /// `result.returned` answers.
    pub command_seq: Option<u64>,
}

impl<'a> Promoted<'a> {
    /// The promoted values of `body`.
    pub fn of(body: &'a EventBody) -> Self {
        let mut promoted = Promoted::default();
        match body {
            EventBody::CommandReceived(command) => {
                promoted.command_text = Some(&command.text);
                if let Some(summary) = &command.summary {
                    promoted.command_reads = Some(&summary.reads);
                    promoted.command_writes = Some(&summary.writes);
                }
            }
            EventBody::PolicyDecided(decision) => {
                promoted.verdict = Some(decision.verdict);
                promoted.command_seq = Some(decision.command_seq);
            }
            EventBody::ApprovalRequested(request) => {
                promoted.command_seq = Some(request.command_seq)
            }
            EventBody::ResultReturned(result) => {
                promoted.row_count = Some(result.row_count);
                promoted.command_seq = Some(result.command_seq);
            }
            EventBody::TerminalOutput(data) | EventBody::TerminalInput(data) => {
                promoted.terminal_data = Some(&data.data);
            }
            _ => {}
        }
        promoted
    }
}

/// Why a `kind` and `body` column pair is not a valid body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyColumnError {
    /// The kind is not one this version knows.
    #[error(transparent)]
    UnknownKind(#[from] UnknownKind),
    /// The text is not a body of that kind.
    #[error("not a {kind} body: {error}")]
    Invalid {
        /// The kind.
        kind: EventKind,
        /// What deserialization reported.
        error: serde_json::Error,
    },
    /// The text is a valid body but not in canonical form, so it is not what was hashed.
    #[error("the {kind} body is not in canonical form")]
    NotCanonical {
        /// The kind.
        kind: EventKind,
    },
    /// The body has no canonical encoding.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
}

/// The `body` column's value: the body's canonical JSON, without its kind.
pub fn encode_body(body: &EventBody) -> Result<String, CanonicalError> {
    // `{"body":…,"kind":…}` without `kind` is `{"body":…}`: the content is what lies inside.
    let mut text = canonical::to_canonical_text(body, &["kind"])?;
    const OPENING: &str = "{\"body\":";
    if !(text.starts_with(OPENING) && text.ends_with('}')) {
        return Err(CanonicalError::NotJson {
            reason: "a body serialized without its content".to_owned(),
        });
    }
    text.truncate(text.len() - 1);
    text.drain(..OPENING.len());
    Ok(text)
}

/// Rebuilds a body from the `kind` and `body` columns, requiring the text to be canonical.
pub fn decode_body(kind: &str, body_json: &str) -> Result<EventBody, BodyColumnError> {
    let kind: EventKind = kind.parse()?;
    let content: serde_json::Value = serde_json::from_str(body_json)
        .map_err(|error| BodyColumnError::Invalid { kind, error })?;
    let tagged = serde_json::json!({ "kind": kind.as_str(), "body": content });
    let body: EventBody =
        serde_json::from_value(tagged).map_err(|error| BodyColumnError::Invalid { kind, error })?;
    if encode_body(&body)? != body_json {
        return Err(BodyColumnError::NotCanonical { kind });
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
