//! The archive on disk as the query side sees it: its tables' directories and files.
//!
//! ```text
//! ARCHIVE/events/date=YYYY-MM-DD/part-<partition>-<first>-<last>.parquet
//! ARCHIVE/quarantine/date=YYYY-MM-DD/part-<partition>-<first>-<last>.parquet
//! ARCHIVE/sessions/part-<partition>-<first>-<last>.parquet
//! ```
//!
//! The recorder writes these (its `archive` module is the authority on the layout); this module
//! only lists them, in log order, for `verify` and for the DataFusion tables. Temporary files
//! (`.part-….tmp`) and anything not named like a part are ignored. Read-only: nothing here
//! writes to the archive.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

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
            let name = day.file_name();
            let Some(date) = name
                .to_str()
                .and_then(|n| n.strip_prefix("date="))
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            else {
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
                    .and_then(parse_part);
                if let Some((partition, first, last)) = parsed {
                    files.push(PartFile {
                        path,
                        day: date,
                        partition,
                        first,
                        last,
                    });
                }
            }
        }
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
                .and_then(parse_part)
                .is_some()
            {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }
}

/// `part-<partition>-<first>-<last>.parquet` → its numbers.
pub fn parse_part(name: &str) -> Option<(u32, u64, u64)> {
    let stem = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let mut parts = stem.splitn(3, '-');
    let partition = parts.next()?.parse().ok()?;
    let first = parts.next()?.parse().ok()?;
    let last: u64 = parts.next()?.parse().ok()?;
    (first <= last).then_some((partition, first, last))
}

#[cfg(test)]
mod tests {
    use super::parse_part;

    #[test]
    fn part_names_parse_and_others_do_not() {
        assert_eq!(parse_part("part-0-10-19.parquet"), Some((0, 10, 19)));
        assert_eq!(parse_part(".part-0-10-19.parquet.tmp"), None);
        assert_eq!(parse_part("part-0-19-10.parquet"), None);
        assert_eq!(parse_part("notes.txt"), None);
    }
}
