//! The embedded log and its raw-disk baselines, interleaved in rounds.
//!
//! On a shared 2-core machine an fdatasync takes 0.2 ms one second and 2 ms the next, so a
//! baseline measured a minute apart from the mode it judges says little. Each round appends a
//! slice of the events to a fresh embedded log (`async`, then `durable`) and right after writes
//! the same slice raw, in the group size the writer just achieved; the rows sum the rounds.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use eventlog::{Durability, EmbeddedLog, EmbeddedOptions, Record};
use tempfile::TempDir;
use tokio::runtime::Runtime;

use crate::disk;
use crate::report::{Report, Row};
use crate::workload::Workload;
use crate::{Settings, append_all};

/// The per-event fsync baseline stops after this long in all: it only shows one fsync's cost.
const SLOW_LIMIT: Duration = Duration::from_secs(3);

/// One mode's rounds, summed.
#[derive(Default)]
struct Tally {
    events: usize,
    elapsed: Duration,
    /// Writer groups (embedded) or fdatasync calls (raw); `None` once one round had no count.
    groups: Option<u64>,
    /// Each round's events per second, for the spread.
    rates: Vec<f64>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            groups: Some(0),
            ..Tally::default()
        }
    }

    fn add(&mut self, events: usize, elapsed: Duration, groups: Option<u64>) {
        self.events += events;
        self.elapsed += elapsed;
        self.groups = self.groups.zip(groups).map(|(a, b)| a + b);
        self.rates
            .push(events as f64 / elapsed.as_secs_f64().max(1e-9));
    }

    fn per_group(&self) -> Option<f64> {
        self.groups
            .filter(|g| *g > 0)
            .map(|g| self.events as f64 / g as f64)
    }

    fn spread(&self) -> String {
        let min = self.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.rates.iter().copied().fold(0.0, f64::max);
        format!(
            "{}..{}",
            crate::report::thousands(min),
            crate::report::thousands(max)
        )
    }
}

/// Runs the rounds and adds the rows `async`, `durable`, `raw`, `raw+sync`, `raw+sync1`.
pub fn run(
    runtime: &Runtime,
    report: &mut Report,
    workload: &Workload,
    settings: &Settings,
    scratch: &TempDir,
) -> Result<()> {
    let rounds = settings.rounds.min(workload.len()).max(1);
    let len = workload.frame_len;
    let (mut asynchronous, mut durable) = (Tally::new(), Tally::new());
    let (mut raw, mut raw_sync, mut raw_sync1) = (Tally::new(), Tally::new(), Tally::new());
    for round in 0..rounds {
        let from = round * workload.len() / rounds;
        let to = (round + 1) * workload.len() / rounds;
        let records = &workload.records[from..to];
        let frames = &workload.frames[from * len..to * len];
        let n = to - from;
        // Everything a round writes stays until the round is over: see `disk::write_groups`.
        let dir = tempfile::tempdir_in(scratch.path())?;

        let (elapsed, groups) = embedded(runtime, records, settings, &dir, Durability::Async, len)?;
        asynchronous.add(n, elapsed, groups);
        let group = group_size(n, groups);
        let r = disk::write_groups(dir.path(), frames, len, group, false, Duration::MAX)?;
        raw.add(r.events, r.elapsed, Some(r.writes));

        let (elapsed, groups) =
            embedded(runtime, records, settings, &dir, Durability::Durable, len)?;
        durable.add(n, elapsed, groups);
        let group = group_size(n, groups);
        let r = disk::write_groups(dir.path(), frames, len, group, true, Duration::MAX)?;
        raw_sync.add(r.events, r.elapsed, Some(r.writes));

        let limit = SLOW_LIMIT / rounds as u32;
        let r = disk::write_groups(dir.path(), frames, len, 1, true, limit)?;
        raw_sync1.add(r.events, r.elapsed, Some(r.writes));
        dir.close()?;
        disk::settle(scratch.path())?;
        eprintln!(
            "[bench] round {}/{rounds}: {n} events; async {:.0}/s, durable {:.0}/s",
            round + 1,
            asynchronous.rates.last().copied().unwrap_or(0.0),
            durable.rates.last().copied().unwrap_or(0.0),
        );
    }

    let batch = format!("{} tasks x {}", settings.tasks, settings.batch);
    let per = |t: &Tally| t.per_group().map_or("?".to_owned(), |g| format!("{g:.0}"));
    let row = |id, mode: String, t: &Tally| Row::new(id, mode, t.events, t.elapsed);
    report.push(row(
        "raw",
        format!("raw write, no fsync, ~{} events/write", per(&raw)),
        &raw,
    ));
    let mode = format!("raw write+fdatasync, ~{} events/sync", per(&raw_sync));
    report.push(row("raw+sync", mode, &raw_sync).against("raw"));
    let mode = "raw write+fdatasync, 1 event/sync".to_owned();
    report.push(row("raw+sync1", mode, &raw_sync1).against("raw+sync"));
    report.push(row("async", format!("embedded, async, {batch}"), &asynchronous).against("raw"));
    report
        .push(row("durable", format!("embedded, durable, {batch}"), &durable).against("raw+sync"));

    report.note(format!(
        "embedded and raw modes ran interleaved in {rounds} rounds of ~{} events; each raw \
         baseline writes the round's events in the group size the log's writer achieved just \
         before it",
        workload.len() / rounds
    ));
    for (name, tally, what) in [
        ("embedded async", &asynchronous, "events per write"),
        ("embedded durable", &durable, "events per fdatasync"),
    ] {
        match (tally.groups, tally.per_group()) {
            (Some(groups), Some(per_group)) => report.note(format!(
                "{name}: the writer committed {groups} groups, {per_group:.1} {what}, one every \
                 {:.0} us (counted from the writer thread's write calls in /proc)",
                tally.elapsed.as_secs_f64() * 1e6 / groups as f64
            )),
            _ => report.note(format!(
                "{name}: writer groups not measurable (no /proc io)"
            )),
        }
    }
    for (name, tally) in [("group", &raw_sync), ("single event", &raw_sync1)] {
        if let Some(syncs) = tally.groups.filter(|s| *s > 0) {
            report.note(format!(
                "raw write+fdatasync per {name}: {:.0} us each on average",
                tally.elapsed.as_secs_f64() * 1e6 / syncs as f64
            ));
        }
    }
    report.note(format!(
        "per-round events/s: embedded durable {}, raw+sync {}; embedded async {}, raw {}",
        durable.spread(),
        raw_sync.spread(),
        asynchronous.spread(),
        raw.spread()
    ));
    report.note(format!(
        "per-round ratios (median, min..max; robust to the other load on the machine): \
         durable/raw+sync {}, async/raw {}",
        ratios(&durable, &raw_sync),
        ratios(&asynchronous, &raw)
    ));
    Ok(())
}

/// The median and range of the rounds' rate ratios of `a` to `b`.
fn ratios(a: &Tally, b: &Tally) -> String {
    let mut ratios: Vec<f64> = a.rates.iter().zip(&b.rates).map(|(a, b)| a / b).collect();
    ratios.sort_by(f64::total_cmp);
    match (ratios.first(), ratios.get(ratios.len() / 2), ratios.last()) {
        (Some(min), Some(median), Some(max)) => format!("{median:.2}x ({min:.2}..{max:.2})"),
        _ => "-".to_owned(),
    }
}

/// The writer's average group in a round, as a whole number of events.
fn group_size(events: usize, groups: Option<u64>) -> usize {
    groups.filter(|g| *g > 0).map_or(256, |g| {
        ((events as f64 / g as f64).round() as usize).max(1)
    })
}

/// Appends `records` at `durability` to a fresh embedded log in the round's directory;
/// returns the time and the writer's group count.
fn embedded(
    runtime: &Runtime,
    records: &[Record],
    settings: &Settings,
    round: &TempDir,
    durability: Durability,
    frame_len: usize,
) -> Result<(Duration, Option<u64>)> {
    let dir = round.path().join(format!("{durability:?}"));
    let log = Arc::new(EmbeddedLog::open(dir, EmbeddedOptions::default())?);
    let before = disk::writer_io();
    let elapsed = runtime.block_on(append_all(
        log.clone(),
        records,
        settings.tasks,
        settings.batch,
        durability,
    ))?;
    let after = disk::writer_io();
    drop(log); // joins the writer thread (and its final flush), untimed
    Ok((
        elapsed,
        disk::groups(before, after, records.len(), frame_len),
    ))
}
