//! Reading the session index back: its rows as summaries, and the open sessions to resume.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::str::FromStr;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemas::summary::SessionSummary;
use schemas::{Digest, Protocol, Timestamp};
use uuid::Uuid;

use crate::Error;

fn column<'a>(batch: &'a RecordBatch, name: &'static str) -> Result<&'a dyn Array, Error> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| Error::encode("a sessions file", format!("no column {name}")))
}

/// The rows of one batch of the `sessions` table (seals are not read back).
pub fn summaries(batch: &RecordBatch) -> Result<Vec<SessionSummary>, Error> {
    use schemas::arrow::sessions::columns::*;
    let text = |name| column(batch, name).map(|c| c.as_string::<i32>());
    let count = |name| column(batch, name).map(|c| c.as_primitive::<UInt64Type>());
    let time = |name| column(batch, name).map(|c| c.as_primitive::<TimestampNanosecondType>());
    let list = |name| column(batch, name).map(|c| c.as_list::<i32>());
    let (ids, humans, targets, protocols, addrs) = (
        text(SESSION_ID)?,
        text(HUMAN)?,
        text(TARGET)?,
        text(PROTOCOL)?,
        text(CLIENT_ADDR)?,
    );
    let (agents, groups) = (list(AGENTS)?, list(GROUPS)?);
    let (started, ended, last) = (time(STARTED)?, time(ENDED)?, time(LAST_EVENT)?);
    let (events, commands, blocked, held) = (
        count(EVENTS)?,
        count(COMMANDS)?,
        count(BLOCKED)?,
        count(HELD)?,
    );
    let (approved, masked, bytes) = (count(APPROVED)?, count(MASKED_VALUES)?, count(BYTES)?);
    let reasons = text(END_REASON)?;
    let hashes = column(batch, FINAL_HASH)?.as_fixed_size_binary();
    let strings = |lists: &arrow_array::ListArray, row: usize| -> Vec<String> {
        let items = lists.value(row);
        let items = items.as_string::<i32>();
        (0..items.len())
            .map(|i| items.value(i).to_owned())
            .collect()
    };
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let session_id =
            Uuid::from_str(ids.value(row)).map_err(|e| Error::encode("a sessions row", e))?;
        let protocol = Protocol::from_str(protocols.value(row))
            .map_err(|e| Error::encode("a sessions row", e))?;
        let hash = <[u8; 32]>::try_from(hashes.value(row))
            .map_err(|e| Error::encode("a sessions row", e))?;
        out.push(SessionSummary {
            session_id,
            human: humans.value(row).to_owned(),
            agents: strings(agents, row),
            groups: strings(groups, row),
            target: targets.value(row).to_owned(),
            protocol,
            client_addr: (!addrs.is_null(row)).then(|| addrs.value(row).to_owned()),
            started: Timestamp::from_unix_nanos(started.value(row)),
            ended: (!ended.is_null(row)).then(|| Timestamp::from_unix_nanos(ended.value(row))),
            last_event: Timestamp::from_unix_nanos(last.value(row)),
            events: events.value(row),
            commands: commands.value(row),
            blocked: blocked.value(row),
            held: held.value(row),
            approved: approved.value(row),
            masked_values: masked.value(row),
            bytes: bytes.value(row),
            end_reason: (!reasons.is_null(row)).then(|| reasons.value(row).to_owned()),
            final_hash: Digest::from_bytes(hash),
            seal: None,
        });
    }
    Ok(out)
}

/// The newest snapshot of every session the index holds no ended row for; removes what an
/// interrupted write left.
pub fn open_sessions(dir: &Path) -> Result<Vec<SessionSummary>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("listing", dir, e)),
    };
    let mut newest: HashMap<Uuid, SessionSummary> = HashMap::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io("listing", dir, e))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with(".part-") && name.ends_with(".tmp") {
            // A crash interrupted this write before its rename: it was never part of the index.
            std::fs::remove_file(&path).map_err(|e| Error::io("removing", &path, e))?;
            continue;
        }
        let is_part = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("part-") && n.ends_with(".parquet"));
        if !is_part {
            continue;
        }
        let file = File::open(&path).map_err(|e| Error::io("opening", &path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| Error::encode("a sessions file", e))?;
        for batch in reader {
            let batch = batch.map_err(|e| Error::encode("a sessions file", e))?;
            for summary in summaries(&batch)? {
                let newer = newest.get(&summary.session_id).is_none_or(|old| {
                    (summary.events, summary.is_ended()) > (old.events, old.is_ended())
                });
                if newer {
                    newest.insert(summary.session_id, summary);
                }
            }
        }
    }
    Ok(newest.into_values().filter(|s| !s.is_ended()).collect())
}
