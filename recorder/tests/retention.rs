//! Retention: old days leave the archive only after a sealed `archive.pruned` session is in
//! the log; recent days stay; a log that refuses the event keeps every file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should stop the test

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use common::*;
use eventlog::{
    Durability, EmbeddedLog, EmbeddedOptions, EventLog, Receipt, Record, Stream, Subscription,
};
use recorder::archive::Layout;
use recorder::retention::{RetentionSettings, prune};
use schemas::chain::verify_session;
use schemas::seal::{PublicKeys, SealingKey};
use schemas::{Event, EventBody, Timestamp};

const DAY_NANOS: i64 = 86_400 * 1_000_000_000;

/// Ten events on each of the days 2026-11-16 and 2026-11-26, archived.
async fn two_days(dir: &Path) -> (Arc<dyn EventLog>, std::path::PathBuf) {
    let log: Arc<dyn EventLog> =
        Arc::new(EmbeddedLog::open(dir.join("log"), EmbeddedOptions::default()).unwrap());
    let records: Vec<Record> = (0..20)
        .map(|n| {
            let mut event = event(3, n, 2);
            let days_back = if n < 10 { 10 } else { 0 };
            event.time = Timestamp::from_unix_nanos(BASE_NANOS - days_back * DAY_NANOS);
            record(&event)
        })
        .collect();
    log.append(Stream::Events, records, Durability::Durable)
        .await
        .unwrap();
    let archive = dir.join("archive");
    record_until(
        settings(&archive),
        Arc::new(Arc::clone(&log)),
        20,
        Duration::from_secs(60),
    )
    .await;
    assert!(archive.join("events/date=2026-11-16").is_dir());
    assert!(archive.join("events/date=2026-11-26").is_dir());
    (log, archive)
}

fn five_days() -> RetentionSettings {
    RetentionSettings {
        max_age: Duration::from_secs(5 * 86_400),
        interval: Duration::from_secs(3600),
    }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

async fn log_events(log: &Arc<dyn EventLog>) -> Vec<Event> {
    let mut sub = log
        .subscribe(Stream::Events, "retention-test")
        .await
        .unwrap();
    let mut events = Vec::new();
    loop {
        let batch = sub.poll(1_000, Duration::from_millis(200)).await.unwrap();
        if batch.is_empty() {
            return events;
        }
        for entry in batch {
            events.push(serde_json::from_slice(&entry.value).unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_day_goes_only_after_its_sealed_removal_event_is_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (log, archive) = two_days(dir.path()).await;
    let key = SealingKey::generate();

    let pruned = prune(
        &Layout::new(&archive),
        &five_days(),
        log.as_ref(),
        &key,
        now(),
    )
    .await
    .expect("retention pass");
    assert_eq!(pruned.len(), 1, "{pruned:?}");
    assert_eq!(
        (pruned[0].day.to_string(), pruned[0].rows),
        ("2026-11-16".into(), 10)
    );
    assert!(!archive.join("events/date=2026-11-16").exists());
    assert!(archive.join("events/date=2026-11-26").is_dir());

    let events = log_events(&log).await;
    let session: Vec<Event> = events
        .into_iter()
        .filter(|e| e.actor.subject == recorder::retention::RECORDER_SUBJECT)
        .collect();
    let kinds: Vec<&str> = session.iter().map(Event::kind_name).collect();
    assert_eq!(
        kinds,
        ["session.started", "archive.pruned", "session.ended"]
    );
    let EventBody::ArchivePruned(body) = &session[1].body else {
        panic!("not archive.pruned: {:?}", session[1]);
    };
    assert_eq!(
        (
            body.table.as_str(),
            body.day.as_str(),
            body.rows,
            body.max_age_secs
        ),
        ("events", "2026-11-16", 10, 5 * 86_400)
    );
    let report = verify_session(&session, &PublicKeys::from(&key)).expect("a sealed chain");
    assert_eq!(report.events, 3);

    // A second pass finds nothing more to remove and records nothing.
    let again = prune(
        &Layout::new(&archive),
        &five_days(),
        log.as_ref(),
        &key,
        now(),
    )
    .await
    .unwrap();
    assert!(again.is_empty());
    assert_exactly_days(&archive, &["date=2026-11-26"]);
}

/// A log that refuses every append, as a full disk or a lost broker would: the failure path
/// needs a log that fails on demand, which no real one does.
struct RefusingLog;

#[async_trait]
impl EventLog for RefusingLog {
    async fn append(
        &self,
        stream: Stream,
        _records: Vec<Record>,
        _durability: Durability,
    ) -> Result<Receipt, eventlog::Error> {
        Err(eventlog::Error::WriterStopped {
            stream,
            reason: "the disk is full".into(),
        })
    }

    async fn subscribe(
        &self,
        stream: Stream,
        _consumer: &str,
    ) -> Result<Box<dyn Subscription>, eventlog::Error> {
        Err(eventlog::Error::WriterStopped {
            stream,
            reason: "not readable".into(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_the_log_cannot_record_does_not_happen() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, archive) = two_days(dir.path()).await;
    let error = prune(
        &Layout::new(&archive),
        &five_days(),
        &RefusingLog,
        &SealingKey::generate(),
        now(),
    )
    .await
    .expect_err("the pass fails");
    assert!(error.to_string().contains("the disk is full"), "{error}");
    assert_exactly_days(&archive, &["date=2026-11-16", "date=2026-11-26"]);
}

fn assert_exactly_days(archive: &Path, days: &[&str]) {
    let mut found: Vec<String> = std::fs::read_dir(archive.join("events"))
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, days);
}
