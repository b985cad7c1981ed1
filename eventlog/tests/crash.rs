//! Crash safety of the embedded log: a writer process killed with SIGKILL at random moments.
//!
//! The child (this test binary, re-run as `crash_child`) appends durably from several tasks and
//! prints each acknowledged record's id only after `append` returned. The parent kills it after
//! a random delay, 50 times over the same directory, and checks after each kill that every
//! acknowledged record is there exactly once, that offsets have no gap, and that the log opens
//! again (dropping a torn tail) and accepts appends.

// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventlog::{
    Durability, EmbeddedLog, EmbeddedOptions, EmbeddedReader, EventLog, Record, Stream,
};
use rand::Rng;

const DIR_VAR: &str = "EVENTLOG_CRASH_CHILD_DIR";
const RUN_VAR: &str = "EVENTLOG_CRASH_CHILD_RUN";

fn options() -> EmbeddedOptions {
    // Small segments so that kills also land during rollover.
    EmbeddedOptions {
        segment_size: 256 * 1024,
        max_record_size: 16 * 1024,
        ..EmbeddedOptions::default()
    }
}

/// Not a test: the writer process the parent kills. Runs only when the parent starts it.
#[tokio::test]
#[ignore = "child process of sigkill_at_random_points_loses_no_acknowledged_record"]
async fn crash_child() {
    let (Ok(dir), Ok(run)) = (std::env::var(DIR_VAR), std::env::var(RUN_VAR)) else {
        panic!("crash_child is started by the crash test with {DIR_VAR} and {RUN_VAR} set");
    };
    let log = Arc::new(EmbeddedLog::open(&dir, options()).expect("open"));
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let (log, stdout, run) = (log.clone(), stdout.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0u64.. {
                let batch: Vec<Record> = (0..1 + i % 5)
                    .map(|j| {
                        Record::new(
                            format!("{run}-{task}"),
                            format!("{run}/{task}/{i}/{j}/{}", "p".repeat(200)),
                        )
                    })
                    .collect();
                let ids: Vec<String> = batch.iter().map(|r| id_of(&r.value)).collect();
                log.append(Stream::Events, batch, Durability::Durable)
                    .await
                    .expect("append");
                let mut out = stdout.lock().expect("stdout");
                for id in ids {
                    writeln!(out, "ACK {id}").expect("print");
                }
                out.flush().expect("flush");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
}

fn id_of(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    text.rsplit_once('/')
        .map_or(text.to_string(), |(id, _)| id.to_owned())
}

#[tokio::test]
async fn sigkill_at_random_points_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut acknowledged: HashSet<String> = HashSet::new();
    let mut rng = rand::thread_rng();

    for run in 0..50 {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .env(RUN_VAR, format!("r{run}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| line.strip_prefix("ACK ").map(str::to_owned))
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(30..300)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let acked = reader.join().expect("reader thread");
        assert!(
            !acked.is_empty() || run > 0,
            "child acknowledged nothing; is it running?"
        );
        acknowledged.extend(acked);

        // Reading before any writer reopened: a torn tail must read as "nothing more yet".
        let found = read_all(dir.path()).await;
        let missing: Vec<_> = acknowledged.difference(&found).take(5).collect();
        assert!(
            missing.is_empty(),
            "run {run}: acknowledged records lost: {missing:?}"
        );
    }

    // A writer reopens (dropping any torn tail) and appends after the last record.
    let log = EmbeddedLog::open(dir.path(), options()).expect("recovers");
    let receipt = log
        .append(
            Stream::Events,
            vec![Record::new("end", "end/0/0/0/x")],
            Durability::Durable,
        )
        .await
        .expect("append after recovery");
    drop(log);
    let found = read_all(dir.path()).await;
    assert!(found.contains("end/0/0/0"));
    assert!(receipt.positions[0].offset as usize + 1 >= acknowledged.len());
    eventlog::check(dir.path(), &options()).expect("the log is whole");
}

/// Reads the whole stream with a fresh cursor; every id exactly once and offsets gap-free.
async fn read_all(dir: &std::path::Path) -> HashSet<String> {
    let reader = EmbeddedReader::open(dir, options());
    let name = format!("check-{}", rand::thread_rng().r#gen::<u32>());
    let mut sub = reader.subscribe(Stream::Events, &name).expect("subscribe");
    let mut ids = HashSet::new();
    let mut next = 0;
    loop {
        let batch = sub
            .poll(10_000, Duration::from_millis(20))
            .await
            .expect("read back");
        if batch.is_empty() {
            return ids;
        }
        for entry in batch {
            assert_eq!(entry.position.offset, next, "offsets are gap-free");
            next += 1;
            assert!(
                ids.insert(id_of(&entry.value)),
                "record read twice: {}",
                id_of(&entry.value)
            );
        }
    }
}
