//! Where a file of the archive lives: its table, its day and the log offsets it covers.
//!
//! ```text
//! ARCHIVE/<table>/date=YYYY-MM-DD/part-<partition>-<first>-<last>.parquet
//! ARCHIVE/<table>/date=YYYY-MM-DD/.part-<partition>-<first>-<last>.parquet.tmp   (being written)
//! ```
//!
//! The writer names files here and the startup survey parses them back. Invariants: a name
//! parses back to exactly the [`PartName`] that formatted it, and anything that does not parse
//! is not a file of the archive (it is reported, never deleted). Temporary names start with a
//! dot and end in `.tmp`, so readers that list `*.parquet` never see a file being written.
//!
//! Not here: what a file holds (`encode`), whether it is whole (`survey`).

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

/// The tables of the archive, each a directory of day partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `events/`: one row per event, the schema of `schemas::arrow::events_schema`.
    Events,
    /// `quarantine/`: records of the log that are not events this version can read, kept
    /// byte for byte (see `encode::quarantine`).
    Quarantine,
}

impl Table {
    /// Every table holding log records, in a fixed order.
    pub const ALL: [Table; 2] = [Table::Events, Table::Quarantine];

    /// The table's directory name under the archive root.
    pub const fn dir_name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::Quarantine => "quarantine",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir_name())
    }
}

/// The offsets of one log partition that a flush covered: every file of the flush carries
/// this range in its name, whichever day and table it went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartName {
    /// The log partition (always 0 for the embedded log).
    pub partition: u32,
    /// The first offset covered.
    pub first: u64,
    /// The last offset covered (inclusive).
    pub last: u64,
}

impl PartName {
    /// How many log records the range covers.
    pub const fn records(&self) -> u64 {
        (self.last - self.first).saturating_add(1)
    }

    /// The final file name, `part-<partition>-<first>-<last>.parquet`.
    pub fn file_name(&self) -> String {
        format!(
            "part-{}-{}-{}.parquet",
            self.partition, self.first, self.last
        )
    }

    /// The name the file has while it is written.
    pub fn temp_name(&self) -> String {
        format!(".{}.tmp", self.file_name())
    }

    /// Parses a final file name; `None` for anything else.
    pub fn parse(file_name: &str) -> Option<PartName> {
        let stem = file_name.strip_prefix("part-")?.strip_suffix(".parquet")?;
        let mut fields = stem.split('-');
        let partition = parse_number(fields.next()?)?;
        let first = parse_number(fields.next()?)?;
        let last = parse_number(fields.next()?)?;
        if fields.next().is_some() || last < first {
            return None;
        }
        let partition = u32::try_from(partition).ok()?;
        Some(PartName {
            partition,
            first,
            last,
        })
    }

    /// Whether a file name is one of the archive's temporary names.
    pub fn is_temp_name(file_name: &str) -> bool {
        file_name.starts_with(".part-") && file_name.ends_with(".tmp")
    }

    /// The range a temporary name is being written for; `None` for anything else.
    pub fn parse_temp(file_name: &str) -> Option<PartName> {
        PartName::parse(file_name.strip_prefix('.')?.strip_suffix(".tmp")?)
    }
}

impl fmt::Display for PartName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}..={}", self.partition, self.first, self.last)
    }
}

/// Digits only: no sign, no leading `+`, no leading zeros (so a range has one spelling).
fn parse_number(text: &str) -> Option<u64> {
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !plain || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// The day directory's name, `date=YYYY-MM-DD`.
pub fn day_dir_name(day: NaiveDate) -> String {
    format!("date={}", day.format("%Y-%m-%d"))
}

/// The day of a day directory's name; `None` for anything else.
pub fn parse_day_dir(name: &str) -> Option<NaiveDate> {
    let text = name.strip_prefix("date=")?;
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    (day_dir_name(day) == name).then_some(day)
}

/// The layout of an archive on disk, rooted at one directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The archive rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// The archive's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A table's directory.
    pub fn table_dir(&self, table: Table) -> PathBuf {
        self.root.join(table.dir_name())
    }

    /// A day's directory of a table.
    pub fn day_dir(&self, table: Table, day: NaiveDate) -> PathBuf {
        self.table_dir(table).join(day_dir_name(day))
    }

    /// Where damaged files are moved, out of the way of readers: `ARCHIVE/damaged/`.
    pub fn damaged_dir(&self) -> PathBuf {
        self.root.join("damaged")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let name = PartName {
            partition: 3,
            first: 0,
            last: 18_446_744_073_709_551_615,
        };
        assert_eq!(name.file_name(), "part-3-0-18446744073709551615.parquet");
        assert_eq!(PartName::parse(&name.file_name()), Some(name));
        assert!(PartName::is_temp_name(&name.temp_name()));
        assert_eq!(PartName::parse_temp(&name.temp_name()), Some(name));
        assert!(!PartName::is_temp_name(&name.file_name()));
        assert_eq!(name.records(), u64::MAX);
    }

    #[test]
    fn foreign_names_do_not_parse() {
        for bad in [
            "part-1-2.parquet",
            "part-1-2-3-4.parquet",
            "part-1-5-3.parquet",
            "part-01-2-3.parquet",
            "part-+1-2-3.parquet",
            "part-1-2-3.parquet.tmp",
            ".part-1-2-3.parquet.tmp",
            "part-4294967296-0-0.parquet",
            "notes.txt",
        ] {
            assert_eq!(PartName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn day_dirs_round_trip() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 26).expect("date");
        assert_eq!(day_dir_name(day), "date=2026-11-26");
        assert_eq!(parse_day_dir("date=2026-11-26"), Some(day));
        assert_eq!(parse_day_dir("date=2026-11-6"), None);
        assert_eq!(parse_day_dir("day=2026-11-26"), None);
    }
}
