//! Where the recorder reads events from: any [`EventLog`] opened in this process (the embedded
//! log, Kafka, Kafka behind a spool), or an embedded log written by another process.
//!
//! `blastwall up` hands the recorder the log it opened for the proxy; `blastwall recorder`
//! beside a separately running proxy reads the embedded log with an [`EmbeddedReader`] (the
//! proxy holds the writer lock) or connects to Kafka. The recorder needs only named
//! subscriptions to the events stream, so this is all it asks of a source.

use std::sync::Arc;

use async_trait::async_trait;
use eventlog::{EmbeddedReader, EventLog, Stream, Subscription};

/// A log the recorder can read the events stream of, as a named consumer.
#[async_trait]
pub trait EventSource: Send + Sync {
    /// Subscribes to the events stream as `consumer`, from its committed position.
    async fn subscribe(&self, consumer: &str) -> Result<Box<dyn Subscription>, eventlog::Error>;
}

#[async_trait]
impl EventSource for Arc<dyn EventLog> {
    async fn subscribe(&self, consumer: &str) -> Result<Box<dyn Subscription>, eventlog::Error> {
        EventLog::subscribe(self.as_ref(), Stream::Events, consumer).await
    }
}

#[async_trait]
impl EventSource for EmbeddedReader {
    async fn subscribe(&self, consumer: &str) -> Result<Box<dyn Subscription>, eventlog::Error> {
        EmbeddedReader::subscribe(self, Stream::Events, consumer)
    }
}
