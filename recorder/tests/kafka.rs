//! The recorder on a real Kafka broker (the run's, from `scripts/test`; without one these tests
//! fail): a million events over six partitions exactly once, unreadable records quarantined,
//! and 30 SIGKILLs of a recorder process while events flow.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "e2e")]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use eventlog::{Durability, EventLog, KafkaConfig, KafkaLog, Record, Stream};
use recorder::EventSource;
use recorder::archive::{Check, Layout, survey};

const BROKERS_VAR: &str = "RECORDER_KAFKA_CHILD_BROKERS";
const TOPIC_VAR: &str = "RECORDER_KAFKA_CHILD_TOPIC";
const DIR_VAR: &str = "RECORDER_KAFKA_CHILD_DIR";

/// Topics of their own, so that tests share one broker; a static group membership, so that a
/// recorder restarted after SIGKILL takes its partitions back at once.
fn config(brokers: &str, events_topic: Option<&str>) -> KafkaConfig {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let mut config = KafkaConfig::new(brokers);
    config.topics.events = events_topic.map_or(format!("recorder-{unique}"), str::to_owned);
    config.topics.control = format!("{}.control", config.topics.events);
    config.partitions = 6;
    // Instance ids are scoped to the group, and each test's group is named after its topic.
    let instance = format!("{}-instance", config.topics.events);
    config.client.insert("group.instance.id".into(), instance);
    config
        .client
        .insert("session.timeout.ms".into(), "10000".into());
    config.client.insert("log_level".into(), "3".into());
    config
}

/// Test settings whose consumer group is named after the test's topic.
fn kafka_settings(archive: &std::path::Path, log: &KafkaConfig) -> recorder::Settings {
    let mut settings = settings(archive);
    settings.consumer = format!("{}-group", log.topics.events);
    settings
}

fn shared() -> String {
    testkit::kafka::shared_brokers().expect("a Kafka broker (run scripts/test)")
}

async fn append(log: &dyn EventLog, records: Vec<Record>) -> BTreeMap<u32, u64> {
    let mut ends = BTreeMap::new();
    for chunk in records.chunks(10_000) {
        let receipt = log
            .append(Stream::Events, chunk.to_vec(), Durability::Durable)
            .await
            .expect("append");
        for position in receipt.positions {
            let end = ends.entry(position.partition).or_insert(0);
            *end = (*end).max(position.offset + 1);
        }
    }
    ends
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_events_through_kafka_are_archived_exactly_once() {
    const COUNT: u64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let config = config(&shared(), None);
    let mut settings = kafka_settings(&archive, &config);
    let log: Arc<dyn EventLog> = Arc::new(KafkaLog::connect(config).await.unwrap());
    let started = Instant::now();
    for from in (0..COUNT).step_by(100_000) {
        append(log.as_ref(), records(20, from, from + 100_000, 1_000)).await;
    }
    eprintln!("1M events produced in {:?}", started.elapsed());
    settings.max_flush_events = 200_000;
    let status = record_until(
        settings,
        Arc::new(Arc::clone(&log)),
        COUNT,
        Duration::from_secs(600),
    )
    .await;
    assert_eq!((status.events, status.quarantined), (COUNT, 0));
    assert_eq!(
        status.next_offsets.len(),
        6,
        "every partition archived: {status:?}"
    );
    assert_exactly(&archive, 20, COUNT);
    eprintln!(
        "1M events through Kafka archived and read back in {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_records_from_kafka_are_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let config = config(&shared(), None);
    let settings = kafka_settings(&archive, &config);
    let log: Arc<dyn EventLog> = Arc::new(KafkaLog::connect(config).await.unwrap());
    let mut future = serde_json::to_value(event(21, 1, 3)).unwrap();
    future["schema_version"] = 3.into();
    let records = vec![
        common::record(&event(21, 0, 3)),
        Record::new("a-session", serde_json::to_vec(&future).unwrap()),
        common::record(&event(21, 2, 3)),
    ];
    append(log.as_ref(), records).await;
    let status = record_until(
        settings,
        Arc::new(Arc::clone(&log)),
        3,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!((status.events, status.quarantined), (2, 1));
    let quarantine = read_table(&archive, "quarantine");
    assert_eq!(quarantine.len(), 1);
    assert_eq!(quarantine[0].batches[0].num_rows(), 1);
}

/// Not a test: the recorder process the parent kills. Runs only when the parent starts it.
#[tokio::test]
#[ignore = "child process of sigkill_loop_on_kafka_neither_loses_nor_duplicates"]
async fn kafka_recorder_child() {
    let (Ok(brokers), Ok(topic), Ok(dir)) = (
        std::env::var(BROKERS_VAR),
        std::env::var(TOPIC_VAR),
        std::env::var(DIR_VAR),
    ) else {
        panic!("kafka_recorder_child is started by the Kafka crash test");
    };
    let config = config(&brokers, Some(&topic));
    let settings = child_settings(&PathBuf::from(dir), &config);
    let log: Arc<dyn EventLog> = Arc::new(KafkaLog::connect(config).await.unwrap());
    let source: Arc<dyn EventSource> = Arc::new(log);
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let running = recorder::start(settings, source, stopped)
        .await
        .expect("recorder starts");
    running.wait().await.expect("recorder runs until killed");
}

fn child_settings(dir: &std::path::Path, log: &KafkaConfig) -> recorder::Settings {
    let mut settings = kafka_settings(&dir.join("archive"), log);
    settings.flush_interval = Duration::from_millis(20);
    settings.max_flush_events = 300;
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loop_on_kafka_neither_loses_nor_duplicates() {
    const RUN: u32 = 22;
    let brokers = shared();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&brokers, None);
    let topic = config.topics.events.clone();
    let last_settings = child_settings(dir.path(), &config);
    let log: Arc<dyn EventLog> = Arc::new(KafkaLog::connect(config).await.unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let (log, done) = (Arc::clone(&log), Arc::clone(&done));
        tokio::spawn(async move {
            let (mut n, mut ends) = (0, BTreeMap::new());
            while !done.load(Ordering::Relaxed) {
                for (p, end) in append(log.as_ref(), records(RUN, n, n + 200, 40)).await {
                    ends.insert(p, end);
                }
                n += 200;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (n, ends)
        })
    };
    let layout = Layout::new(dir.path().join("archive"));
    let mut temps = 0;
    for kill in 0..30 {
        run_and_kill(
            "kafka_recorder_child",
            &[
                (BROKERS_VAR, brokers.as_ref()),
                (TOPIC_VAR, topic.as_ref()),
                (DIR_VAR, dir.path().as_os_str()),
            ],
            300..1500,
            kill,
        )
        .await;
        let found = survey(&layout, Check::Footers).unwrap_or_else(|e| panic!("kill {kill}: {e}"));
        assert!(
            found.damaged.is_empty() && found.gaps.is_empty(),
            "kill {kill}: {found:?}"
        );
        temps += found.removed_temps.len();
    }
    done.store(true, Ordering::Relaxed);
    let (total, ends) = producer.await.unwrap();
    let archived_before = survey(&layout, Check::Footers).unwrap().archived_records();
    eprintln!(
        "30 kills on Kafka: {total} appended, {archived_before} archived before the last run, {temps} temporary files left by kills"
    );
    assert!(archived_before > 0, "the killed recorders archived nothing");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = recorder::start(last_settings, Arc::new(Arc::clone(&log)), stopped)
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(120),
        running.status().wait_for(|s| {
            ends.iter()
                .all(|(p, end)| s.next_offsets.get(p) == Some(end))
        }),
    )
    .await
    .expect("the last recorder catches up")
    .unwrap();
    stop.send(true).unwrap();
    running.wait().await.unwrap();
    assert_exactly(layout.root(), RUN, total);
}

/// A recorder of the group `group`, a dynamic member (a leaving member hands its partitions
/// over at once), reading `topic`.
async fn group_member(
    brokers: &str,
    topic: &str,
    group: &str,
    archive: &std::path::Path,
) -> (tokio::sync::watch::Sender<bool>, recorder::RunningRecorder) {
    let mut config = config(brokers, Some(topic));
    config.client.remove("group.instance.id");
    let log: Arc<dyn EventLog> = Arc::new(KafkaLog::connect(config).await.unwrap());
    let mut settings = settings(archive);
    settings.consumer = group.to_owned();
    settings.flush_interval = Duration::from_millis(50);
    settings.max_flush_events = 500;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = recorder::start(settings, Arc::new(log), stopped)
        .await
        .unwrap();
    (stop, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_recorders_in_one_group_share_partitions_through_rebalances() {
    const RUN: u32 = 23;
    let brokers = shared();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let config = config(&brokers, None);
    let (topic, group) = (
        config.topics.events.clone(),
        format!("{}-group", config.topics.events),
    );
    let log: Arc<dyn EventLog> = Arc::new(KafkaLog::connect(config).await.unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let (log, done) = (Arc::clone(&log), Arc::clone(&done));
        tokio::spawn(async move {
            let (mut n, mut ends) = (0, BTreeMap::new());
            while !done.load(Ordering::Relaxed) {
                ends.extend(append(log.as_ref(), records(RUN, n, n + 300, 60)).await);
                n += 300;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (n, ends)
        })
    };
    let progress = |running: &recorder::RunningRecorder| running.status().borrow().events;

    // One member alone, then a second joins mid-stream: the partitions are split.
    let (stop_a, a) = group_member(&brokers, &topic, &group, &archive).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(progress(&a) > 0, "the first member archived nothing alone");
    let (stop_b, b) = group_member(&brokers, &topic, &group, &archive).await;
    let b_status = b.status();
    tokio::time::timeout(
        Duration::from_secs(60),
        b_status.clone().wait_for(|s| s.events > 0),
    )
    .await
    .expect("the second member was given partitions and archived")
    .unwrap();
    let a_before_leaving = progress(&a);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        progress(&a) > a_before_leaving,
        "the first member kept some partitions"
    );

    // The first leaves mid-stream: the second takes everything over.
    stop_a.send(true).unwrap();
    let a_status = a.wait().await.expect("the first member stops cleanly");
    done.store(true, Ordering::Relaxed);
    let (total, ends) = producer.await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(120),
        b_status.clone().wait_for(|s| {
            ends.iter()
                .all(|(p, end)| s.next_offsets.get(p) == Some(end))
        }),
    )
    .await
    .expect("the remaining member catches up on every partition")
    .unwrap();
    stop_b.send(true).unwrap();
    let b_final = b.wait().await.unwrap();
    eprintln!(
        "{total} events: {} archived by the first member, {} by the second",
        a_status.events, b_final.events
    );
    assert_eq!(
        a_status.events + b_final.events,
        total,
        "written twice or lost"
    );
    assert_exactly(&archive, RUN, total);
    let found = survey(&Layout::new(&archive), Check::Full).unwrap();
    assert!(
        found.damaged.is_empty() && found.gaps.is_empty(),
        "{found:?}"
    );
}
