//! Session summaries as rows of `schemas::arrow::sessions`, written durably as one file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, FixedSizeBinaryBuilder, ListBuilder, StringBuilder, TimestampNanosecondBuilder,
    UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use schemas::arrow::sessions::sessions_schema;
use schemas::summary::SessionSummary;

use crate::Error;
use crate::archive::PartName;
use crate::archive::write::write_whole;
use crate::encode::events::append_seal;

/// The rows of `summaries`, in the given order.
pub fn batch(summaries: &[&SessionSummary]) -> Result<RecordBatch, Error> {
    let schema = sessions_schema();
    let item = |index: usize| match schema.field(index).data_type() {
        DataType::List(item) => Ok(Arc::clone(item)),
        other => Err(Error::encode(
            "the sessions schema",
            format!("{other} is not a list"),
        )),
    };
    let n = summaries.len();
    let mut session_id = StringBuilder::new();
    let mut human = StringBuilder::new();
    let mut agent = StringBuilder::new();
    let mut agents = ListBuilder::new(StringBuilder::new()).with_field(item(3)?);
    let mut groups = ListBuilder::new(StringBuilder::new()).with_field(item(4)?);
    let mut target = StringBuilder::new();
    let mut protocol = StringBuilder::new();
    let mut client_addr = StringBuilder::new();
    let time = || TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
    let (mut started, mut ended, mut last_event) = (time(), time(), time());
    let count = || UInt64Builder::with_capacity(n);
    let (mut events, mut commands, mut blocked, mut held) = (count(), count(), count(), count());
    let (mut approved, mut masked, mut bytes) = (count(), count(), count());
    let mut end_reason = StringBuilder::new();
    let mut final_hash = FixedSizeBinaryBuilder::with_capacity(n, 32);
    let mut seal_key_id = StringBuilder::new();
    let mut seal_signature = BinaryBuilder::new();
    for s in summaries {
        session_id.append_value(s.session_id.hyphenated().to_string());
        human.append_value(&s.human);
        agent.append_option(s.agents.first());
        for a in &s.agents {
            agents.values().append_value(a);
        }
        agents.append(true);
        for g in &s.groups {
            groups.values().append_value(g);
        }
        groups.append(true);
        target.append_value(&s.target);
        protocol.append_value(s.protocol.as_str());
        client_addr.append_option(s.client_addr.as_deref());
        started.append_value(s.started.unix_nanos());
        ended.append_option(s.ended.map(|t| t.unix_nanos()));
        last_event.append_value(s.last_event.unix_nanos());
        events.append_value(s.events);
        commands.append_value(s.commands);
        blocked.append_value(s.blocked);
        held.append_value(s.held);
        approved.append_value(s.approved);
        masked.append_value(s.masked_values);
        bytes.append_value(s.bytes);
        end_reason.append_option(s.end_reason.as_deref());
        final_hash
            .append_value(s.final_hash.as_bytes())
            .map_err(|e| Error::encode("the final_hash column", e))?;
        append_seal(&mut seal_key_id, &mut seal_signature, s.seal.as_ref());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(session_id.finish()),
        Arc::new(human.finish()),
        Arc::new(agent.finish()),
        Arc::new(agents.finish()),
        Arc::new(groups.finish()),
        Arc::new(target.finish()),
        Arc::new(protocol.finish()),
        Arc::new(client_addr.finish()),
        Arc::new(started.finish()),
        Arc::new(ended.finish()),
        Arc::new(last_event.finish()),
        Arc::new(events.finish()),
        Arc::new(commands.finish()),
        Arc::new(blocked.finish()),
        Arc::new(held.finish()),
        Arc::new(approved.finish()),
        Arc::new(masked.finish()),
        Arc::new(bytes.finish()),
        Arc::new(end_reason.finish()),
        Arc::new(final_hash.finish()),
        Arc::new(seal_key_id.finish()),
        Arc::new(seal_signature.finish()),
    ];
    RecordBatch::try_new(schema, columns).map_err(|e| Error::encode("a sessions batch", e))
}

/// Writes `summaries` as `dir/part-<partition>-<first>-<last>.parquet`, whole or not at all.
pub fn write_file(
    dir: &Path,
    name: PartName,
    summaries: &[&SessionSummary],
) -> Result<PathBuf, Error> {
    let level = ZstdLevel::try_new(3).map_err(|e| Error::encode("the zstd level", e))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .build();
    write_whole(dir, name, &batch(summaries)?, properties)
}
