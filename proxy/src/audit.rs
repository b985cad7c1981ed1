//! The only code that builds events and hands them to the event log.
//!
//! Each session gets a `SessionAudit`: it links every event into the session's hash chain,
//! encodes it, and queues it to an appender task that writes the session's events in order,
//! many per `append`. `record_durable` returns once the event (and so every earlier one of the
//! session) reached the target's durability: the session awaits it before forwarding a
//! command, so a command never runs unrecorded. `record` queues and returns at once: results
//! are recorded after the fact, and a durable command event later in the session covers them.
//!
//! Fails closed: when the log refuses an event, `record_durable` returns the error and the
//! session refuses the command. Not here: what an event says (the listeners decide).

use std::sync::{Arc, Mutex};

use eventlog::{Durability, EventLog, Record, Stream};
use schemas::body::SessionEnded;
use schemas::{Actor, ChainBuilder, EventBody, SealingKey, SessionContext, Timestamp};
use tokio::sync::{mpsc, oneshot};

/// Why an event could not be recorded.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The event log refused or failed the append.
    #[error("the event log is unavailable: {0}")]
    Log(String),
    /// The events are on local disk, but Kafka did not acknowledge them in time (`strict`).
    #[error("the event log did not acknowledge in time: {0}")]
    NotReplicated(String),
    /// The session's chain could not take the event (a bug, or the session already ended).
    #[error("the session's record is closed: {0}")]
    Closed(String),
}

/// What every session shares: the log and the sealing key.
#[derive(Clone)]
pub struct Auditor {
    log: Arc<dyn EventLog>,
    key: Arc<SealingKey>,
}

impl Auditor {
    /// Events go to `log`; sessions are sealed with `key`.
    pub fn new(log: Arc<dyn EventLog>, key: Arc<SealingKey>) -> Self {
        Auditor { log, key }
    }

    /// Starts recording a session; `durability` applies to `record_durable`.
    pub fn session(&self, context: SessionContext, durability: Durability) -> SessionAudit {
        let (queue, pending) = mpsc::unbounded_channel();
        let key = context.session_id.to_string();
        tokio::spawn(append_in_order(Arc::clone(&self.log), key, pending));
        SessionAudit {
            chain: Arc::new(Mutex::new(Some(ChainBuilder::new(context)))),
            queue,
            key: Arc::clone(&self.key),
            durability,
        }
    }
}

struct Pending {
    value: Vec<u8>,
    durability: Durability,
    ack: Option<oneshot::Sender<Result<(), AuditError>>>,
}

/// One session's record. Cheap to clone: both directions of a session record through it.
#[derive(Clone)]
pub struct SessionAudit {
    chain: Arc<Mutex<Option<ChainBuilder>>>,
    queue: mpsc::UnboundedSender<Pending>,
    key: Arc<SealingKey>,
    durability: Durability,
}

impl SessionAudit {
    /// From now on events name `actor` (after authentication succeeded).
    pub fn set_actor(&self, actor: Actor) {
        if let Ok(mut chain) = self.chain.lock()
            && let Some(chain) = chain.as_mut()
        {
            chain.set_actor(actor);
        }
    }

    /// Records an event and waits until it is as durable as the target requires. For an
    /// `async` target that is nothing: the event is queued and the caller goes on.
    pub async fn record_durable(&self, body: EventBody) -> Result<u64, AuditError> {
        if self.durability == Durability::Async {
            return self.enqueue(body, Durability::Async, None);
        }
        let (ack, acked) = oneshot::channel();
        let seq = self.enqueue(body, self.durability, Some(ack))?;
        acked
            .await
            .map_err(|_| AuditError::Log("the appender stopped".into()))??;
        Ok(seq)
    }

    /// Records an event without waiting for it.
    pub fn record(&self, body: EventBody) -> Result<u64, AuditError> {
        self.enqueue(body, Durability::Async, None)
    }

    /// Seals the session with its last event and waits until it is durable.
    pub async fn end(&self, ended: SessionEnded) -> Result<(), AuditError> {
        let chain = self.chain.lock().map_err(|_| closed("poisoned"))?.take();
        let chain = chain.ok_or_else(|| closed("already ended"))?;
        let event = chain
            .end(Timestamp::now(), ended, &self.key)
            .map_err(|e| closed(e.to_string()))?;
        let value = serde_json::to_vec(&event).map_err(|e| closed(e.to_string()))?;
        let (ack, acked) = oneshot::channel();
        let durability = self.durability.max_with(Durability::Durable);
        self.queue
            .send(Pending {
                value,
                durability,
                ack: Some(ack),
            })
            .map_err(|_| AuditError::Log("the appender stopped".into()))?;
        acked
            .await
            .map_err(|_| AuditError::Log("the appender stopped".into()))?
    }

    fn enqueue(
        &self,
        body: EventBody,
        durability: Durability,
        ack: Option<oneshot::Sender<Result<(), AuditError>>>,
    ) -> Result<u64, AuditError> {
        // The lock covers linking and queueing, so the queue holds events in chain order.
        let mut chain = self.chain.lock().map_err(|_| closed("poisoned"))?;
        let chain = chain
            .as_mut()
            .ok_or_else(|| closed("the session has ended"))?;
        let event = chain
            .next(Timestamp::now(), body)
            .map_err(|e| closed(e.to_string()))?;
        let value = serde_json::to_vec(&event).map_err(|e| closed(e.to_string()))?;
        self.queue
            .send(Pending {
                value,
                durability,
                ack,
            })
            .map_err(|_| AuditError::Log("the appender stopped".into()))?;
        Ok(event.seq)
    }
}

fn closed(reason: impl Into<String>) -> AuditError {
    AuditError::Closed(reason.into())
}

/// Ordering of durability levels, strongest last.
trait Strongest {
    fn max_with(self, other: Durability) -> Durability;
}

impl Strongest for Durability {
    fn max_with(self, other: Durability) -> Durability {
        let rank = |d: Durability| match d {
            Durability::Async => 0,
            Durability::Durable => 1,
            Durability::Strict => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// How long events that nobody waits for may gather before they are handed to the log.
/// One append per many events spares the log's writer a wake-up per event; the `async`
/// promise (on disk within the log's flush interval) is unaffected.
const ASYNC_LINGER: std::time::Duration = std::time::Duration::from_millis(2);
/// A batch this large is appended without lingering further.
const MAX_BATCH: usize = 256;

/// Appends a session's events in order, batching whatever is queued into one append at the
/// strongest durability any of them asked for. Events nobody waits for linger briefly, so
/// that they share an append with those that follow; an event somebody waits for goes at once.
async fn append_in_order(
    log: Arc<dyn EventLog>,
    key: String,
    mut pending: mpsc::UnboundedReceiver<Pending>,
) {
    while let Some(first) = pending.recv().await {
        let mut batch = vec![first];
        let linger = tokio::time::sleep(ASYNC_LINGER);
        tokio::pin!(linger);
        while batch.len() < MAX_BATCH && batch.iter().all(|p| p.ack.is_none()) {
            tokio::select! {
                next = pending.recv() => match next {
                    Some(next) => batch.push(next),
                    None => break,
                },
                _ = &mut linger => break,
            }
        }
        while let Ok(next) = pending.try_recv() {
            batch.push(next);
        }
        append_batch(log.as_ref(), &key, batch).await;
    }
}

async fn append_batch(log: &dyn EventLog, key: &str, batch: Vec<Pending>) {
    let durability = batch
        .iter()
        .fold(Durability::Async, |d, p| d.max_with(p.durability));
    let mut acks = Vec::new();
    let records = batch
        .into_iter()
        .map(|p| {
            acks.extend(p.ack);
            Record::new(key.to_owned(), p.value)
        })
        .collect();
    let result = log.append(Stream::Events, records, durability).await;
    if let Err(e) = &result {
        tracing::error!(session = %key, error = %e, "events could not be recorded");
    }
    for ack in acks {
        let _ = ack.send(result.as_ref().map(|_| ()).map_err(|e| match e {
            eventlog::Error::NotReplicated { .. } => AuditError::NotReplicated(e.to_string()),
            other => AuditError::Log(other.to_string()),
        }));
    }
}
