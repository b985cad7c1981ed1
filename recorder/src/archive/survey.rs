//! What the archive holds at start: which offsets are archived, and what a crash or damage
//! left behind.
//!
//! The recorder surveys its archive before it reads the log. For every table and day it lists
//! the files and reads each footer (and, for the newest group of each partition or with
//! [`Check::Full`] for all, every row). Then, per flush group (`write`):
//!
//! - a leftover temporary file is removed: a crash interrupted a write before its rename;
//! - a group missing files is, when it is its partition's newest, the remains of a crash during
//!   the renames: its files are removed (it was never committed, so the log still has it);
//! - a group with a damaged file (unreadable footer, rows that do not match its name, a file
//!   missing from an older group) is moved whole to `ARCHIVE/damaged/` and its range is to be
//!   rewritten from the log ([`Survey::repairs`]), as are ranges missing between groups;
//! - files that are not the archive's are reported and left alone.
//!
//! The result gives, per partition, the offset after the highest archived one
//! ([`Survey::resume`]): the recorder drops every record before it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaDataReader;

use super::name::{Layout, PartName, Table, parse_day_dir};
use super::write::{create_dir_durably, meta, sync_dir};
use crate::Error;

/// How much of each file the survey reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Check {
    /// Every footer, and every row of each partition's newest group (the default: cheap, and
    /// the newest group is the one a crash could have touched).
    #[default]
    Footers,
    /// Every row of every file.
    Full,
}

/// A group set aside because a file of it is damaged or missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The offsets the group covered.
    pub name: PartName,
    /// What is wrong, naming the file.
    pub reason: String,
    /// Where the group's files went, under `ARCHIVE/damaged/`.
    pub moved: Vec<PathBuf>,
}

/// What the survey found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Survey {
    /// Per partition, the offset after the highest one archived (or set aside for repair).
    pub resume: BTreeMap<u32, u64>,
    /// Complete groups per partition, in offset order.
    pub groups: BTreeMap<u32, Vec<PartName>>,
    /// Temporary files removed.
    pub removed_temps: Vec<PathBuf>,
    /// Files of incomplete newest groups removed.
    pub removed_incomplete: Vec<PathBuf>,
    /// Groups moved to `ARCHIVE/damaged/`.
    pub damaged: Vec<Damage>,
    /// Ranges missing between complete groups.
    pub gaps: Vec<PartName>,
    /// Files and directories that are not the archive's; left alone.
    pub foreign: Vec<PathBuf>,
}

impl Survey {
    /// The ranges to rewrite from the log: damaged groups and gaps, in order.
    pub fn repairs(&self) -> Vec<PartName> {
        let mut ranges: Vec<PartName> = self.damaged.iter().map(|d| d.name).collect();
        ranges.extend(self.gaps.iter().copied());
        ranges.sort();
        ranges
    }

    /// Events archived, all partitions together (from the group names).
    pub fn archived_records(&self) -> u64 {
        self.groups.values().flatten().map(PartName::records).sum()
    }
}

/// One final file and what its footer says.
#[derive(Debug)]
struct Found {
    table: Table,
    day: NaiveDate,
    path: PathBuf,
    name: PartName,
    /// `Ok((rows, group_files))`, or why the file cannot be used.
    footer: Result<(u64, usize), String>,
}

/// Surveys the archive at `layout`, cleaning up after crashes as described above.
pub fn survey(layout: &Layout, check: Check) -> Result<Survey, Error> {
    let mut survey = Survey::default();
    let mut found = Vec::new();
    for table in Table::ALL {
        list_table(layout, table, &mut found, &mut survey)?;
    }
    let mut groups: BTreeMap<PartName, Vec<Found>> = BTreeMap::new();
    for file in found {
        groups.entry(file.name).or_default().push(file);
    }
    let newest: BTreeMap<u32, PartName> = groups
        .keys()
        .map(|name| (name.partition, *name))
        .collect::<BTreeMap<_, _>>();
    let mut complete: BTreeMap<u32, Vec<(PartName, PathBuf)>> = BTreeMap::new();
    for (name, mut files) in groups {
        let is_newest = newest.get(&name.partition) == Some(&name);
        if is_newest || check == Check::Full {
            for file in &mut files {
                if let Ok((rows, _)) = &file.footer
                    && let Err(reason) = read_rows(&file.path, *rows)
                {
                    file.footer = Err(reason);
                }
            }
        }
        match judge(name, &files) {
            Verdict::Whole => {
                complete
                    .entry(name.partition)
                    .or_default()
                    .push((name, files[0].path.clone()));
            }
            Verdict::Incomplete if is_newest => {
                for file in &files {
                    remove(&file.path)?;
                    if let Some(dir) = file.path.parent() {
                        sync_dir(dir)?;
                    }
                    survey.removed_incomplete.push(file.path.clone());
                }
            }
            Verdict::Incomplete => {
                let reason = format!(
                    "group {name} lacks files although newer groups follow it (found {})",
                    files.len()
                );
                survey
                    .damaged
                    .push(set_aside(layout, name, &files, reason)?);
            }
            Verdict::Damaged(reason) => {
                survey
                    .damaged
                    .push(set_aside(layout, name, &files, reason)?);
            }
        }
    }
    for (partition, mut names) in complete {
        names.sort();
        for pair in names.windows(2) {
            let [(a, a_path), (b, b_path)] = pair else {
                continue;
            };
            if b.first <= a.last {
                return Err(Error::Overlap {
                    partition,
                    first: a_path.clone(),
                    second: b_path.clone(),
                });
            }
            if b.first > a.last + 1 {
                survey.gaps.push(PartName {
                    partition,
                    first: a.last + 1,
                    last: b.first - 1,
                });
            }
        }
        survey
            .groups
            .insert(partition, names.into_iter().map(|(n, _)| n).collect());
    }
    let covered = survey
        .groups
        .values()
        .flatten()
        .chain(survey.damaged.iter().map(|d| &d.name));
    for name in covered.copied().collect::<Vec<_>>() {
        let next = survey.resume.entry(name.partition).or_insert(0);
        *next = (*next).max(name.last + 1);
    }
    Ok(survey)
}

enum Verdict {
    Whole,
    Incomplete,
    Damaged(String),
}

fn judge(name: PartName, files: &[Found]) -> Verdict {
    let mut counts = BTreeSet::new();
    let mut rows = 0u64;
    for file in files {
        match &file.footer {
            Ok((file_rows, group_files)) => {
                rows += file_rows;
                counts.insert(*group_files);
            }
            Err(reason) => return Verdict::Damaged(format!("{}: {reason}", file.path.display())),
        }
    }
    let Some(&expected) = counts.iter().next() else {
        return Verdict::Damaged(format!("group {name} has no files"));
    };
    if counts.len() > 1 {
        return Verdict::Damaged(format!("the files of {name} disagree on their number"));
    }
    if files.len() < expected {
        return Verdict::Incomplete;
    }
    if files.len() > expected || rows != name.records() {
        return Verdict::Damaged(format!(
            "group {name} holds {rows} rows in {} files; its name and footers promise {} rows in {expected}",
            files.len(),
            name.records()
        ));
    }
    Verdict::Whole
}

fn list_table(
    layout: &Layout,
    table: Table,
    found: &mut Vec<Found>,
    survey: &mut Survey,
) -> Result<(), Error> {
    let dir = layout.table_dir(table);
    for (day_name, day_path) in entries(&dir)? {
        let Some(day) = parse_day_dir(&day_name).filter(|_| day_path.is_dir()) else {
            survey.foreign.push(day_path);
            continue;
        };
        let mut removed_any = false;
        for (file_name, path) in entries(&day_path)? {
            if PartName::is_temp_name(&file_name) {
                remove(&path)?;
                survey.removed_temps.push(path);
                removed_any = true;
            } else if let Some(name) = PartName::parse(&file_name) {
                let footer = read_footer(&path, table, name);
                found.push(Found {
                    table,
                    day,
                    path,
                    name,
                    footer,
                });
            } else {
                survey.foreign.push(path);
            }
        }
        if removed_any {
            sync_dir(&day_path)?;
        }
    }
    Ok(())
}

/// The directory's entries as (name, path), sorted; nothing for a directory not there yet.
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
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

/// Reads a file's footer: `(rows, group_files)`, or why the file cannot be used.
fn read_footer(path: &Path, table: Table, name: PartName) -> Result<(u64, usize), String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
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
    Ok((rows, group_files))
}

/// Decodes every row of a file; an error names what failed.
fn read_rows(path: &Path, expected: u64) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| format!("unreadable: {e}"))?;
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| format!("unreadable rows: {e}"))?;
        rows += batch.num_rows() as u64;
    }
    if rows != expected {
        return Err(format!(
            "{rows} rows readable, the footer promises {expected}"
        ));
    }
    Ok(())
}

/// Moves a group's files under `ARCHIVE/damaged/`, keeping table and day in the path.
fn set_aside(
    layout: &Layout,
    name: PartName,
    files: &[Found],
    reason: String,
) -> Result<Damage, Error> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let mut moved = Vec::new();
    for file in files {
        let dir = layout
            .damaged_dir()
            .join(file.table.dir_name())
            .join(super::name::day_dir_name(file.day));
        create_dir_durably(&dir)?;
        let to = dir.join(format!("{}.{stamp}", name.file_name()));
        fs::rename(&file.path, &to).map_err(|e| Error::io("moving aside", &file.path, e))?;
        sync_dir(&dir)?;
        if let Some(parent) = file.path.parent() {
            sync_dir(parent)?;
        }
        moved.push(to);
    }
    Ok(Damage {
        name,
        reason,
        moved,
    })
}

fn remove(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing", path, e)),
    }
}
