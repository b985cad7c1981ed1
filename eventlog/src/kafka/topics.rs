//! Creating blastwall's topics when absent, and refusing an events topic that compacts.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, Producer};

use super::{KafkaConfig, client_config};
use crate::{Error, Stream};

const METADATA_TIMEOUT: Duration = Duration::from_secs(15);

/// Makes sure every stream's topic exists and returns each one's partition count.
pub async fn ensure(
    config: &KafkaConfig,
    producer: &FutureProducer,
) -> Result<BTreeMap<Stream, u32>, Error> {
    let admin: AdminClient<DefaultClientContext> = client_config(config, &[])
        .create()
        .map_err(|e| Error::kafka("creating admin client", e))?;
    let brokers = metadata(producer, None).await?.0;
    let replication = config
        .replication_factor
        .unwrap_or_else(|| brokers.min(3) as u16);
    let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));

    let mut partitions = BTreeMap::new();
    for stream in Stream::ALL {
        let topic = config.topics.of(stream);
        let new = NewTopic::new(
            topic,
            config.partitions as i32,
            TopicReplication::Fixed(replication as i32),
        )
        .set("cleanup.policy", "delete");
        let results = admin
            .create_topics([&new], &options)
            .await
            .map_err(|e| Error::kafka("creating topics", e))?;
        for result in results {
            match result {
                Ok(name) => {
                    tracing::info!(topic = %name, partitions = config.partitions, replication, "created topic")
                }
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(Error::Config(format!("cannot create topic {name}: {code}")));
                }
            }
        }
        if stream == Stream::Events {
            refuse_compaction(&admin, topic, &options).await?;
        }
        let count = wait_for_partitions(producer, topic).await?;
        partitions.insert(stream, count);
    }
    Ok(partitions)
}

async fn refuse_compaction(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    options: &AdminOptions,
) -> Result<(), Error> {
    let resource = ResourceSpecifier::Topic(topic);
    let described = admin
        .describe_configs([&resource], options)
        .await
        .map_err(|e| Error::kafka("describing topic", e))?;
    for resource in described.into_iter().flatten() {
        let policy = resource.get("cleanup.policy").and_then(|e| e.value.clone());
        if policy.as_deref().is_some_and(|p| p.contains("compact")) {
            return Err(Error::Config(format!(
                "topic {topic} has cleanup.policy={}; the events topic must never be compacted",
                policy.unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// A freshly created topic takes a moment to show its partitions in the metadata.
async fn wait_for_partitions(producer: &FutureProducer, topic: &str) -> Result<u32, Error> {
    for _ in 0..50 {
        let (_, count) = metadata(producer, Some(topic)).await?;
        if count > 0 {
            return Ok(count);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::Config(format!("topic {topic} shows no partitions")))
}

/// The number of brokers and, for `topic`, its number of partitions.
async fn metadata(producer: &FutureProducer, topic: Option<&str>) -> Result<(usize, u32), Error> {
    let producer = producer.clone();
    let topic = topic.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let metadata = producer
            .client()
            .fetch_metadata(topic.as_deref(), METADATA_TIMEOUT)
            .map_err(|e| Error::kafka("fetching metadata", e))?;
        let partitions = topic
            .and_then(|t| {
                metadata
                    .topics()
                    .iter()
                    .find(|m| m.name() == t)
                    .map(|m| m.partitions().len())
            })
            .unwrap_or(0);
        Ok((metadata.brokers().len(), partitions as u32))
    })
    .await
    .map_err(|e| Error::Config(format!("metadata task failed: {e}")))?
}
