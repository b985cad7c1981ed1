//! The archive's file names: which log offsets a Parquet file covers, which day it belongs
//! to, and which files a reader uses.
//!
//! ```text
//! ARCHIVE/<table>/date=YYYY-MM-DD/part-<partition>-<first>-<last>.parquet
//! ARCHIVE/<table>/date=YYYY-MM-DD/.part-<partition>-<first>-<last>.parquet.tmp   (being written)
//! ```
//!
//! The recorder names files with [`PartName`] and the query crate reads them back; both apply
//! [`visible`], so they agree on which files hold each offset. Invariants: a name parses back to
//! exactly the [`PartName`] that formatted it, and anything that does not parse is not a file of
//! the archive. Temporary names start with a dot and end in `.tmp`, so readers that list
//! `*.parquet` never see a file being written.
//!
//! Visibility: compaction writes one file covering the offsets of several files and removes
//! them only after a grace period, so that a query that listed them earlier can still read
//! them. Until then both are on disk; a file whose range lies inside another's range (same
//! partition) is *superseded* and not read. So a reader sees every offset once, before,
//! during and after a compaction. Pure: no I/O here.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;

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

/// Of `names`, those a reader uses: every name not strictly inside another name's range of
/// the same partition (see the module documentation).
pub fn visible(names: impl IntoIterator<Item = PartName>) -> Vec<PartName> {
    let mut by_partition: BTreeMap<u32, Vec<PartName>> = BTreeMap::new();
    for name in names {
        by_partition.entry(name.partition).or_default().push(name);
    }
    let mut out = Vec::new();
    for mut names in by_partition.into_values() {
        // Widest first among equal starts, so a container precedes what it contains.
        names.sort_by(|a, b| a.first.cmp(&b.first).then(b.last.cmp(&a.last)));
        names.dedup();
        let mut reach: Option<u64> = None;
        for name in names {
            if reach.is_some_and(|reach| name.last <= reach) {
                continue;
            }
            reach = Some(name.last);
            out.push(name);
        }
    }
    out
}

/// Whether `inner` lies strictly inside `outer` (same partition, a different range).
pub fn supersedes(outer: &PartName, inner: &PartName) -> bool {
    outer.partition == inner.partition
        && outer != inner
        && outer.first <= inner.first
        && inner.last <= outer.last
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

    fn name(partition: u32, first: u64, last: u64) -> PartName {
        PartName {
            partition,
            first,
            last,
        }
    }

    #[test]
    fn a_compacted_range_hides_the_groups_it_merged_and_nothing_else() {
        let names = [
            name(0, 0, 9),
            name(0, 10, 19),
            name(0, 0, 19),
            name(0, 20, 29),
            name(1, 5, 6),
        ];
        assert_eq!(
            visible(names),
            vec![name(0, 0, 19), name(0, 20, 29), name(1, 5, 6)]
        );
    }

    #[test]
    fn nested_compactions_leave_the_widest() {
        let names = [
            name(0, 0, 4),
            name(0, 0, 9),
            name(0, 0, 29),
            name(0, 10, 29),
        ];
        assert_eq!(visible(names), vec![name(0, 0, 29)]);
        assert!(supersedes(&name(0, 0, 29), &name(0, 10, 29)));
        assert!(!supersedes(&name(0, 0, 29), &name(0, 0, 29)));
        assert!(!supersedes(&name(0, 0, 29), &name(1, 1, 2)));
    }
}
