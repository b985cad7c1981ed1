//! `blastwall recorder compact` as an operator runs it: a day of small files merged into one,
//! each event still there once, and a clear summary.

// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use eventlog::{Durability, EmbeddedLog, EmbeddedOptions, EventLog, Record, Stream};
use schemas::body::CommandReceived;
use schemas::{Actor, Digest, Event, EventBody, Protocol, SCHEMA_VERSION, Target, Timestamp};

const EVENTS: u64 = 1_000;

fn event(n: u64) -> Event {
    Event {
        schema_version: SCHEMA_VERSION,
        id: uuid::Uuid::from_u128(u128::from(n) + 1),
        session_id: uuid::Uuid::from_u128(1 << 100 | u128::from(n % 10)),
        seq: n / 10,
        time: Timestamp::from_unix_nanos(1_795_670_472_000_000_000 + n as i64),
        actor: Actor {
            subject: "alice@example.com".into(),
            agents: vec![],
            groups: vec![],
            issuer: "local".into(),
            token_id: None,
        },
        target: Target {
            name: "db".into(),
            protocol: Protocol::Postgres,
        },
        client_addr: None,
        body: EventBody::CommandReceived(CommandReceived {
            protocol: Protocol::Postgres,
            text: format!("SELECT {n}"),
            summary: None,
            parameters: vec![],
        }),
        prev: None,
        hash: Digest::sha256(&n.to_le_bytes()),
        seal: None,
    }
}

/// An archive of ten files of a hundred events at `data/archive`, as the recorder writes it.
async fn small_files(data: &Path) {
    let log: Arc<dyn EventLog> =
        Arc::new(EmbeddedLog::open(data.join("elsewhere"), EmbeddedOptions::default()).unwrap());
    let records: Vec<Record> = (0..EVENTS)
        .map(|n| {
            let event = event(n);
            Record::new(
                event.session_id.to_string(),
                serde_json::to_vec(&event).unwrap(),
            )
        })
        .collect();
    log.append(Stream::Events, records, Durability::Durable)
        .await
        .unwrap();
    let mut settings = recorder::Settings::new(data.join("archive"));
    settings.max_flush_events = 100;
    settings.compaction = None;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = recorder::start(settings, Arc::new(log), stopped)
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(60),
        running.status().wait_for(|s| s.events == EVENTS),
    )
    .await
    .unwrap()
    .unwrap();
    stop.send(true).unwrap();
    running.wait().await.unwrap();
}

fn parquet_files(archive: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for day in std::fs::read_dir(archive.join("events")).unwrap() {
        for file in std::fs::read_dir(day.unwrap().path()).unwrap() {
            names.push(file.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_merges_a_days_small_files_and_says_what_it_did() {
    let data = tempfile::tempdir().unwrap();
    small_files(data.path()).await;
    assert_eq!(parquet_files(&data.path().join("archive")).len(), 10);

    let config = data.path().join("config.toml");
    std::fs::write(&config, "[recorder]\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_blastwall"))
        .args(["recorder", "compact", "--grace", "0s"])
        .env("BLASTWALL_CONFIG", &config)
        .env("BLASTWALL_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("0@0..=999  10 files -> 1"), "{stdout}");
    assert!(
        stdout.contains("merged 1 runs of files; removed 10 files"),
        "{stdout}"
    );
    assert_eq!(
        parquet_files(&data.path().join("archive")),
        ["part-0-0-999.parquet"]
    );
}

#[test]
fn compact_explains_itself() {
    let output = Command::new(env!("CARGO_BIN_EXE_blastwall"))
        .args(["recorder", "compact", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for flag in ["--grace", "--target-size", "--config"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
