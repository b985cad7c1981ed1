//! Rows of the `events` table: decoded events as an Arrow [`RecordBatch`] of
//! [`schemas::arrow::events_schema`].
//!
//! Called by the flush once per day of events, with the rows already sorted by session and
//! seq. Every envelope member gets its column, `body` the canonical JSON computed at decode
//! time, and the promoted columns are filled from [`Promoted::of`], terminal bytes as binary.
//!
//! Not here: sorting and grouping by day (`flush`), Parquet (`archive::write`).

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, FixedSizeBinaryBuilder, ListBuilder, StringBuilder, TimestampNanosecondBuilder,
    UInt16Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, FieldRef, SchemaRef};
use schemas::arrow::{Promoted, columns, events_schema};

use super::EventRow;
use crate::Error;

/// Builds the `events` rows of `rows`, in the given order.
pub fn batch(rows: &[&EventRow]) -> Result<RecordBatch, Error> {
    let schema = events_schema();
    let n = rows.len();
    let text = |per_row: usize| StringBuilder::with_capacity(n, n * per_row);
    let mut schema_version = UInt16Builder::with_capacity(n);
    let mut event_id = text(36);
    let mut session_id = text(36);
    let mut seq = UInt64Builder::with_capacity(n);
    let mut time = TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut kind = text(16);
    let mut actor_subject = text(24);
    let mut actor_agents = ListBuilder::new(StringBuilder::new())
        .with_field(list_item(&schema, columns::ACTOR_AGENTS)?);
    let mut actor_groups = ListBuilder::new(StringBuilder::new())
        .with_field(list_item(&schema, columns::ACTOR_GROUPS)?);
    let mut actor_issuer = text(24);
    let mut actor_token_id = text(16);
    let mut target_name = text(16);
    let mut target_protocol = text(8);
    let mut client_addr = text(20);
    let mut body = StringBuilder::with_capacity(n, rows.iter().map(|r| r.body.len()).sum());
    let mut prev = FixedSizeBinaryBuilder::with_capacity(n, 32);
    let mut hash = FixedSizeBinaryBuilder::with_capacity(n, 32);
    let mut seal_key_id = StringBuilder::new();
    let mut seal_signature = BinaryBuilder::new();
    let mut command_text = StringBuilder::new();
    let mut verdict = StringBuilder::new();
    let mut row_count = UInt64Builder::with_capacity(n);
    let mut terminal_data = BinaryBuilder::new();
    let mut command_reads = ListBuilder::new(StringBuilder::new())
        .with_field(list_item(&schema, columns::COMMAND_READS)?);
    let mut command_writes = ListBuilder::new(StringBuilder::new())
        .with_field(list_item(&schema, columns::COMMAND_WRITES)?);
    let mut command_seq = UInt64Builder::with_capacity(n);

    for row in rows {
        let event = &row.event;
        schema_version.append_value(event.schema_version);
        event_id.append_value(
            event
                .id
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        );
        session_id.append_value(
            event
                .session_id
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        );
        seq.append_value(event.seq);
        time.append_value(event.time.unix_nanos());
        kind.append_value(event.kind_name());
        actor_subject.append_value(&event.actor.subject);
        for agent in &event.actor.agents {
            actor_agents.values().append_value(agent);
        }
        actor_agents.append(true);
        for group in &event.actor.groups {
            actor_groups.values().append_value(group);
        }
        actor_groups.append(true);
        actor_issuer.append_value(&event.actor.issuer);
        actor_token_id.append_option(event.actor.token_id.as_deref());
        target_name.append_value(&event.target.name);
        target_protocol.append_value(event.target.protocol.as_str());
        client_addr.append_option(event.client_addr.as_deref());
        body.append_value(&row.body);
        match &event.prev {
            Some(digest) => prev.append_value(digest.as_bytes()),
            None => {
                prev.append_null();
                Ok(())
            }
        }
        .map_err(|e| Error::encode("the prev column", e))?;
        hash.append_value(event.hash.as_bytes())
            .map_err(|e| Error::encode("the hash column", e))?;
        append_seal(&mut seal_key_id, &mut seal_signature, event.seal.as_ref());
        let promoted = Promoted::of(&event.body);
        command_text.append_option(promoted.command_text);
        verdict.append_option(promoted.verdict.map(|v| v.as_str()));
        row_count.append_option(promoted.row_count);
        terminal_data.append_option(promoted.terminal_data);
        append_list(&mut command_reads, promoted.command_reads);
        append_list(&mut command_writes, promoted.command_writes);
        command_seq.append_option(promoted.command_seq);
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(schema_version.finish()),
        Arc::new(event_id.finish()),
        Arc::new(session_id.finish()),
        Arc::new(seq.finish()),
        Arc::new(time.finish()),
        Arc::new(kind.finish()),
        Arc::new(actor_subject.finish()),
        Arc::new(actor_agents.finish()),
        Arc::new(actor_groups.finish()),
        Arc::new(actor_issuer.finish()),
        Arc::new(actor_token_id.finish()),
        Arc::new(target_name.finish()),
        Arc::new(target_protocol.finish()),
        Arc::new(client_addr.finish()),
        Arc::new(body.finish()),
        Arc::new(prev.finish()),
        Arc::new(hash.finish()),
        Arc::new(seal_key_id.finish()),
        Arc::new(seal_signature.finish()),
        Arc::new(command_text.finish()),
        Arc::new(verdict.finish()),
        Arc::new(row_count.finish()),
        Arc::new(terminal_data.finish()),
        Arc::new(command_reads.finish()),
        Arc::new(command_writes.finish()),
        Arc::new(command_seq.finish()),
    ];
    RecordBatch::try_new(schema, columns).map_err(|e| Error::encode("an events batch", e))
}

/// Appends a list of text, or a null list.
fn append_list(list: &mut ListBuilder<StringBuilder>, items: Option<&[String]>) {
    match items {
        Some(items) => {
            for item in items {
                list.values().append_value(item);
            }
            list.append(true);
        }
        None => list.append_null(),
    }
}

/// Appends a seal's key id and signature, or two nulls: the `events` and `sessions` tables
/// store seals alike.
pub(crate) fn append_seal(
    key_id: &mut StringBuilder,
    signature: &mut BinaryBuilder,
    seal: Option<&schemas::Seal>,
) {
    match seal {
        Some(seal) => {
            key_id.append_value(seal.key_id.as_str());
            signature.append_value(seal.signature.to_bytes());
        }
        None => {
            key_id.append_null();
            signature.append_null();
        }
    }
}

/// The item field of a list column, so the built arrays match the schema exactly.
fn list_item(schema: &SchemaRef, name: &'static str) -> Result<FieldRef, Error> {
    let field = schema
        .field_with_name(name)
        .map_err(|e| Error::encode("the events schema", e))?;
    match field.data_type() {
        DataType::List(item) => Ok(Arc::clone(item)),
        other => Err(Error::encode(
            "the events schema",
            format!("{name} is {other}, not a list"),
        )),
    }
}
