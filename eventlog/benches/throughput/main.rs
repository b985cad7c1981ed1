//! Throughput of the event transports, measured side by side in one run.
//!
//! This machine is small and noisy, so every number is printed next to a baseline measured in
//! the same run on the same filesystem: raw `write` of the same framed bytes, with and without
//! an `fdatasync` per group. Then the embedded log (`async`, and `durable` with many
//! concurrent appenders sharing each fsync), Kafka (`strict`: acks=all, awaited) and Kafka
//! behind the spool (`durable`: accepted, then delivered). Not a test: it checks only that
//! every append reached what it asked for and that Kafka holds what it acknowledged.
//!
//! ```text
//! cargo bench -p eventlog --bench throughput        (or scripts/bench)
//! ```
//!
//! Environment: `BENCH_EVENTS` (events per mode), `BENCH_ROUNDS` (slices in which the
//! embedded and raw modes take turns), `BENCH_TASKS` × `BENCH_BATCH` (concurrent appenders ×
//! events per append, embedded and spool), `BENCH_KAFKA_TASKS` × `BENCH_KAFKA_BATCH` (the same
//! for Kafka direct), `BENCH_PARTITIONS`, `BENCH_DIR` (where the logs go; default the temp
//! dir), `BENCH_MODES` (a subset of `embedded,kafka,spool`), and `BLASTWALL_KAFKA_BROKERS`
//! (else a private broker is started).

mod disk;
mod kafka;
mod local;
mod report;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use eventlog::{Durability, EventLog, Reached, Record, Stream};
use report::Report;
use workload::Workload;

/// The order rows are printed in: baselines first.
const ORDER: [&str; 10] = [
    "raw",
    "raw+sync",
    "raw+sync1",
    "async",
    "durable",
    "kafka",
    "kafka-1",
    "raw+sync-2",
    "spool-in",
    "spool-out",
];
/// What this machine should reach.
const TARGET: f64 = 100_000.0;

/// What to run, from the environment.
pub struct Settings {
    events: usize,
    rounds: usize,
    tasks: usize,
    batch: usize,
    kafka_tasks: usize,
    kafka_batch: usize,
    partitions: u32,
    dir: PathBuf,
    modes: Vec<String>,
}

impl Settings {
    fn from_env() -> Result<Self> {
        let modes = std::env::var("BENCH_MODES").unwrap_or_else(|_| "embedded,kafka,spool".into());
        let settings = Settings {
            events: number("BENCH_EVENTS", 2_000_000)?,
            rounds: number("BENCH_ROUNDS", 16)?,
            tasks: number("BENCH_TASKS", 256)?,
            batch: number("BENCH_BATCH", 1)?,
            kafka_tasks: number("BENCH_KAFKA_TASKS", 64)?,
            kafka_batch: number("BENCH_KAFKA_BATCH", 250)?,
            partitions: u32::try_from(number("BENCH_PARTITIONS", 6)?)?,
            dir: std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
            modes: modes.split(',').map(|m| m.trim().to_owned()).collect(),
        };
        ensure!(settings.events > 0 && settings.tasks > 0 && settings.batch > 0);
        ensure!(settings.kafka_tasks > 0 && settings.kafka_batch > 0 && settings.partitions > 0);
        let known = ["embedded", "kafka", "spool"];
        if let Some(unknown) = settings.modes.iter().find(|m| !known.contains(&m.as_str())) {
            bail!("BENCH_MODES: unknown mode {unknown:?}, expected some of {known:?}");
        }
        Ok(settings)
    }

    fn runs(&self, mode: &str) -> bool {
        self.modes.iter().any(|m| m == mode)
    }
}

fn number(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(text) => text
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name}={text:?} is not a number")),
        Err(_) => Ok(default),
    }
}

fn main() -> Result<()> {
    let started = Instant::now();
    let settings = Settings::from_env()?;
    let workload = Workload::new(settings.events)?;
    std::fs::create_dir_all(&settings.dir)?;
    let scratch = tempfile::Builder::new()
        .prefix("blastwall-bench-")
        .tempdir_in(&settings.dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "eventlog throughput: {} events of {} bytes (key {} + value {}), {} sessions, {} cores",
        workload.len(),
        workload.record_len,
        workload.record_len - workload::EVENT_SIZE,
        workload::EVENT_SIZE,
        workload::SESSIONS,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    println!("load average at start: {}", load_average());
    println!(
        "logs and baselines in {}; embedded/spool appenders: {} tasks x {} events; \
         kafka appenders: {} tasks x {} events; {} partitions",
        scratch.path().display(),
        settings.tasks,
        settings.batch,
        settings.kafka_tasks,
        settings.kafka_batch,
        settings.partitions
    );

    let mut report = Report::default();
    if settings.runs("embedded") {
        local::run(&runtime, &mut report, &workload, &settings, &scratch)?;
    }
    if settings.runs("kafka") || settings.runs("spool") {
        let (brokers, _broker) = kafka::brokers(&mut report)?;
        if settings.runs("kafka") {
            runtime.block_on(kafka::direct(&mut report, &workload, &settings, &brokers))?;
        }
        if settings.runs("spool") {
            let spooled = kafka::spooled(&mut report, &workload, &settings, &scratch, &brokers);
            runtime.block_on(spooled)?;
        }
    }

    report
        .rows
        .sort_by_key(|r| ORDER.iter().position(|id| *id == r.id));
    report.print(
        workload.record_len,
        &[
            ("embedded durable (group commit)", "durable", TARGET),
            ("Kafka direct (strict, acks=all)", "kafka", TARGET),
            ("Kafka via spool, delivered", "spool-out", TARGET),
        ],
    );
    println!(
        "\nbench took {:.0} s; load average at the end: {}",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    Ok(())
}

/// The machine's 1, 5 and 15 minute load averages: other work competes for the 2 cores.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

/// Appends every record from `tasks` concurrent tasks, `batch` records per append, and
/// returns how long it took until the last append returned. The batches are cut and
/// dealt to the tasks before the clock starts.
pub async fn append_all<L: EventLog + 'static>(
    log: Arc<L>,
    records: &[Record],
    tasks: usize,
    batch: usize,
    durability: Durability,
) -> Result<Duration> {
    let expected = match durability {
        Durability::Async => Reached::Queued,
        Durability::Durable => Reached::OnDisk,
        Durability::Strict => Reached::Replicated,
    };
    let mut dealt: Vec<Vec<Vec<Record>>> = (0..tasks).map(|_| Vec::new()).collect();
    for (i, chunk) in records.chunks(batch.max(1)).enumerate() {
        dealt[i % tasks].push(chunk.to_vec());
    }
    let start = Instant::now();
    let mut appenders = tokio::task::JoinSet::new();
    for batches in dealt {
        let log = log.clone();
        appenders.spawn(async move {
            for chunk in batches {
                let count = chunk.len();
                let receipt = log.append(Stream::Events, chunk, durability).await?;
                ensure!(
                    receipt.reached >= expected,
                    "append reached {:?}",
                    receipt.reached
                );
                ensure!(
                    expected == Reached::Queued || receipt.positions.len() == count,
                    "{} positions for {count} records",
                    receipt.positions.len()
                );
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(joined) = appenders.join_next().await {
        joined??;
    }
    Ok(start.elapsed())
}
