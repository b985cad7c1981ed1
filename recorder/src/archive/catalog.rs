//! What the archive holds, read without touching it: every final file with its footer, and
//! which of them a reader should use.
//!
//! The survey at start (`survey`) and compaction (`compaction`) both start from this listing;
//! readers (the `query` crate) apply [`visible`] to it. Nothing here creates, moves or removes
//! a file, so it is safe beside a running writer: files appear by rename, whole.
//!
//! Which files a reader uses when compaction left a merged file beside what it merged is
//! `schemas::archive::visible`, re-exported here.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use parquet::file::metadata::ParquetMetaDataReader;

pub use schemas::archive::{supersedes, visible};

use super::name::{Layout, PartName, Table, parse_day_dir};
use super::write::meta;
use crate::Error;

/// One final file of the archive.
#[derive(Debug)]
pub struct Listed {
    /// Its table.
    pub table: Table,
    /// Its day directory.
    pub day: NaiveDate,
    /// Where it is.
    pub path: PathBuf,
    /// The offsets its group covers.
    pub name: PartName,
    /// What its footer says, or why it cannot be used.
    pub footer: Result<Footer, String>,
}

/// The facts of a file's footer that the archive's rules use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Footer {
    /// Rows in the file.
    pub rows: u64,
    /// Files of its group, across tables and days.
    pub group_files: usize,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// What else a table's directories hold.
#[derive(Debug, Default)]
pub struct Strays {
    /// Temporary files of writes in progress (or interrupted by a crash).
    pub temps: Vec<PathBuf>,
    /// Files and directories that are not the archive's.
    pub foreign: Vec<PathBuf>,
}

/// Lists every final file of `table`, reading each footer, in (day, name) order.
pub fn list(layout: &Layout, table: Table, strays: &mut Strays) -> Result<Vec<Listed>, Error> {
    let mut listed = Vec::new();
    for (day_name, day_path) in entries(&layout.table_dir(table))? {
        let Some(day) = parse_day_dir(&day_name).filter(|_| day_path.is_dir()) else {
            strays.foreign.push(day_path);
            continue;
        };
        for (file_name, path) in entries(&day_path)? {
            if PartName::is_temp_name(&file_name) {
                strays.temps.push(path);
            } else if let Some(name) = PartName::parse(&file_name) {
                let footer = read_footer(&path, table, name);
                listed.push(Listed {
                    table,
                    day,
                    path,
                    name,
                    footer,
                });
            } else {
                strays.foreign.push(path);
            }
        }
    }
    Ok(listed)
}

/// The directory's entries as (name, path), sorted; nothing for a directory not there yet.
pub(crate) fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("listing", dir, e)),
    };
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    out.sort();
    Ok(out)
}

/// Reads a file's footer, checking it against the file's name and table.
fn read_footer(path: &Path, table: Table, name: PartName) -> Result<Footer, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let bytes = file
        .metadata()
        .map_err(|e| format!("cannot read its size: {e}"))?
        .len();
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| format!("unreadable footer: {e}"))?;
    let footer = metadata.file_metadata();
    let pairs: BTreeMap<&str, &str> = footer
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv.key.as_str(), kv.value.as_deref()?)))
        .collect();
    let expect = |key: &str, value: String| match pairs.get(key) {
        Some(found) if *found == value => Ok(()),
        Some(found) => Err(format!("footer says {key}={found}, the name says {value}")),
        None => Err(format!("footer lacks {key}")),
    };
    expect(meta::FORMAT, meta::FORMAT_VERSION.to_owned())?;
    expect(meta::TABLE, table.dir_name().to_owned())?;
    expect(meta::PARTITION, name.partition.to_string())?;
    expect(meta::FIRST_OFFSET, name.first.to_string())?;
    expect(meta::LAST_OFFSET, name.last.to_string())?;
    let group_files = pairs
        .get(meta::GROUP_FILES)
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("footer lacks a valid {}", meta::GROUP_FILES))?;
    let rows = u64::try_from(footer.num_rows()).map_err(|_| "negative row count".to_owned())?;
    Ok(Footer {
        rows,
        group_files,
        bytes,
    })
}
