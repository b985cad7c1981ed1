//! The Kafka part of the `[log]` configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::Stream;

/// Where the Kafka cluster is and how blastwall's topics look.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// Topic names per stream.
    #[serde(default)]
    pub topics: TopicsConfig,
    /// Partitions of topics blastwall creates. Records of one session share a partition.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// Replication factor of topics blastwall creates; by default the smaller of 3 and the
    /// number of brokers.
    #[serde(default)]
    pub replication_factor: Option<u16>,
    /// How long a `durable` or `strict` append waits for Kafka's acknowledgement.
    #[serde(default = "default_ack_timeout", with = "humantime_serde")]
    pub ack_timeout: Duration,
    /// Extra librdkafka properties (security.protocol, sasl.*, ssl.*), applied to every client.
    /// Durability settings (acks, idempotence) cannot be weakened here.
    #[serde(default)]
    pub client: BTreeMap<String, String>,
}

/// Topic names.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TopicsConfig {
    /// The events topic (never compacted).
    #[serde(default = "default_events_topic")]
    pub events: String,
    /// The control topic: approvals decided, kills, locks.
    #[serde(default = "default_control_topic")]
    pub control: String,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            events: default_events_topic(),
            control: default_control_topic(),
        }
    }
}

impl TopicsConfig {
    /// The topic of a stream.
    pub fn of(&self, stream: Stream) -> &str {
        match stream {
            Stream::Events => &self.events,
            Stream::Control => &self.control,
        }
    }
}

impl KafkaConfig {
    /// A configuration with defaults for everything but the brokers.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: vec![brokers.into()],
            topics: TopicsConfig::default(),
            partitions: default_partitions(),
            replication_factor: None,
            ack_timeout: default_ack_timeout(),
            client: BTreeMap::new(),
        }
    }
}

/// Producer properties no configuration may override: they are what makes delivery safe.
pub(crate) const PINNED: [(&str, &str); 4] = [
    ("acks", "all"),
    ("enable.idempotence", "true"),
    // Never expire a queued record: librdkafka retries until the broker takes it, which keeps
    // the idempotent producer's sequence intact (an expired batch could reorder or duplicate).
    ("message.timeout.ms", "0"),
    ("compression.type", "zstd"),
];

fn default_partitions() -> u32 {
    6
}

fn default_ack_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_events_topic() -> String {
    "blastwall.events".to_owned()
}

fn default_control_topic() -> String {
    "blastwall.control".to_owned()
}
