//! Kafka direct (`strict`: acks=all, awaited) and Kafka behind the spool (`durable`:
//! accepted on local disk, then delivered by the forwarder), each on fresh topics.
//!
//! The broker is `BLASTWALL_KAFKA_BROKERS` or a private one from `testkit`. Afterwards each
//! mode checks from the partitions' watermarks that the topic holds exactly what was
//! acknowledged, so a fast number cannot come from records that never arrived.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use eventlog::{
    Durability, EmbeddedOptions, KafkaConfig, KafkaLog, SpoolConfig, SpooledLog, Stream,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use tempfile::TempDir;

use crate::report::{Report, Row};
use crate::workload::Workload;
use crate::{Settings, append_all, disk};

/// Events sent before Kafka direct is timed, so the broker's JIT has compiled its hot paths.
const WARM_UP: usize = 100_000;
/// Events of the single-event `strict` row: it is latency-bound and slow.
const SINGLES: usize = 50_000;

/// The broker to use: `BLASTWALL_KAFKA_BROKERS`, or a private one kept alive by the guard.
pub fn brokers(report: &mut Report) -> Result<(String, Option<testkit::kafka::Broker>)> {
    let (brokers, broker, whence) = match std::env::var(testkit::kafka::BROKERS_ENV) {
        Ok(brokers) if !brokers.trim().is_empty() => {
            let whence = format!("from {}", testkit::kafka::BROKERS_ENV);
            (brokers.trim().to_owned(), None, whence)
        }
        _ => {
            let started = Instant::now();
            let broker = testkit::kafka::Broker::start()?;
            let whence = format!(
                "a private single-node KRaft broker on this machine, started in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            (broker.bootstrap(), Some(broker), whence)
        }
    };
    report.note(format!(
        "kafka: {brokers}, {whence}; acks=all with one replica is the leader's page cache \
         (the broker does not fsync per request), so kafka rows compare with raw write, \
         not with raw write+fdatasync"
    ));
    Ok((brokers, broker))
}

/// Fresh, uniquely named topics for one mode.
fn kafka_config(brokers: &str, partitions: u32) -> KafkaConfig {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let mut config = KafkaConfig::new(brokers);
    config.topics.events = format!("bench-{unique}.events");
    config.topics.control = format!("bench-{unique}.control");
    config.partitions = partitions;
    config
}

/// `KafkaLog` with `strict` appends, after a short warm-up of the broker's JVM.
pub async fn direct(
    report: &mut Report,
    workload: &Workload,
    settings: &Settings,
    brokers: &str,
) -> Result<()> {
    let config = kafka_config(brokers, settings.partitions);
    let topic = config.topics.events.clone();
    let log = Arc::new(KafkaLog::connect(config).await?);
    let (tasks, batch) = (settings.kafka_tasks, settings.kafka_batch);
    let warm = &workload.records[..workload.len().min(WARM_UP)];
    let warmed = append_all(log.clone(), warm, tasks, batch, Durability::Strict).await?;
    report.note(format!(
        "kafka warm-up: {} events in {:.2} s, not counted",
        warm.len(),
        warmed.as_secs_f64()
    ));
    let elapsed = append_all(
        log.clone(),
        &workload.records,
        tasks,
        batch,
        Durability::Strict,
    )
    .await?;
    let mode = format!("kafka direct, strict, {tasks} tasks x {batch}");
    report.push(Row::new("kafka", mode, workload.len(), elapsed).against("raw"));

    // One event per append, as a proxy in strict mode appends a command's event.
    let single = workload.len().min(SINGLES);
    let some = &workload.records[..single];
    let tasks = settings.tasks;
    let elapsed = append_all(log.clone(), some, tasks, 1, Durability::Strict).await?;
    let mode = format!("kafka direct, strict, {tasks} tasks x 1");
    report.push(Row::new("kafka-1", mode, single, elapsed).against("kafka"));

    let held = topic_records(brokers, &topic, settings.partitions).await?;
    let sent = warm.len() + workload.len() + single;
    ensure!(
        held == sent as u64,
        "topic {topic} holds {held} records, {sent} were acknowledged"
    );
    Ok(())
}

/// Kafka behind the spool: `durable` appends (accepted), then until the spool is drained.
pub async fn spooled(
    report: &mut Report,
    workload: &Workload,
    settings: &Settings,
    scratch: &TempDir,
    brokers: &str,
) -> Result<()> {
    let dir = tempfile::tempdir_in(scratch.path())?;
    let config = kafka_config(brokers, settings.partitions);
    let topic = config.topics.events.clone();
    let options = EmbeddedOptions::default();
    let log =
        Arc::new(SpooledLog::open(dir.path(), options, config, SpoolConfig::default()).await?);
    let (tasks, batch) = (settings.tasks, settings.batch);
    let before = disk::writer_io();
    let start = Instant::now();
    let accepted = append_all(
        log.clone(),
        &workload.records,
        tasks,
        batch,
        Durability::Durable,
    )
    .await?;
    let after = disk::writer_io();
    let backlog = log.status(Stream::Events).pending_records;
    let deadline = start + Duration::from_secs(600);
    while log.status(Stream::Events).pending_records > 0 {
        if Instant::now() > deadline {
            bail!("the spool did not drain to Kafka within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let delivered = start.elapsed();
    log.shutdown().await;
    let n = workload.len();
    let groups = disk::groups(before, after, n, workload.frame_len);
    // The spool runs minutes after the embedded rounds, and this machine's fsyncs vary that
    // much over minutes: its raw baseline is measured right after it, in its group size.
    let baseline = match groups {
        Some(groups) => {
            let group = ((n as f64 / groups as f64).round() as usize).max(1);
            let count = (n / 8).max(1);
            let frames = &workload.frames[..count * workload.frame_len];
            let raw = disk::write_groups(
                dir.path(),
                frames,
                workload.frame_len,
                group,
                true,
                Duration::MAX,
            )?;
            let mode = format!("raw write+fdatasync, ~{group} events/sync, after the spool");
            report.push(Row::new("raw+sync-2", mode, raw.events, raw.elapsed).against("raw"));
            report.note(format!(
                "spool: the spool's writer committed {groups} groups while accepting: {:.1} \
                 events per fdatasync",
                n as f64 / groups as f64
            ));
            "raw+sync-2"
        }
        None => "raw+sync",
    };
    let mode = format!("spool, durable, {tasks} tasks x {batch}: accepted");
    report.push(Row::new("spool-in", mode, n, accepted).against(baseline));
    let mode = "spool, durable: delivered to kafka".to_owned();
    report.push(Row::new("spool-out", mode, n, delivered).against("kafka"));
    report.note(format!(
        "spool: {backlog} events not yet in Kafka when the last append returned; \
         they took {:.2} s more to drain",
        delivered.saturating_sub(accepted).as_secs_f64(),
    ));
    let held = topic_records(brokers, &topic, settings.partitions).await?;
    ensure!(
        held == n as u64,
        "topic {topic} holds {held} records, {n} were spooled"
    );
    Ok(())
}

/// How many records the topic's partitions hold, from their watermarks.
async fn topic_records(brokers: &str, topic: &str, partitions: u32) -> Result<u64> {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()?;
        let mut total = 0;
        for partition in 0..partitions as i32 {
            let (low, high) =
                consumer.fetch_watermarks(&topic, partition, Duration::from_secs(15))?;
            total += (high - low) as u64;
        }
        Ok(total)
    })
    .await?
}
