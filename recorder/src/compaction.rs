//! Compaction: runs of small files of a day merged into large ones, atomically for readers.
//!
//! Each flush writes a group of files (`archive::write`), so a busy archive gathers many small
//! files a day. [`compact`] finds runs of groups that are one events file each, on the same
//! day, with consecutive offsets, and merges each run into one file named for the whole range
//! (up to the target size, ~128 MiB). The merged file is written under a temporary name,
//! fsynced and renamed like any group; from that moment it supersedes the files it merged
//! (`archive::catalog::visible`), which stay on disk for the grace period so that a query that
//! listed them just before can still read them, and are removed by a later pass. A crash at
//! any step leaves either the small files alone, or both (the survey and readers then use the
//! merged one), never a gap. One maintenance task at a time: `ARCHIVE/.maintenance.lock`.
//!
//! The running recorder compacts every `interval` ([`spawn`]); `blastwall recorder compact`
//! runs one pass with a progress bar. Not here: the visibility rule (`archive::catalog`),
//! writing Parquet (`archive::write`).

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Error;
use crate::archive::{
    self, Encoding, Layout, Listed, PartName, Strays, Table, supersedes, write::sync_dir,
};

/// How compaction runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactionSettings {
    /// A merged file grows up to about this many bytes.
    pub target_size: u64,
    /// How long merged-away files stay for readers that listed them before.
    pub grace: Duration,
    /// How often the running recorder compacts.
    pub interval: Duration,
}

impl Default for CompactionSettings {
    fn default() -> Self {
        CompactionSettings {
            target_size: 128 * 1024 * 1024,
            grace: Duration::from_secs(300),
            interval: Duration::from_secs(600),
        }
    }
}

/// Where a compaction pass is, for a progress display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rows to copy in this pass.
    pub rows_total: u64,
    /// Rows copied so far.
    pub rows_done: u64,
    /// Merges finished, of `merges_total`.
    pub merges_done: usize,
    /// Merges planned in this pass.
    pub merges_total: usize,
}

/// One merge a pass made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    /// The day it is in.
    pub day: NaiveDate,
    /// The range the merged file covers.
    pub name: PartName,
    /// How many files it replaced.
    pub inputs: usize,
    /// Its size.
    pub bytes: u64,
}

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Files merged.
    pub merged: Vec<Merged>,
    /// Superseded files removed after their grace.
    pub removed: Vec<PathBuf>,
}

/// One compaction pass over the archive's events table (see the module documentation).
pub fn compact(
    layout: &Layout,
    encoding: Encoding,
    settings: &CompactionSettings,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, Error> {
    let _lock = archive::lock_maintenance(layout)?;
    let mut strays = Strays::default();
    let mut listed = Vec::new();
    for table in Table::ALL {
        listed.extend(archive::list(layout, table, &mut strays)?);
    }
    let mut report = Report {
        removed: remove_expired(&listed, settings.grace)?,
        ..Report::default()
    };
    let runs = plan(&listed, settings.target_size);
    let mut state = Progress {
        rows_total: runs.iter().flatten().map(|file| rows(file)).sum(),
        merges_total: runs.len(),
        ..Progress::default()
    };
    progress(state);
    for run in runs {
        let (Some(first), Some(last)) = (run.first(), run.last()) else {
            continue;
        };
        let name = PartName {
            partition: first.name.partition,
            first: first.name.first,
            last: last.name.last,
        };
        let inputs: Vec<(PartName, PathBuf)> =
            run.iter().map(|f| (f.name, f.path.clone())).collect();
        let bytes = archive::write::write_merged(
            layout,
            (Table::Events, first.day),
            name,
            &inputs,
            encoding,
            &mut |rows| {
                state.rows_done += rows;
                progress(state);
            },
        )?;
        state.merges_done += 1;
        progress(state);
        tracing::info!(range = %name, day = %first.day, files = run.len(), bytes, "compacted");
        report.merged.push(Merged {
            day: first.day,
            name,
            inputs: run.len(),
            bytes,
        });
    }
    if settings.grace.is_zero() && !report.merged.is_empty() {
        let mut listed = Vec::new();
        for table in Table::ALL {
            listed.extend(archive::list(layout, table, &mut strays)?);
        }
        report
            .removed
            .extend(remove_expired(&listed, Duration::ZERO)?);
    }
    Ok(report)
}

/// Runs the recorder's periodic compaction until `stopped` turns true.
pub fn spawn(
    layout: Layout,
    encoding: Encoding,
    settings: CompactionSettings,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(settings.interval) => {}
            }
            let (layout, settings) = (layout.clone(), settings.clone());
            let pass = tokio::task::spawn_blocking(move || {
                compact(&layout, encoding, &settings, &mut |_| {})
            });
            match pass.await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "compaction failed; the archive is unchanged where it failed and will be tried again")
                }
                Err(error) => tracing::error!(%error, "the compaction task failed"),
            }
        }
    })
}

/// Runs of mergeable files: one-file events groups of a partition, consecutive in offsets,
/// on one day, smaller than the target together; only runs of two or more.
fn plan(listed: &[Listed], target_size: u64) -> Vec<Vec<&Listed>> {
    let visible: BTreeSet<PartName> = archive::visible(listed.iter().map(|f| f.name))
        .into_iter()
        .collect();
    let mut files: Vec<&Listed> = listed
        .iter()
        .filter(|f| visible.contains(&f.name))
        .collect();
    files.sort_by_key(|f| (f.name, f.table));
    let mut runs = Vec::new();
    let mut run: Vec<&Listed> = Vec::new();
    let mut run_bytes = 0;
    for file in files {
        let Some(bytes) = mergeable(file).filter(|b| *b < target_size) else {
            close(&mut run, &mut runs);
            run_bytes = 0;
            continue;
        };
        let follows = run.last().is_some_and(|prev| {
            prev.name.partition == file.name.partition
                && prev.name.last + 1 == file.name.first
                && prev.day == file.day
                && run_bytes + bytes <= target_size
        });
        if !follows {
            close(&mut run, &mut runs);
            run_bytes = 0;
        }
        run.push(file);
        run_bytes += bytes;
    }
    close(&mut run, &mut runs);
    runs
}

fn close<'a>(run: &mut Vec<&'a Listed>, runs: &mut Vec<Vec<&'a Listed>>) {
    let taken = std::mem::take(run);
    if taken.len() >= 2 {
        runs.push(taken);
    }
}

/// The size of a file that may be merged: a whole one-file group of the events table.
fn mergeable(file: &Listed) -> Option<u64> {
    let footer = file.footer.as_ref().ok()?;
    let whole = footer.group_files == 1 && footer.rows == file.name.records();
    (file.table == Table::Events && whole).then_some(footer.bytes)
}

fn rows(file: &Listed) -> u64 {
    file.footer.as_ref().map_or(0, |f| f.rows)
}

/// Removes files superseded by a merged file older than `grace`; returns what it removed.
fn remove_expired(listed: &[Listed], grace: Duration) -> Result<Vec<PathBuf>, Error> {
    let now = SystemTime::now();
    let settled = |file: &Listed| {
        let whole = file
            .footer
            .as_ref()
            .is_ok_and(|f| f.group_files == 1 && f.rows == file.name.records());
        let age = fs::metadata(&file.path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok());
        whole && age.is_some_and(|age| age >= grace)
    };
    let outers: Vec<&Listed> = listed.iter().filter(|f| settled(f)).collect();
    let mut removed = Vec::new();
    let mut dirs = BTreeSet::new();
    for file in listed {
        let covered = outers
            .iter()
            .any(|outer| outer.table == file.table && supersedes(&outer.name, &file.name));
        if !covered {
            continue;
        }
        match fs::remove_file(&file.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("removing a compacted file", &file.path, e)),
        }
        if let Some(dir) = file.path.parent() {
            dirs.insert(dir.to_owned());
        }
        removed.push(file.path.clone());
    }
    for dir in dirs {
        sync_dir(&dir)?;
    }
    Ok(removed)
}
