//! The only code that builds events and hands them to the event log.
//!
//! Each session gets a `SessionAudit`: it numbers every event and queues it to the session's
//! appender task, which links it into the hash chain, encodes it and writes the session's
//! events in order, many per `append` (so hashing stays off the statement's path). The
//! appender is woken only when it has to act (it is idle, or somebody waits for an event), not
//! for every event: a statement's three events cost no task wake-up while it lingers.
//! `record_durable` returns once the event (and so every earlier one of the session) reached
//! the target's durability: the session awaits it before forwarding a command, so a command
//! never runs unrecorded. `record` queues and returns at once: results are recorded after the
//! fact, and a durable command event later in the session covers them.
//!
//! Control events (approval requests, votes, grants: `schemas::control`) are not part of any
//! session's chain; [`ControlAudit`] appends them, durably, to the control stream.
//!
//! Fails closed: when the log refuses an event, `record_durable` returns the error and the
//! session refuses the command. Not here: what an event says (the listeners decide).

use std::sync::{Arc, Mutex, MutexGuard};

use eventlog::{Durability, EventLog, Record, Stream};
use schemas::body::SessionEnded;
use schemas::control::ControlEvent;
use schemas::{Actor, ChainBuilder, EventBody, SealingKey, SessionContext, Timestamp};
use tokio::sync::{Notify, oneshot};

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

    /// Posts control events to the control stream of the same log.
    pub fn control(&self) -> ControlAudit {
        ControlAudit {
            log: Arc::clone(&self.log),
        }
    }

    /// The log itself, for the readers of its control stream.
    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Starts recording a session; `durability` applies to `record_durable`.
    pub fn session(&self, context: SessionContext, durability: Durability) -> SessionAudit {
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState {
                order: Order::Open { next_seq: 0 },
                work: Vec::new(),
                appender: AppenderState::Idle,
                senders_gone: false,
            }),
            wake: Notify::new(),
        });
        let appender = Appender {
            log: Arc::clone(&self.log),
            key: context.session_id.to_string(),
            sealing_key: Arc::clone(&self.key),
            chain: Some(ChainBuilder::new(context)),
        };
        tokio::spawn(appender.run(AppenderHandle(Arc::clone(&queue))));
        SessionAudit {
            queue: Arc::new(SenderHandle(queue)),
            durability,
        }
    }
}

/// Appends control events, keyed by their approval, each on local disk before `post` returns.
#[derive(Clone)]
pub struct ControlAudit {
    log: Arc<dyn EventLog>,
}

impl ControlAudit {
    /// Appends `event` to the control stream.
    pub async fn post(&self, event: &ControlEvent) -> Result<(), AuditError> {
        let value = serde_json::to_vec(event).map_err(|e| closed(e.to_string()))?;
        let record = Record::new(event.approval_id().to_string(), value);
        match self
            .log
            .append(Stream::Control, vec![record], Durability::Durable)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(AuditError::Log(e.to_string())),
        }
    }
}

type Ack = oneshot::Sender<Result<(), AuditError>>;

/// What the session asks of its appender, in order.
enum Work {
    /// Link, encode and append an event.
    Event {
        time: Timestamp,
        body: EventBody,
        durability: Durability,
        ack: Option<Ack>,
    },
    /// Later events name this actor.
    Actor(Actor),
    /// Seal the session with its last event.
    End {
        time: Timestamp,
        ended: SessionEnded,
        durability: Durability,
        ack: Ack,
    },
}

/// Seq numbers as handed out, so a caller learns its event's seq without waiting for it.
enum Order {
    Open { next_seq: u64 },
    Ended,
}

/// What the appender is doing, so that a session wakes it only when it has to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AppenderState {
    /// Waiting for work: the next event wakes it.
    Idle,
    /// Letting events gather: only an event somebody waits for (or a full batch) wakes it.
    Lingering,
    /// Appending a batch; it looks at the queue again when done.
    Busy,
    /// Gone: nothing more can be recorded.
    Stopped,
}

/// A session's queue of work, shared by the session (many handles) and its appender.
struct Queue {
    state: Mutex<QueueState>,
    wake: Notify,
}

struct QueueState {
    order: Order,
    /// Work in seq order; taken whole by the appender.
    work: Vec<Work>,
    appender: AppenderState,
    /// Every `SessionAudit` was dropped: the appender ends once the queue is empty.
    senders_gone: bool,
}

impl Queue {
    fn lock(&self) -> Result<MutexGuard<'_, QueueState>, AuditError> {
        self.state.lock().map_err(|_| closed("poisoned"))
    }

    /// Queues `work` (the caller holds the lock, so queue order is seq order) and wakes the
    /// appender if it must act now.
    fn push(&self, state: &mut QueueState, work: Work) -> Result<(), AuditError> {
        let urgent = matches!(&work, Work::Event { ack: Some(_), .. } | Work::End { .. });
        let wake = match state.appender {
            AppenderState::Stopped => return Err(stopped()),
            AppenderState::Idle => true,
            AppenderState::Lingering => urgent || state.work.len() + 1 >= MAX_BATCH,
            AppenderState::Busy => false,
        };
        state.work.push(work);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }
}

/// The sessions' side of the queue: when the last `SessionAudit` goes, the appender is told.
struct SenderHandle(Arc<Queue>);

impl Drop for SenderHandle {
    fn drop(&mut self) {
        if let Ok(mut state) = self.0.state.lock() {
            state.senders_gone = true;
        }
        self.0.wake.notify_one();
    }
}

/// The appender's side of the queue: when the appender goes (however it ends), queued work is
/// dropped, so whoever waits for an event learns that it was not recorded.
struct AppenderHandle(Arc<Queue>);

impl Drop for AppenderHandle {
    fn drop(&mut self) {
        let work = match self.0.state.lock() {
            Ok(mut state) => {
                state.appender = AppenderState::Stopped;
                std::mem::take(&mut state.work)
            }
            Err(_) => Vec::new(),
        };
        drop(work);
    }
}

/// One session's record. Cheap to clone: both directions of a session record through it.
///
/// Linking and encoding (canonical JSON, SHA-256) happen in the session's appender task, off
/// the statement's path; the session only numbers its events, under the lock that also covers
/// queueing, so queue order is seq order.
#[derive(Clone)]
pub struct SessionAudit {
    queue: Arc<SenderHandle>,
    durability: Durability,
}

impl SessionAudit {
    /// From now on events name `actor` (after authentication succeeded).
    pub fn set_actor(&self, actor: Actor) {
        let queue = &self.queue.0;
        if let Ok(mut state) = queue.lock() {
            let _ = queue.push(&mut state, Work::Actor(actor));
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
        acked.await.map_err(|_| stopped())??;
        Ok(seq)
    }

    /// Records an event without waiting for it.
    pub fn record(&self, body: EventBody) -> Result<u64, AuditError> {
        self.enqueue(body, Durability::Async, None)
    }

    /// Seals the session with its last event and waits until it is durable.
    pub async fn end(&self, ended: SessionEnded) -> Result<(), AuditError> {
        let (ack, acked) = oneshot::channel();
        {
            let queue = &self.queue.0;
            let mut state = queue.lock()?;
            if matches!(state.order, Order::Ended) {
                return Err(closed("already ended"));
            }
            let durability = self.durability.max_with(Durability::Durable);
            let work = Work::End {
                time: Timestamp::now(),
                ended,
                durability,
                ack,
            };
            queue.push(&mut state, work)?;
            state.order = Order::Ended;
        }
        acked.await.map_err(|_| stopped())?
    }

    fn enqueue(
        &self,
        body: EventBody,
        durability: Durability,
        ack: Option<Ack>,
    ) -> Result<u64, AuditError> {
        let queue = &self.queue.0;
        let mut state = queue.lock()?;
        let Order::Open { next_seq } = state.order else {
            return Err(closed("the session has ended"));
        };
        let work = Work::Event {
            time: Timestamp::now(),
            body,
            durability,
            ack,
        };
        queue.push(&mut state, work)?;
        state.order = Order::Open {
            next_seq: next_seq + 1,
        };
        Ok(next_seq)
    }
}

fn stopped() -> AuditError {
    AuditError::Log("the appender stopped".into())
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
/// One append per many events spares the log's writer a wake-up per event: at 5 ms, a busy
/// `async` session costs the log 200 appends a second, whatever its statement rate (2 ms cost
/// about 3% more CPU per statement under pgbench). A durable event, or the session's end, is
/// handed over at once and takes what lingers with it.
const ASYNC_LINGER: std::time::Duration = std::time::Duration::from_millis(5);
/// A batch this large is appended without lingering further.
const MAX_BATCH: usize = 256;

/// A session's appender: links and encodes its events in order, and appends them in batches
/// at the strongest durability any of them asked for. Events nobody waits for linger briefly,
/// so that they share an append with those that follow; one somebody waits for goes at once.
struct Appender {
    log: Arc<dyn EventLog>,
    key: String,
    sealing_key: Arc<SealingKey>,
    chain: Option<ChainBuilder>,
}

/// An encoded event waiting for its append.
struct Encoded {
    value: Result<Vec<u8>, AuditError>,
    durability: Durability,
    ack: Option<Ack>,
}

/// What the appender does next.
enum Next {
    /// Wait until woken: nothing is queued.
    Wait,
    /// Let events gather first: nobody waits for those queued.
    Linger,
    /// Append what is queued now.
    Append,
    /// The session is over and everything was appended.
    Finish,
}

impl Appender {
    async fn run(mut self, handle: AppenderHandle) {
        let queue = &handle.0;
        loop {
            match Self::next(queue) {
                Next::Finish => return,
                Next::Wait => {
                    queue.wake.notified().await;
                    continue;
                }
                Next::Linger => {
                    tokio::select! {
                        _ = tokio::time::sleep(ASYNC_LINGER) => {}
                        _ = queue.wake.notified() => {}
                    }
                }
                Next::Append => {}
            }
            let work = match queue.lock() {
                Ok(mut state) => {
                    state.appender = AppenderState::Busy;
                    std::mem::take(&mut state.work)
                }
                Err(_) => return,
            };
            let mut batch = Vec::with_capacity(work.len());
            for item in work {
                self.take(item, &mut batch);
            }
            self.append(batch).await;
        }
    }

    /// Looks at the queue and says what to do, telling the sessions when to wake the appender.
    fn next(queue: &Queue) -> Next {
        let Ok(mut state) = queue.lock() else {
            return Next::Finish;
        };
        let urgent = |w: &Work| matches!(w, Work::Event { ack: Some(_), .. } | Work::End { .. });
        let (next, appender) = if state.work.is_empty() {
            if state.senders_gone {
                (Next::Finish, AppenderState::Stopped)
            } else {
                (Next::Wait, AppenderState::Idle)
            }
        } else if state.senders_gone
            || state.work.len() >= MAX_BATCH
            || state.work.iter().any(urgent)
        {
            (Next::Append, AppenderState::Busy)
        } else {
            (Next::Linger, AppenderState::Lingering)
        };
        state.appender = appender;
        next
    }

    /// Links and encodes one piece of work into the batch.
    fn take(&mut self, work: Work, batch: &mut Vec<Encoded>) {
        match work {
            Work::Actor(actor) => {
                if let Some(chain) = self.chain.as_mut() {
                    chain.set_actor(actor);
                }
            }
            Work::Event {
                time,
                body,
                durability,
                ack,
            } => {
                let value = match self.chain.as_mut() {
                    Some(chain) => chain
                        .next_linked(time, body)
                        .map_err(|e| closed(e.to_string()))
                        .and_then(encode),
                    None => Err(closed("the session has ended")),
                };
                batch.push(Encoded {
                    value,
                    durability,
                    ack,
                });
            }
            Work::End {
                time,
                ended,
                durability,
                ack,
            } => {
                let value = match self.chain.take() {
                    Some(chain) => chain
                        .end_linked(time, ended, &self.sealing_key)
                        .map_err(|e| closed(e.to_string()))
                        .and_then(encode),
                    None => Err(closed("already ended")),
                };
                batch.push(Encoded {
                    value,
                    durability,
                    ack: Some(ack),
                });
            }
        }
    }

    async fn append(&self, batch: Vec<Encoded>) {
        let durability = batch
            .iter()
            .fold(Durability::Async, |d, e| d.max_with(e.durability));
        let mut acks = Vec::new();
        let mut records = Vec::with_capacity(batch.len());
        for encoded in batch {
            match encoded.value {
                Ok(value) => {
                    records.push(Record::new(self.key.clone(), value));
                    acks.extend(encoded.ack);
                }
                Err(e) => {
                    tracing::error!(session = %self.key, error = %e, "an event could not be encoded");
                    if let Some(ack) = encoded.ack {
                        let _ = ack.send(Err(e));
                    }
                }
            }
        }
        if records.is_empty() {
            return;
        }
        let result = self.log.append(Stream::Events, records, durability).await;
        if let Err(e) = &result {
            tracing::error!(session = %self.key, error = %e, "events could not be recorded");
        }
        for ack in acks {
            let _ = ack.send(result.as_ref().map(|_| ()).map_err(|e| match e {
                eventlog::Error::NotReplicated { .. } => AuditError::NotReplicated(e.to_string()),
                other => AuditError::Log(other.to_string()),
            }));
        }
    }
}

fn encode(event: schemas::Linked) -> Result<Vec<u8>, AuditError> {
    event.into_json().map_err(|e| closed(e.to_string()))
}
