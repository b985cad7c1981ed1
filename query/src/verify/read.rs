//! Reading the `events` files for `verify`: in parallel, handed over in log order.
//!
//! Worker threads (one per core) take files in list order, decode them batch by batch and run
//! the fast path (`links`) on every row — the costly part: decompression, the hashed bytes,
//! SHA-256. The caller receives the results strictly in file and row order, because chains are
//! checked in log order across files. A worker stays at most a few files ahead of the one the
//! caller is on, so memory stays bounded however unevenly files are sized.
//!
//! Invariants: every file yields its rows in order, then `Done`; a file that cannot be opened
//! yields one `Unreadable`, one whose batch fails mid-way yields its rows so far and then
//! `Unreadable` (the rest of it is not read); a batch not of the archive's shape yields
//! `Failed`, after which nothing more is delivered. Workers stop when the caller hangs up.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemas::PublicKeys;

use super::links::{Checked, checked};
use crate::Error;
use crate::archive::PartFile;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;
/// How many files past the caller's a worker may start.
const LOOKAHEAD: usize = 4;

/// What reading one file delivers, in order.
pub(crate) enum Chunk {
    /// Checked rows of the file, in row order.
    Rows(Vec<Checked>),
    /// The file cannot be read (any further).
    Unreadable(String),
    /// Rows of a shape that is not the archive's: verification cannot go on.
    Failed(Error),
}

/// Reads `files` on `workers` threads and calls `each(file index, chunk)` in file order; stops
/// at the first `Err` of `each` and returns it.
pub(crate) fn in_order(
    files: &[PartFile],
    keys: &PublicKeys,
    workers: usize,
    mut each: impl FnMut(usize, Chunk) -> Result<(), Error>,
) -> Result<(), Error> {
    let next = AtomicUsize::new(0);
    let current = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (send, receive) = sync_channel::<(usize, Option<Chunk>)>(4 * workers.max(1));
        for _ in 0..workers.max(1) {
            let send = send.clone();
            let (next, current, stop) = (&next, &current, &stop);
            scope.spawn(move || work(files, keys, next, current, stop, &send));
        }
        drop(send);
        let outcome = deliver(files.len(), &receive, &current, &mut each);
        stop.store(true, Ordering::Relaxed);
        drop(receive);
        outcome
    })
}

/// Hands chunks to `each` in file order, holding back those of later files.
fn deliver(
    count: usize,
    receive: &Receiver<(usize, Option<Chunk>)>,
    current: &AtomicUsize,
    each: &mut impl FnMut(usize, Chunk) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut held: BTreeMap<usize, VecDeque<Option<Chunk>>> = BTreeMap::new();
    let mut on = 0;
    while on < count {
        // A chunk of the current file is taken from those held back first.
        let (index, chunk) = match held.get_mut(&on).and_then(VecDeque::pop_front) {
            Some(chunk) => (on, chunk),
            None => match receive.recv() {
                Ok(message) => message,
                // Every worker is gone before the last file was done: a worker panicked.
                Err(_) => return Err(Error::Internal("a verify worker stopped")),
            },
        };
        if index != on {
            held.entry(index).or_default().push_back(chunk);
            continue;
        }
        match chunk {
            Some(chunk) => {
                let failed = matches!(chunk, Chunk::Failed(_));
                each(index, chunk)?;
                if failed {
                    return Ok(());
                }
            }
            None => {
                held.remove(&on);
                on += 1;
                current.store(on, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// One worker: takes the next file, reads it, sends its chunks and then `None`.
fn work(
    files: &[PartFile],
    keys: &PublicKeys,
    next: &AtomicUsize,
    current: &AtomicUsize,
    stop: &AtomicBool,
    send: &SyncSender<(usize, Option<Chunk>)>,
) {
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(file) = files.get(index) else {
            return;
        };
        while index > current.load(Ordering::Relaxed) + LOOKAHEAD {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if !read_file(file, keys, |chunk| send.send((index, Some(chunk))).is_ok())
            || send.send((index, None)).is_err()
        {
            return;
        }
    }
}

/// Reads one file, passing each chunk to `send`; `false` once `send` refuses one.
fn read_file(file: &PartFile, keys: &PublicKeys, mut send: impl FnMut(Chunk) -> bool) -> bool {
    let reader = File::open(&file.path)
        .map_err(|e| e.to_string())
        .and_then(|f| ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| e.to_string()))
        .and_then(|b| {
            b.with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| e.to_string())
        });
    let reader = match reader {
        Ok(reader) => reader,
        Err(reason) => return send(Chunk::Unreadable(reason)),
    };
    for batch in reader {
        let chunk = match batch {
            Ok(batch) => match checked(&batch, keys) {
                Ok(rows) => Chunk::Rows(rows),
                Err(error) => {
                    send(Chunk::Failed(error));
                    return false;
                }
            },
            Err(e) => Chunk::Unreadable(e.to_string()),
        };
        let stop = matches!(chunk, Chunk::Unreadable(_));
        if !send(chunk) {
            return false;
        }
        if stop {
            break;
        }
    }
    true
}
