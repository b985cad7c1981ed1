//! What an earlier run of this spool's forwarder already delivered to Kafka.
//!
//! Each record the forwarder sends carries two headers: the spool's id and the record's spool
//! offset. If the forwarder stopped after Kafka acknowledged a batch but before it committed
//! its spool cursor, that batch is in Kafka and will be read from the spool again. To send it
//! only once, a starting forwarder reads each partition's tail backwards, chunk by chunk, until
//! it finds the newest record of its own spool: every spool record mapped to that partition at
//! or below that offset is already there (the idempotent producer keeps a partition in order).
//! The backwards scan is bounded by `window` records per partition, ample for records other
//! producers may have appended after ours while this forwarder was down.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::Error;
use crate::kafka::{KafkaConfig, client_config};

/// Header naming the spool a record was forwarded from.
pub const SPOOL_ID_HEADER: &str = "blastwall-spool";
/// Header holding the record's offset in that spool (u64, big-endian).
pub const SPOOL_OFFSET_HEADER: &str = "blastwall-spool-offset";

const CHUNK: i64 = 1000;
const TIMEOUT: Duration = Duration::from_secs(15);

/// Per partition, the newest spool offset of ours that the topic holds.
pub type Marks = BTreeMap<u32, u64>;

/// Scans the tail of every partition of `topic` for records forwarded from `spool_id`.
pub fn scan(
    config: &KafkaConfig,
    topic: &str,
    partitions: u32,
    spool_id: &str,
    window: u64,
) -> Result<Marks, Error> {
    let consumer: BaseConsumer = client_config(config, &[])
        .set("group.id", "blastwall-spool-scan")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .map_err(|e| Error::kafka("creating spool scanner", e))?;
    let mut marks = Marks::new();
    for partition in 0..partitions {
        if let Some(offset) = scan_partition(&consumer, topic, partition, spool_id, window)? {
            marks.insert(partition, offset);
        }
    }
    Ok(marks)
}

fn scan_partition(
    consumer: &BaseConsumer,
    topic: &str,
    partition: u32,
    spool_id: &str,
    window: u64,
) -> Result<Option<u64>, Error> {
    let (low, high) = consumer
        .fetch_watermarks(topic, partition as i32, TIMEOUT)
        .map_err(|e| Error::kafka("reading watermarks", e))?;
    let floor = low.max(high.saturating_sub(window as i64));
    let mut end = high;
    while end > floor {
        let start = floor.max(end - CHUNK);
        let ours = read_range(consumer, topic, partition, start, end, spool_id)?;
        if ours.is_some() {
            return Ok(ours);
        }
        end = start;
    }
    Ok(None)
}

/// The highest spool offset of `spool_id` among the records `start..end` of a partition.
fn read_range(
    consumer: &BaseConsumer,
    topic: &str,
    partition: u32,
    start: i64,
    end: i64,
    spool_id: &str,
) -> Result<Option<u64>, Error> {
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition as i32, Offset::Offset(start))
        .map_err(|e| Error::kafka("assigning partition", e))?;
    consumer
        .assign(&assignment)
        .map_err(|e| Error::kafka("assigning partition", e))?;
    let deadline = Instant::now() + TIMEOUT;
    let mut highest = None;
    loop {
        if Instant::now() > deadline {
            return Err(Error::Config(format!(
                "timed out scanning {topic}[{partition}] for spooled records"
            )));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = match message {
            Ok(message) => message,
            Err(rdkafka::error::KafkaError::PartitionEOF(_)) => return Ok(highest),
            Err(e) => return Err(Error::kafka("scanning for spooled records", e)),
        };
        if message.offset() >= end {
            return Ok(highest);
        }
        if let Some(offset) = spool_offset(&message, spool_id) {
            highest = highest.max(Some(offset));
        }
        if message.offset() + 1 >= end {
            return Ok(highest);
        }
    }
}

fn spool_offset(message: &impl Message, spool_id: &str) -> Option<u64> {
    let headers = message.headers()?;
    let mut ours = false;
    let mut offset = None;
    for header in headers.iter() {
        match header.key {
            SPOOL_ID_HEADER => ours = header.value == Some(spool_id.as_bytes()),
            SPOOL_OFFSET_HEADER => {
                offset = header
                    .value
                    .and_then(|v| <[u8; 8]>::try_from(v).ok())
                    .map(u64::from_be_bytes);
            }
            _ => {}
        }
    }
    if ours { offset } else { None }
}
