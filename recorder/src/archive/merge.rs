//! Sorted files read as one sorted stream: the k-way merge behind compaction.
//!
//! Every events file is sorted by session and seq (`flush`), so merging a run of them needs
//! only the head row of each, never the whole run in memory: [`SortedMerge`] keeps one batch
//! per input and a heap of their head rows, and yields batches of up to [`BATCH_ROWS`] rows in
//! (session, seq) order. Rows with equal keys (which a consistent archive never has) come out
//! in input order. Not here: choosing the inputs (`compaction`), writing (`write`).

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
