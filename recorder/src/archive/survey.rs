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
//! - files that are not the archive's are reported and left alone;
//! - groups that a whole compacted group supersedes (`catalog::visible`) are left for
//!   compaction to remove and count for nothing.
//!
//! The result gives, per partition, the offset after the highest archived one
//! ([`Survey::resume`]): the recorder drops every record before it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::catalog::{self, Listed, Strays};
use super::name::{Layout, PartName, Table};
use super::write::{create_dir_durably, sync_dir};
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
    /// Files of groups a compacted group replaced, still there for readers; compaction
    /// removes them.
    pub superseded: Vec<PathBuf>,
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

/// Surveys the archive at `layout`, cleaning up after crashes as described above.
pub fn survey(layout: &Layout, check: Check) -> Result<Survey, Error> {
    survey_partitions(layout, check, None)
}

/// [`survey`] of the given partitions only (`None`: all): files of the others are neither
/// judged nor touched, as they may belong to another recorder of the same consumer group.
pub fn survey_partitions(
    layout: &Layout,
    check: Check,
    partitions: Option<&BTreeSet<u32>>,
) -> Result<Survey, Error> {
    let mine = |name: Option<PartName>| {
        partitions.is_none_or(|set| name.is_some_and(|n| set.contains(&n.partition)))
    };
    let mut survey = Survey::default();
    let mut found = Vec::new();
    for table in Table::ALL {
        let mut strays = Strays::default();
        let listed = catalog::list(layout, table, &mut strays)?;
        found.extend(listed.into_iter().filter(|f| mine(Some(f.name))));
        strays.temps.retain(|path| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            mine(name.as_deref().and_then(PartName::parse_temp))
        });
        remove_temps(strays.temps, &mut survey)?;
        survey.foreign.extend(strays.foreign);
    }
    let mut groups: BTreeMap<PartName, Vec<Listed>> = BTreeMap::new();
    for file in found {
        groups.entry(file.name).or_default().push(file);
    }
    take_superseded(&mut groups, &mut survey);
    let newest: BTreeMap<u32, PartName> = groups
        .keys()
        .map(|name| (name.partition, *name))
        .collect::<BTreeMap<_, _>>();
    let mut complete: BTreeMap<u32, Vec<(PartName, PathBuf)>> = BTreeMap::new();
    for (name, mut files) in groups {
        let is_newest = newest.get(&name.partition) == Some(&name);
        if is_newest || check == Check::Full {
            for file in &mut files {
                if let Ok(footer) = &file.footer
                    && let Err(reason) = read_rows(&file.path, footer.rows)
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

fn judge(name: PartName, files: &[Listed]) -> Verdict {
    let mut counts = BTreeSet::new();
    let mut rows = 0u64;
    for file in files {
        match &file.footer {
            Ok(footer) => {
                rows += footer.rows;
                counts.insert(footer.group_files);
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

/// Removes temporary files: at start no write is in progress, so each is a crash's leftover.
fn remove_temps(temps: Vec<PathBuf>, survey: &mut Survey) -> Result<(), Error> {
    let mut dirs = BTreeSet::new();
    for path in temps {
        remove(&path)?;
        if let Some(dir) = path.parent() {
            dirs.insert(dir.to_owned());
        }
        survey.removed_temps.push(path);
    }
    for dir in dirs {
        sync_dir(&dir)?;
    }
    Ok(())
}

/// Sets aside the groups a whole compacted group supersedes: they stay on disk for readers
/// that listed them before the compaction, until compaction removes them after its grace.
fn take_superseded(groups: &mut BTreeMap<PartName, Vec<Listed>>, survey: &mut Survey) {
    let whole: Vec<PartName> = groups
        .iter()
        .filter(|(name, files)| matches!(judge(**name, files), Verdict::Whole))
        .map(|(name, _)| *name)
        .collect();
    let superseded: Vec<PartName> = groups
        .keys()
        .filter(|inner| whole.iter().any(|outer| catalog::supersedes(outer, inner)))
        .copied()
        .collect();
    for name in superseded {
        if let Some(files) = groups.remove(&name) {
            survey
                .superseded
                .extend(files.into_iter().map(|file| file.path));
        }
    }
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
    files: &[Listed],
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
