//! Rewriting ranges of the archive from the log: damaged groups set aside by the survey, and
//! ranges missing between groups.
//!
//! Runs once at start, before the recorder follows the log, and only when the survey found
//! something. It reads the events stream from the oldest record kept, as a throwaway consumer
//! that never commits, and keeps the records of the wanted ranges. A range is settled when a
//! record at or past its end has been seen on its partition, or when nothing arrives for
//! `repair_wait`. What was found is written as groups (`flush`), one per gap-free run; what the
//! log no longer holds is reported (`RepairReport::lost`).
//!
//! The repaired ranges lie below the survey's resume offsets, so the recorder's own reading
//! never writes them: no offset is archived twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventlog::Entry;

use crate::Error;
use crate::archive::{Encoding, Layout, PartName};
use crate::flush::{Flushed, flush};
use crate::source::EventSource;

/// What a repair wrote and what it could not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Groups written.
    pub written: Vec<Flushed>,
    /// Ranges the log no longer holds.
    pub lost: Vec<PartName>,
}

/// Reads the log for `ranges` and archives what it finds (see the module documentation).
pub async fn repair(
    source: &Arc<dyn EventSource>,
    consumer: &str,
    layout: &Layout,
    encoding: Encoding,
    ranges: &[PartName],
    wait: Duration,
    max_run: usize,
) -> Result<RepairReport, Error> {
    let name = format!("{consumer}-repair-{}", std::process::id());
    let mut sub = source.subscribe(&name).await?;
    let mut found: BTreeMap<PartName, Vec<Entry>> =
        ranges.iter().map(|r| (*r, Vec::new())).collect();
    let mut settled: BTreeMap<PartName, bool> = ranges.iter().map(|r| (*r, false)).collect();
    let mut last_arrival = Instant::now();
    while settled.values().any(|done| !done) && last_arrival.elapsed() < wait {
        let batch = sub.poll(10_000, Duration::from_millis(200)).await?;
        if !batch.is_empty() {
            last_arrival = Instant::now();
        }
        for entry in batch {
            let (partition, offset) = (entry.position.partition, entry.position.offset);
            for (range, done) in settled.iter_mut().filter(|(r, _)| r.partition == partition) {
                if offset >= range.last {
                    *done = true;
                }
            }
            let wanted = ranges
                .iter()
                .find(|r| r.partition == partition && (r.first..=r.last).contains(&offset));
            if let Some(range) = wanted
                && let Some(entries) = found.get_mut(range)
            {
                entries.push(entry);
            }
        }
    }
    let mut report = RepairReport::default();
    for (range, entries) in found {
        let (runs, lost) = runs(range, entries, max_run);
        report.lost.extend(lost);
        for run in runs {
            let layout = layout.clone();
            let written = tokio::task::spawn_blocking(move || flush(&layout, encoding, &run))
                .await
                .map_err(|e| Error::task("repair flush", e))??;
            report.written.push(written);
        }
    }
    Ok(report)
}

/// Splits the records found for `range` into gap-free runs of at most `max_run` records, and
/// names the offsets of the range not found.
fn runs(
    range: PartName,
    mut entries: Vec<Entry>,
    max_run: usize,
) -> (Vec<Vec<Entry>>, Vec<PartName>) {
    entries.sort_by_key(|e| e.position.offset);
    entries.dedup_by_key(|e| e.position.offset);
    let mut runs: Vec<Vec<Entry>> = Vec::new();
    let mut lost = Vec::new();
    let mut expected = range.first;
    for entry in entries {
        let offset = entry.position.offset;
        if offset > expected {
            lost.push(PartName {
                partition: range.partition,
                first: expected,
                last: offset - 1,
            });
        }
        let continues = offset == expected;
        match runs.last_mut() {
            Some(run) if continues && run.len() < max_run.max(1) => run.push(entry),
            _ => runs.push(vec![entry]),
        }
        expected = offset + 1;
    }
    if expected <= range.last {
        lost.push(PartName {
            partition: range.partition,
            first: expected,
            last: range.last,
        });
    }
    (runs, lost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventlog::Position;

    fn entry(offset: u64) -> Entry {
        Entry {
            position: Position {
                partition: 2,
                offset,
            },
            timestamp_ms: 0,
            key: "k".into(),
            value: "v".into(),
        }
    }

    #[test]
    fn runs_split_at_gaps_and_name_what_is_lost() {
        let range = PartName {
            partition: 2,
            first: 10,
            last: 20,
        };
        let entries = [12, 13, 14, 16, 17].into_iter().map(entry).collect();
        let (runs, lost) = runs(range, entries, 2);
        let offsets: Vec<Vec<u64>> = runs
            .iter()
            .map(|r| r.iter().map(|e| e.position.offset).collect())
            .collect();
        assert_eq!(offsets, vec![vec![12, 13], vec![14], vec![16, 17]]);
        let lost: Vec<(u64, u64)> = lost.iter().map(|r| (r.first, r.last)).collect();
        assert_eq!(lost, vec![(10, 11), (15, 15), (18, 20)]);
    }

    #[test]
    fn a_whole_range_is_one_run() {
        let range = PartName {
            partition: 2,
            first: 0,
            last: 3,
        };
        let (runs, lost) = runs(range, (0..4).map(entry).collect(), 100);
        assert_eq!(runs.len(), 1);
        assert!(lost.is_empty());
    }
}
