//! Sorted files read as one sorted stream: the k-way merge behind compaction.
//!
//! Every events file is sorted by session and seq (`flush`), so merging a run of them needs
//! only the head row of each, never the whole run in memory: [`SortedMerge`] keeps one batch
//! per input and a heap of their head rows, and yields batches of up to [`BATCH_ROWS`] rows in
//! (session, seq) order. Rows with equal keys (which a consistent archive never has) come out
//! in input order. Files written before a column was appended to the `events` schema are read
//! with that column as nulls. Not here: choosing the inputs (`compaction`), writing (`write`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::path::PathBuf;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{RecordBatch, StringArray, UInt64Array};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use schemas::arrow::columns;

use crate::Error;

/// Rows per merged batch at most.
pub const BATCH_ROWS: usize = 8192;

/// One input: its reader, its current batch and the next row in it.
struct Input {
    reader: ParquetRecordBatchReader,
    batch: RecordBatch,
    sessions: StringArray,
    seqs: UInt64Array,
    row: usize,
}

impl Input {
    /// Opens `path` at its first row; `None` for a file without rows.
    fn open(path: &PathBuf) -> Result<Option<Input>, Error> {
        let file = File::open(path).map_err(|e| Error::io("opening", path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| Error::encode("reading a file to compact", e))?;
        Input::advance(reader)
    }

    /// The reader's next non-empty batch as an input at its first row.
    fn advance(mut reader: ParquetRecordBatchReader) -> Result<Option<Input>, Error> {
        for batch in reader.by_ref() {
            let batch = batch.map_err(|e| Error::encode("reading a file to compact", e))?;
            if batch.num_rows() == 0 {
                continue;
            }
            let batch = widen(batch)?;
            let column = |name| {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| Error::encode("a file to compact", format!("no {name} column")))
            };
            let sessions = column(columns::SESSION_ID)?
                .as_string_opt::<i32>()
                .cloned()
                .ok_or_else(|| Error::encode("a file to compact", "session_id is not text"))?;
            let seqs = column(columns::SEQ)?
                .as_primitive_opt::<UInt64Type>()
                .cloned()
                .ok_or_else(|| Error::encode("a file to compact", "seq is not a u64"))?;
            return Ok(Some(Input {
                reader,
                batch,
                sessions,
                seqs,
                row: 0,
            }));
        }
        Ok(None)
    }

    fn key(&self) -> (String, u64) {
        (
            self.sessions.value(self.row).to_owned(),
            self.seqs.value(self.row),
        )
    }

    fn exhausted(&self) -> bool {
        self.row >= self.batch.num_rows()
    }
}

/// `batch` with the `events` columns appended since its file was written, as nulls: files
/// from before a column was added merge with newer ones into the current schema. A batch
/// that is not a prefix of the `events` schema is returned as it is.
fn widen(batch: RecordBatch) -> Result<RecordBatch, Error> {
    let current = schemas::arrow::events_schema();
    let have = batch.schema();
    let (old, all) = (have.fields(), current.fields());
    let is_prefix = old.len() < all.len()
        && old
            .iter()
            .zip(all.iter())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type())
        && all.iter().skip(old.len()).all(|f| f.is_nullable());
    if !is_prefix {
        return Ok(batch);
    }
    let mut arrays = batch.columns().to_vec();
    for field in all.iter().skip(old.len()) {
        arrays.push(arrow_array::new_null_array(
            field.data_type(),
            batch.num_rows(),
        ));
    }
    RecordBatch::try_new(current, arrays).map_err(|e| Error::encode("widening an older file", e))
}

/// The rows of several sorted files, merged in (session, seq) order.
pub struct SortedMerge {
    inputs: Vec<Option<Input>>,
    heap: BinaryHeap<Reverse<((String, u64), usize)>>,
}

impl SortedMerge {
    /// Opens every input.
    pub fn open(paths: &[PathBuf]) -> Result<SortedMerge, Error> {
        let mut inputs = Vec::with_capacity(paths.len());
        let mut heap = BinaryHeap::with_capacity(paths.len());
        for (index, path) in paths.iter().enumerate() {
            let input = Input::open(path)?;
            if let Some(input) = &input {
                heap.push(Reverse((input.key(), index)));
            }
            inputs.push(input);
        }
        Ok(SortedMerge { inputs, heap })
    }

    /// The next merged batch; `None` when every input is read.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>, Error> {
        let mut picks: Vec<(usize, usize)> = Vec::with_capacity(BATCH_ROWS);
        while picks.len() < BATCH_ROWS {
            let Some(Reverse((_, index))) = self.heap.pop() else {
                break;
            };
            let Some(input) = self.inputs.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            picks.push((index, input.row));
            input.row += 1;
            if !input.exhausted() {
                self.heap.push(Reverse((input.key(), index)));
                continue;
            }
            // Its batch is about to be replaced: emit what refers to it first.
            let batch = self.take(&picks)?;
            self.refill(index)?;
            return Ok(batch);
        }
        self.take(&picks)
    }

    /// The rows `picks` names, as one batch; `None` for no rows.
    fn take(&self, picks: &[(usize, usize)]) -> Result<Option<RecordBatch>, Error> {
        if picks.is_empty() {
            return Ok(None);
        }
        let empty = RecordBatch::new_empty(self.schema()?);
        let batches: Vec<&RecordBatch> = self
            .inputs
            .iter()
            .map(|input| input.as_ref().map_or(&empty, |i| &i.batch))
            .collect();
        arrow_select::interleave::interleave_record_batch(&batches, picks)
            .map(Some)
            .map_err(|e| Error::encode("merging files", e))
    }

    fn schema(&self) -> Result<arrow_schema::SchemaRef, Error> {
        self.inputs
            .iter()
            .flatten()
            .map(|input| input.batch.schema())
            .next()
            .ok_or_else(|| Error::encode("merging files", "no input has rows"))
    }

    /// Moves input `index` to its next batch, or retires it.
    fn refill(&mut self, index: usize) -> Result<(), Error> {
        let Some(slot) = self.inputs.get_mut(index) else {
            return Ok(());
        };
        let Some(input) = slot.take() else {
            return Ok(());
        };
        *slot = Input::advance(input.reader)?;
        if let Some(input) = slot.as_ref() {
            self.heap.push(Reverse((input.key(), index)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step is the test's failure

    use std::fs::File;

    use parquet::arrow::ArrowWriter;
    use schemas::body::{CommandReceived, CommandSummary};
    use schemas::{Actor, ChainBuilder, EventBody, Protocol, SessionContext, Target, Timestamp};

    use super::*;
    use crate::encode::{EventRow, events};

    fn commands(count: usize) -> Vec<EventRow> {
        let mut chain = ChainBuilder::new(SessionContext {
            session_id: uuid::Uuid::now_v7(),
            actor: Actor::unauthenticated("alice"),
            target: Target {
                name: "orders-db".into(),
                protocol: Protocol::Postgres,
            },
            client_addr: None,
        });
        (0..count)
            .map(|_| {
                let body = EventBody::CommandReceived(CommandReceived {
                    protocol: Protocol::Postgres,
                    text: "SELECT * FROM orders".into(),
                    summary: Some(CommandSummary {
                        action: "sql:select".into(),
                        reads: vec!["public.orders".into()],
                        ..CommandSummary::default()
                    }),
                    parameters: vec![],
                });
                let event = chain.next(Timestamp::now(), body).unwrap();
                let body = schemas::arrow::encode_body(&event.body).unwrap();
                EventRow { event, body }
            })
            .collect()
    }

    fn write(path: &std::path::Path, batch: &RecordBatch) {
        let mut writer =
            ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn files_from_before_a_column_was_appended_merge_with_newer_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (old_rows, new_rows) = (commands(3), commands(2));
        let full = |rows: &[EventRow]| events::batch(&rows.iter().collect::<Vec<_>>()).unwrap();
        // A file of the schema before `command_reads`, `command_writes` and `command_seq`.
        let old = full(&old_rows);
        let before = old.num_columns() - 3;
        let old = old.project(&(0..before).collect::<Vec<_>>()).unwrap();
        let (old_path, new_path) = (
            dir.path().join("old.parquet"),
            dir.path().join("new.parquet"),
        );
        write(&old_path, &old);
        write(&new_path, &full(&new_rows));

        let mut merge = SortedMerge::open(&[old_path, new_path]).unwrap();
        let mut rows = 0;
        let mut nulls = 0;
        while let Some(batch) = merge.next_batch().unwrap() {
            assert_eq!(batch.schema(), schemas::arrow::events_schema());
            let reads = batch.column_by_name(columns::COMMAND_READS).unwrap();
            rows += batch.num_rows();
            nulls += reads.null_count();
        }
        assert_eq!((rows, nulls), (5, 3));
    }
}
