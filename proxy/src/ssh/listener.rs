//! The SSH listener: accepts connections, runs russh's server on each, and ends each
//! connection's session once its channels are done.
//!
//! `serve` takes a bound listener and a shutdown signal, so tests bind `127.0.0.1:0` and run
//! in parallel. On shutdown it stops accepting, disconnects live clients ("blastwall is
//! shutting down"), waits for their channels and seals their sessions. The host key is read
//! from the configured file, or created once in the data directory and reused.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
use russh::server::Handle;
use russh::{Disconnect, SshId};
use schemas::body::EndReason;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::server::{self, ServerHandler};
use super::session::Session;
use crate::approvals::Approvals;
use crate::audit::Auditor;
use crate::config::ssh::KeyBinding;
use crate::config::{SshSettings, SshTarget};
use crate::identity::TokenValidator;
use crate::masking::Masking;
use crate::policy::Policy;

/// How long a client may take to send its SSH version line.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// What a listener needs, assembled by the caller.
pub struct SshListenerSettings {
    /// The checked `[ssh]` section.
    pub settings: SshSettings,
    /// The gateway's host key.
    pub host_key: PrivateKey,
    /// Token validation.
    pub validator: Arc<TokenValidator>,
    /// The policy deciding each request.
    pub policy: Arc<dyn Policy>,
    /// Where events go.
    pub auditor: Auditor,
    /// Where requests needing approval are held (shared with the Postgres gateway).
    pub approvals: Approvals,
    /// The masking detectors, for targets that mask recorded output (`mask_output`).
    pub masking: Option<Arc<Masking>>,
}

/// The listener's shared state.
pub struct SshListener {
    pub(super) targets: BTreeMap<String, SshTarget>,
    pub(super) keys: Vec<KeyBinding>,
    pub(super) validator: Arc<TokenValidator>,
    pub(super) policy: Arc<dyn Policy>,
    pub(super) auditor: Auditor,
    pub(super) approvals: Approvals,
    pub(super) exec_output_limit: u64,
    pub(super) masking: Option<Arc<Masking>>,
    config: Arc<russh::server::Config>,
}

impl SshListener {
    /// Builds the listener's state and russh's configuration.
    pub fn new(settings: SshListenerSettings) -> Self {
        let config = russh::server::Config {
            server_id: SshId::Standard(
                format!("SSH-2.0-blastwall_{}", env!("CARGO_PKG_VERSION")).into(),
            ),
            methods: server::methods(),
            auth_rejection_time: Duration::from_millis(200),
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![settings.host_key],
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(30)),
            nodelay: true,
            window_size: 8 * 1024 * 1024,
            ..russh::server::Config::default()
        };
        SshListener {
            targets: settings.settings.targets,
            keys: settings.settings.keys,
            validator: settings.validator,
            policy: settings.policy,
            auditor: settings.auditor,
            approvals: settings.approvals,
            exec_output_limit: settings.settings.record_exec_output_limit,
            masking: settings.masking,
            config: Arc::new(config),
        }
    }
}

/// What the connection task and its handler share.
#[derive(Default)]
pub struct Connection {
    /// russh's handle, once the session runs.
    pub handle: OnceLock<Handle>,
    /// The logged-in session, once authentication succeeded.
    pub session: OnceLock<Arc<Session>>,
    channels: Mutex<Vec<JoinHandle<()>>>,
}

impl Connection {
    /// Keeps a channel task, so the session ends after it.
    pub fn track(&self, task: JoinHandle<()>) {
        if let Ok(mut channels) = self.channels.lock() {
            channels.retain(|t| !t.is_finished());
            channels.push(task);
        }
    }

    async fn wait_for_channels(&self) {
        loop {
            let tasks = match self.channels.lock() {
                Ok(mut channels) => std::mem::take(&mut *channels),
                Err(_) => return,
            };
            if tasks.is_empty() {
                return;
            }
            for task in tasks {
                let _ = task.await;
            }
        }
    }
}

/// Accepts connections on `tcp` until `shutdown` turns true, then waits for live sessions.
pub async fn serve(listener: Arc<SshListener>, tcp: TcpListener, shutdown: watch::Receiver<bool>) {
    crate::accept::serve(tcp, shutdown, "ssh", |stream, peer, shutdown| {
        connection(Arc::clone(&listener), stream, peer, shutdown)
    })
    .await;
}

async fn connection(
    listener: Arc<SshListener>,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    let mut shutdown = shutdown;
    let shared = Arc::new(Connection::default());
    let handler = ServerHandler::new(Arc::clone(&listener), peer, Arc::clone(&shared));
    let config = Arc::clone(&listener.config);
    let running = match tokio::time::timeout(
        HELLO_TIMEOUT,
        russh::server::run_stream(config, stream, handler),
    )
    .await
    {
        Ok(Ok(running)) => running,
        Ok(Err(e)) => {
            tracing::debug!(client = %peer, error = %e, "ssh connection failed before it started");
            return;
        }
        Err(_) => {
            tracing::debug!(client = %peer, "ssh client sent no version line");
            return;
        }
    };
    let handle = running.handle();
    let _ = shared.handle.set(running.handle());
    tokio::pin!(running);
    let stopping = async move {
        let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
    };
    let reason = tokio::select! {
        ended = &mut running => {
            if let Err(e) = ended {
                tracing::debug!(client = %peer, error = %e, "ssh connection ended with an error");
            }
            EndReason::ClientClosed
        }
        () = stopping => {
            let _ = handle
                .disconnect(Disconnect::ByApplication, "blastwall is shutting down".into(), String::new())
                .await;
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut running).await;
            EndReason::Shutdown
        }
    };
    shared.wait_for_channels().await;
    if let Some(session) = shared.session.get() {
        session.end(reason).await;
        tracing::info!(client = %peer, "ssh session ended");
    }
}

/// The host key at `path`, created (Ed25519) when the file does not exist.
pub fn host_key(path: &Path) -> Result<PrivateKey, String> {
    if path.exists() {
        return russh::keys::load_secret_key(path, None)
            .map_err(|e| format!("cannot read the SSH host key {}: {e}", path.display()));
    }
    let seed: [u8; 32] = rand::random();
    let key = PrivateKey::new(
        KeypairData::Ed25519(Ed25519Keypair::from_seed(&seed)),
        "blastwall host key",
    )
    .map_err(|e| format!("cannot create an SSH host key: {e}"))?;
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| format!("cannot encode the SSH host key: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    write_private(path, text.as_bytes())
        .map_err(|e| format!("cannot write the SSH host key {}: {e}", path.display()))?;
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_key_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/ssh-host-key");
        let created = host_key(&path).unwrap();
        let reread = host_key(&path).unwrap();
        assert_eq!(created.public_key(), reread.public_key());
    }
}
