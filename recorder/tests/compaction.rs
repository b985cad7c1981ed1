//! Compaction: a day's small files merged into large sorted ones with their provenance, every
//! event still archived exactly once, readers never counting one twice or missing one while a
//! compaction runs, a crash between the merge and the removal harmless, and the running
//! recorder compacting while events flow.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should stop the test

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use eventlog::{Durability, EmbeddedLog, EmbeddedOptions, EventLog, Stream};
use recorder::EventSource;
use recorder::archive::{Check, Layout, Strays, Table, list, survey, visible};
use recorder::compaction::{CompactionSettings, Progress, compact};

const RUN: u32 = 7;

fn open_log(dir: &Path) -> Arc<dyn EventLog> {
    Arc::new(EmbeddedLog::open(dir, EmbeddedOptions::default()).expect("log opens"))
}

fn source(log: &Arc<dyn EventLog>) -> Arc<dyn EventSource> {
    Arc::new(Arc::clone(log))
}

/// An archive of `count` events in files of `per_file` events each, without compaction.
async fn small_files(dir: &Path, count: u64, per_file: usize) -> (Arc<dyn EventLog>, PathBuf) {
    let log = open_log(&dir.join("log"));
    log.append(
        Stream::Events,
        records(RUN, 0, count, 50),
        Durability::Durable,
    )
    .await
    .expect("append");
    let archive = dir.join("archive");
    let mut settings = settings(&archive);
    settings.max_flush_events = per_file;
    settings.compaction = None;
    record_until(settings, source(&log), count, Duration::from_secs(120)).await;
    assert_eq!(
        files(&archive).len(),
        count.div_ceil(per_file as u64) as usize
    );
    (log, archive)
}

/// Every final file of the events table, superseded or not.
fn files(archive: &Path) -> Vec<PathBuf> {
    list(&Layout::new(archive), Table::Events, &mut Strays::default())
        .expect("list")
        .into_iter()
        .map(|f| f.path)
        .collect()
}

fn at_once() -> CompactionSettings {
    CompactionSettings {
        grace: Duration::ZERO,
        ..CompactionSettings::default()
    }
}

fn encoding(archive: &Path) -> recorder::archive::Encoding {
    recorder::Settings::new(archive).encoding
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_merge_into_one_sorted_file_that_names_what_it_merged() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, archive) = small_files(dir.path(), 10_000, 500).await;
    let mut seen: Vec<Progress> = Vec::new();
    let report = compact(
        &Layout::new(&archive),
        encoding(&archive),
        &at_once(),
        &mut |p| seen.push(p),
    )
    .expect("compaction");

    assert_eq!(report.merged.len(), 1);
    assert_eq!(report.merged[0].inputs, 20);
    assert_eq!(report.removed.len(), 20, "{report:?}");
    let last = seen.last().expect("progress was reported");
    assert_eq!((last.rows_done, last.rows_total), (10_000, 10_000));
    assert_eq!((last.merges_done, last.merges_total), (1, 1));

    let tables = read_table(&archive, "events");
    assert_eq!(tables.len(), 1);
    let file = &tables[0];
    assert!(
        file.path.ends_with("part-0-0-9999.parquet"),
        "{:?}",
        file.path
    );
    let provenance = &file.metadata["blastwall.compacted_from"];
    assert_eq!(provenance.split(',').count(), 20);
    assert!(provenance.starts_with("0-499,500-999,"), "{provenance}");
    // Every event once, the whole file sorted by session and seq.
    assert_exactly(&archive, RUN, 10_000);

    let survey = survey(&Layout::new(&archive), Check::Full).expect("survey");
    assert_eq!(survey.resume.get(&0), Some(&10_000));
    assert!(
        survey.damaged.is_empty() && survey.gaps.is_empty(),
        "{survey:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_size_bounds_a_merged_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, archive) = small_files(dir.path(), 10_000, 500).await;
    let sizes: Vec<u64> = files(&archive)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .collect();
    let target = sizes.iter().take(5).sum::<u64>() + 1;
    let settings = CompactionSettings {
        target_size: target,
        ..at_once()
    };
    let report = compact(
        &Layout::new(&archive),
        encoding(&archive),
        &settings,
        &mut |_| {},
    )
    .unwrap();
    assert!(report.merged.len() >= 4, "{report:?}");
    for merged in &report.merged {
        assert!(merged.inputs <= 5, "{merged:?}");
    }
    assert_exactly(&archive, RUN, 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_during_a_compaction_count_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, archive) = small_files(dir.path(), 20_000, 400).await;
    let layout = Layout::new(&archive);
    // A reader that listed the files before the compaction and reads them after it.
    let listed_before: Vec<PathBuf> = files(&archive);

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (archive, done) = (archive.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) || reads == 0 {
                assert_exactly(&archive, RUN, 20_000);
                reads += 1;
            }
            reads
        })
    };
    // The 50 files hold about 2 MiB: a target well above that merges them all, so no file is
    // left over unmerged for the listing below.
    let with_grace = CompactionSettings {
        grace: Duration::from_secs(60),
        target_size: 8 * 1024 * 1024,
        ..CompactionSettings::default()
    };
    let report = compact(&layout, encoding(&archive), &with_grace, &mut |_| {}).unwrap();
    done.store(true, Ordering::SeqCst);
    let reads = reader
        .join()
        .expect("every concurrent read counted each event once");
    assert!(!report.merged.is_empty());
    assert!(
        report.removed.is_empty(),
        "the grace keeps merged-away files"
    );
    eprintln!("{reads} full reads ran beside the compaction");

    // Within the grace, what was listed before is still there to read.
    for path in &listed_before {
        assert!(
            path.exists(),
            "{} vanished within the grace",
            path.display()
        );
    }
    // A reader listing now uses the merged files only.
    let names = list(&layout, Table::Events, &mut Strays::default())
        .unwrap()
        .into_iter()
        .map(|f| f.name);
    assert_eq!(visible(names).len(), report.merged.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_merge_and_the_removal_leaves_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let (log, archive) = small_files(dir.path(), 10_000, 1_000).await;
    let layout = Layout::new(&archive);
    let keep = CompactionSettings {
        grace: Duration::from_secs(3600),
        ..CompactionSettings::default()
    };
    compact(&layout, encoding(&archive), &keep, &mut |_| {}).unwrap();
    assert_eq!(
        files(&archive).len(),
        11,
        "merged file beside the ten it merged"
    );
    // And a merge that was cut short: its temporary file.
    let day = files(&archive)[0].parent().unwrap().to_owned();
    std::fs::write(day.join(".part-0-0-99999.parquet.tmp"), b"half a file").unwrap();

    // The recorder restarts, surveys and records more.
    log.append(
        Stream::Events,
        records(RUN, 10_000, 12_000, 50),
        Durability::Durable,
    )
    .await
    .unwrap();
    let running = recorder::start(
        settings(&archive),
        source(&log),
        tokio::sync::watch::channel(false).1,
    )
    .await
    .expect("the survey accepts a merged file beside what it merged");
    assert_eq!(running.survey().superseded.len(), 10);
    assert_eq!(running.survey().removed_temps.len(), 1);
    assert_eq!(running.survey().resume.get(&0), Some(&10_000));
    drop(running);
    record_until(
        settings(&archive),
        source(&log),
        2_000,
        Duration::from_secs(60),
    )
    .await;
    assert_exactly(&archive, RUN, 12_000);

    // The next pass without a grace removes what was merged away, and merges the first
    // merged file with the files written since.
    let report = compact(&layout, encoding(&archive), &at_once(), &mut |_| {}).unwrap();
    assert_eq!(report.merged.len(), 1, "{report:?}");
    assert_eq!(report.removed.len(), 10 + 2, "{report:?}");
    assert_eq!(files(&archive).len(), 1);
    assert_exactly(&archive, RUN, 12_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_recorder_compacts_while_events_flow() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir.path().join("log"));
    let archive = dir.path().join("archive");
    let producer = {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            for from in (0..30_000).step_by(1_000) {
                log.append(
                    Stream::Events,
                    records(RUN, from, from + 1_000, 50),
                    Durability::Async,
                )
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut settings = settings(&archive);
    settings.max_flush_events = 1_000;
    settings.flush_interval = Duration::from_millis(50);
    settings.compaction = Some(CompactionSettings {
        interval: Duration::from_millis(100),
        ..at_once()
    });
    record_until(settings, source(&log), 30_000, Duration::from_secs(120)).await;
    producer.await.unwrap();
    assert_exactly(&archive, RUN, 30_000);
    let merged = read_table(&archive, "events")
        .iter()
        .filter(|f| f.metadata.contains_key("blastwall.compacted_from"))
        .count();
    assert!(merged >= 1, "no compaction ran beside the writer");
}
