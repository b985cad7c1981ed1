//! The archive on disk as the query side sees it: its tables' directories and files.
//!
//! ```text
//! ARCHIVE/events/date=YYYY-MM-DD/part-<partition>-<first>-<last>.parquet
//! ARCHIVE/quarantine/date=YYYY-MM-DD/part-<partition>-<first>-<last>.parquet
//! ARCHIVE/sessions/part-<partition>-<first>-<last>.parquet
//! ```
//!
//! The recorder writes these; the names and the rule of which files a reader uses are
//! `schemas::archive`'s, shared with the recorder. This module only lists them, in log order,
//! for `verify` and for the DataFusion tables, leaving out files a compaction superseded (they
//! stay on disk for a grace period, beside the merged file that holds their rows). Temporary
//! files (`.part-….tmp`) and anything not named like a part are ignored. Read-only: nothing
//! here writes to the archive.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use schemas::archive::{PartName, parse_day_dir, visible};

use crate::Error;

/// A tamper-evident archive root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    root: PathBuf,
}

/// One Parquet file of a day-partitioned table, with the log offsets its name says it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartFile {
    /// Its path.
    pub path: PathBuf,
    /// The day directory it sits in.
    pub day: NaiveDate,
    /// The log partition.
    pub partition: u32,
    /// The first offset covered.
    pub first: u64,
    /// The last offset covered (inclusive).
    pub last: u64,
}

impl Archive {
    /// The archive rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Archive { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `ARCHIVE/events`.
    pub fn events_dir(&self) -> PathBuf {
        self.root.join("events")
    }

    /// `ARCHIVE/quarantine`.
    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// `ARCHIVE/sessions`.
    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join("sessions")
    }

    /// The files of a day-partitioned table from `since` on, in log order: by partition, first
    /// offset, then day (a flush spanning midnight writes one file per day).
    pub fn part_files(
        &self,
        table: &Path,
        since: Option<NaiveDate>,
    ) -> Result<Vec<PartFile>, Error> {
        let mut files = Vec::new();
        let days = match std::fs::read_dir(table) {
            Ok(days) => days,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
            Err(e) => return Err(Error::read(table, e)),
        };
        for day in days {
            let day = day.map_err(|e| Error::read(table, e))?;
            let Some(date) = day.file_name().to_str().and_then(parse_day_dir) else {
                continue;
            };
            if since.is_some_and(|since| date < since) {
                continue;
            }
            let dir = day.path();
            for file in std::fs::read_dir(&dir).map_err(|e| Error::read(&dir, e))? {
                let path = file.map_err(|e| Error::read(&dir, e))?.path();
                let parsed = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(PartName::parse);
                if let Some(name) = parsed {
                    files.push(PartFile {
                        path,
                        day: date,
                        partition: name.partition,
                        first: name.first,
                        last: name.last,
                    });
                }
            }
        }
        let visible: BTreeSet<PartName> = visible(files.iter().map(PartFile::name))
            .into_iter()
            .collect();
        files.retain(|f| visible.contains(&f.name()));
        files.sort_by_key(|f| (f.partition, f.first, f.day));
        Ok(files)
    }

    /// The `sessions` table's files.
    pub fn session_files(&self) -> Result<Vec<PathBuf>, Error> {
        let dir = self.sessions_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::read(&dir, e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::read(&dir, e))?.path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(PartName::parse)
                .is_some()
            {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }
}

impl PartFile {
    /// The offsets its name says it covers.
    pub fn name(&self) -> PartName {
        PartName {
            partition: self.partition,
            first: self.first,
            last: self.last,
        }
    }
}
