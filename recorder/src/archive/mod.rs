//! The archive on disk: its layout, durable writes of flush groups, and the survey at start.
//!
//! ```text
//! ARCHIVE/events/date=YYYY-MM-DD/part-<partition>-<first>-<last>.parquet      events
//! ARCHIVE/quarantine/date=YYYY-MM-DD/part-<partition>-<first>-<last>.parquet  unreadable records
//! ARCHIVE/damaged/<table>/date=…/part-….parquet.<time>                        set aside, reported
//! ```
//!
//! The recorder (`recorder`) surveys the archive once at start ([`survey`]) and then writes
//! one group of files per flush ([`write_group`]). Invariants: every offset of a partition is
//! in at most one group; a group is visible whole (or, for a crash during its renames, only
//! until the next start removes it, before its offsets were ever committed); the log position
//! is committed only after [`write_group`] returned.
//!
//! Not here: which rows a group holds (`flush`), the log (`recorder`), reading the archive for
//! queries (the `query` crate).

pub mod catalog;
pub mod merge;
pub mod name;
pub mod survey;
pub mod write;

pub use catalog::{Footer, Listed, Strays, list, supersedes, visible};
pub use name::{Layout, PartName, Table};
pub use survey::{Check, Damage, Survey, survey, survey_partitions};
pub use write::{Encoding, GroupFile, WrittenGroup, write_group};

/// Holds the archive's maintenance lock (compaction, retention) while the file lives, so
/// two of them never work on the same days at once, in this process or another.
pub fn lock_maintenance(layout: &Layout) -> Result<std::fs::File, crate::Error> {
    write::create_dir_durably(layout.root())?;
    let path = layout.root().join(".maintenance.lock");
    let file = std::fs::File::create(&path).map_err(|e| crate::Error::io("creating", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(crate::Error::Busy {
            what: "compaction or retention pass",
            path,
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(crate::Error::io("locking", &path, e)),
    }
}
