//! The Postgres listener: accepts connections and runs each one's startup and session.
//!
//! `serve` takes a bound listener and a shutdown signal, so tests bind `127.0.0.1:0` and run
//! in parallel. On shutdown it stops accepting, tells live sessions (each ends with FATAL
//! 57P01 and a sealed `session.ended`) and waits for them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use schemas::body::{
    AuthMethod, AuthenticationFailed, EndReason, Fault, OperationFailed, SessionCounters,
    SessionEnded, Stage,
};
use schemas::{Actor, EventBody, Protocol, SessionContext};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::cancel::CancelRegistry;
use super::catalog::Catalog;
use super::error::{self, Severity};
use super::startup::{self, Refusal, Startup};
use super::{session, upstream};
use crate::approvals::Approvals;
use crate::audit::Auditor;
use crate::config::{PostgresListenerConfig, Target};
use crate::identity::TokenValidator;
use crate::masking::Masking;
use crate::policy::Policy;

/// What a listener needs, assembled by the caller.
pub struct ListenerSettings {
    /// The listener's configuration.
    pub config: PostgresListenerConfig,
    /// TLS for clients.
    pub tls: TlsAcceptor,
    /// Targets by name.
    pub targets: BTreeMap<String, Target>,
    /// Token validation.
    pub validator: Arc<TokenValidator>,
    /// The policy deciding each statement.
    pub policy: Arc<dyn Policy>,
    /// Where events go.
    pub auditor: Auditor,
    /// Where statements that need approval are held.
    pub approvals: Approvals,
    /// Masking, when on.
    pub masking: Option<Arc<Masking>>,
}

/// The listener's shared state.
pub struct Listener {
    pub(super) config: PostgresListenerConfig,
    pub(super) tls: TlsAcceptor,
    pub(super) targets: BTreeMap<String, Target>,
    pub(super) validator: Arc<TokenValidator>,
    pub(super) policy: Arc<dyn Policy>,
    pub(super) auditor: Auditor,
    pub(super) approvals: Approvals,
    pub(super) cancels: CancelRegistry,
    pub(super) max_message: usize,
    pub(super) record_rows_limit: usize,
    masking: Option<Arc<Masking>>,
    /// Column names per target, for masking rules.
    catalogs: BTreeMap<String, Arc<Catalog>>,
}

impl Listener {
    /// Checks the settings.
    pub fn new(settings: ListenerSettings) -> Self {
        let max_message =
            usize::try_from(settings.config.max_message_size.as_u64()).unwrap_or(usize::MAX);
        let record_rows_limit =
            usize::try_from(settings.config.record_rows_limit.as_u64()).unwrap_or(usize::MAX);
        let catalogs = match &settings.masking {
            Some(_) => settings
                .targets
                .iter()
                .map(|(name, target)| (name.clone(), Arc::new(Catalog::new(target.clone()))))
                .collect(),
            None => BTreeMap::new(),
        };
        Listener {
            config: settings.config,
            tls: settings.tls,
            targets: settings.targets,
            validator: settings.validator,
            policy: settings.policy,
            auditor: settings.auditor,
            approvals: settings.approvals,
            cancels: CancelRegistry::default(),
            max_message,
            record_rows_limit,
            masking: settings.masking,
            catalogs,
        }
    }

    /// Masking and the catalog for sessions of `target`; `None` when masking is off.
    pub(super) fn masking(&self, target: &str) -> Option<(Arc<Masking>, Arc<Catalog>)> {
        let masking = self.masking.as_ref()?;
        let catalog = self.catalogs.get(target)?;
        Some((Arc::clone(masking), Arc::clone(catalog)))
    }
}

/// Accepts connections on `tcp` until `shutdown` turns true, then waits for live sessions.
pub async fn serve(listener: Arc<Listener>, tcp: TcpListener, shutdown: watch::Receiver<bool>) {
    crate::accept::serve(tcp, shutdown, "postgres", |stream, peer, shutdown| {
        connection(Arc::clone(&listener), stream, peer, shutdown)
    })
    .await;
}

async fn connection(
    listener: Arc<Listener>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    match startup::accept(&listener, stream, peer).await {
        Startup::Session(accepted) => session::run(listener, *accepted, peer, shutdown).await,
        Startup::Cancel { pid, secret } => {
            if let Some(cancel) = listener.cancels.lookup(pid, &secret) {
                // A statement held for approval is withdrawn; one running upstream is
                // cancelled there.
                if cancel.interrupt.cancel() {
                    return;
                }
                let sent =
                    upstream::cancel(&cancel.target, cancel.upstream_pid, &cancel.upstream_secret)
                        .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "cancel request could not be passed on");
                }
            }
        }
        Startup::Refused(refusal) => refused(&listener, refusal, peer).await,
    }
}

/// Tells the client why, and records the failed attempt (a refused login, or startup that
/// broke the protocol) as a session of its own, sealed.
async fn refused(listener: &Listener, refusal: Refusal, peer: SocketAddr) {
    let Refusal {
        io,
        code,
        message,
        reason,
        claimed_user,
        database,
        tls: _,
    } = refusal;
    let told = io.is_some();
    if let Some(mut io) = io {
        let _ = super::write_message(
            &mut io,
            error::error(Severity::Fatal, code, message.clone()),
        )
        .await;
    }
    tracing::info!(client = %peer, code, "connection refused");
    let failed = match reason {
        Some(reason) => EventBody::AuthenticationFailed(AuthenticationFailed {
            method: AuthMethod::Password,
            reason,
            message,
        }),
        // A client told it broke the protocol during startup; one that only closed is not
        // worth a record.
        None if told => EventBody::OperationFailed(OperationFailed {
            fault: Fault::Client,
            stage: Stage::Startup,
            message,
        }),
        None => return,
    };
    let durability = listener
        .targets
        .get(&database)
        .map(|t| t.durability)
        .unwrap_or_default();
    let context = SessionContext {
        session_id: uuid::Uuid::now_v7(),
        actor: Actor::unauthenticated(claimed_user),
        target: schemas::Target {
            name: database,
            protocol: Protocol::Postgres,
        },
        client_addr: Some(peer.to_string()),
    };
    let audit = listener.auditor.session(context, durability);
    if audit.record(failed).is_err() {
        tracing::error!("a failed login could not be recorded");
    }
    let ended = SessionEnded {
        reason: EndReason::Error,
        counters: SessionCounters::default(),
    };
    if let Err(e) = audit.end(ended).await {
        tracing::error!(error = %e, "a failed login could not be recorded");
    }
}
