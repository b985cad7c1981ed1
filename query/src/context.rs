//! The DataFusion context over an archive: the tables `events` and `sessions`, and the views
//! for everyday questions.
//!
//! | name | what |
//! | --- | --- |
//! | `events` | every archived event (`schemas::arrow::events_schema`) plus `date`, the hive partition: filter on it to read fewer days |
//! | `session_snapshots` | every row of `ARCHIVE/sessions/` (a session may have several) |
//! | `sessions` | one row per session: the snapshot with the most events (the index's supersede rule) |
//! | `commands` | `command.received`: who, where, the text, the parser's action, reads and writes (the promoted `command_reads`/`command_writes`; from the body in files older than those) |
//! | `verdicts` | `policy.decided`: the command's seq, the verdict, the deciding policies, the message |
//! | `approvals` | `approval.requested` and `approval.decided` |
//! | `results` | `result.returned`: tag, row count, duration, error |
//! | `terminal` | `terminal.output` and `terminal.input` bytes with their offsets |
//!
//! Two functions read the canonical JSON of `body`: `json_text(body, '/json/pointer')` (a
//! string, or the JSON text of another value; null when absent) and `json_list(body, pointer)`
//! (a list of strings). Read-only: the context never writes to the archive.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::{SessionConfig, SessionContext};
use parquet::file::metadata::ParquetMetaDataReader;
use schemas::arrow::columns::{COMMAND_READS, COMMAND_SEQ, COMMAND_WRITES};
use schemas::arrow::events_schema;
use schemas::arrow::sessions::{columns as s, sessions_schema};
use serde_json::value::RawValue;

use crate::{Archive, Error};

/// A context with the archive's tables and views registered.
pub async fn open(archive: &Archive) -> Result<SessionContext, Error> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .set_bool("datafusion.execution.parquet.pushdown_filters", true);
    let ctx = SessionContext::new_with_config(config);
    // Local paths are listed through the archive's visibility rule (see `store`).
    let local = datafusion::execution::object_store::ObjectStoreUrl::local_filesystem();
    ctx.register_object_store(
        local.as_ref(),
        Arc::new(crate::store::ArchiveStore::default()),
    );
    // Declared volatile although they are pure: DataFusion then never pushes a filter on them
    // below the cheap ones, so bodies are parsed only for the rows that survive those.
    ctx.register_udf(create_udf(
        "json_text",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(json_text),
    ));
    ctx.register_udf(create_udf(
        "json_list",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
        Volatility::Volatile,
        Arc::new(json_list),
    ));
    register_events(&ctx, archive).await?;
    register_sessions(&ctx, archive).await?;
    let older_files = has_files_without_later_columns(archive)?;
    ctx.sql(&commands_view(older_files)).await?;
    // Verdicts, approvals and results name their command by the promoted `command_seq`.
    let command_seq = if older_files {
        "coalesce(CAST(command_seq AS BIGINT), CAST(json_text(body, '/command_seq') AS BIGINT))"
    } else {
        "CAST(command_seq AS BIGINT)"
    };
    for view in VIEWS {
        ctx.sql(&view.replace("{command_seq}", command_seq)).await?;
    }
    Ok(ctx)
}

async fn register_events(ctx: &SessionContext, archive: &Archive) -> Result<(), Error> {
    let dir = archive.events_dir();
    if !dir.is_dir() {
        let mut fields: Vec<Field> = events_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("date", DataType::Utf8, false));
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(fields));
        ctx.register_table("events", Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
        return Ok(());
    }
    let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![("date".to_owned(), DataType::Utf8)]);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(events_schema());
    ctx.register_table("events", Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

async fn register_sessions(ctx: &SessionContext, archive: &Archive) -> Result<(), Error> {
    let dir = archive.sessions_dir();
    if archive.session_files()?.is_empty() {
        let table = MemTable::try_new(sessions_schema(), vec![vec![]])?;
        ctx.register_table("session_snapshots", Arc::new(table))?;
    } else {
        let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(sessions_schema());
        ctx.register_table(
            "session_snapshots",
            Arc::new(ListingTable::try_new(config)?),
        )?;
    }
    let names: Vec<&str> = vec![
        s::SESSION_ID,
        s::HUMAN,
        s::AGENT,
        s::AGENTS,
        s::GROUPS,
        s::TARGET,
        s::PROTOCOL,
        s::CLIENT_ADDR,
        s::STARTED,
        s::ENDED,
        s::LAST_EVENT,
        s::EVENTS,
        s::COMMANDS,
        s::BLOCKED,
        s::HELD,
        s::APPROVED,
        s::MASKED_VALUES,
        s::BYTES,
        s::END_REASON,
        s::FINAL_HASH,
        s::SEAL_KEY_ID,
        s::SEAL_SIGNATURE,
    ];
    let list = names.join(", ");
    ctx.sql(&format!(
        "CREATE VIEW sessions AS SELECT {list} FROM (SELECT *, row_number() OVER \
         (PARTITION BY session_id ORDER BY events DESC, ended IS NOT NULL DESC) AS snapshot_rank \
         FROM session_snapshots) WHERE snapshot_rank = 1"
    ))
    .await?;
    Ok(())
}

/// The `commands` view. Its `reads` and `writes` are the promoted columns; `older_files` says
/// some files predate them (DataFusion reads them as nulls there), and then the lists are taken
/// from the body where the column is null. Without such files the body is not read at all.
fn commands_view(older_files: bool) -> String {
    let list = |column: &str, member: &str| {
        if older_files {
            format!("coalesce({column}, json_list(body, '/summary/{member}'))")
        } else {
            column.to_owned()
        }
    };
    format!(
        "CREATE VIEW commands AS SELECT session_id, seq, time, date, actor_subject AS human, \
         actor_agents[1] AS agent, actor_groups AS groups, target_name AS target, \
         target_protocol AS protocol, client_addr, command_text AS text, \
         json_text(body, '/summary/action') AS action, {} AS reads, {} AS writes \
         FROM events WHERE kind = 'command.received'",
        list(COMMAND_READS, "reads"),
        list(COMMAND_WRITES, "writes"),
    )
}

/// Whether some file of the `events` table lacks `command_reads`, `command_writes` or
/// `command_seq` (written before they were added). A file whose footer cannot be read counts
/// as one: the views that read bodies are right for every file, only slower.
fn has_files_without_later_columns(archive: &Archive) -> Result<bool, Error> {
    let dir = archive.events_dir();
    if !dir.is_dir() {
        return Ok(false);
    }
    for file in archive.part_files(&dir, None)? {
        let footer = std::fs::File::open(&file.path)
            .ok()
            .and_then(|f| ParquetMetaDataReader::new().parse_and_finish(&f).ok());
        let Some(footer) = footer else {
            return Ok(true);
        };
        let fields = footer.file_metadata().schema().get_fields();
        let has = |name: &str| fields.iter().any(|field| field.name() == name);
        if !(has(COMMAND_READS) && has(COMMAND_WRITES) && has(COMMAND_SEQ)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The everyday views over `events` besides `commands`; `{command_seq}` stands for the
/// expression of the answered command's seq.
const VIEWS: [&str; 4] = [
    "CREATE VIEW verdicts AS SELECT session_id, seq, time, date, actor_subject AS human, \
     actor_agents[1] AS agent, target_name AS target, \
     {command_seq} AS command_seq, verdict, \
     json_list(body, '/policies') AS policies, json_text(body, '/message') AS message \
     FROM events WHERE kind = 'policy.decided'",
    "CREATE VIEW approvals AS SELECT session_id, seq, time, date, actor_subject AS human, \
     actor_agents[1] AS agent, target_name AS target, kind, \
     json_text(body, '/approval_id') AS approval_id, \
     {command_seq} AS command_seq, \
     json_text(body, '/approver_group') AS approver_group, json_text(body, '/policy') AS policy, \
     json_text(body, '/decision') AS decision, json_text(body, '/approver/subject') AS approver, \
     json_text(body, '/reason') AS reason \
     FROM events WHERE kind IN ('approval.requested', 'approval.decided')",
    "CREATE VIEW results AS SELECT session_id, seq, time, date, actor_subject AS human, \
     actor_agents[1] AS agent, target_name AS target, \
     {command_seq} AS command_seq, \
     json_text(body, '/command_tag') AS command_tag, row_count, \
     json_text(body, '/truncated') = 'true' AS truncated, \
     CAST(json_text(body, '/duration_ns') AS BIGINT) AS duration_ns, \
     json_text(body, '/error/code') AS error_code, json_text(body, '/error/message') AS error_message \
     FROM events WHERE kind = 'result.returned'",
    "CREATE VIEW terminal AS SELECT session_id, seq, time, date, actor_subject AS human, \
     actor_agents[1] AS agent, target_name AS target, \
     CASE kind WHEN 'terminal.output' THEN 'output' ELSE 'input' END AS direction, \
     CAST(json_text(body, '/channel') AS BIGINT) AS channel, \
     CAST(json_text(body, '/offset_ns') AS BIGINT) AS offset_ns, terminal_data AS data \
     FROM events WHERE kind IN ('terminal.output', 'terminal.input')",
];

/// The value at `pointer` of each JSON text, as the function's two arrays.
fn pointed(args: &[ColumnarValue]) -> Result<(ArrayRef, ArrayRef, usize), DataFusionError> {
    let rows = args.iter().find_map(|a| match a {
        ColumnarValue::Array(array) => Some(array.len()),
        ColumnarValue::Scalar(_) => None,
    });
    let rows = rows.unwrap_or(1);
    let [json, pointer] = args else {
        return Err(DataFusionError::Plan("expects (json, pointer)".into()));
    };
    let json = cast(&json.clone().into_array(rows)?, &DataType::Utf8)?;
    let pointer = cast(&pointer.clone().into_array(rows)?, &DataType::Utf8)?;
    Ok((json, pointer, rows))
}

fn lookup(json: &ArrayRef, pointer: &ArrayRef, row: usize) -> Option<serde_json::Value> {
    let (json, pointer) = (json.as_string::<i32>(), pointer.as_string::<i32>());
    if json.is_null(row) || pointer.is_null(row) {
        return None;
    }
    let found = pointed_raw(json.value(row), pointer.value(row))?;
    let value: serde_json::Value = serde_json::from_str(found.get()).ok()?;
    (!value.is_null()).then_some(value)
}

/// The JSON text at `pointer` (RFC 6901, as `serde_json::Value::pointer`) of `json`. Only the
/// containers on the way are split into members; everything else is skipped unparsed, so a
/// member of a large body costs little more than finding it.
fn pointed_raw<'a>(json: &'a str, pointer: &str) -> Option<&'a RawValue> {
    let mut at: &RawValue = serde_json::from_str(json).ok()?;
    if pointer.is_empty() {
        return Some(at);
    }
    for token in pointer.strip_prefix('/')?.split('/') {
        let token = token.replace("~1", "/").replace("~0", "~");
        let text = at.get().trim_start();
        at = if text.starts_with('{') {
            let members: Vec<(Cow<'a, str>, &'a RawValue)> =
                serde_json::from_str::<RawMembers<'a>>(at.get()).ok()?.0;
            members
                .into_iter()
                .rev()
                .find_map(|(name, value)| (name == token).then_some(value))?
        } else if text.starts_with('[') {
            // Indices as `Value::pointer` takes them: digits, no leading zero but `0` itself.
            if token.starts_with('+') || (token.len() > 1 && token.starts_with('0')) {
                return None;
            }
            let index: usize = token.parse().ok()?;
            let items: Vec<&'a RawValue> = serde_json::from_str(at.get()).ok()?;
            items.get(index).copied()?
        } else {
            return None;
        };
    }
    Some(at)
}

/// An object's members in order, names unescaped, values as unparsed text.
struct RawMembers<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for RawMembers<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = RawMembers<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut members = Vec::new();
                while let Some(name) = map.next_key::<CowName<'de>>()? {
                    members.push((name.0, map.next_value::<&'de RawValue>()?));
                }
                Ok(RawMembers(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// A member name, borrowed from the text unless it has escapes.
struct CowName<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for CowName<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl<'de> serde::de::Visitor<'de> for Name {
            type Value = CowName<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Self::Value, E> {
                Ok(CowName(Cow::Borrowed(name)))
            }
            fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
                Ok(CowName(Cow::Owned(name.to_owned())))
            }
        }
        deserializer.deserialize_str(Name)
    }
}

fn json_text(args: &[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    let (json, pointer, rows) = pointed(args)?;
    let mut out = StringBuilder::with_capacity(rows, rows * 8);
    for row in 0..rows {
        match lookup(&json, &pointer, row) {
            Some(serde_json::Value::String(text)) => out.append_value(text),
            Some(other) => out.append_value(other.to_string()),
            None => out.append_null(),
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

fn json_list(args: &[ColumnarValue]) -> Result<ColumnarValue, DataFusionError> {
    let (json, pointer, rows) = pointed(args)?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for row in 0..rows {
        match lookup(&json, &pointer, row) {
            Some(serde_json::Value::Array(items)) => {
                for item in items {
                    match item {
                        serde_json::Value::String(text) => out.values().append_value(text),
                        other => out.values().append_value(other.to_string()),
                    }
                }
                out.append(true);
            }
            _ => out.append(false),
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

/// Runs `sql` and collects its rows.
pub async fn run(
    ctx: &SessionContext,
    sql: &str,
) -> Result<Vec<datafusion::arrow::array::RecordBatch>, Error> {
    let frame = ctx.sql(sql).await?;
    let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
    let mut batches = frame.collect().await?;
    if batches.is_empty() {
        // Keep the columns of an empty answer, so it still prints a header.
        batches.push(datafusion::arrow::array::RecordBatch::new_empty(schema));
    }
    Ok(batches)
}

/// `text` as a SQL string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed step is the test's failure

    use super::*;

    #[test]
    fn pointed_raw_finds_what_value_pointer_finds() {
        let bodies = [
            r#"{"command_seq":7,"message":null,"policies":["a","b"],"verdict":"allow"}"#,
            r#"{"summary":{"action":"sql:select","reads":["public.t"],"writes":[]},"text":"x"}"#,
            r#"{"error":{"code":"42P01","message":"no \"t\""},"rows":[["1",null],["2","\u00e9"]]}"#,
            r#"{"a\"b":1,"c/d":{"e~f":[10,20,{"g":true}]},"dup":1,"dup":2}"#,
            r#"[1,{"x":"y"}]"#,
            r#""text""#,
            "  { \"spaced\" : [ 1 , 2 ] }  ",
        ];
        let pointers = [
            "",
            "/command_seq",
            "/message",
            "/policies",
            "/policies/1",
            "/policies/2",
            "/policies/01",
            "/summary/action",
            "/summary/reads",
            "/summary/missing",
            "/error/code",
            "/rows/1/1",
            "/rows/0/1",
            "/a\"b",
            "/c~1d/e~0f/2/g",
            "/c~1d/e~0f/+1",
            "/dup",
            "/1/x",
            "/0",
            "/spaced/1",
            "no-slash",
            "/",
        ];
        for body in bodies {
            let value: serde_json::Value = serde_json::from_str(body).unwrap();
            for pointer in pointers {
                let expected = value.pointer(pointer).cloned();
                let found = pointed_raw(body, pointer)
                    .map(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).unwrap());
                assert_eq!(found, expected, "{pointer} in {body}");
            }
        }
    }
}
