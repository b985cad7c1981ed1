//! Reading a topic as a consumer group, committing offsets by hand, knowing which partitions
//! are this member's.
//!
//! The group uses librdkafka's eager rebalance protocol: every member gives up all its
//! partitions before any member gets new ones. Rebalance callbacks run inside `recv`, that is
//! inside [`Subscription::poll`], so a member that works on its partitions between polls (the
//! recorder writing files) finishes before another member can be given them.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaConfig, client_config};
use crate::{Assignment, Entry, Error, Position, Subscription};

/// A consumer group member reading one topic.
pub(crate) struct KafkaSubscription {
    topic: String,
    consumer: Arc<StreamConsumer<GroupContext>>,
}

/// Follows this member's assignment through rebalances.
#[derive(Default)]
pub(crate) struct GroupContext {
    assignment: Mutex<Assignment>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            self.update(|owned| {
                for element in partitions.elements() {
                    owned.remove(&(element.partition() as u32));
                }
            });
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            self.update(|owned| {
                owned.extend(partitions.elements().iter().map(|e| e.partition() as u32));
            });
        }
    }
}

impl GroupContext {
    fn update(&self, change: impl FnOnce(&mut BTreeSet<u32>)) {
        let mut assignment = self
            .assignment
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        change(&mut assignment.partitions);
        assignment.generation += 1;
    }
}

impl KafkaSubscription {
    pub(crate) fn new(config: &KafkaConfig, topic: &str, group: &str) -> Result<Self, Error> {
        crate::log::validate_consumer(group)?;
        let consumer: StreamConsumer<GroupContext> = client_config(config, &[])
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // Eager: see the module documentation.
            .set("partition.assignment.strategy", "range,roundrobin")
            .create_with_context(GroupContext::default())
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

    fn assignment(&self) -> Option<Assignment> {
        let context = self.consumer.context();
        let assignment = context
            .assignment
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Some(assignment.clone())
    }
}
