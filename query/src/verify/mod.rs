//! `blastwall verify`: proves the archive complete and unmodified, or names what is not.
//!
//! Reads every file of the `events` table (from `since` on) in log order (`read`, on every
//! core), recomputes each row's hash from its columns (`links`; rows it cannot vouch for are
//! rebuilt as events by `rows`) and feeds it to its session's `schemas::ChainVerifier`:
//! `prev` links and gap-free `seq` are checked, and each `session.ended` seal is checked
//! against the exported public keys. Beside the chains it checks the files
//! against their names: each flush group's rows (events and quarantine together) must number
//! exactly the offsets the name covers, and a partition's groups must follow each other without
//! a hole — so a deleted row, or a removed file, is named even when no chain shows it.
//!
//! Invariants: every problem is a [`Finding`] naming the session, the seq and the file of the
//! exact event where it shows; verification continues past findings to report them all; the
//! archive is only read. Event contents never appear in findings.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::path::PathBuf;

use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaDataReader;
use schemas::{BreakKind, ChainBreak, ChainVerifier, Event, EventBody, PublicKeys, SessionStatus};
use uuid::Uuid;

use self::links::{Checked, HashedLink};
use self::read::Chunk;
use crate::archive::PartFile;
use crate::{Archive, Error};

mod links;
mod read;

/// One thing wrong with the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The session concerned, when the problem is in a session.
    pub session_id: Option<Uuid>,
    /// The seq of the event where the problem shows.
    pub seq: Option<u64>,
    /// The file holding that event (or the file or range concerned).
    pub file: Option<PathBuf>,
    /// What is wrong.
    pub problem: Problem,
}

/// What kind of problem a [`Finding`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The session's chain is broken (modified, deleted, reordered, forged).
    Chain(ChainBreak),
    /// A row cannot be the event that was hashed (a column altered, unreadable values).
    Row(String),
    /// A file cannot be read at all.
    Unreadable(String),
    /// Offsets of a partition that no file covers: a file was removed.
    MissingOffsets {
        /// The partition.
        partition: u32,
        /// First missing offset.
        first: u64,
        /// Last missing offset.
        last: u64,
    },
    /// A group's files hold more or fewer rows than the offsets it covers.
    RowCount {
        /// Offsets covered.
        expected: u64,
        /// Rows found.
        found: u64,
    },
    /// A group has fewer files than its footers declare (`blastwall.group_files`).
    GroupFileMissing {
        /// Files the group was written with.
        declared: u64,
        /// Files found.
        found: u64,
    },
    /// The session index lists a session none of whose events is in the archive.
    SessionMissing {
        /// Events the index counted.
        indexed: u64,
    },
    /// The session index counted more events than the archive holds: its tail was removed.
    TailMissing {
        /// Events the index counted.
        indexed: u64,
        /// Events in the archive.
        found: u64,
    },
    /// Offsets covered by two groups.
    Overlap {
        /// The partition.
        partition: u32,
        /// The offset archived twice.
        offset: u64,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::Chain(broken) => write!(f, "{broken}")?,
            problem => {
                if let Some(session) = self.session_id {
                    write!(f, "session {session}")?;
                    if let Some(seq) = self.seq {
                        write!(f, " seq {seq}")?;
                    }
                    write!(f, ": ")?;
                }
                match problem {
                    Problem::Chain(_) => {}
                    Problem::Row(reason) => write!(f, "{reason}")?,
                    Problem::Unreadable(reason) => write!(f, "unreadable file: {reason}")?,
                    Problem::MissingOffsets {
                        partition,
                        first,
                        last,
                    } => write!(
                        f,
                        "log offsets {first}..={last} of partition {partition} are in no file: a file was removed"
                    )?,
                    Problem::RowCount { expected, found } => write!(
                        f,
                        "the group covers {expected} log offsets but its files hold {found} rows: rows were deleted or added"
                    )?,
                    Problem::GroupFileMissing { declared, found } => write!(
                        f,
                        "the group was written as {declared} files but {found} remain: a file was removed"
                    )?,
                    Problem::SessionMissing { indexed } => write!(
                        f,
                        "the session index lists this session with {indexed} events, but none is in the archive: the session was removed"
                    )?,
                    Problem::TailMissing { indexed, found } => write!(
                        f,
                        "the session index counted {indexed} events, the archive holds {found}: its last events were removed"
                    )?,
                    Problem::Overlap { partition, offset } => write!(
                        f,
                        "log offset {offset} of partition {partition} is covered by two files"
                    )?,
                }
            }
        }
        if let Some(file) = &self.file {
            write!(f, " [{}]", file.display())?;
        }
        Ok(())
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Files of the events table read.
    pub files: u64,
    /// Events checked.
    pub events: u64,
    /// Sessions whose chain verified and is sealed.
    pub sealed: u64,
    /// Sessions whose chain verified but has no `session.ended` yet.
    pub open: u64,
    /// Sessions that began before `since` (their earlier events were not read): not judged.
    pub not_judged: u64,
    /// Sessions the index lists whose days retention removed, as `archive.pruned` events in
    /// the archive record: gone by rule, not by tampering.
    pub pruned: u64,
    /// Every problem, in the order found.
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// Whether the archive verified without a finding.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

struct Tracked<'k> {
    verifier: ChainVerifier<'k>,
    /// A reported gap `(expected seq, file, event id)`, upgraded to a reorder if it shows up.
    gap: Option<(u64, Option<PathBuf>)>,
    broken: bool,
    judged: bool,
}

/// Verifies every session and file of the archive from `since` (a day) on.
pub fn verify(
    archive: &Archive,
    keys: &PublicKeys,
    since: Option<NaiveDate>,
) -> Result<VerifyReport, Error> {
    let mut report = VerifyReport::default();
    let files = archive.part_files(&archive.events_dir(), since)?;
    // A group's rows are counted over all its files, also those of days before `since`.
    let in_window: std::collections::HashSet<(u32, u64, u64)> = files
        .iter()
        .chain(&archive.part_files(&archive.quarantine_dir(), since)?)
        .map(|f| (f.partition, f.first, f.last))
        .collect();
    let whole_groups = |table: &std::path::Path| -> Result<Vec<PartFile>, Error> {
        Ok(archive
            .part_files(table, None)?
            .into_iter()
            .filter(|f| in_window.contains(&(f.partition, f.first, f.last)))
            .collect())
    };
    check_groups(
        &whole_groups(&archive.events_dir())?,
        &whole_groups(&archive.quarantine_dir())?,
        &mut report,
    );
    let mut sessions: HashMap<Uuid, Tracked<'_>> = HashMap::new();
    let mut order: Vec<Uuid> = Vec::new();
    let mut pruned_through: Option<NaiveDate> = None;
    report.files = files.len() as u64;
    // Files are read and hashed on every core; chains are checked here, in log order.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    read::in_order(&files, keys, workers, |index, chunk| {
        let file = files
            .get(index)
            .ok_or(Error::Internal("a chunk of a file not in the list"))?;
        let rows = match chunk {
            Chunk::Rows(rows) => rows,
            Chunk::Unreadable(reason) => {
                report
                    .findings
                    .push(file_finding(file, Problem::Unreadable(reason)));
                return Ok(());
            }
            Chunk::Failed(error) => return Err(error),
        };
        for row in rows {
            report.events += 1;
            let row = match row {
                Checked::Link(link) => Row::Hashed(link),
                Checked::Event(event) => match *event {
                    Ok(event) => Row::Decoded(Box::new(event)),
                    Err(problem) => {
                        if let Some(tracked) = problem.session_id.and_then(|s| sessions.get_mut(&s))
                        {
                            tracked.broken = true;
                        }
                        report.findings.push(Finding {
                            session_id: problem.session_id,
                            seq: Some(problem.seq),
                            file: Some(file.path.clone()),
                            problem: Problem::Row(problem.reason),
                        });
                        continue;
                    }
                },
            };
            let (session_id, seq) = row.position();
            if let Row::Decoded(event) = &row
                && let EventBody::ArchivePruned(pruned) = &event.body
                && pruned.table == "events"
                && let Ok(day) = NaiveDate::parse_from_str(&pruned.day, "%Y-%m-%d")
            {
                pruned_through = pruned_through.max(Some(day));
            }
            let tracked = sessions.entry(session_id).or_insert_with(|| {
                order.push(session_id);
                Tracked {
                    verifier: ChainVerifier::new(session_id, keys),
                    gap: None,
                    broken: false,
                    // With `since`, a session seen first mid-way began before the window.
                    judged: since.is_none() || seq == 0,
                }
            });
            if !tracked.judged {
                continue;
            }
            if let Some((missing, _)) = &tracked.gap
                && seq == *missing
            {
                // The missing seq came after a later one: the events were reordered.
                if let Some(Finding {
                    problem: Problem::Chain(broken),
                    ..
                }) = report
                    .findings
                    .iter_mut()
                    .rev()
                    .find(|f| f.session_id == Some(session_id))
                    && let BreakKind::SeqGap { found } = broken.kind
                {
                    broken.kind = BreakKind::SeqOutOfOrder { found };
                }
                tracked.gap = None;
            }
            if tracked.broken {
                continue;
            }
            let pushed = match &row {
                Row::Hashed(link) => {
                    tracked
                        .verifier
                        .push_hashed(&link.link(), link.hash, link.seal.as_deref())
                }
                Row::Decoded(event) => tracked.verifier.push(event),
            };
            if let Err(broken) = pushed {
                tracked.broken = true;
                if let BreakKind::SeqGap { .. } = broken.kind {
                    tracked.gap = Some((broken.seq, Some(file.path.clone())));
                }
                report.findings.push(Finding {
                    session_id: Some(session_id),
                    seq: Some(broken.seq),
                    file: Some(file.path.clone()),
                    problem: Problem::Chain(broken),
                });
            }
        }
        Ok(())
    })?;
    // The session index says which sessions exist and how long they were when last written.
    let mut indexed = if since.is_none() {
        indexed_sessions(archive, &mut report)?
    } else {
        HashMap::new()
    };
    for session in order {
        let listed = indexed.remove(&session);
        let Some(tracked) = sessions.remove(&session) else {
            continue;
        };
        if !tracked.judged {
            report.not_judged += 1;
            continue;
        }
        if tracked.broken {
            continue;
        }
        match tracked.verifier.finish() {
            Ok(done) => {
                match done.status {
                    SessionStatus::Sealed { .. } => report.sealed += 1,
                    SessionStatus::Open => report.open += 1,
                }
                if let Some((indexed, path, _)) = listed.filter(|(n, _, _)| *n > done.events) {
                    report.findings.push(Finding {
                        session_id: Some(session),
                        seq: Some(done.events),
                        file: Some(path),
                        problem: Problem::TailMissing {
                            indexed,
                            found: done.events,
                        },
                    });
                }
            }
            Err(broken) => report.findings.push(Finding {
                session_id: Some(session),
                seq: Some(broken.seq),
                file: None,
                problem: Problem::Chain(broken),
            }),
        }
    }
    for (session, (indexed, path, last_event)) in indexed {
        // Retention removes whole days, oldest first: a session that ended on or before the
        // last day removed is gone by rule.
        if pruned_through.is_some_and(|day| last_event.date_naive() <= day) {
            report.pruned += 1;
            continue;
        }
        report.findings.push(Finding {
            session_id: Some(session),
            seq: None,
            file: Some(path),
            problem: Problem::SessionMissing { indexed },
        });
    }
    Ok(report)
}

/// A session as the index last saw it: events counted, the snapshot's file, its latest event.
type Indexed = (u64, PathBuf, chrono::DateTime<chrono::Utc>);

/// Per session in the index: the most events any snapshot counted, and that snapshot's file.
fn indexed_sessions(
    archive: &Archive,
    report: &mut VerifyReport,
) -> Result<HashMap<Uuid, Indexed>, Error> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{TimestampNanosecondType, UInt64Type};
    use schemas::arrow::sessions::columns;

    let mut indexed: HashMap<Uuid, Indexed> = HashMap::new();
    for path in archive.session_files()? {
        let reader = File::open(&path)
            .map_err(|e| e.to_string())
            .and_then(|f| ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| e.to_string()))
            .and_then(|b| b.build().map_err(|e| e.to_string()));
        let batches: Result<Vec<_>, String> =
            reader.and_then(|r| r.collect::<Result<_, _>>().map_err(|e| e.to_string()));
        let batches = match batches {
            Ok(batches) => batches,
            Err(reason) => {
                report.findings.push(Finding {
                    session_id: None,
                    seq: None,
                    file: Some(path.clone()),
                    problem: Problem::Unreadable(reason),
                });
                continue;
            }
        };
        for batch in batches {
            let (Some(ids), Some(counts), Some(lasts)) = (
                batch.column_by_name(columns::SESSION_ID),
                batch.column_by_name(columns::EVENTS),
                batch.column_by_name(columns::LAST_EVENT),
            ) else {
                continue;
            };
            let (ids, counts) = (ids.as_string::<i32>(), counts.as_primitive::<UInt64Type>());
            let Some(lasts) = lasts.as_primitive_opt::<TimestampNanosecondType>() else {
                continue;
            };
            for row in 0..batch.num_rows() {
                let Ok(id) = Uuid::parse_str(ids.value(row)) else {
                    continue;
                };
                let count = counts.value(row);
                let last = chrono::DateTime::from_timestamp_nanos(lasts.value(row));
                let entry = indexed
                    .entry(id)
                    .or_insert_with(|| (count, path.clone(), last));
                if count > entry.0 {
                    *entry = (count, path.clone(), last);
                }
            }
        }
    }
    Ok(indexed)
}

/// A row for the chain: hashed by the fast path, or decoded in full.
enum Row {
    Hashed(HashedLink),
    Decoded(Box<Event>),
}

impl Row {
    fn position(&self) -> (Uuid, u64) {
        match self {
            Row::Hashed(link) => (link.session_id, link.seq),
            Row::Decoded(event) => (event.session_id, event.seq),
        }
    }
}

fn file_finding(file: &PartFile, problem: Problem) -> Finding {
    Finding {
        session_id: None,
        seq: None,
        file: Some(file.path.clone()),
        problem,
    }
}

/// What the files of one flush group add up to.
struct GroupTally {
    rows: u64,
    files: u64,
    /// Files the group was written with, from the footers' `blastwall.group_files`.
    declared: u64,
    /// A file of the group, to name in a finding.
    path: PathBuf,
}

/// Rows per group against the offsets its name covers, and holes between groups.
fn check_groups(events: &[PartFile], quarantine: &[PartFile], report: &mut VerifyReport) {
    let mut groups: BTreeMap<(u32, u64, u64), GroupTally> = BTreeMap::new();
    for file in events.iter().chain(quarantine) {
        let rows = File::open(&file.path)
            .map_err(|e| e.to_string())
            .and_then(|f| {
                ParquetMetaDataReader::new()
                    .parse_and_finish(&f)
                    .map_err(|e| e.to_string())
            });
        match rows {
            Ok(metadata) => {
                let rows = u64::try_from(metadata.file_metadata().num_rows()).unwrap_or(0);
                let declared = metadata
                    .file_metadata()
                    .key_value_metadata()
                    .into_iter()
                    .flatten()
                    .find(|kv| kv.key == "blastwall.group_files")
                    .and_then(|kv| kv.value.as_deref()?.parse().ok())
                    .unwrap_or(1);
                let entry = groups
                    .entry((file.partition, file.first, file.last))
                    .or_insert_with(|| GroupTally {
                        rows: 0,
                        files: 0,
                        declared: 0,
                        path: file.path.clone(),
                    });
                entry.rows += rows;
                entry.files += 1;
                entry.declared = entry.declared.max(declared);
            }
            Err(reason) => report
                .findings
                .push(file_finding(file, Problem::Unreadable(reason))),
        }
    }
    let mut next: BTreeMap<u32, u64> = BTreeMap::new();
    for (
        &(partition, first, last),
        GroupTally {
            rows,
            files,
            declared,
            path,
        },
    ) in &groups
    {
        let expected = last - first + 1;
        if files < declared {
            report.findings.push(Finding {
                session_id: None,
                seq: None,
                file: Some(path.clone()),
                problem: Problem::GroupFileMissing {
                    declared: *declared,
                    found: *files,
                },
            });
        } else if *rows != expected {
            report.findings.push(Finding {
                session_id: None,
                seq: None,
                file: Some(path.clone()),
                problem: Problem::RowCount {
                    expected,
                    found: *rows,
                },
            });
        }
        // A partition's first group may start anywhere: retention removes whole old days.
        let start = next.get(&partition).copied().unwrap_or(first);
        if first > start {
            report.findings.push(Finding {
                session_id: None,
                seq: None,
                file: Some(path.clone()),
                problem: Problem::MissingOffsets {
                    partition,
                    first: start,
                    last: first - 1,
                },
            });
        } else if first < start {
            report.findings.push(Finding {
                session_id: None,
                seq: None,
                file: Some(path.clone()),
                problem: Problem::Overlap {
                    partition,
                    offset: first,
                },
            });
        }
        next.insert(partition, last + 1);
    }
}
