//! Benchmark (not a test): how fast events go from the log into durable Parquet, per core, and
//! how many bytes an event takes in Parquet against the same events as JSON lines.
//!
//! ```text
//! cargo bench -p recorder --bench archive                     # 1,000,000 events
//! BENCH_EVENTS=200000 cargo bench -p recorder --bench archive
//! BENCH_ONLY=encode cargo bench -p recorder --bench archive   # figure 1 alone
//! ```
//!
//! Events are a realistic mix of a Postgres session's kinds (commands with varying SQL,
//! verdicts, results with masked rows, terminal output) over 1,000 interleaved sessions, with
//! real SHA-256 digests (incompressible, as in production). Three figures:
//!
//! 1. encoding alone: `flush::flush` on 100k-record runs on one thread — decode, sort, Arrow,
//!    Parquet with zstd, fsync, rename — as events per second of that thread;
//! 2. end to end: an embedded log holding the events, a recorder with default settings
//!    following it until all are durable — events per wall second and per CPU second of the
//!    whole process (reading the log included), which is the per-core figure;
//! 3. size: Parquet bytes per event against JSON-lines bytes per event.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventlog::{
    Durability, EmbeddedLog, EmbeddedOptions, Entry, EventLog, Position, Record, Stream,
};
use recorder::archive::Layout;
use schemas::body::{
    Column, CommandReceived, PolicyDecided, ResultReturned, TerminalData, Verdict,
};
use schemas::{Actor, Digest, Event, EventBody, Protocol, SCHEMA_VERSION, Target, Timestamp};
use uuid::Uuid;

// The allocator the `blastwall` binary runs with, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SESSIONS: u64 = 1_000;
const RUN: usize = 100_000;

fn event(n: u64) -> Event {
    let session = n % SESSIONS;
    let seq = n / SESSIONS;
    let body = match n % 5 {
        0 => EventBody::CommandReceived(CommandReceived {
            protocol: Protocol::Postgres,
            text: format!(
                "SELECT id, email, plan FROM accounts WHERE org_id = {} AND created_at > now() - interval '{} days' ORDER BY id LIMIT 50",
                n % 9_973,
                n % 30
            ),
            summary: None,
            parameters: vec![],
        }),
        1 => EventBody::PolicyDecided(PolicyDecided {
            command_seq: seq.saturating_sub(1),
            verdict: if n.is_multiple_of(17) {
                Verdict::Block
            } else {
                Verdict::Allow
            },
            policies: vec!["default-read".into()],
            message: None,
        }),
        2 => EventBody::ResultReturned(ResultReturned {
            command_seq: seq.saturating_sub(2),
            command_tag: Some("SELECT 3".into()),
            columns: ["id", "email", "plan"]
                .iter()
                .map(|c| Column {
                    name: (*c).into(),
                    type_name: "text".into(),
                })
                .collect(),
            rows: (0..3)
                .map(|r| {
                    vec![
                        Some(format!("{}", n * 3 + r)),
                        Some("****@example.com".into()),
                        Some(["free", "pro", "team"][(n + r) as usize % 3].into()),
                    ]
                })
                .collect(),
            row_count: 3,
            truncated: false,
            error: None,
            masked: Vec::new(),
            duration_ns: 180_000 + (n * 7_919) % 900_000,
        }),
        3 => EventBody::TerminalOutput(TerminalData {
            channel: 0,
            data: format!("{:>6} | user{}@example.com | pro\r\n", n, n % 5_000).into_bytes(),
            offset_ns: n * 1_000,
        }),
        _ => EventBody::CommandReceived(CommandReceived {
            protocol: Protocol::Postgres,
            text: format!("UPDATE orders SET status = 'shipped' WHERE id = {}", n * 31),
            summary: None,
            parameters: vec![],
        }),
    };
    Event {
        schema_version: SCHEMA_VERSION,
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(n)),
        session_id: Uuid::from_u128(
            0x0190_0000_0000_7000_9000_0000_0000_0000 | u128::from(session),
        ),
        seq,
        time: Timestamp::from_unix_nanos(1_795_670_472_000_000_000 + n as i64 * 50_000),
        actor: Actor {
            subject: format!("user{}@example.com", session % 40),
            agents: vec!["claude-code".into()],
            groups: vec!["engineering".into(), "oncall".into()],
            issuer: "https://idp.example.com".into(),
            token_id: Some(format!("jti-{session}")),
        },
        target: Target {
            name: "orders-db".into(),
            protocol: Protocol::Postgres,
        },
        client_addr: Some(format!(
            "10.0.{}.{}:5{:04}",
            session % 8,
            session % 250,
            session
        )),
        body,
        prev: (seq > 0).then(|| Digest::sha256(&(n - SESSIONS).to_le_bytes())),
        hash: Digest::sha256(&n.to_le_bytes()),
        seal: None,
    }
}

/// Figure 1 split in its two stages, each timed alone on one thread: decoding the log's JSON
/// into typed events, then Arrow, Parquet with zstd and the durable write.
struct Stages {
    decode: Duration,
    encode: Duration,
}

impl Stages {
    fn print(&self, count: u64) {
        let rate = |d: Duration| count as f64 / d.as_secs_f64().max(1e-9);
        println!(
            "decoding alone: {:.0} events/s; encoding alone (Arrow, Parquet, fsync): {:.0} events/s",
            rate(self.decode),
            rate(self.encode)
        );
    }

    fn print_rows(&self, count: u64) {
        let rate = |d: Duration| count as f64 / d.as_secs_f64().max(1e-9);
        println!(
            "| stage: decoding JSON into typed events, one thread | {:.0} events/s |",
            rate(self.decode)
        );
        println!(
            "| stage: sort, Arrow, Parquet zstd-3, fsync and rename, one thread | {:.0} events/s |",
            rate(self.encode)
        );
    }
}

fn stages(layout: &Layout, encoding: recorder::archive::Encoding, entries: &[Entry]) -> Stages {
    use recorder::encode::{Decoded, EventRow, decode};
    let started = Instant::now();
    let rows: Vec<EventRow> = entries
        .iter()
        .map(|entry| match decode(entry) {
            Decoded::Event(row) => *row,
            Decoded::Rejected(rejection) => panic!("a benchmark event was rejected: {rejection}"),
        })
        .collect();
    let decode = started.elapsed();
    let started = Instant::now();
    for (run, chunk) in rows.chunks(RUN).enumerate() {
        let mut order: Vec<&EventRow> = chunk.iter().collect();
        order.sort_by_key(|r| (r.event.session_id, r.event.seq));
        let first = (run * RUN) as u64;
        let name = recorder::archive::PartName {
            partition: 0,
            first,
            last: first + chunk.len() as u64 - 1,
        };
        let file = recorder::archive::GroupFile {
            table: recorder::archive::Table::Events,
            day: order[0].event.time.to_datetime().date_naive(),
            batch: recorder::encode::events::batch(&order).unwrap(),
        };
        recorder::archive::write_group(layout, name, vec![file], encoding).unwrap();
    }
    Stages {
        decode,
        encode: started.elapsed(),
    }
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat(5), counted after the command name: indexes 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let count: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    println!(
        "recorder benchmark: {count} events, {SESSIONS} sessions, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let values: Vec<Vec<u8>> = (0..count)
        .map(|n| serde_json::to_vec(&event(n)).unwrap())
        .collect();
    let json_bytes: u64 = values.iter().map(|v| v.len() as u64 + 1).sum();

    // 1. Encoding alone, one thread.
    let layout = Layout::new(dir.path().join("encode-only"));
    let encoding = recorder::Settings::new(layout.root()).encoding;
    let entries: Vec<Entry> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Entry {
            position: Position {
                partition: 0,
                offset: i as u64,
            },
            timestamp_ms: 1_795_670_472_000,
            key: bytes::Bytes::from(format!("session-{}", i as u64 % SESSIONS)),
            value: bytes::Bytes::from(v.clone()),
        })
        .collect();
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let mut parquet_bytes = 0;
    for run in entries.chunks(RUN) {
        parquet_bytes += recorder::flush::flush(&layout, encoding, run)
            .unwrap()
            .group
            .bytes;
    }
    let (encode_wall, encode_cpu) = (wall.elapsed(), cpu_seconds() - cpu);
    let stages = stages(&Layout::new(dir.path().join("stages")), encoding, &entries);
    drop(entries);
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "encode") {
        stages.print(count);
        println!(
            "encoding alone: {:.0} events/s ({:.2} s wall, {:.2} s CPU), {:.1} bytes/event in Parquet, {:.1} in JSON lines",
            count as f64 / encode_wall.as_secs_f64(),
            encode_wall.as_secs_f64(),
            encode_cpu,
            parquet_bytes as f64 / count as f64,
            json_bytes as f64 / count as f64
        );
        return;
    }

    // 2. End to end from an embedded log, default settings.
    let log_dir = dir.path().join("log");
    let log: Arc<dyn EventLog> =
        Arc::new(EmbeddedLog::open(&log_dir, EmbeddedOptions::default()).unwrap());
    runtime.block_on(async {
        let records: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Record::new(format!("session-{}", i as u64 % SESSIONS), v.clone()))
            .collect();
        for chunk in records.chunks(10_000) {
            log.append(Stream::Events, chunk.to_vec(), Durability::Async)
                .await
                .unwrap();
        }
        log.append(Stream::Events, vec![], Durability::Durable)
            .await
            .unwrap();
    });
    drop(values);
    let settings = recorder::Settings::new(dir.path().join("archive"));
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let status = runtime.block_on(async {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = recorder::start(settings, Arc::new(Arc::clone(&log)), stopped)
            .await
            .unwrap();
        tokio::time::timeout(
            Duration::from_secs(3600),
            running
                .status()
                .wait_for(|s| s.next_offsets.get(&0) == Some(&count)),
        )
        .await
        .unwrap()
        .unwrap();
        stop.send(true).unwrap();
        running.wait().await.unwrap()
    });
    let (e2e_wall, e2e_cpu) = (wall.elapsed(), cpu_seconds() - cpu);

    let rate = |secs: f64| count as f64 / secs.max(1e-9);
    println!();
    println!("| measure | figure |");
    println!("| --- | --- |");
    println!(
        "| encoding alone (decode, sort, Arrow, Parquet zstd-3, fsync), one thread | {:.0} events/s ({:.2} s wall, {:.2} s CPU) |",
        rate(encode_wall.as_secs_f64()),
        encode_wall.as_secs_f64(),
        encode_cpu
    );
    stages.print_rows(count);
    println!(
        "| end to end from the embedded log, per wall second | {:.0} events/s ({:.2} s) |",
        rate(e2e_wall.as_secs_f64()),
        e2e_wall.as_secs_f64()
    );
    println!(
        "| end to end from the embedded log, per CPU second (per core) | {:.0} events/s ({:.2} s CPU) |",
        rate(e2e_cpu),
        e2e_cpu
    );
    println!(
        "| JSON lines | {:.1} bytes/event ({} bytes) |",
        json_bytes as f64 / count as f64,
        json_bytes
    );
    println!(
        "| Parquet, encoding run ({RUN}-event files) | {:.1} bytes/event ({} bytes) |",
        parquet_bytes as f64 / count as f64,
        parquet_bytes
    );
    println!(
        "| Parquet, end to end ({} files) | {:.1} bytes/event ({} bytes) |",
        status.groups,
        status.bytes as f64 / count as f64,
        status.bytes
    );
    println!(
        "| JSON lines / Parquet | {:.1}x (end to end) |",
        json_bytes as f64 / status.bytes.max(1) as f64
    );
}
