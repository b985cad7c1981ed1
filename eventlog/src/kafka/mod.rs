//! Kafka as the event log: an idempotent `acks=all` producer and consumer groups.
//!
//! Each stream is a topic; the record key (the session id) picks the partition with Kafka's
//! own murmur2 formula, so a session stays ordered. Topics are created when absent, with
//! `cleanup.policy=delete`; an events topic configured for compaction is refused, since
//! compaction would keep only one event per session.
//!
//! Delivery settings are pinned (see `config::PINNED`): librdkafka retries a record until the
//! broker takes it, so an outage delays delivery but never expires, reorders or duplicates it.
//! The proxy's `durable` mode does not come here directly: it goes through `spool`.

mod config;
mod consumer;
pub(crate) mod partition;
mod topics;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use crate::{
    Durability, Error, EventLog, Position, Reached, Receipt, Record, Stream, Subscription,
};
pub use config::{KafkaConfig, TopicsConfig};
pub(crate) use consumer::KafkaSubscription;

/// Kafka opened for producing and consuming blastwall's streams.
pub struct KafkaLog {
    config: KafkaConfig,
    producer: FutureProducer,
    partitions: BTreeMap<Stream, u32>,
}

impl KafkaLog {
    /// Connects, creating the topics that are absent, and learns their partition counts.
    pub async fn connect(config: KafkaConfig) -> Result<Self, Error> {
        if config.brokers.is_empty() {
            return Err(Error::Config("kafka.brokers lists no broker".to_owned()));
        }
        if let Some((key, _)) = config::PINNED
            .iter()
            .find(|(k, _)| config.client.contains_key(*k))
        {
            return Err(Error::Config(format!(
                "kafka.client.{key} is fixed by blastwall"
            )));
        }
        let mut producer_config = client_config(&config, PRODUCER_DEFAULTS);
        for (key, value) in config::PINNED {
            producer_config.set(key, value);
        }
        let producer: FutureProducer = producer_config
            .create()
            .map_err(|e| Error::kafka("creating producer", e))?;
        let partitions = topics::ensure(&config, &producer).await?;
        Ok(KafkaLog {
            config,
            producer,
            partitions,
        })
    }

    /// The configuration this log was opened with.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// The topic of a stream.
    pub fn topic(&self, stream: Stream) -> &str {
        self.config.topics.of(stream)
    }

    /// How many partitions the stream's topic has.
    pub fn partitions(&self, stream: Stream) -> u32 {
        self.partitions.get(&stream).copied().unwrap_or(1)
    }

    /// Hands one record to the producer, waiting for room in its queue if it is full.
    pub(crate) async fn send(
        &self,
        stream: Stream,
        record: &Record,
        headers: Option<OwnedHeaders>,
    ) -> Result<DeliveryFuture, Error> {
        let partition = partition::partition_for(&record.key, self.partitions(stream));
        let mut message = FutureRecord::to(self.topic(stream))
            .key(&record.key[..])
            .payload(&record.value[..])
            .partition(partition as i32);
        if let Some(headers) = headers {
            message = message.headers(headers);
        }
        loop {
            match self.producer.send_result(message) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    message = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(Error::kafka("producing", e)),
            }
        }
    }

    /// Waits until every record handed to the producer so far was acknowledged.
    pub async fn flush(&self, timeout: Duration) -> Result<(), Error> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|e| Error::Config(format!("flush task failed: {e}")))?
            .map_err(|e| Error::kafka("flushing", e))
    }
}

/// Awaits a delivery and turns it into the record's position.
pub(crate) async fn delivered(delivery: DeliveryFuture) -> Result<Position, Error> {
    match delivery.await {
        Ok(Ok(d)) => Ok(Position {
            partition: d.partition as u32,
            offset: d.offset as u64,
        }),
        Ok(Err((e, _))) => Err(Error::kafka("delivering", e)),
        Err(_) => Err(Error::kafka("delivering", KafkaError::Canceled)),
    }
}

#[async_trait]
impl EventLog for KafkaLog {
    async fn append(
        &self,
        stream: Stream,
        records: Vec<Record>,
        durability: Durability,
    ) -> Result<Receipt, Error> {
        let mut deliveries = Vec::with_capacity(records.len());
        for record in &records {
            deliveries.push(self.send(stream, record, None).await?);
        }
        if durability == Durability::Async {
            return Ok(Receipt {
                reached: Reached::Queued,
                positions: Vec::new(),
            });
        }
        let waited = self.config.ack_timeout;
        let all = async {
            let mut positions = Vec::with_capacity(deliveries.len());
            for delivery in deliveries {
                positions.push(delivered(delivery).await?);
            }
            Ok::<_, Error>(positions)
        };
        let positions = tokio::time::timeout(waited, all)
            .await
            .map_err(|_| Error::NotReplicated { waited })??;
        Ok(Receipt {
            reached: Reached::Replicated,
            positions,
        })
    }

    async fn subscribe(
        &self,
        stream: Stream,
        consumer: &str,
    ) -> Result<Box<dyn Subscription>, Error> {
        let sub = KafkaSubscription::new(&self.config, self.topic(stream), consumer)?;
        Ok(Box::new(sub))
    }
}

/// Producer settings the configuration may override. A 1 ms linger lets concurrent
/// single-event `strict` appends share a request without making each wait long: measured with
/// 256 appenders, 5 ms gave 38k events/s, 1 ms 71-104k (see scripts/bench).
const PRODUCER_DEFAULTS: &[(&str, &str)] = &[("linger.ms", "1")];

/// The client configuration shared by producers, consumers and the admin client: `defaults`,
/// then the operator's `kafka.client` settings over them.
pub(crate) fn client_config(config: &KafkaConfig, defaults: &[(&str, &str)]) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", config.brokers.join(","));
    client.set("client.id", "blastwall");
    for (key, value) in defaults {
        client.set(*key, *value);
    }
    for (key, value) in &config.client {
        client.set(key, value);
    }
    client
}
