//! The Kafka fixtures against real brokers (feature `e2e`).
#![cfg(feature = "e2e")]

use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use testkit::kafka::{Broker, shared_brokers};

const TOPIC: &str = "testkit-kept";

#[test]
fn the_shared_broker_answers() -> Result<()> {
    let brokers = shared_brokers()?;
    TcpStream::connect(&brokers).with_context(|| format!("connecting to {brokers}"))?;
    Ok(())
}

#[tokio::test]
async fn a_private_broker_keeps_its_port_and_data_across_a_restart() -> Result<()> {
    let mut broker = Broker::start()?;
    let bootstrap = broker.bootstrap();

    create_topic(&bootstrap).await?;
    produce(&bootstrap, "before the outage").await?;

    broker.stop()?;
    assert!(
        TcpStream::connect(&bootstrap).is_err(),
        "a stopped broker still answers"
    );

    broker.restart()?;
    assert_eq!(broker.bootstrap(), bootstrap);
    TcpStream::connect(&bootstrap).context("the restarted broker does not answer")?;
    assert_eq!(consume_first(&bootstrap).await?, "before the outage");

    drop(broker);
    assert!(
        TcpStream::connect(&bootstrap).is_err(),
        "a dropped broker still answers"
    );
    Ok(())
}

async fn create_topic(bootstrap: &str) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1));
    for result in admin.create_topics([&topic], &AdminOptions::new()).await? {
        if let Err((name, code)) = result {
            bail!("creating topic {name}: {code}");
        }
    }
    Ok(())
}

async fn produce(bootstrap: &str, payload: &str) -> Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "30000")
        .create()?;
    let record = FutureRecord::to(TOPIC).key("k").payload(payload);
    if let Err((e, _)) = producer.send(record, Duration::from_secs(30)).await {
        bail!("producing to {TOPIC}: {e}");
    }
    Ok(())
}

async fn consume_first(bootstrap: &str) -> Result<String> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "testkit")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[TOPIC])?;
    let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
        .await
        .context("no message within 60 s")??;
    Ok(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned())
}
