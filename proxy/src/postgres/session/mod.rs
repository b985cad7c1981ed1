//! One client's session: from a validated login to `session.ended`.
//!
//! After startup the session logs in upstream, greets the client as PostgreSQL would
//! (AuthenticationOk, the server's ParameterStatus values, blastwall's own BackendKeyData,
//! ReadyForQuery) and relays in both directions at once: `frontend` decides and forwards what
//! the client asks, `backend` records and returns what the server answers, `pending` ties the
//! two together. When either side ends, the other is stopped; a client that vanished while a
//! query runs gets that query cancelled upstream. A statement held for approval is waited for
//! here, on the client side, where it stands in its batch (`frontend::hold`); the upstream side
//! passes blastwall's notices to the client meanwhile. The session's last event is sealed.

mod backend;
mod capture;
mod frontend;
mod masker;
mod pending;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{FutureExt, StreamExt};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus, SecretKey};
use schemas::body::{
    AuthMethod, AuthenticationSucceeded, EndReason, Fault, OperationFailed, SessionCounters,
    SessionEnded, SessionStarted, Stage,
};
use schemas::{Actor, EventBody, Protocol, SessionContext};
use tokio::sync::{mpsc, watch};
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::Instrument;

use super::codec::FrontendCodec;
use super::error::{self, Severity, sqlstate};
use super::listener::Listener;
use super::startup::Accepted;
use super::upstream::{self, UpstreamError};
use crate::approvals::Approvals;
use crate::audit::SessionAudit;
use crate::identity::Principal;
use crate::policy::Policy;
use backend::{Backend, BackendEnd};
use frontend::{Frontend, FrontendEnd};
use pending::Pending;

/// `max_message_size` bounds what a client sends; the target is trusted as libpq trusts a
/// server, so a row may be as long as the protocol's length field allows.
const UPSTREAM_MESSAGE_LIMIT: usize = i32::MAX as usize;

/// What both directions of a session share.
pub struct Shared {
    pending: Mutex<Pending>,
    audit: SessionAudit,
    policy: Arc<dyn Policy>,
    approvals: Approvals,
    principal: Principal,
    /// The principal as events name it.
    actor: Actor,
    session_id: uuid::Uuid,
    target: String,
    /// The target as events name it.
    target_ref: schemas::Target,
    /// Messages of blastwall's own for the client (a held statement's notice), sent by the
    /// upstream side between two upstream messages.
    notices: mpsc::UnboundedSender<PgWireBackendMessage>,
    /// Woken by the client's cancel request.
    interrupt: super::cancel::Interrupts,
    client: std::net::IpAddr,
    counters: Counters,
    record_rows_limit: usize,
    /// Masking of results, statement text and errors; `None` when masking is off.
    masking: Option<Arc<masker::SessionMasking>>,
}

impl Shared {
    /// `text` as events keep it: through the content detectors when masking is on. Statement
    /// text and approval requests go through here, bind parameters through
    /// [`Self::recorded_parameter`]; policy decides on the text as sent.
    fn recorded(&self, text: &str) -> String {
        match &self.masking {
            Some(masking) => masking.mask_text(text),
            None => text.to_owned(),
        }
    }

    /// A bind parameter as events keep it: text as is, binary (or not UTF-8) as `\x` hex. Its
    /// bytes pass the content detectors first, or a pasted card number would sit in the
    /// archive in hex.
    fn recorded_parameter(&self, value: &[u8], format: i16) -> String {
        let masked = self
            .masking
            .as_ref()
            .and_then(|m| m.detectors().mask(value));
        let value = masked
            .as_ref()
            .map_or(value, |(masked, _)| masked.as_slice());
        if format == 0
            && let Ok(text) = std::str::from_utf8(value)
        {
            return text.to_owned();
        }
        let mut out = String::with_capacity(2 + 2 * value.len());
        out.push_str("\\x");
        for byte in value {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }
}

/// The session's counters for `session.ended`.
#[derive(Default)]
struct Counters {
    commands: AtomicU64,
    blocked: AtomicU64,
}

impl Counters {
    fn command(&self) {
        self.commands.fetch_add(1, Ordering::Relaxed);
    }

    fn block(&self) {
        self.blocked.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs a session to its end. Never panics on anything the client or server sends.
pub async fn run(
    listener: Arc<Listener>,
    accepted: Accepted,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    let session_id = uuid::Uuid::now_v7();
    let span = tracing::info_span!(
        "session", %session_id, principal = %accepted.principal.subject, protocol = "postgres", target = %accepted.target.name
    );
    serve(listener, accepted, peer, session_id, shutdown)
        .instrument(span)
        .await;
}

async fn serve(
    listener: Arc<Listener>,
    accepted: Accepted,
    peer: SocketAddr,
    session_id: uuid::Uuid,
    shutdown: watch::Receiver<bool>,
) {
    let Accepted {
        io,
        tls,
        parameters,
        target,
        principal,
    } = accepted;
    let context = SessionContext {
        session_id,
        actor: Actor::from(&principal),
        target: schemas::Target {
            name: target.name.clone(),
            protocol: Protocol::Postgres,
        },
        client_addr: Some(peer.to_string()),
    };
    let context_target = context.target.clone();
    let audit = listener.auditor.session(context, target.durability);
    let (counted, bytes) = CountingIo::wrap(io);
    let mut client_write = FramedWrite::new(counted.1, FrontendCodec::new(listener.max_message));
    let client_read = FramedRead::new(counted.0, FrontendCodec::new(listener.max_message));

    let started = EventBody::SessionStarted(SessionStarted {
        application_name: parameters.get("application_name").cloned(),
        tls,
        parameters: parameters.clone(),
    });
    let authenticated = EventBody::AuthenticationSucceeded(AuthenticationSucceeded {
        method: AuthMethod::Password,
    });
    if audit.record(started).is_err() || audit.record_durable(authenticated).await.is_err() {
        let _ = refuse(
            &mut client_write,
            sqlstate::NOT_RECORDED,
            "blastwall cannot record this session; refused",
        )
        .await;
        return;
    }
    tracing::info!("session started");

    let upstream = match upstream::connect(&target, &parameters, UPSTREAM_MESSAGE_LIMIT).await {
        Ok(upstream) => upstream,
        Err(e) => {
            let (code, message) = match &e {
                UpstreamError::Rejected { .. } => (
                    sqlstate::UPSTREAM_REJECTED,
                    format!("target {} refused blastwall's login", target.name),
                ),
                _ => (
                    sqlstate::UPSTREAM_UNREACHABLE,
                    format!("target {} is unreachable", target.name),
                ),
            };
            tracing::warn!(error = %e, "upstream login failed");
            let _ = audit.record(EventBody::OperationFailed(OperationFailed {
                fault: Fault::Upstream,
                stage: Stage::Upstream,
                message: e.to_string(),
            }));
            let _ = refuse(&mut client_write, code, &message).await;
            end(&audit, EndReason::Error, &Counters::default(), &bytes).await;
            return;
        }
    };

    let interrupt = super::cancel::SessionInterrupts::new();
    let key = listener.cancels.register(
        &target,
        upstream.pid,
        upstream.secret.clone(),
        Arc::clone(&interrupt),
    );
    if greet(&mut client_write, &upstream.parameters, key)
        .await
        .is_err()
    {
        listener.cancels.remove(key.0);
        end(
            &audit,
            EndReason::ClientClosed,
            &Counters::default(),
            &bytes,
        )
        .await;
        return;
    }

    let (notices, notices_out) = mpsc::unbounded_channel();
    let masking = listener.masking(&target.name).map(|(masking, catalog)| {
        Arc::new(masker::SessionMasking::new(
            masking,
            catalog,
            target.name.clone(),
            principal.groups.clone(),
        ))
    });
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        audit: audit.clone(),
        policy: Arc::clone(&listener.policy),
        approvals: listener.approvals.clone(),
        actor: Actor::from(&principal),
        principal,
        session_id,
        target: target.name.clone(),
        target_ref: context_target,
        notices,
        interrupt,
        client: peer.ip(),
        counters: Counters::default(),
        record_rows_limit: listener.record_rows_limit,
        masking,
    });
    let (upstream_sink, upstream_stream) = upstream.framed.split();
    let (stop, stopped) = watch::channel(None::<String>);
    let frontend = client_side(
        Frontend::new(Arc::clone(&shared), upstream_sink),
        client_read,
        stop.clone(),
        stopped.clone(),
        shutdown.clone(),
    );
    let backend = server_side(
        Backend::new(Arc::clone(&shared), client_write),
        upstream_stream,
        notices_out,
        stop,
        stopped,
        shutdown.clone(),
    );
    let (front_end, back_end) = tokio::join!(frontend, backend);

    let idle = shared.pending.lock().map(|p| p.is_idle()).unwrap_or(true);
    if matches!(front_end, Some(FrontendEnd::ClientGone)) && !idle {
        // The client vanished mid-query: stop the query rather than let it run on unseen.
        if let Err(e) = upstream::cancel(&target, upstream.pid, &upstream.secret).await {
            tracing::warn!(error = %e, "could not cancel the upstream query of a vanished client");
        }
    }
    listener.cancels.remove(key.0);
    if let Some(
        FrontendEnd::UpstreamFailed(why)
        | FrontendEnd::NotRecorded(why)
        | FrontendEnd::ProtocolViolation(why),
    ) = &front_end
    {
        tracing::warn!(why = %why, "session stopped");
    }
    let failure = match &front_end {
        Some(FrontendEnd::ProtocolViolation(why)) => Some((Fault::Client, Stage::Parse, why)),
        Some(FrontendEnd::UpstreamFailed(why)) => Some((Fault::Upstream, Stage::Upstream, why)),
        _ => None,
    };
    if let Some((fault, stage, why)) = failure {
        let failed = EventBody::OperationFailed(OperationFailed {
            fault,
            stage,
            message: why.clone(),
        });
        if audit.record(failed).is_err() {
            tracing::error!("the failure that stopped the session could not be recorded");
        }
    }
    let reason = end_reason(front_end.as_ref(), back_end.as_ref(), *shutdown.borrow());
    tracing::info!(?reason, "session ended");
    end(&audit, reason, &shared.counters, &bytes).await;
}

fn end_reason(
    front: Option<&FrontendEnd>,
    back: Option<&BackendEnd>,
    shutting_down: bool,
) -> EndReason {
    match (front, back) {
        (Some(FrontendEnd::Terminated | FrontendEnd::ClientGone), _)
        | (_, Some(BackendEnd::ClientGone)) => EndReason::ClientClosed,
        (Some(FrontendEnd::UpstreamFailed(_)), _) => EndReason::UpstreamClosed,
        (Some(FrontendEnd::ProtocolViolation(_) | FrontendEnd::NotRecorded(_)), _) => {
            EndReason::Error
        }
        (None, None) if shutting_down => EndReason::Shutdown,
        (None, None) => EndReason::UpstreamClosed,
    }
}

/// Reads client messages and hands them to the frontend until the session stops.
async fn client_side<S, R>(
    mut frontend: Frontend<S>,
    mut client: R,
    stop: watch::Sender<Option<String>>,
    mut stopped: watch::Receiver<Option<String>>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<FrontendEnd>
where
    S: futures::Sink<pgwire::messages::PgWireFrontendMessage, Error = super::codec::CodecError>
        + Unpin,
    R: futures::Stream<
            Item = Result<pgwire::messages::PgWireFrontendMessage, super::codec::CodecError>,
        > + Unpin,
{
    // What the client sent while a statement of its was held, in order.
    let mut backlog = VecDeque::new();
    let end = loop {
        let message = match backlog.pop_front() {
            Some(message) => Some(Ok(message)),
            None => tokio::select! {
                message = client.next() => message,
                _ = stopped.changed() => break None,
                _ = shutdown.changed() => break None,
            },
        };
        let result = match message {
            Some(Ok(message)) => {
                handle_batch(&mut frontend, message, &mut client, &mut backlog).await
            }
            Some(Err(e)) => Err(client_error(e)),
            None => Err(FrontendEnd::ClientGone),
        };
        match result {
            Ok(true) => continue,
            Ok(false) => break Some(FrontendEnd::Terminated),
            Err(end) => break Some(end),
        }
    };
    let reason = match &end {
        Some(FrontendEnd::ProtocolViolation(message)) => message.clone(),
        Some(FrontendEnd::NotRecorded(_)) => {
            "blastwall cannot record statements right now; the session is closed".to_owned()
        }
        _ => String::new(),
    };
    let _ = stop.send(Some(reason));
    end
}

/// Handles a message and whatever else the client already sent, then flushes once. A
/// statement held for approval is waited for where it stands in the batch.
async fn handle_batch<S, R>(
    frontend: &mut Frontend<S>,
    first: pgwire::messages::PgWireFrontendMessage,
    client: &mut R,
    backlog: &mut VecDeque<pgwire::messages::PgWireFrontendMessage>,
) -> Result<bool, FrontendEnd>
where
    S: futures::Sink<pgwire::messages::PgWireFrontendMessage, Error = super::codec::CodecError>
        + Unpin,
    R: futures::Stream<
            Item = Result<pgwire::messages::PgWireFrontendMessage, super::codec::CodecError>,
        > + Unpin,
{
    let mut go_on = frontend.handle(first).await?;
    while go_on {
        if frontend.held().is_some() {
            frontend::wait_for_approval(frontend, client, backlog).await?;
            continue;
        }
        if let Some(message) = backlog.pop_front() {
            go_on = frontend.handle(message).await?;
            continue;
        }
        match client.next().now_or_never() {
            Some(Some(Ok(message))) => go_on = frontend.handle(message).await?,
            Some(Some(Err(e))) => {
                frontend.flush().await?;
                return Err(client_error(e));
            }
            Some(None) => {
                frontend.flush().await?;
                return Err(FrontendEnd::ClientGone);
            }
            None => break,
        }
    }
    frontend.flush().await?;
    Ok(go_on)
}

fn client_error(e: super::codec::CodecError) -> FrontendEnd {
    match e {
        super::codec::CodecError::Io(_) => FrontendEnd::ClientGone,
        other => FrontendEnd::ProtocolViolation(other.to_string()),
    }
}

/// Reads upstream messages and hands them to the backend until the session stops.
async fn server_side<W, U>(
    mut backend: Backend<W>,
    mut upstream: U,
    mut notices: mpsc::UnboundedReceiver<PgWireBackendMessage>,
    stop: watch::Sender<Option<String>>,
    mut stopped: watch::Receiver<Option<String>>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<BackendEnd>
where
    W: futures::Sink<PgWireBackendMessage, Error = super::codec::CodecError> + Unpin,
    U: futures::Stream<Item = Result<PgWireBackendMessage, super::codec::CodecError>> + Unpin,
{
    let end = loop {
        let message = tokio::select! {
            message = upstream.next() => message,
            Some(notice) = notices.recv() => {
                if backend.tell(notice).await.is_err() || backend.flush().await.is_err() {
                    break Some(BackendEnd::ClientGone);
                }
                continue;
            }
            _ = stopped.changed() => {
                // The client side ended; a reason means the client broke the protocol.
                let reason = stopped.borrow().clone().unwrap_or_default();
                if !reason.is_empty() {
                    backend.fatal(sqlstate::PROTOCOL_VIOLATION, &reason).await;
                }
                return None;
            }
            _ = shutdown.changed() => {
                backend.fatal("57P01", "blastwall is shutting down").await;
                break None;
            }
        };
        let relayed = match message {
            Some(Ok(message)) => relay_batch(&mut backend, message, &mut upstream).await,
            Some(Err(e)) => Err(Relay::UpstreamFailed(e)),
            None => Err(Relay::UpstreamClosed),
        };
        match relayed {
            Ok(()) => continue,
            Err(Relay::Client(end)) => break Some(end),
            Err(Relay::UpstreamFailed(e)) => {
                tracing::warn!(error = %e, "upstream connection failed");
                backend
                    .fatal(
                        sqlstate::UPSTREAM_UNREACHABLE,
                        "the connection to the target was lost",
                    )
                    .await;
                break None;
            }
            Err(Relay::UpstreamClosed) => {
                backend
                    .fatal(
                        sqlstate::UPSTREAM_UNREACHABLE,
                        "the target closed the connection",
                    )
                    .await;
                break None;
            }
        }
    };
    let _ = stop.send(Some(String::new()));
    end
}

/// Why relaying stopped.
enum Relay {
    /// The client could not be written to.
    Client(BackendEnd),
    /// The upstream connection failed or sent something undecodable.
    UpstreamFailed(super::codec::CodecError),
    /// The upstream closed the connection.
    UpstreamClosed,
}

/// Relays a message and whatever else the upstream already sent, then flushes once.
async fn relay_batch<W, U>(
    backend: &mut Backend<W>,
    first: PgWireBackendMessage,
    upstream: &mut U,
) -> Result<(), Relay>
where
    W: futures::Sink<PgWireBackendMessage, Error = super::codec::CodecError> + Unpin,
    U: futures::Stream<Item = Result<PgWireBackendMessage, super::codec::CodecError>> + Unpin,
{
    backend.handle(first).await.map_err(Relay::Client)?;
    loop {
        match upstream.next().now_or_never() {
            Some(Some(Ok(message))) => backend.handle(message).await.map_err(Relay::Client)?,
            Some(Some(Err(e))) => {
                let _ = backend.flush().await;
                return Err(Relay::UpstreamFailed(e));
            }
            Some(None) => {
                let _ = backend.flush().await;
                return Err(Relay::UpstreamClosed);
            }
            None => break,
        }
    }
    backend.flush().await.map_err(Relay::Client)
}

/// AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery.
async fn greet<W>(
    client: &mut W,
    parameters: &[(String, String)],
    key: (i32, i32),
) -> Result<(), super::codec::CodecError>
where
    W: futures::Sink<PgWireBackendMessage, Error = super::codec::CodecError> + Unpin,
{
    use futures::SinkExt;
    client
        .feed(PgWireBackendMessage::Authentication(Authentication::Ok))
        .await?;
    for (name, value) in parameters {
        client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                name.clone(),
                value.clone(),
            )))
            .await?;
    }
    client
        .feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
            key.0,
            SecretKey::I32(key.1),
        )))
        .await?;
    client
        .feed(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
            TransactionStatus::Idle,
        )))
        .await?;
    client.flush().await
}

async fn refuse<W>(
    client: &mut W,
    code: &str,
    message: &str,
) -> Result<(), super::codec::CodecError>
where
    W: futures::Sink<PgWireBackendMessage, Error = super::codec::CodecError> + Unpin,
{
    use futures::SinkExt;
    client
        .send(error::error(Severity::Fatal, code, message))
        .await
}

async fn end(audit: &SessionAudit, reason: EndReason, counters: &Counters, bytes: &Arc<IoBytes>) {
    let counters = SessionCounters {
        commands: counters.commands.load(Ordering::Relaxed),
        blocked: counters.blocked.load(Ordering::Relaxed),
        bytes_in: bytes.read.load(Ordering::Relaxed),
        bytes_out: bytes.written.load(Ordering::Relaxed),
    };
    if let Err(e) = audit.end(SessionEnded { reason, counters }).await {
        tracing::error!(error = %e, "the end of the session could not be recorded");
    }
}

pub use counting::{CountingIo, IoBytes};

mod counting;
