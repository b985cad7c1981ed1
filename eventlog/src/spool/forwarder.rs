//! The forwarder: drains one spooled stream to Kafka, in order, at most once per record.
//!
//! It reads the spool as the consumer `kafka-forwarder`, sends each batch with the spool id and
//! spool offset as headers, waits for every acknowledgement, and only then commits its spool
//! cursor and lets the spool drop drained segments. While Kafka is down it waits (librdkafka
//! retries), reports the backlog as metrics and a warning, and resumes where it was. On any
//! error it starts over from its committed cursor, first asking `marks` what already arrived.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::message::{Header, OwnedHeaders};
use tokio::sync::watch;

use super::{SpoolConfig, marks};
use crate::kafka::partition::partition_for;
use crate::{EmbeddedLog, Error, EventLog, KafkaLog, Record, Stream};

/// The spool consumer name of the forwarder.
const CONSUMER: &str = "kafka-forwarder";
/// Records sent per batch before waiting for their acknowledgements.
const BATCH: usize = 10_000;
/// How often a waiting forwarder reports its backlog.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// How far a forwarder got.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Progress {
    /// The spool offset of the first record Kafka has not acknowledged.
    pub forwarded: u64,
    /// When the oldest record not yet acknowledged was read from the spool.
    pub oldest_pending_since: Option<Instant>,
}

pub(super) struct Forwarder {
    stream: Stream,
    spool: Arc<EmbeddedLog>,
    kafka: Arc<KafkaLog>,
    spool_id: String,
    config: SpoolConfig,
    progress: watch::Sender<Progress>,
    stop: watch::Receiver<bool>,
    last_warning: Option<Instant>,
}

impl Forwarder {
    pub(super) fn new(
        stream: Stream,
        spool: &Arc<EmbeddedLog>,
        kafka: &Arc<KafkaLog>,
        spool_id: &str,
        config: &SpoolConfig,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let forwarded = spool
            .committed(stream, CONSUMER)
            .ok()
            .flatten()
            .unwrap_or(0);
        let (progress, _) = watch::channel(Progress {
            forwarded,
            oldest_pending_since: None,
        });
        Forwarder {
            stream,
            spool: Arc::clone(spool),
            kafka: Arc::clone(kafka),
            spool_id: spool_id.to_owned(),
            config: config.clone(),
            progress,
            stop,
            last_warning: None,
        }
    }

    pub(super) fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Forwards until told to stop, starting over after any error.
    pub(super) async fn run(mut self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.forward().await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(stream = %self.stream, error = %e, "forwarding the spool to Kafka failed; retrying");
                }
            }
            if *self.stop.borrow() {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn forward(&mut self) -> Result<(), Error> {
        let mut spool = self.spool.subscribe(self.stream, CONSUMER).await?;
        let marks = self.scan_marks().await?;
        loop {
            let batch = tokio::select! {
                _ = self.stop.changed() => return Ok(()),
                batch = spool.poll(BATCH, Duration::from_millis(250)) => batch?,
            };
            self.report();
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                continue;
            };
            self.progress.send_modify(|p| {
                p.oldest_pending_since
                    .get_or_insert_with(|| Instant::now() - age(first.timestamp_ms));
            });
            let partitions = self.kafka.partitions(self.stream);
            let mut deliveries = Vec::with_capacity(batch.len());
            for entry in &batch {
                let partition = partition_for(&entry.key, partitions);
                if marks
                    .get(&partition)
                    .is_some_and(|m| entry.position.offset <= *m)
                {
                    continue; // delivered by an earlier run that stopped before committing
                }
                let record = Record {
                    key: entry.key.clone(),
                    value: entry.value.clone(),
                };
                let headers = self.headers(entry.position.offset);
                deliveries.push(self.kafka.send(self.stream, &record, Some(headers)).await?);
            }
            for delivery in deliveries {
                let mut delivery = std::pin::pin!(crate::kafka::delivered(delivery));
                loop {
                    tokio::select! {
                        _ = self.stop.changed() => return Ok(()),
                        result = &mut delivery => { result?; break; }
                        _ = tokio::time::sleep(REPORT_EVERY) => self.report(),
                    }
                }
            }
            spool.commit(last.position).await?;
            self.spool
                .drop_before(self.stream, last.position.offset + 1);
            self.progress.send_modify(|p| {
                p.forwarded = last.position.offset + 1;
                p.oldest_pending_since = None;
            });
        }
    }

    async fn scan_marks(&self) -> Result<marks::Marks, Error> {
        let config = self.kafka.config().clone();
        let topic = self.kafka.topic(self.stream).to_owned();
        let partitions = self.kafka.partitions(self.stream);
        let spool_id = self.spool_id.clone();
        let window = self.config.dedup_window;
        tokio::task::spawn_blocking(move || {
            marks::scan(&config, &topic, partitions, &spool_id, window)
        })
        .await
        .map_err(|e| Error::Config(format!("spool scan task failed: {e}")))?
    }

    fn headers(&self, offset: u64) -> OwnedHeaders {
        OwnedHeaders::new_with_capacity(2)
            .insert(Header {
                key: marks::SPOOL_ID_HEADER,
                value: Some(self.spool_id.as_bytes()),
            })
            .insert(Header {
                key: marks::SPOOL_OFFSET_HEADER,
                value: Some(&offset.to_be_bytes()[..]),
            })
    }

    /// Publishes the backlog as metrics, and warns while it is older than allowed.
    fn report(&mut self) {
        let stats = self.spool.stats(self.stream);
        let progress = *self.progress.borrow();
        let pending = stats.next_offset.saturating_sub(progress.forwarded);
        let oldest = progress.oldest_pending_since.map(|since| since.elapsed());
        let stream = self.stream.name();
        metrics::gauge!("blastwall_spool_pending_records", "stream" => stream).set(pending as f64);
        metrics::gauge!("blastwall_spool_bytes", "stream" => stream).set(stats.bytes as f64);
        let oldest_seconds = oldest.map_or(0.0, |d| d.as_secs_f64());
        metrics::gauge!("blastwall_spool_oldest_pending_seconds", "stream" => stream)
            .set(oldest_seconds);

        let Some(oldest) = oldest.filter(|age| *age > self.config.warn_after) else {
            return;
        };
        let due = self
            .last_warning
            .is_none_or(|at| at.elapsed() > self.config.warn_after);
        if due {
            self.last_warning = Some(Instant::now());
            tracing::warn!(
                stream,
                pending_records = pending,
                spool_bytes = stats.bytes,
                oldest_pending_seconds = oldest.as_secs(),
                "events are waiting in the spool: Kafka is not acknowledging"
            );
        }
    }
}

/// How long ago a log timestamp was.
fn age(timestamp_ms: i64) -> Duration {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Duration::from_millis(now_ms.saturating_sub(timestamp_ms).max(0) as u64)
}

/// The spool's identity, made once and kept beside it, so its records are recognisable in Kafka.
pub(super) fn spool_id(dir: &Path) -> Result<String, Error> {
    let path = dir.join("SPOOL_ID");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("reading spool id", &path, e)),
    }
    let id = uuid::Uuid::now_v7().simple().to_string();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{id}\n"))
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| Error::io("writing spool id", &path, e))?;
    Ok(id)
}
