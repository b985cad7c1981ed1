//! The session index: `ARCHIVE/sessions/`, one row per session, kept by the recorder.
//!
//! Every flush (`flush`) folds the events it archived into their sessions' summaries
//! ([`schemas::summary::SessionSummary`]) and then writes, as one file named like the flush
//! (`sessions/part-<partition>-<first>-<last>.parquet`), the row of each session that ended in
//! it and of each open session not written for `refresh` (so long sessions show up while they
//! run). A session thus has one row per snapshot; **the row with the most events supersedes
//! the others** (`schemas::arrow::sessions`), which the query crate's `sessions` view applies,
//! so a reader sees each session once. Files appear whole: temporary name, fsync, rename,
//! directory fsync — written after the flush's events are durable and before its log position
//! is committed.
//!
//! At start the newest snapshot of each open session is read back, so sessions that span a
//! restart keep their counts. A crash between a flush's events and its index file loses that
//! flush's contribution to the counts of sessions still open (never events: `events` and
//! `verify` stay the authority). Not here: compacting superseded snapshots (compaction).

mod read;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use schemas::Event;
use schemas::summary::SessionSummary;
use uuid::Uuid;

use crate::Error;
use crate::archive::PartName;

/// How often an open session's row is rewritten at most, by default.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

struct Tracked {
    summary: SessionSummary,
    /// When its row was last written, or when tracking began.
    written: Instant,
    /// Whether events arrived since its row was last written.
    dirty: bool,
}

/// The summaries of the sessions the recorder has seen, and when each was last written.
pub struct SessionIndex {
    dir: PathBuf,
    refresh: Duration,
    open: HashMap<Uuid, Tracked>,
}

impl SessionIndex {
    /// The index under `archive`, seeded with the newest snapshot of each open session.
    pub fn open(archive: &Path, refresh: Duration) -> Result<Self, Error> {
        let dir = archive.join("sessions");
        let now = Instant::now();
        let open = read::open_sessions(&dir)?
            .into_iter()
            .map(|summary| {
                let tracked = Tracked {
                    summary,
                    written: now,
                    dirty: false,
                };
                (tracked.summary.session_id, tracked)
            })
            .collect();
        Ok(SessionIndex { dir, refresh, open })
    }

    /// Sessions being followed (open, or ended but not yet written).
    pub fn tracked(&self) -> usize {
        self.open.len()
    }

    /// Folds one archived event (events of a session arrive in seq order).
    pub fn observe(&mut self, event: &Event) {
        match self.open.get_mut(&event.session_id) {
            // A seeded snapshot already counted the events below its count.
            Some(tracked) if event.seq < tracked.summary.events => {}
            Some(tracked) => {
                tracked.summary.fold(event);
                tracked.dirty = true;
            }
            None => {
                self.open.insert(
                    event.session_id,
                    Tracked {
                        summary: SessionSummary::new(event),
                        written: Instant::now(),
                        dirty: true,
                    },
                );
            }
        }
    }

    /// Writes the rows due after the flush `name`: ended sessions, and open ones not written
    /// for `refresh`. Returns the file written, if any.
    pub fn write_due(&mut self, name: PartName) -> Result<Option<PathBuf>, Error> {
        let now = Instant::now();
        let refresh = self.refresh;
        let due: Vec<Uuid> = self
            .open
            .iter()
            .filter(|(_, t)| {
                t.summary.is_ended() || (t.dirty && now.duration_since(t.written) >= refresh)
            })
            .map(|(id, _)| *id)
            .collect();
        if due.is_empty() {
            return Ok(None);
        }
        let mut rows: Vec<&SessionSummary> = due
            .iter()
            .filter_map(|id| self.open.get(id).map(|t| &t.summary))
            .collect();
        rows.sort_by_key(|s| s.session_id);
        let path = write::write_file(&self.dir, name, &rows)?;
        for id in due {
            let ended = self.open.get(&id).is_some_and(|t| t.summary.is_ended());
            if ended {
                self.open.remove(&id);
            } else if let Some(tracked) = self.open.get_mut(&id) {
                tracked.written = now;
                tracked.dirty = false;
            }
        }
        Ok(Some(path))
    }
}

pub use read::summaries;
pub use write::batch;

#[cfg(test)]
mod tests;
