//! The proxy's one entry point: from checked settings to running listeners.
//!
//! `start` resolves targets (reading their secrets), builds the token validator (with the local
//! issuer when configured), the policy and TLS, starts the approvals (reading the control
//! stream; their API is served on the admin listener), binds the listeners and returns their
//! addresses; the listeners stop when `shutdown` turns true. The binary's `up` and `proxy`
//! commands call it, and so do the end-to-end tests, with port 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use eventlog::EventLog;
use schemas::SealingKey;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::approvals::{self, Approvals, ApprovalsConfig};
use crate::audit::Auditor;
use crate::config::{PostgresListenerConfig, SshListenerConfig, TargetConfig, target};
use crate::identity::{
    IdentityConfig, IssuerKeys, LocalIssuer, TokenValidator, TrustedIssuer, jwks_router,
};
use crate::masking::{Masking, MaskingConfig};
use crate::policy::cedar::PackSource;
use crate::policy::{Policy, PolicyConfig};
use crate::postgres::{self, Listener, ListenerSettings};
use crate::ssh;
use crate::tls;

/// `[admin]`: a small HTTP listener for the local issuer's JWKS and health checks.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
}

/// Everything `start` needs.
pub struct ProxySettings {
    /// Identity: issuer, audience, keys.
    pub identity: IdentityConfig,
    /// The Postgres listener.
    pub postgres: PostgresListenerConfig,
    /// The targets.
    pub targets: Vec<TargetConfig>,
    /// The SSH listener and its hosts, if wanted.
    pub ssh: Option<SshListenerConfig>,
    /// The policies: the pack's directory (relative to `data_dir`; without it the built-in
    /// default pack), the search path, the dangerous functions.
    pub policy: PolicyConfig,
    /// The admin HTTP listener, if wanted (it serves the approvals API).
    pub admin: Option<AdminConfig>,
    /// Approvals: default expiry, self-approval, the webhook.
    pub approvals: ApprovalsConfig,
    /// Masking: rules, detectors, the hash key.
    pub masking: MaskingConfig,
    /// The data directory: the local issuer's key and the self-signed certificate live here.
    pub data_dir: PathBuf,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration does not describe a working proxy.
    #[error("{0}")]
    Config(String),
    /// A listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The running proxy.
pub struct RunningProxy {
    /// Where the Postgres listener listens.
    pub postgres: SocketAddr,
    /// Where the admin listener listens, if any.
    pub admin: Option<SocketAddr>,
    /// Where the SSH listener listens, if any.
    pub ssh: Option<SocketAddr>,
    /// The names of the configured targets.
    pub targets: Vec<String>,
    /// Which policies are in force, for people.
    pub policy: String,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningProxy {
    /// Waits until every listener has stopped (after `shutdown`) and its sessions ended.
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The path of the local issuer's signing key in the data directory.
pub fn local_issuer_key(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("keys/issuer-key.pem")
}

/// The path of the SSH listener's host key in the data directory (when `[ssh]` names none).
pub fn ssh_host_key(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("keys/ssh-host-key")
}

/// Starts the listeners.
pub async fn start(
    settings: ProxySettings,
    log: Arc<dyn EventLog>,
    key: Arc<SealingKey>,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningProxy, StartError> {
    let trusted = TrustedIssuer::try_from(settings.identity)
        .map_err(|e| StartError::Config(format!("[identity]: {e}")))?;
    let local = match trusted.keys() {
        IssuerKeys::Local => Some(Arc::new(
            LocalIssuer::open_or_create(&local_issuer_key(&settings.data_dir))
                .map_err(|e| StartError::Config(e.to_string()))?
                .with_issuer_url(trusted.issuer().to_owned()),
        )),
        IssuerKeys::Remote(_) => None,
    };
    let validator = Arc::new(
        TokenValidator::new(trusted, local.as_deref())
            .map_err(|e| StartError::Config(e.to_string()))?,
    );
    let targets = target::resolve_all(&settings.targets).map_err(StartError::Config)?;
    let policy = Arc::new(
        settings
            .policy
            .open(&settings.data_dir)
            .map_err(|e| StartError::Config(e.to_string()))?,
    );
    let store = Arc::clone(policy.store());
    let policy: Arc<dyn Policy> = policy;
    let acceptor = listener_tls(&settings.postgres, &settings.data_dir)?;
    let masking = Masking::from_config(&settings.masking)
        .map_err(StartError::Config)?
        .map(Arc::new);
    let auditor = Auditor::new(Arc::clone(&log), key);

    // The admin listener is bound first: its address is the default link in notifications.
    let admin_tcp = match &settings.admin {
        Some(admin) => Some(bind(admin.listen).await?),
        None => None,
    };
    let admin_addr = admin_tcp.as_ref().map(|(_, addr)| *addr);
    let (approvals, approvals_task) = Approvals::start(
        settings.approvals.settings(admin_addr),
        Arc::clone(&log),
        auditor.control(),
        shutdown.clone(),
    )
    .await
    .map_err(|e| StartError::Config(format!("approvals: {e}")))?;

    let address = settings.postgres.listen;
    let tcp = TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind { address, source })?;
    let postgres = tcp
        .local_addr()
        .map_err(|source| StartError::Bind { address, source })?;
    let target_names = targets.keys().cloned().collect();
    let listener = Arc::new(Listener::new(ListenerSettings {
        config: settings.postgres,
        tls: acceptor,
        targets,
        validator: Arc::clone(&validator),
        policy: Arc::clone(&policy),
        auditor: auditor.clone(),
        approvals: approvals.clone(),
        masking: masking.clone(),
    }));
    let mut tasks = vec![
        tokio::spawn(postgres::serve(listener, tcp, shutdown.clone())),
        approvals_task,
    ];
    let ssh = match settings.ssh {
        Some(config) => {
            let (addr, task) = start_ssh(
                &config,
                ssh::SshListenerSettings {
                    settings: config.resolve().map_err(StartError::Config)?,
                    host_key: ssh::host_key(
                        &config
                            .host_key
                            .clone()
                            .unwrap_or_else(|| ssh_host_key(&settings.data_dir)),
                    )
                    .map_err(StartError::Config)?,
                    validator: Arc::clone(&validator),
                    policy,
                    auditor,
                    approvals: approvals.clone(),
                    masking,
                },
                shutdown.clone(),
            )
            .await?;
            tasks.push(task);
            Some(addr)
        }
        None => None,
    };
    let policy_in_force = match store.source().clone() {
        PackSource::Dir(dir) => {
            let interval = settings.policy.reload_interval;
            tasks.push(tokio::spawn(store.watch(interval, shutdown.clone())));
            format!("{} (reloaded when a file changes)", dir.display())
        }
        PackSource::Builtin => "the built-in default pack (see examples/policies)".to_owned(),
    };

    let admin = match admin_tcp {
        Some((tcp, addr)) => {
            let api = approvals::http::router(approvals, validator);
            tasks.push(serve_admin(tcp, local, api, shutdown));
            Some(addr)
        }
        None => None,
    };
    Ok(RunningProxy {
        postgres,
        admin,
        ssh,
        targets: target_names,
        policy: policy_in_force,
        tasks,
    })
}

async fn start_ssh(
    config: &SshListenerConfig,
    settings: ssh::SshListenerSettings,
    shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let address = config.listen;
    let tcp = TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind { address, source })?;
    let bound = tcp
        .local_addr()
        .map_err(|source| StartError::Bind { address, source })?;
    let listener = Arc::new(ssh::SshListener::new(settings));
    Ok((bound, tokio::spawn(ssh::serve(listener, tcp, shutdown))))
}

fn listener_tls(
    config: &PostgresListenerConfig,
    data_dir: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, StartError> {
    let (cert, key) = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (None, None) => tls::self_signed(&data_dir.join("tls"))
            .map_err(|e| StartError::Config(e.to_string()))?,
        _ => {
            return Err(StartError::Config(
                "[postgres] needs both tls_cert and tls_key, or neither".into(),
            ));
        }
    };
    tls::acceptor(&cert, &key).map_err(|e| StartError::Config(e.to_string()))
}

async fn bind(address: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let tcp = TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind { address, source })?;
    let bound = tcp
        .local_addr()
        .map_err(|source| StartError::Bind { address, source })?;
    Ok((tcp, bound))
}

fn serve_admin(
    tcp: TcpListener,
    local: Option<Arc<LocalIssuer>>,
    api: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let health = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    let router = match local {
        Some(issuer) => health.merge(jwks_router(issuer)).merge(api),
        None => health.merge(api),
    };
    tokio::spawn(async move {
        let stopped = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(tcp, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(error = %e, "admin listener failed");
        }
    })
}
