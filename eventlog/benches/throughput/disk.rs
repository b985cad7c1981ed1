//! The raw-disk baselines, and how many groups the embedded log's writer thread committed.
//!
//! Baselines write the workload's framed bytes to a file in the same directory tree as the
//! logs (so the same filesystem), `write` per group with or without an `fdatasync` after it:
//! the writer thread does exactly that per group, minus encoding, channels and tasks.
//!
//! Group counting needs no strace: the writer issues one `write` per group, and Linux counts a
//! thread's write calls and bytes in `/proc/self/task/TID/io`; see `groups` for the calls that
//! are not groups. Each durable group is one `fdatasync`, so events per group is also events
//! per fsync.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// The writer thread of the events stream (thread names are cut to 15 bytes by Linux).
const WRITER_THREAD: &str = "eventlog-events";

/// What a raw baseline did.
pub struct Raw {
    /// Events written (fewer than asked when the time limit stopped it).
    pub events: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// `write` calls made (each followed by an `fdatasync` when syncing).
    pub writes: u64,
}

/// Writes `frames` (frames of `frame_len` bytes) to a new file in `dir`, `group` frames per
/// `write`, each followed by `fdatasync` when `sync`. Stops early after `limit`.
///
/// The file is left in place, flushed after the clock stopped: deleting it, or leaving dirty
/// pages to the kernel's writeback, would charge this mode's I/O to the next one.
pub fn write_groups(
    dir: &Path,
    frames: &[u8],
    frame_len: usize,
    group: usize,
    sync: bool,
    limit: Duration,
) -> Result<Raw> {
    let path = dir.join(format!("raw-{group}-{sync}.seg"));
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let step = group.max(1) * frame_len;
    let start = Instant::now();
    let (mut written, mut writes) = (0, 0);
    for chunk in frames.chunks(step) {
        file.write_all(chunk).context("writing baseline")?;
        if sync {
            file.sync_data().context("syncing baseline")?;
        }
        writes += 1;
        written += chunk.len();
        if start.elapsed() > limit {
            break;
        }
    }
    let elapsed = start.elapsed();
    file.sync_data().context("syncing baseline")?;
    Ok(Raw {
        events: written / frame_len,
        elapsed,
        writes,
    })
}

/// Flushes what removing files from `dir` left to write (the directory; on a journalling
/// filesystem mounted with `discard`, also the trims of the freed blocks, which wait for the
/// next commit), untimed, so that the next mode's first fsync does not pay for the last
/// mode's cleanup.
pub fn settle(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// Write calls and bytes of the events stream's writer thread, if it and `/proc` are there.
/// A writer thread names itself once it runs, so a log just opened may need a moment.
pub fn writer_io() -> Option<ThreadIo> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match find_writer_io() {
            Some(io) => return Some(io),
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            None => return None,
        }
    }
}

fn find_writer_io() -> Option<ThreadIo> {
    for task in fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != WRITER_THREAD {
            continue;
        }
        let io = fs::read_to_string(task.path().join("io")).ok()?;
        let field = |name: &str| {
            io.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|n| n.trim().parse().ok())
        };
        return Some(ThreadIo {
            calls: field("syscw:")?,
            bytes: field("wchar:")?,
        });
    }
    None
}

/// A thread's write counters from `/proc/self/task/TID/io`.
#[derive(Clone, Copy, Debug)]
pub struct ThreadIo {
    /// `write`-family calls.
    pub calls: u64,
    /// Bytes those calls wrote.
    pub bytes: u64,
}

/// Segments the writer started while appending `events` frames of `frame_len` bytes to a
/// fresh log with the default 64 MiB segments (16-byte header each).
pub fn rolls(events: usize, frame_len: usize) -> u64 {
    let per_segment = ((64u64 << 20) - 16) / frame_len.max(1) as u64;
    (events as u64)
        .div_ceil(per_segment.max(1))
        .saturating_sub(1)
}

/// Groups the writer committed between two readings, having written `events` frames of
/// `frame_len` bytes to a fresh log.
///
/// Besides one segment write per group (two for a group cut by a segment roll, plus the new
/// segment's 16-byte header), the writer thread's write calls include 8-byte `eventfd`
/// writes: answering an append wakes a tokio worker parked in its I/O driver. Those are
/// told apart by their bytes. Returns `None` when the counts do not add up that way.
pub fn groups(
    before: Option<ThreadIo>,
    after: Option<ThreadIo>,
    events: usize,
    frame_len: usize,
) -> Option<u64> {
    let (before, after) = (before?, after?);
    let rolled = rolls(events, frame_len);
    let segment_bytes = events as u64 * frame_len as u64 + 16 * rolled;
    let other_bytes = (after.bytes - before.bytes).checked_sub(segment_bytes)?;
    if other_bytes % 8 != 0 {
        return None;
    }
    let wakes = other_bytes / 8;
    (after.calls - before.calls)
        .checked_sub(wakes + 2 * rolled)
        .filter(|g| *g > 0)
}
