//! The proxy's one entry point: from checked settings to running listeners.
//!
//! `start` resolves targets (reading their secrets), builds the token validator (with the local
//! issuer when configured), the policy and TLS, binds the listeners and returns their
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

use crate::audit::Auditor;
use crate::config::{PostgresListenerConfig, TargetConfig, target};
use crate::identity::{
    IdentityConfig, IssuerKeys, LocalIssuer, TokenValidator, TrustedIssuer, jwks_router,
};
use crate::masking::{Masking, MaskingConfig};
use crate::policy::cedar::PackSource;
use crate::policy::{Policy, PolicyConfig};
use crate::postgres::{self, Listener, ListenerSettings};
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
    /// The policies: the pack's directory (relative to `data_dir`; without it the built-in
    /// default pack), the search path, the dangerous functions.
    pub policy: PolicyConfig,
    /// The admin HTTP listener, if wanted.
    pub admin: Option<AdminConfig>,
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
    let validator = TokenValidator::new(trusted, local.as_deref())
        .map_err(|e| StartError::Config(e.to_string()))?;
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
        validator: Arc::new(validator),
        policy,
        auditor: Auditor::new(log, key),
        masking,
    }));
    let mut tasks = vec![tokio::spawn(postgres::serve(
        listener,
        tcp,
        shutdown.clone(),
    ))];
    let policy_in_force = match store.source().clone() {
        PackSource::Dir(dir) => {
            let interval = settings.policy.reload_interval;
            tasks.push(tokio::spawn(store.watch(interval, shutdown.clone())));
            format!("{} (reloaded when a file changes)", dir.display())
        }
        PackSource::Builtin => "the built-in default pack (see examples/policies)".to_owned(),
    };

    let admin = match (settings.admin, local) {
        (Some(admin), local) => {
            let (addr, task) = serve_admin(admin.listen, local, shutdown).await?;
            tasks.push(task);
            Some(addr)
        }
        (None, _) => None,
    };
    Ok(RunningProxy {
        postgres,
        admin,
        targets: target_names,
        policy: policy_in_force,
        tasks,
    })
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

async fn serve_admin(
    address: SocketAddr,
    local: Option<Arc<LocalIssuer>>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let tcp = TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind { address, source })?;
    let bound = tcp
        .local_addr()
        .map_err(|source| StartError::Bind { address, source })?;
    let health = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    let router = match local {
        Some(issuer) => health.merge(jwks_router(issuer)),
        None => health,
    };
    let task = tokio::spawn(async move {
        let stopped = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(tcp, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(error = %e, "admin listener failed");
        }
    });
    Ok((bound, task))
}
