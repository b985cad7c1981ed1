//! One flush: a contiguous run of a partition's records turned into one durable group of files.
//!
//! The recorder (`recorder`) calls [`flush`] on a blocking thread with the records it buffered
//! for a partition, offsets `first..=last` without a gap. Each record is decoded (`encode`):
//! events are grouped by the UTC day of their `time` and sorted by session and seq; rejected
//! records are grouped by the day the log stored them, in offset order. Each (table, day) becomes
//! one file of the group (`archive::write`). So every record of the run is in exactly one row of
//! the group, which the survey checks at the next start (rows = `last - first + 1`).
//!
//! Not here: when to flush (`recorder`), how files are made durable (`archive::write`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate};
use eventlog::{Entry, Position};

use crate::Error;
use crate::archive::{Encoding, GroupFile, Layout, PartName, Table, WrittenGroup, write_group};
use crate::encode::{self, Decoded, EventRow, Rejection};
use crate::sessions::SessionIndex;

/// A record set aside in the quarantine table, for reporting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    /// Where the record sits in the log.
    pub position: Position,
    /// Why it is not in the events table.
    pub rejection: Rejection,
}

/// What one flush wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flushed {
    /// The group of files and the offsets it covers.
    pub group: WrittenGroup,
    /// Rows written to the events table.
    pub events: u64,
    /// Records written to the quarantine table.
    pub quarantined: Vec<Quarantined>,
}

/// Archives `entries`, a gap-free run of one partition's offsets, as one group.
pub fn flush(layout: &Layout, encoding: Encoding, entries: &[Entry]) -> Result<Flushed, Error> {
    flush_indexed(layout, encoding, entries, None)
}

/// [`flush`], then folds the group's events into `sessions` and writes the index rows due.
pub fn flush_indexed(
    layout: &Layout,
    encoding: Encoding,
    entries: &[Entry],
    sessions: Option<&mut SessionIndex>,
) -> Result<Flushed, Error> {
    let name = run_name(entries)?;
    let mut events: BTreeMap<NaiveDate, Vec<EventRow>> = BTreeMap::new();
    let mut rejected: BTreeMap<NaiveDate, Vec<(&Entry, Rejection)>> = BTreeMap::new();
    for entry in entries {
        match encode::decode(entry) {
            Decoded::Event(row) => {
                let day = row.event.time.to_datetime().date_naive();
                events.entry(day).or_default().push(*row);
            }
            Decoded::Rejected(rejection) => {
                let day = DateTime::from_timestamp_millis(entry.timestamp_ms)
                    .map_or(NaiveDate::default(), |t| t.date_naive());
                rejected.entry(day).or_default().push((entry, rejection));
            }
        }
    }
    let event_count = events.values().map(|rows| rows.len() as u64).sum();
    let mut files = Vec::with_capacity(events.len() + rejected.len());
    for (day, rows) in &events {
        let mut order: Vec<&EventRow> = rows.iter().collect();
        order.sort_by(|a, b| {
            (a.event.session_id, a.event.seq).cmp(&(b.event.session_id, b.event.seq))
        });
        files.push(GroupFile {
            table: Table::Events,
            day: *day,
            batch: encode::events::batch(&order)?,
        });
    }
    for (day, records) in &rejected {
        files.push(GroupFile {
            table: Table::Quarantine,
            day: *day,
            batch: encode::quarantine::batch(records)?,
        });
    }
    let quarantined = rejected
        .into_values()
        .flatten()
        .map(|(entry, rejection)| Quarantined {
            position: entry.position,
            rejection,
        })
        .collect();
    let group = write_group(layout, name, files, encoding)?;
    if let Some(index) = sessions {
        for row in events.values().flatten() {
            index.observe(&row.event);
        }
        index.write_due(name)?;
    }
    Ok(Flushed {
        group,
        events: event_count,
        quarantined,
    })
}

/// The range of a run, checking that it is one partition's offsets without a gap.
fn run_name(entries: &[Entry]) -> Result<PartName, Error> {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Err(Error::encode("a flush", "no records to flush"));
    };
    let partition = first.position.partition;
    for (i, entry) in entries.iter().enumerate() {
        let expected = first.position.offset + i as u64;
        if entry.position.partition != partition || entry.position.offset != expected {
            return Err(Error::encode(
                "a flush",
                format!(
                    "record {} in a run expected at {partition}@{expected}",
                    entry.position
                ),
            ));
        }
    }
    Ok(PartName {
        partition,
        first: first.position.offset,
        last: last.position.offset,
    })
}
