//! Reading a topic as a consumer group, committing offsets by hand.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaConfig, client_config};
use crate::{Entry, Error, Position, Subscription};

/// A consumer group member reading one topic.
pub(crate) struct KafkaSubscription {
    topic: String,
    consumer: Arc<StreamConsumer>,
}

impl KafkaSubscription {
    pub(crate) fn new(config: &KafkaConfig, topic: &str, group: &str) -> Result<Self, Error> {
        crate::log::validate_consumer(group)?;
        let consumer: StreamConsumer = client_config(config, &[])
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .create()
            .map_err(|e| Error::kafka("creating consumer", e))?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| Error::kafka("subscribing", e))?;
        Ok(KafkaSubscription {
            topic: topic.to_owned(),
            consumer: Arc::new(consumer),
        })
    }
}

fn entry(message: &BorrowedMessage<'_>) -> Entry {
    Entry {
        position: Position {
            partition: message.partition() as u32,
            offset: message.offset() as u64,
        },
        timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
        key: Bytes::copy_from_slice(message.key().unwrap_or_default()),
        value: Bytes::copy_from_slice(message.payload().unwrap_or_default()),
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Entry>, Error> {
        let mut out = Vec::new();
        let first = match tokio::time::timeout(wait, self.consumer.recv()).await {
            Err(_) => return Ok(out),
            Ok(message) => message.map_err(|e| Error::kafka("consuming", e))?,
        };
        out.push(entry(&first));
        while out.len() < max {
            match tokio::time::timeout(Duration::ZERO, self.consumer.recv()).await {
                Ok(message) => out.push(entry(&message.map_err(|e| Error::kafka("consuming", e))?)),
                Err(_) => break,
            }
        }
        Ok(out)
    }

    async fn commit(&mut self, position: Position) -> Result<(), Error> {
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(
                &self.topic,
                position.partition as i32,
                Offset::Offset(position.offset as i64 + 1),
            )
            .map_err(|e| Error::kafka("committing", e))?;
        let consumer = Arc::clone(&self.consumer);
        tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync))
            .await
            .map_err(|e| Error::Config(format!("commit task failed: {e}")))?
            .map_err(|e| Error::kafka("committing", e))
    }
}
