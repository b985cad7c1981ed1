//! Kafka, and Kafka behind the spool, against a real broker (KRaft, started by `scripts/test`;
//! the outage test starts a private one it can stop). Without a broker these tests fail.

// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "e2e")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{assert_exactly_once_in_order, event, read, read_until_quiet};
use eventlog::{
    Durability, EmbeddedOptions, Error, EventLog, KafkaConfig, KafkaLog, Reached, Record,
    SpoolConfig, SpooledLog, Stream, WhenFull,
};

/// A configuration with topics of its own, so tests can share one broker.
fn config(brokers: &str, partitions: u32) -> KafkaConfig {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let mut config = KafkaConfig::new(brokers);
    config.topics.events = format!("test-{unique}.events");
    config.topics.control = format!("test-{unique}.control");
    config.partitions = partitions;
    config
}

fn shared() -> String {
    testkit::kafka::shared_brokers().expect("a Kafka broker (run scripts/test)")
}

async fn consume_all(log: &dyn EventLog, group: &str, count: usize) -> Vec<eventlog::Entry> {
    let mut sub = log
        .subscribe(Stream::Events, group)
        .await
        .expect("subscribe");
    read_until_quiet(
        &mut sub,
        count,
        Duration::from_secs(3),
        Duration::from_secs(180),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_events_round_trip_through_kafka_and_resume() {
    let log = KafkaLog::connect(config(&shared(), 4))
        .await
        .expect("connect");
    let records: Vec<Record> = (0..100_000).map(|n| event("kafka", n, 101)).collect();
    for chunk in records.chunks(5000) {
        let receipt = log
            .append(Stream::Events, chunk.to_vec(), Durability::Strict)
            .await
            .expect("append");
        assert_eq!(receipt.reached, Reached::Replicated);
        assert_eq!(receipt.positions.len(), chunk.len());
    }

    // Read half, commit it, and stop; a restarted consumer of the group gets the other half.
    let mut sub = log
        .subscribe(Stream::Events, "resume")
        .await
        .expect("subscribe");
    let first = read(&mut sub, 50_000, Duration::from_secs(120)).await;
    assert_eq!(first.len(), 50_000);
    let mut last_per_partition = std::collections::BTreeMap::new();
    for entry in &first {
        last_per_partition.insert(entry.position.partition, entry.position);
    }
    for position in last_per_partition.values() {
        sub.commit(*position).await.expect("commit");
    }
    drop(sub);
    let rest = consume_all(&log, "resume", 50_000).await;
    let all: Vec<_> = first.into_iter().chain(rest).collect();
    assert_exactly_once_in_order(&records, &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_events_round_trip_through_the_spool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = SpooledLog::open(
        dir.path(),
        EmbeddedOptions::default(),
        config(&shared(), 3),
        SpoolConfig::default(),
    )
    .await
    .expect("open");
    let records: Vec<Record> = (0..100_000).map(|n| event("spool", n, 89)).collect();
    for chunk in records.chunks(1000) {
        let receipt = log
            .append(Stream::Events, chunk.to_vec(), Durability::Durable)
            .await
            .expect("append");
        assert_eq!(receipt.reached, Reached::OnDisk);
    }
    let got = consume_all(&log, "spool-reader", 100_000).await;
    assert_exactly_once_in_order(&records, &got);
    wait_drained(&log, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarder_that_stopped_before_committing_does_not_send_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kafka = config(&shared(), 3);
    let first: Vec<Record> = (0..5000).map(|n| event("dedup", n, 7)).collect();
    let log = SpooledLog::open(
        dir.path(),
        EmbeddedOptions::default(),
        kafka.clone(),
        SpoolConfig::default(),
    )
    .await
    .expect("open");
    log.append(Stream::Events, first.clone(), Durability::Durable)
        .await
        .expect("append");
    wait_drained(&log, Duration::from_secs(60)).await;
    log.shutdown().await;
    drop(log);

    // As if the forwarder died after Kafka acknowledged but before its cursor was committed.
    rewind_forwarder(dir.path());

    let log = SpooledLog::open(
        dir.path(),
        EmbeddedOptions::default(),
        kafka,
        SpoolConfig::default(),
    )
    .await
    .expect("reopen");
    let second: Vec<Record> = (5000..6000).map(|n| event("dedup", n, 7)).collect();
    log.append(Stream::Events, second.clone(), Durability::Durable)
        .await
        .expect("append");
    wait_drained(&log, Duration::from_secs(60)).await;

    let expected: Vec<Record> = first.into_iter().chain(second).collect();
    let got = consume_all(&log, "dedup-reader", 6000).await;
    assert_exactly_once_in_order(&expected, &got);
}

fn rewind_forwarder(dir: &Path) {
    let cursor = dir.join("events/cursors/kafka-forwarder");
    assert!(cursor.exists(), "the forwarder committed a cursor");
    std::fs::write(cursor, "0\n").expect("rewind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_second_broker_outage_loses_and_duplicates_nothing() {
    let mut broker = testkit::kafka::Broker::start().expect("a private Kafka broker");
    let mut kafka = config(&broker.bootstrap(), 3);
    kafka.ack_timeout = Duration::from_secs(2);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = std::sync::Arc::new(
        SpooledLog::open(
            dir.path(),
            EmbeddedOptions::default(),
            kafka.clone(),
            SpoolConfig::default(),
        )
        .await
        .expect("open"),
    );
    let full_dir = tempfile::tempdir().expect("tempdir");
    let tiny = SpoolConfig {
        max_size: bytesize::ByteSize::kib(64),
        when_full: WhenFull::Refuse,
        ..SpoolConfig::default()
    };
    let other_topics = config(&broker.bootstrap(), 1);
    let small_spool = SpooledLog::open(
        full_dir.path(),
        EmbeddedOptions::default(),
        other_topics,
        tiny,
    )
    .await
    .expect("open");

    // Events keep coming at a steady pace before, during and after the outage.
    let producer = {
        let log = log.clone();
        tokio::spawn(async move {
            let mut sent = Vec::new();
            let started = Instant::now();
            let mut n = 0;
            while started.elapsed() < Duration::from_secs(45) {
                let batch: Vec<Record> = (n..n + 20).map(|i| event("outage", i, 13)).collect();
                log.append(Stream::Events, batch.clone(), Durability::Durable)
                    .await
                    .expect("durable append during outage");
                sent.extend(batch);
                n += 20;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            sent
        })
    };

    tokio::time::sleep(Duration::from_secs(5)).await;
    tokio::task::block_in_place(|| broker.stop()).expect("stop broker");
    let outage = Instant::now();

    // While Kafka is down: `strict` is refused, the spool fills, a bounded spool refuses.
    let strict = log
        .append(
            Stream::Events,
            vec![event("strict", 0, 1)],
            Durability::Strict,
        )
        .await;
    assert!(
        matches!(strict, Err(Error::NotReplicated { .. })),
        "strict append during outage: {strict:?}"
    );
    let filler: Vec<Record> = (0..400).map(|n| event("filler", n, 1)).collect();
    let full = async {
        for chunk in filler.chunks(100) {
            small_spool
                .append(Stream::Events, chunk.to_vec(), Durability::Durable)
                .await?;
        }
        Ok::<_, Error>(())
    };
    assert!(
        matches!(full.await, Err(Error::SpoolFull { .. })),
        "a full spool refuses"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let status = log.status(Stream::Events);
    assert!(
        status.pending_records > 500,
        "events wait in the spool: {status:?}"
    );
    assert!(
        status
            .oldest_pending
            .is_some_and(|age| age >= Duration::from_secs(5)),
        "{status:?}"
    );

    tokio::time::sleep(Duration::from_secs(30).saturating_sub(outage.elapsed())).await;
    tokio::task::block_in_place(|| broker.restart()).expect("restart broker");

    let mut sent = producer.await.expect("producer");
    sent.push(event("strict", 0, 1)); // refused to its caller, but recorded: it is in the spool
    wait_drained(&log, Duration::from_secs(120)).await;
    let got = consume_all(log.as_ref(), "outage-reader", sent.len()).await;
    assert_exactly_once_in_order(&sent, &got);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_topic_with_compaction_is_refused() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let brokers = shared();
    let kafka = config(&brokers, 1);
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("admin");
    let compacted = NewTopic::new(&kafka.topics.events, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact");
    admin
        .create_topics([&compacted], &AdminOptions::new())
        .await
        .expect("create");
    let err = KafkaLog::connect(kafka)
        .await
        .err()
        .expect("compacted events topic refused");
    assert!(err.to_string().contains("compact"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_settings_cannot_be_weakened() {
    let mut kafka = config(&shared(), 1);
    kafka.client.insert("acks".to_owned(), "1".to_owned());
    let err = KafkaLog::connect(kafka)
        .await
        .err()
        .expect("acks override refused");
    assert!(err.to_string().contains("acks"), "{err}");
}

async fn wait_drained(log: &SpooledLog, limit: Duration) {
    let started = Instant::now();
    loop {
        let status = log.status(Stream::Events);
        if status.pending_records == 0 {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "the spool did not drain: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
