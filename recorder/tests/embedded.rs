//! The recorder on the embedded log: a million events exactly once, the archive's layout and
//! order, resuming after a crash between a file's rename and the commit, what a crash leaves
//! behind, damaged files, and records that are not readable events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use common::*;
use eventlog::{
    Durability, EmbeddedLog, EmbeddedOptions, EmbeddedReader, EventLog, Position, Record, Stream,
};
use recorder::EventSource;

fn open_log(dir: &Path) -> Arc<dyn EventLog> {
    Arc::new(EmbeddedLog::open(dir, EmbeddedOptions::default()).expect("log opens"))
}

fn source(log: &Arc<dyn EventLog>) -> Arc<dyn EventSource> {
    Arc::new(Arc::clone(log))
}

async fn append(log: &Arc<dyn EventLog>, records: Vec<Record>) {
    for chunk in records.chunks(5_000) {
        log.append(Stream::Events, chunk.to_vec(), Durability::Async)
            .await
            .expect("append");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_events_are_archived_exactly_once() {
    const COUNT: u64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir.path().join("log"));
    let archive = dir.path().join("archive");
    let started = Instant::now();
    // The recorder follows while the events are appended.
    let producer = {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            for from in (0..COUNT).step_by(100_000) {
                append(&log, records(1, from, from + 100_000, 1_000)).await;
            }
        })
    };
    let mut settings = settings(&archive);
    settings.max_flush_events = 200_000;
    let status = record_until(settings, source(&log), COUNT, Duration::from_secs(600)).await;
    producer.await.unwrap();
    assert_eq!((status.events, status.quarantined), (COUNT, 0));
    assert_exactly(&archive, 1, COUNT);
    eprintln!(
        "1M events archived and read back in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn files_are_named_by_offsets_split_by_day_and_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir.path().join("log"));
    let archive = dir.path().join("archive");
    // 60 events of 7 sessions; the last 20 happen a day later.
    let mut records = Vec::new();
    for n in 0..60u64 {
        let mut event = event(2, n, 7);
        if n >= 40 {
            event.time = schemas::Timestamp::from_unix_nanos(BASE_NANOS + 86_400_000_000_000);
        }
        records.push(common::record(&event));
    }
    append(&log, records).await;
    let status = record_until(
        settings(&archive),
        source(&log),
        60,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(status.groups, 1, "one flush, one group");
    let files = read_table(&archive, "events");
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            let rel = f.path.strip_prefix(&archive).unwrap();
            rel.display().to_string()
        })
        .collect();
    assert_eq!(
        names,
        vec![
            "events/date=2026-11-26/part-0-0-59.parquet",
            "events/date=2026-11-27/part-0-0-59.parquet",
        ]
    );
    for file in &files {
        assert_eq!(file.metadata["blastwall.group_files"], "2");
        assert_eq!(file.metadata["blastwall.first_offset"], "0");
        assert_eq!(file.metadata["blastwall.last_offset"], "59");
        assert_eq!(file.batches[0].schema(), schemas::arrow::events_schema());
    }
    assert_exactly(&archive, 2, 60); // also checks the sort order
    // Promoted columns and terminal bytes.
    let batch = &files[0].batches[0];
    let kinds = batch.column_by_name("kind").unwrap();
    let kinds = kinds.as_string::<i32>();
    let terminal = batch.column_by_name("terminal_data").unwrap();
    let terminal = terminal.as_binary::<i32>();
    let rows = batch.column_by_name("row_count").unwrap();
    let rows = rows.as_primitive::<UInt64Type>();
    for row in 0..batch.num_rows() {
        match kinds.value(row) {
            "terminal.output" => assert!(terminal.value(row).starts_with(b"row ")),
            "result.returned" => assert_eq!(rows.value(row), 1),
            _ => {}
        }
    }
}

#[tokio::test]
async fn events_appear_within_the_flush_interval() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir.path().join("log"));
    let archive = dir.path().join("archive");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut settings = settings(&archive);
    settings.flush_interval = Duration::from_millis(500);
    let running = recorder::start(settings, source(&log), stopped)
        .await
        .unwrap();
    append(&log, records(3, 0, 10, 2)).await;
    let appended = Instant::now();
    let deadline = Duration::from_secs(3);
    while archived_events(&archive).len() < 10 {
        assert!(
            appended.elapsed() < deadline,
            "not archived within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = appended.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "flushed before the interval: {took:?}"
    );
    stop.send(true).unwrap();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn a_restart_resumes_from_the_archive_even_when_the_commit_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir.path().join("log"));
    let archive = dir.path().join("archive");
    append(&log, records(4, 0, 1_000, 10)).await;
    record_until(
        settings(&archive),
        source(&log),
        1_000,
        Duration::from_secs(30),
    )
    .await;
    // A crash after the rename but before the commit: the cursor is behind the archive.
    let mut cursor = EventLog::subscribe(log.as_ref(), Stream::Events, "recorder")
        .await
        .unwrap();
    cursor
        .commit(Position {
            partition: 0,
            offset: 99,
        })
        .await
        .unwrap();
    drop(cursor);
    append(&log, records(4, 1_000, 1_500, 10)).await;
    let status = record_until(
        settings(&archive),
        source(&log),
        500,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        status.skipped, 900,
        "offsets 100..999 were archived already"
    );
    assert_eq!(status.events, 500);
    assert_exactly(&archive, 4, 1_500);
}

#[tokio::test]
async fn leftovers_of_a_crash_are_removed_and_their_records_archived_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir.path().join("log"));
    let archive = dir.path().join("archive");
    append(&log, records(5, 0, 300, 10)).await;
    let mut settings = settings(&archive);
    settings.max_flush_events = 100;
    record_until(settings.clone(), source(&log), 300, Duration::from_secs(30)).await;
    let day = archive.join("events/date=2026-11-26");
    // A crash while writing: a half-written temporary file. A crash during the renames of a
    // two-file group: the newest group lacks a file, and its offsets were never committed.
    std::fs::write(day.join(".part-0-300-399.parquet.tmp"), b"PAR1 half").unwrap();
    let newest = day.join("part-0-200-299.parquet");
    assert!(newest.exists());
    let mut cursor = EventLog::subscribe(log.as_ref(), Stream::Events, "recorder")
        .await
        .unwrap();
    cursor
        .commit(Position {
            partition: 0,
            offset: 199,
        })
        .await
        .unwrap();
    drop(cursor);
    rewrite_footer_group_files(&newest, 2);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = recorder::start(settings, source(&log), stopped)
        .await
        .unwrap();
    let survey = running.survey().clone();
    assert_eq!(survey.removed_temps.len(), 1, "{survey:?}");
    assert_eq!(survey.removed_incomplete, vec![newest.clone()]);
    assert!(
        survey.damaged.is_empty() && survey.gaps.is_empty(),
        "{survey:?}"
    );
    running
        .status()
        .wait_for(|s| s.events >= 100)
        .await
        .unwrap();
    stop.send(true).unwrap();
    running.wait().await.unwrap();
    assert!(!day.join(".part-0-300-399.parquet.tmp").exists());
    assert_exactly(&archive, 5, 300);
}

/// Rewrites a file as if it were one of a group of `n` files (by re-encoding it with another
/// `blastwall.group_files`), to stage a crash in the middle of a group's renames.
fn rewrite_footer_group_files(path: &Path, n: usize) {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
    let mut metadata: Vec<KeyValue> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .filter(|kv| kv.key.starts_with("blastwall."))
        .cloned()
        .collect();
    for kv in &mut metadata {
        if kv.key == "blastwall.group_files" {
            kv.value = Some(n.to_string());
        }
    }
    let batches: Vec<_> = builder.build().unwrap().collect::<Result<_, _>>().unwrap();
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(metadata))
        .build();
    let tmp = path.with_extension("rewrite");
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(&tmp).unwrap(),
        batches[0].schema(),
        Some(props),
    )
    .unwrap();
    for batch in &batches {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
    std::fs::rename(tmp, path).unwrap();
}

#[tokio::test]
async fn a_damaged_file_is_set_aside_and_rewritten_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir.path().join("log"));
    let archive = dir.path().join("archive");
    append(&log, records(6, 0, 400, 10)).await;
    let mut settings = settings(&archive);
    settings.max_flush_events = 100;
    record_until(settings.clone(), source(&log), 400, Duration::from_secs(30)).await;
    let day = archive.join("events/date=2026-11-26");
    // An older file cut in half, and the newest with garbage where its footer was.
    let older = day.join("part-0-100-199.parquet");
    let bytes = std::fs::read(&older).unwrap();
    std::fs::write(&older, &bytes[..bytes.len() / 2]).unwrap();
    let newest = day.join("part-0-300-399.parquet");
    let mut bytes = std::fs::read(&newest).unwrap();
    let len = bytes.len();
    bytes[len - 40..len - 8].fill(0xAB);
    std::fs::write(&newest, bytes).unwrap();

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = recorder::start(settings, source(&log), stopped)
        .await
        .unwrap();
    let survey = running.survey().clone();
    let damaged: Vec<(u64, u64)> = survey
        .damaged
        .iter()
        .map(|d| (d.name.first, d.name.last))
        .collect();
    assert_eq!(damaged, vec![(100, 199), (300, 399)], "{survey:?}");
    for damage in &survey.damaged {
        assert!(
            damage
                .moved
                .iter()
                .all(|p| p.starts_with(archive.join("damaged")))
        );
        assert!(
            damage.reason.contains("part-0-"),
            "the reason names the file: {}",
            damage.reason
        );
    }
    let status = running
        .status()
        .wait_for(|s| s.phase == recorder::Phase::Following)
        .await
        .unwrap()
        .clone();
    assert_eq!((status.events, status.lost, status.damaged), (200, 0, 2));
    stop.send(true).unwrap();
    running.wait().await.unwrap();
    assert_exactly(&archive, 6, 400);
}

#[tokio::test]
async fn a_damaged_file_the_log_no_longer_holds_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    {
        let log = open_log(&dir.path().join("old-log"));
        append(&log, records(7, 0, 100, 10)).await;
        record_until(
            settings(&archive),
            source(&log),
            100,
            Duration::from_secs(30),
        )
        .await;
    }
    let file = archive.join("events/date=2026-11-26/part-0-0-99.parquet");
    std::fs::write(&file, b"not parquet").unwrap();
    // A log that never had those records (as if retention removed them).
    let log = open_log(&dir.path().join("new-log"));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut settings = settings(&archive);
    settings.repair_wait = Duration::from_millis(500);
    let running = recorder::start(settings, source(&log), stopped)
        .await
        .unwrap();
    assert_eq!(running.survey().damaged.len(), 1);
    let status = running
        .status()
        .wait_for(|s| s.phase == recorder::Phase::Following)
        .await
        .unwrap()
        .clone();
    assert_eq!(status.lost, 100);
    stop.send(true).unwrap();
    running.wait().await.unwrap();
    assert!(!file.exists());
    assert!(
        archive
            .join("damaged/events/date=2026-11-26")
            .read_dir()
            .unwrap()
            .count()
            == 1
    );
}

#[tokio::test]
async fn unreadable_records_are_quarantined_and_reported_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir.path().join("log"));
    let archive = dir.path().join("archive");
    let mut future = serde_json::to_value(event(8, 1, 3)).unwrap();
    future["schema_version"] = 2.into();
    future["provenance"] = "a member version 1 does not have".into();
    let records = vec![
        common::record(&event(8, 0, 3)),
        Record::new("s", serde_json::to_vec(&future).unwrap()),
        Record::new("s", &b"\x00\xffgarbage"[..]),
        common::record(&event(8, 2, 3)),
    ];
    append(&log, records).await;
    let status = record_until(settings(&archive), source(&log), 4, Duration::from_secs(30)).await;
    assert_eq!((status.events, status.quarantined), (2, 2));
    let events: Vec<_> = archived_events(&archive);
    assert_eq!(events.len(), 2);
    let quarantine = read_table(&archive, "quarantine");
    assert_eq!(quarantine.len(), 1);
    let batch = &quarantine[0].batches[0];
    let reason = batch.column_by_name("reason").unwrap();
    let reason: Vec<&str> = reason.as_string::<i32>().iter().flatten().collect();
    assert_eq!(reason, vec!["unknown_schema_version", "not_json"]);
    let value = batch.column_by_name("value").unwrap();
    let kept: serde_json::Value =
        serde_json::from_slice(value.as_binary::<i32>().value(0)).unwrap();
    assert_eq!(kept, future, "kept byte for byte");
    let version = batch.column_by_name("schema_version").unwrap();
    assert_eq!(version.as_primitive::<UInt64Type>().value(0), 2);
    let offsets = batch.column_by_name("offset").unwrap();
    let offsets: Vec<u64> = offsets.as_primitive::<UInt64Type>().values().to_vec();
    assert_eq!(offsets, vec![1, 2]);
}

#[tokio::test]
async fn a_reader_in_another_process_records_beside_the_writer() {
    // The recorder reading with an EmbeddedReader, as `blastwall recorder` beside a proxy does.
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("log");
    let log = open_log(&log_dir);
    let archive = dir.path().join("archive");
    append(&log, records(9, 0, 2_000, 10)).await;
    let reader: Arc<dyn EventSource> =
        Arc::new(EmbeddedReader::open(&log_dir, EmbeddedOptions::default()));
    record_until(settings(&archive), reader, 2_000, Duration::from_secs(30)).await;
    assert_exactly(&archive, 9, 2_000);
}
