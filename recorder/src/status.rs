//! What a running recorder has done so far: counters and positions, published on a watch
//! channel so `blastwall up`, tests and a progress display can follow it without locks.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// What the recorder has done since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// The phase it is in.
    pub phase: Phase,
    /// Rows written to the events table.
    pub events: u64,
    /// Records written to the quarantine table (reported one by one as warnings).
    pub quarantined: u64,
    /// Records read that the archive already held, dropped.
    pub skipped: u64,
    /// Groups written (one per flush).
    pub groups: u64,
    /// Parquet bytes written.
    pub bytes: u64,
    /// Per partition, the offset after the highest one archived.
    pub next_offsets: BTreeMap<u32, u64>,
    /// When the last flush became durable.
    pub last_flush: Option<SystemTime>,
    /// Damaged groups found at start.
    pub damaged: u64,
    /// Offsets found neither in the archive nor in the log (removed before they were read).
    pub lost: u64,
    /// The last error the recorder rode out (a failed poll or commit), if any.
    pub last_error: Option<String>,
}

/// Where a recorder is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    /// Surveying the archive.
    #[default]
    Surveying,
    /// Rewriting damaged or missing ranges from the log.
    Repairing,
    /// Following the log.
    Following,
    /// Stopped after flushing what it held.
    Stopped,
}
