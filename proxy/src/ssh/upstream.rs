//! The upstream side: one russh client connection per client connection, opened when the
//! first channel needs it, logged in with blastwall's own key or password for the target.
//!
//! The upstream's host key is checked against the target's pin (a known_hosts file or a
//! SHA-256 fingerprint) before anything is sent: an unknown or changed key ends the connection
//! with `HostKeyUnknown` / `HostKeyMismatch`, which the channel tells the client and records.
//! Not here: what the client may do (policy, in `channel`), relaying bytes (`channel`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle, Msg};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{Channel, Disconnect};

use super::error::SshError;
use crate::config::ssh::{HostKeyPin, SshTarget, UpstreamCredential};

/// How long connecting and logging in to an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A logged-in connection to a target.
pub struct Upstream {
    handle: Handle<PinnedHost>,
    target: String,
}

impl Upstream {
    /// Connects to `target`, checks its host key and logs in.
    pub async fn connect(target: &SshTarget) -> Result<Upstream, SshError> {
        let address = format!("{}:{}", target.host, target.port);
        let unreachable = |reason: String| SshError::UpstreamUnreachable {
            target: target.name.clone(),
            address: address.clone(),
            reason,
        };
        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| unreachable("timed out".to_owned()))?
        .map_err(|e| unreachable(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let config = Arc::new(client::Config {
            inactivity_timeout: None,
            nodelay: true,
            window_size: 8 * 1024 * 1024,
            ..client::Config::default()
        });
        let verdict = Arc::new(Mutex::new(None));
        let handler = PinnedHost {
            target: target.clone(),
            verdict: Arc::clone(&verdict),
        };
        let connected = tokio::time::timeout(
            CONNECT_TIMEOUT,
            client::connect_stream(config, stream, handler),
        )
        .await
        .map_err(|_| unreachable("the SSH handshake timed out".to_owned()))?;
        let mut handle = match connected {
            Ok(handle) => handle,
            Err(e) => {
                let refused = verdict.lock().ok().and_then(|mut v| v.take());
                return Err(refused.unwrap_or_else(|| SshError::Upstream {
                    target: target.name.clone(),
                    reason: format!("SSH handshake failed: {e}"),
                }));
            }
        };
        let upstream_error = |e: russh::Error| SshError::Upstream {
            target: target.name.clone(),
            reason: e.to_string(),
        };
        let result = match &target.credential {
            UpstreamCredential::Key(key) => {
                let hash = handle
                    .best_supported_rsa_hash()
                    .await
                    .map_err(upstream_error)?
                    .flatten();
                let key = PrivateKeyWithHashAlg::new(Arc::clone(key), hash);
                handle.authenticate_publickey(&target.user, key).await
            }
            UpstreamCredential::Password(password) => {
                handle
                    .authenticate_password(&target.user, password.expose())
                    .await
            }
        }
        .map_err(upstream_error)?;
        if !result.success() {
            return Err(SshError::UpstreamAuthentication {
                target: target.name.clone(),
                user: target.user.clone(),
            });
        }
        Ok(Upstream {
            handle,
            target: target.name.clone(),
        })
    }

    /// Opens a session channel.
    pub async fn open_session(&self) -> Result<Channel<Msg>, SshError> {
        self.handle
            .channel_open_session()
            .await
            .map_err(|e| self.failed(e))
    }

    /// Opens a direct-tcpip channel (the upstream connects to `host:port`).
    pub async fn open_direct_tcpip(
        &self,
        host: &str,
        port: u32,
        originator: &str,
        originator_port: u32,
    ) -> Result<Channel<Msg>, SshError> {
        self.handle
            .channel_open_direct_tcpip(host, port, originator, originator_port)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Says goodbye.
    pub async fn disconnect(&self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "session ended", "")
            .await;
    }

    fn failed(&self, e: russh::Error) -> SshError {
        SshError::Upstream {
            target: self.target.clone(),
            reason: e.to_string(),
        }
    }
}

/// The client handler: checks the host key against the pin and remembers why it refused.
struct PinnedHost {
    target: SshTarget,
    verdict: Arc<Mutex<Option<SshError>>>,
}

impl PinnedHost {
    fn check(&self, key: &PublicKey) -> Result<(), SshError> {
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let mismatch = || SshError::HostKeyMismatch {
            target: self.target.name.clone(),
            fingerprint: fingerprint.clone(),
        };
        match &self.target.pin {
            HostKeyPin::Fingerprint(pinned) => {
                if pinned.trim_end_matches('=') == fingerprint.trim_end_matches('=') {
                    Ok(())
                } else {
                    Err(mismatch())
                }
            }
            HostKeyPin::KnownHosts(path) => {
                match russh::keys::check_known_hosts_path(
                    &self.target.host,
                    self.target.port,
                    key,
                    path,
                ) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(SshError::HostKeyUnknown {
                        target: self.target.name.clone(),
                        fingerprint: fingerprint.clone(),
                    }),
                    Err(russh::keys::Error::KeyChanged { .. }) => Err(mismatch()),
                    Err(e) => Err(SshError::Upstream {
                        target: self.target.name.clone(),
                        reason: format!("cannot read known_hosts {}: {e}", path.display()),
                    }),
                }
            }
        }
    }
}

impl client::Handler for PinnedHost {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let checked = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.check(key),
            PublicKeyOrCertificate::Certificate(_) => Err(SshError::Upstream {
                target: self.target.name.clone(),
                reason: "the host presented a certificate; blastwall pins plain host keys".into(),
            }),
        };
        match checked {
            Ok(()) => Ok(true),
            Err(refused) => {
                tracing::warn!(target = %self.target.name, error = %refused, "upstream host key refused");
                if let Ok(mut verdict) = self.verdict.lock() {
                    *verdict = Some(refused);
                }
                Ok(false)
            }
        }
    }
}
