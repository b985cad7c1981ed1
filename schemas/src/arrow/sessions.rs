//! The archive's `sessions` table (the session index): one row per session snapshot.
//!
//! The recorder writes these rows to `ARCHIVE/sessions/part-<partition>-<first>-<last>.parquet`
//! when a session ends and, for long sessions, periodically while it runs; the query crate
//! reads them as the `sessions` table. A session may have several rows (snapshots) across
//! files; **the row with the most `events` supersedes the others** (for equal counts, an ended
//! row supersedes an open one). Readers apply that rule, so a session is never seen twice;
//! files are written whole (temporary name, fsync, rename), so a reader never sees half a file.
//!
//! The row is [`crate::summary::SessionSummary`]; the hash chain in `events` stays the
//! authority: the index is derived from it and never verified on its own.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::field;

/// Column names of the `sessions` table, in schema order.
pub mod columns {
    /// `session_id`: the session's UUID.
    pub const SESSION_ID: &str = "session_id";
    /// `human`: the token subject.
    pub const HUMAN: &str = "human";
    /// `agent`: the outermost agent acting for the human, if any.
    pub const AGENT: &str = "agent";
    /// `agents`: the whole act chain, outermost first.
    pub const AGENTS: &str = "agents";
    /// `groups`: the actor's groups.
    pub const GROUPS: &str = "groups";
    /// `target`: the target's name.
    pub const TARGET: &str = "target";
    /// `protocol`: the target's protocol.
    pub const PROTOCOL: &str = "protocol";
    /// `client_addr`: the client's address.
    pub const CLIENT_ADDR: &str = "client_addr";
    /// `started`: the first event's time.
    pub const STARTED: &str = "started";
    /// `ended`: the time of session.ended; null while open.
    pub const ENDED: &str = "ended";
    /// `last_event`: the latest event's time.
    pub const LAST_EVENT: &str = "last_event";
    /// `events`: events in the session so far; the supersede key.
    pub const EVENTS: &str = "events";
    /// `commands`: command.received count.
    pub const COMMANDS: &str = "commands";
    /// `blocked`: commands refused.
    pub const BLOCKED: &str = "blocked";
    /// `held`: commands held for approval.
    pub const HELD: &str = "held";
    /// `approved`: held commands approved.
    pub const APPROVED: &str = "approved";
    /// `masked_values`: result cells masked.
    pub const MASKED_VALUES: &str = "masked_values";
    /// `bytes`: client bytes in and out.
    pub const BYTES: &str = "bytes";
    /// `end_reason`: why the session ended.
    pub const END_REASON: &str = "end_reason";
    /// `final_hash`: the hash of the latest event.
    pub const FINAL_HASH: &str = "final_hash";
    /// `seal_key_id`: the key that sealed session.ended.
    pub const SEAL_KEY_ID: &str = "seal_key_id";
    /// `seal_signature`: the seal's signature.
    pub const SEAL_SIGNATURE: &str = "seal_signature";
}

/// The Arrow schema of the archive's `sessions` table.
pub fn sessions_schema() -> SchemaRef {
    use columns::*;
    let list_of_text = || DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    let time = || DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let count = |name, description| field(name, DataType::UInt64, false, description);
    Arc::new(Schema::new(vec![
        field(SESSION_ID, DataType::Utf8, false, "The session's UUID."),
        field(
            HUMAN,
            DataType::Utf8,
            false,
            "The human: the token subject.",
        ),
        field(
            AGENT,
            DataType::Utf8,
            true,
            "The outermost agent acting for the human.",
        ),
        field(
            AGENTS,
            list_of_text(),
            false,
            "The act chain, outermost first.",
        ),
        field(GROUPS, list_of_text(), false, "The actor's groups."),
        field(
            TARGET,
            DataType::Utf8,
            false,
            "The target's configured name.",
        ),
        field(
            PROTOCOL,
            DataType::Utf8,
            false,
            "postgres, ssh, kubernetes or http.",
        ),
        field(
            CLIENT_ADDR,
            DataType::Utf8,
            true,
            "The client's socket address.",
        ),
        field(STARTED, time(), false, "The first event's time."),
        field(
            ENDED,
            time(),
            true,
            "When session.ended happened; null while open.",
        ),
        field(LAST_EVENT, time(), false, "The latest event's time."),
        count(
            EVENTS,
            "Events so far; among a session's rows the largest supersedes.",
        ),
        count(COMMANDS, "command.received events."),
        count(
            BLOCKED,
            "Commands refused by policy or by a denied or expired approval.",
        ),
        count(HELD, "Commands held for approval."),
        count(APPROVED, "Held commands approved."),
        count(MASKED_VALUES, "Result cells masked by the proxy."),
        count(
            BYTES,
            "Client bytes in and out (terminal bytes while open).",
        ),
        field(END_REASON, DataType::Utf8, true, "Why the session ended."),
        field(
            FINAL_HASH,
            DataType::FixedSizeBinary(32),
            false,
            "The latest event's hash.",
        ),
        field(
            SEAL_KEY_ID,
            DataType::Utf8,
            true,
            "The key that sealed session.ended.",
        ),
        field(
            SEAL_SIGNATURE,
            DataType::Binary,
            true,
            "The seal's 64-byte signature.",
        ),
    ]))
}
