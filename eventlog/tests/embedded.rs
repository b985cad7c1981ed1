//! The embedded log against its promises: round trips, resumable cursors, rollover,
//! retention, readers beside the writer, and damaged files reported with file and offset.

// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::time::Duration;

use common::{assert_exactly_once_in_order, event, read};
use eventlog::{
    Durability, EmbeddedLog, EmbeddedOptions, EmbeddedReader, Error, EventLog, Reached, Record,
    Retention, Stream,
};

fn small_segments() -> EmbeddedOptions {
    EmbeddedOptions {
        segment_size: 64 * 1024,
        max_record_size: 16 * 1024,
        ..EmbeddedOptions::default()
    }
}

async fn append_all(log: &EmbeddedLog, records: &[Record], durability: Durability) {
    for chunk in records.chunks(1000) {
        let receipt = log
            .append(Stream::Events, chunk.to_vec(), durability)
            .await
            .expect("append");
        assert_eq!(receipt.positions.len(), chunk.len());
    }
}

#[tokio::test]
async fn hundred_thousand_events_round_trip_and_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records: Vec<Record> = (0..100_000).map(|n| event("rt", n, 97)).collect();
    {
        let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("open");
        append_all(&log, &records, Durability::Durable).await;

        let mut sub = log
            .subscribe(Stream::Events, "recorder")
            .await
            .expect("subscribe");
        let first_half = read(&mut sub, 50_000, Duration::from_secs(30)).await;
        assert_eq!(first_half.len(), 50_000);
        sub.commit(first_half[49_999].position)
            .await
            .expect("commit");
        let rest = read(&mut sub, 50_000, Duration::from_secs(30)).await;
        let all: Vec<_> = first_half.into_iter().chain(rest).collect();
        assert_exactly_once_in_order(&records, &all);
        for (n, entry) in all.iter().enumerate() {
            assert_eq!(entry.position.offset, n as u64, "offsets are gap-free");
        }
    }
    // A restarted consumer, in a reopened log, resumes after its committed position.
    let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("reopen");
    let mut sub = log
        .subscribe(Stream::Events, "recorder")
        .await
        .expect("subscribe");
    let resumed = read(&mut sub, 50_000, Duration::from_secs(30)).await;
    assert_eq!(resumed.first().map(|e| e.position.offset), Some(50_000));
    assert_exactly_once_in_order(&records[50_000..], &resumed);
    let nothing_more = sub
        .poll(10, Duration::from_millis(100))
        .await
        .expect("poll");
    assert!(nothing_more.is_empty());
}

#[tokio::test]
async fn async_appends_are_queued_and_still_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("open");
    let receipt = log
        .append(Stream::Events, vec![event("a", 0, 1)], Durability::Async)
        .await
        .expect("append");
    assert_eq!(receipt.reached, Reached::Queued);
    let receipt = log
        .append(Stream::Events, vec![event("a", 1, 1)], Durability::Durable)
        .await
        .expect("append");
    assert_eq!(receipt.reached, Reached::OnDisk);
    let mut sub = log.subscribe(Stream::Events, "r").await.expect("subscribe");
    assert_eq!(read(&mut sub, 2, Duration::from_secs(5)).await.len(), 2);
}

#[tokio::test]
async fn streams_are_separate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("open");
    log.append(
        Stream::Control,
        vec![Record::new("k", "approve")],
        Durability::Durable,
    )
    .await
    .expect("append");
    let mut events = log.subscribe(Stream::Events, "r").await.expect("subscribe");
    assert!(
        events
            .poll(10, Duration::from_millis(50))
            .await
            .expect("poll")
            .is_empty()
    );
    let mut control = log
        .subscribe(Stream::Control, "r")
        .await
        .expect("subscribe");
    let got = read(&mut control, 1, Duration::from_secs(5)).await;
    assert_eq!(&got[0].value[..], b"approve");
}

#[tokio::test]
async fn concurrent_appenders_share_flushes_and_keep_offsets_gap_free() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = std::sync::Arc::new(EmbeddedLog::open(dir.path(), small_segments()).expect("open"));
    let mut tasks = Vec::new();
    for t in 0..32u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..200u64 {
                let record = event("c", i * 32 + t, 32);
                log.append(Stream::Events, vec![record], Durability::Durable)
                    .await
                    .expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let expected: Vec<Record> = (0..6400).map(|n| event("c", n, 32)).collect();
    let mut sub = log.subscribe(Stream::Events, "r").await.expect("subscribe");
    let got = read(&mut sub, 6400, Duration::from_secs(30)).await;
    assert_exactly_once_in_order(&expected, &got);
    assert!(
        log.stats(Stream::Events).bytes > 64 * 1024 * 10,
        "rolled over many segments"
    );
}

#[tokio::test]
async fn a_reader_in_another_process_follows_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(dir.path(), small_segments()).expect("open");
    // EmbeddedReader has no link to the writer: it reads files and polls, as another process would.
    let reader = EmbeddedReader::open(dir.path(), small_segments());
    let mut sub = reader.subscribe(Stream::Events, "sink").expect("subscribe");
    let records: Vec<Record> = (0..3000).map(|n| event("x", n, 5)).collect();
    let writer = async {
        for chunk in records.chunks(100) {
            log.append(Stream::Events, chunk.to_vec(), Durability::Async)
                .await
                .expect("append");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let (_, got) = tokio::join!(writer, read(&mut sub, 3000, Duration::from_secs(30)));
    assert_exactly_once_in_order(&records, &got);
}

#[tokio::test]
async fn retention_removes_old_segments_and_readers_skip_ahead() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = EmbeddedOptions {
        retention: Retention {
            max_age: None,
            max_bytes: Some(256 * 1024),
        },
        ..small_segments()
    };
    let log = EmbeddedLog::open(dir.path(), options).expect("open");
    let records: Vec<Record> = (0..10_000).map(|n| event("ret", n, 3)).collect();
    append_all(&log, &records, Durability::Durable).await;
    let stats = log.stats(Stream::Events);
    assert!(
        stats.bytes <= 256 * 1024 + 64 * 1024,
        "kept {} bytes",
        stats.bytes
    );
    assert!(stats.first_offset > 0, "old segments removed");
    let mut sub = log
        .subscribe(Stream::Events, "late")
        .await
        .expect("subscribe");
    let got = read(
        &mut sub,
        (10_000 - stats.first_offset) as usize,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        got.first().map(|e| e.position.offset),
        Some(stats.first_offset)
    );
    assert_eq!(got.last().map(|e| e.position.offset), Some(9_999));
}

#[tokio::test]
async fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("open");
    let second = EmbeddedLog::open(dir.path(), EmbeddedOptions::default());
    assert!(
        matches!(second, Err(Error::Locked { .. })),
        "second writer not refused"
    );
}

#[tokio::test]
async fn an_oversized_record_is_refused_and_the_log_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(dir.path(), small_segments()).expect("open");
    let huge = Record::new("k", vec![0u8; 20 * 1024]);
    let err = log
        .append(Stream::Events, vec![huge], Durability::Durable)
        .await
        .expect_err("too large");
    assert!(matches!(err, Error::RecordTooLarge { .. }), "{err}");
    let receipt = log
        .append(Stream::Events, vec![event("ok", 0, 1)], Durability::Durable)
        .await;
    assert_eq!(
        receipt.expect("append").positions[0].offset,
        0,
        "nothing was written for the refused one"
    );
}

/// Writes `count` records with small segments and closes the log; returns the segment paths.
async fn written_log(dir: &std::path::Path, count: u64) -> Vec<std::path::PathBuf> {
    let log = EmbeddedLog::open(dir, small_segments()).expect("open");
    let records: Vec<Record> = (0..count).map(|n| event("bad", n, 4)).collect();
    append_all(&log, &records, Durability::Durable).await;
    drop(log);
    let mut segments: Vec<_> = fs::read_dir(dir.join("events"))
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    assert!(segments.len() >= 3, "test needs several segments");
    segments
}

async fn read_everything(dir: &std::path::Path) -> Result<usize, Error> {
    let reader = EmbeddedReader::open(dir, small_segments());
    let mut sub = reader.subscribe(Stream::Events, "check")?;
    let mut total = 0;
    loop {
        let batch = sub.poll(10_000, Duration::from_millis(50)).await?;
        if batch.is_empty() {
            return Ok(total);
        }
        total += batch.len();
    }
}

#[tokio::test]
async fn a_corrupted_byte_is_reported_with_file_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segments = written_log(dir.path(), 2000).await;
    let damaged = &segments[1];
    let mut bytes = fs::read(damaged).expect("read");
    let at = 16 + 300; // inside the first or second frame's payload
    bytes[at] ^= 0xff;
    fs::write(damaged, &bytes).expect("write");

    for err in [
        read_everything(dir.path())
            .await
            .expect_err("reader sees damage"),
        eventlog::check(dir.path(), &small_segments()).expect_err("check sees damage"),
    ] {
        let message = err.to_string();
        assert!(matches!(err, Error::Corrupt { .. }), "{message}");
        assert!(
            message.contains(&damaged.display().to_string()),
            "names the file: {message}"
        );
        assert!(
            message.contains("at byte 16") || message.contains("at byte 3"),
            "names the offset: {message}"
        );
    }
}

#[tokio::test]
async fn damage_in_the_newest_segment_is_not_mistaken_for_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segments = written_log(dir.path(), 2000).await;
    let newest = segments.last().expect("newest");
    let mut bytes = fs::read(newest).expect("read");
    bytes[16 + 40] ^= 0x01;
    fs::write(newest, &bytes).expect("write");
    let before = fs::metadata(newest).expect("meta").len();
    let err = EmbeddedLog::open(dir.path(), small_segments())
        .err()
        .expect("refuses to open");
    assert!(
        err.to_string().contains(&newest.display().to_string()),
        "{err}"
    );
    assert_eq!(
        fs::metadata(newest).expect("meta").len(),
        before,
        "acknowledged data was not truncated"
    );
}

#[tokio::test]
async fn a_truncated_sealed_segment_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segments = written_log(dir.path(), 2000).await;
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&segments[0])
        .expect("open");
    let len = file.metadata().expect("meta").len();
    file.set_len(len - 100).expect("truncate");
    let err = read_everything(dir.path())
        .await
        .expect_err("truncation seen");
    let message = err.to_string();
    assert!(
        message.contains("truncated") && message.contains(&segments[0].display().to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_segment_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segments = written_log(dir.path(), 2000).await;
    fs::remove_file(&segments[1]).expect("remove");
    let err = read_everything(dir.path()).await.expect_err("gap seen");
    assert!(matches!(err, Error::MissingRecords { .. }), "{err}");
    assert!(
        err.to_string().contains(&segments[2].display().to_string()),
        "{err}"
    );
    let err = eventlog::check(dir.path(), &small_segments()).expect_err("check sees the gap");
    assert!(matches!(err, Error::MissingRecords { .. }), "{err}");
}

#[tokio::test]
async fn a_torn_tail_is_dropped_and_appends_continue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segments = written_log(dir.path(), 2000).await;
    let newest = segments.last().expect("newest");
    let mut bytes = fs::read(newest).expect("read");
    bytes.extend_from_slice(&[0x40, 0x01, 0, 0, 0xde, 0xad]); // a frame cut short
    fs::write(newest, &bytes).expect("write");
    let report = eventlog::check(dir.path(), &small_segments()).expect("a torn tail is not damage");
    assert_eq!(report[0].torn_tail_bytes, 6);

    let log = EmbeddedLog::open(dir.path(), small_segments()).expect("recovers");
    let receipt = log
        .append(
            Stream::Events,
            vec![event("bad", 2000, 4)],
            Durability::Durable,
        )
        .await;
    assert_eq!(receipt.expect("append").positions[0].offset, 2000);
    drop(log);
    assert_eq!(read_everything(dir.path()).await.expect("reads"), 2001);
}
