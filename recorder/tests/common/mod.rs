//! Shared by the recorder's integration tests: synthetic events whose ids say which record
//! they are, a recorder runner, and a reader of the whole archive that checks its invariants.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{Array, RecordBatch};
use eventlog::Record;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemas::body::{CommandReceived, PolicyDecided, ResultReturned, TerminalData, Verdict};
use schemas::{Actor, Digest, Event, EventBody, Protocol, SCHEMA_VERSION, Target, Timestamp};
use uuid::Uuid;

/// 2026-11-26T05:21:12Z, a fixed base time for events.
pub const BASE_NANOS: i64 = 1_795_670_472_000_000_000;

/// The event id of record `n` of run `run`: the test reads `(run, n)` back from it.
pub fn event_id(run: u32, n: u64) -> Uuid {
    Uuid::from_u128((u128::from(run) << 64) | u128::from(n))
}

/// `(run, n)` back from an event id made by [`event_id`].
pub fn parse_event_id(id: &str) -> (u32, u64) {
    let value = Uuid::parse_str(id).expect("uuid").as_u128();
    ((value >> 64) as u32, value as u64)
}

/// Record `n` of run `run`: an event of one of `sessions` sessions, interleaved, of a kind that
/// varies with `n`. Hashes are not a chain (the recorder does not verify them).
pub fn event(run: u32, n: u64, sessions: u64) -> Event {
    let session = n % sessions;
    let seq = n / sessions;
    let body = match n % 4 {
        0 => EventBody::CommandReceived(CommandReceived {
            protocol: Protocol::Postgres,
            text: format!("SELECT * FROM orders WHERE id = {n}"),
            summary: None,
            parameters: vec![],
        }),
        1 => EventBody::PolicyDecided(PolicyDecided {
            command_seq: seq.saturating_sub(1),
            verdict: Verdict::Allow,
            policies: vec!["default".into()],
            message: None,
        }),
        2 => EventBody::ResultReturned(ResultReturned {
            command_seq: seq.saturating_sub(2),
            command_tag: Some("SELECT 1".into()),
            columns: vec![],
            rows: vec![],
            row_count: 1,
            truncated: false,
            error: None,
            masked: Vec::new(),
            duration_ns: 1_000 + n,
        }),
        _ => EventBody::TerminalOutput(TerminalData {
            channel: 0,
            data: format!("row {n}\r\n").into_bytes(),
            offset_ns: n,
        }),
    };
    Event {
        schema_version: SCHEMA_VERSION,
        id: event_id(run, n),
        session_id: Uuid::from_u128((u128::from(run) << 64) | u128::from(session) | (1 << 63)),
        seq,
        time: Timestamp::from_unix_nanos(BASE_NANOS + n as i64 * 1_000),
        actor: Actor {
            subject: "alice@example.com".into(),
            agents: vec!["claude-code".into()],
            groups: vec!["dba".into(), "oncall".into()],
            issuer: "https://idp.example.com".into(),
            token_id: Some(format!("jti-{session}")),
        },
        target: Target {
            name: "orders-db".into(),
            protocol: Protocol::Postgres,
        },
        client_addr: Some("192.0.2.7:51234".into()),
        body,
        prev: (seq > 0).then(|| Digest::sha256(&(n - sessions).to_le_bytes())),
        hash: Digest::sha256(&n.to_le_bytes()),
        seal: None,
    }
}

/// The log record of an event, as the proxy appends it.
pub fn record(event: &Event) -> Record {
    Record::new(
        event.session_id.to_string(),
        serde_json::to_vec(event).expect("event encodes"),
    )
}

/// Records `from..to` of run `run`.
pub fn records(run: u32, from: u64, to: u64, sessions: u64) -> Vec<Record> {
    (from..to)
        .map(|n| record(&event(run, n, sessions)))
        .collect()
}

/// Recorder settings for tests: small buffers and quick flushes.
pub fn settings(archive: &Path) -> recorder::Settings {
    let mut settings = recorder::Settings::new(archive);
    settings.flush_interval = Duration::from_millis(200);
    settings.max_flush_events = 50_000;
    settings.repair_wait = Duration::from_secs(3);
    settings
}

/// Runs a recorder until it has archived `count` more records (events and quarantined), then
/// stops it and returns its final status.
pub async fn record_until(
    settings: recorder::Settings,
    source: Arc<dyn recorder::EventSource>,
    count: u64,
    deadline: Duration,
) -> recorder::Status {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = recorder::start(settings, source, stopped)
        .await
        .expect("recorder starts");
    let mut status = running.status();
    let reached = tokio::time::timeout(
        deadline,
        status.wait_for(|s| s.events + s.quarantined >= count),
    )
    .await
    .is_ok();
    let now = status.borrow().clone();
    stop.send(true).expect("stop");
    let last = running.wait().await.expect("recorder stops cleanly");
    assert!(
        reached,
        "only {} of {count} records archived in {deadline:?}: {now:?}",
        now.events + now.quarantined
    );
    last
}

/// One archive file and the rows read back from it with the Arrow reader.
pub struct ArchiveFile {
    pub path: PathBuf,
    pub batches: Vec<RecordBatch>,
    pub metadata: HashMap<String, String>,
}

/// Every final `*.parquet` file of a table (`events` or `quarantine`) that a reader uses (files
/// a compaction superseded are left out, as `recorder::archive::visible` says), read whole.
pub fn read_table(archive: &Path, table: &str) -> Vec<ArchiveFile> {
    let mut files = Vec::new();
    let Ok(days) = std::fs::read_dir(archive.join(table)) else {
        return files;
    };
    let mut paths: Vec<PathBuf> = days
        .flat_map(|day| std::fs::read_dir(day.expect("day").path()).expect("day dir"))
        .map(|f| f.expect("file").path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    let name = |path: &PathBuf| {
        let file_name = path.file_name().expect("name").to_string_lossy();
        recorder::archive::PartName::parse(&file_name).expect("an archive file name")
    };
    let visible = recorder::archive::visible(paths.iter().map(name));
    paths.retain(|path| visible.contains(&name(path)));
    paths.sort();
    for path in paths {
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).expect("open"))
            .expect("footer");
        let metadata = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .into_iter()
            .flatten()
            .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
            .collect();
        let batches = builder
            .build()
            .expect("reader")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        files.push(ArchiveFile {
            path,
            batches,
            metadata,
        });
    }
    files
}

/// The `(run, n)` of every event row in the archive, checking on the way that each file's rows
/// are sorted by session and seq.
pub fn archived_events(archive: &Path) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    for file in read_table(archive, "events") {
        let mut last: Option<(String, u64)> = None;
        for batch in &file.batches {
            let ids = batch.column_by_name("event_id").expect("event_id");
            let ids = ids.as_string::<i32>();
            let sessions = batch.column_by_name("session_id").expect("session_id");
            let sessions = sessions.as_string::<i32>();
            let seqs = batch.column_by_name("seq").expect("seq");
            let seqs = seqs.as_primitive::<UInt64Type>();
            for row in 0..batch.num_rows() {
                let key = (sessions.value(row).to_owned(), seqs.value(row));
                if let Some(previous) = &last {
                    assert!(
                        *previous <= key,
                        "{}: rows not sorted by session and seq",
                        file.path.display()
                    );
                }
                last = Some(key);
                assert!(!ids.is_null(row));
                out.push(parse_event_id(ids.value(row)));
            }
        }
    }
    out
}

/// Asserts that the archive holds exactly the events `0..count` of `run`, each once.
pub fn assert_exactly(archive: &Path, run: u32, count: u64) {
    let mut seen = vec![0u8; count as usize];
    let mut foreign = 0;
    for (r, n) in archived_events(archive) {
        if r != run || n >= count {
            foreign += 1;
            continue;
        }
        seen[n as usize] = seen[n as usize].saturating_add(1);
    }
    let missing: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == 0)
        .map(|(i, _)| i)
        .take(5)
        .collect();
    let twice: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 1)
        .map(|(i, _)| i)
        .take(5)
        .collect();
    let missing_count = seen.iter().filter(|c| **c == 0).count();
    let twice_count = seen.iter().filter(|c| **c > 1).count();
    assert_eq!(
        (missing_count, twice_count, foreign),
        (0, 0, 0),
        "missing (first: {missing:?}), archived twice (first: {twice:?}), or unexpected"
    );
}

/// Runs this test binary's ignored child test `child_test` with `envs`, lets it work for a
/// random pause (milliseconds in `pause`), checks it is still running, and kills it with
/// SIGKILL: the crash tests' one way to stop a recorder at the worst moment.
pub async fn run_and_kill(
    child_test: &str,
    envs: &[(&str, &std::ffi::OsStr)],
    pause: std::ops::Range<u64>,
    kill: usize,
) {
    use rand::Rng;
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            child_test,
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pause = rand::thread_rng().gen_range(pause);
    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "kill {kill}: the recorder exited by itself"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}
