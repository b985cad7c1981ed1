//! Where a file of the archive lives: its table, its day and the log offsets it covers.
//!
//! ```text
//! ARCHIVE/<table>/date=YYYY-MM-DD/part-<partition>-<first>-<last>.parquet
//! ARCHIVE/<table>/date=YYYY-MM-DD/.part-<partition>-<first>-<last>.parquet.tmp   (being written)
//! ```
//!
//! The names themselves ([`PartName`], the day directories) are the contract with readers and
//! live in `schemas::archive`; here are the tables and the paths under an archive's root.
//! Anything that does not parse is not a file of the archive (it is reported, never deleted).
//!
//! Not here: what a file holds (`encode`), whether it is whole (`survey`).

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
pub use schemas::archive::{PartName, day_dir_name, parse_day_dir};

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
