//! Logging in: the SSH user name selects the target; the token arrives as the password or as
//! the answer to a keyboard-interactive prompt, or the client proves a public key that the
//! configuration binds to an identity.
//!
//! The target is resolved before any credential is looked at, so an unknown name is refused
//! without a token on the wire. Every refused attempt with a credential (and each unknown
//! target) is recorded as a session of its own, sealed: `authentication.failed` with the
//! reason. Offered keys that no binding names are refused silently (clients offer every key
//! they hold). Not here: the token's checks (`identity`).

use std::net::SocketAddr;

use russh::keys::{HashAlg, PublicKey};
use schemas::body::{
    AuthFailureReason, AuthMethod, AuthenticationFailed, EndReason, SessionCounters, SessionEnded,
};
use schemas::{Actor, EventBody, Protocol, SessionContext, Timestamp};

use crate::config::SshTarget;
use crate::identity::Principal;
use crate::ssh::listener::SshListener;

/// The issuer named on principals that logged in with a bound key.
pub const KEY_ISSUER: &str = "blastwall-ssh-key";

/// A refused login: what to tell the client and to record.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// How the credential came.
    pub method: AuthMethod,
    /// Why it was refused.
    pub reason: AuthFailureReason,
    /// What the client is told (and the auditor reads); never the token.
    pub message: String,
}

/// The target named by the SSH user, or the refusal to record.
pub fn target(listener: &SshListener, user: &str) -> Result<SshTarget, Refusal> {
    listener.targets.get(user).cloned().ok_or_else(|| Refusal {
        method: AuthMethod::Password,
        reason: AuthFailureReason::UnknownTarget,
        message: format!(
            "blastwall has no SSH target named \"{user}\" (log in as the target: ssh TARGET@gateway)"
        ),
    })
}

/// Checks a token presented by `method`.
pub async fn token(
    listener: &SshListener,
    token: &str,
    method: AuthMethod,
) -> Result<Principal, Refusal> {
    if token.is_empty() {
        return Err(Refusal {
            method,
            reason: AuthFailureReason::MissingToken,
            message: "no token received: send the token as the password".to_owned(),
        });
    }
    listener
        .validator
        .validate(token)
        .await
        .map_err(|e| Refusal {
            method,
            reason: e.reason(),
            message: format!("token rejected: {e}"),
        })
}

/// The identity a proven public key is bound to, if any.
pub fn key(listener: &SshListener, key: &PublicKey) -> Option<Principal> {
    let binding = listener
        .keys
        .iter()
        .find(|b| b.key.key_data() == key.key_data())?;
    Some(Principal {
        subject: binding.subject.clone(),
        agents: binding.agents.clone(),
        groups: binding.groups.clone(),
        issuer: KEY_ISSUER.to_owned(),
        token_id: Some(key.fingerprint(HashAlg::Sha256).to_string()),
        expires_at: Timestamp::from_unix_nanos(i64::MAX),
    })
}

/// Records a refused login as a sealed session of its own.
pub async fn record_refusal(
    listener: &SshListener,
    refusal: &Refusal,
    user: &str,
    peer: SocketAddr,
) {
    tracing::info!(client = %peer, reason = ?refusal.reason, "ssh login refused");
    let durability = listener
        .targets
        .get(user)
        .map(|t| t.durability)
        .unwrap_or_default();
    let context = SessionContext {
        session_id: uuid::Uuid::now_v7(),
        actor: Actor::unauthenticated(""),
        target: schemas::Target {
            name: user.to_owned(),
            protocol: Protocol::Ssh,
        },
        client_addr: Some(peer.to_string()),
    };
    let audit = listener.auditor.session(context, durability);
    let failed = EventBody::AuthenticationFailed(AuthenticationFailed {
        method: refusal.method,
        reason: refusal.reason,
        message: refusal.message.clone(),
    });
    if audit.record(failed).is_err() {
        tracing::error!("a refused ssh login could not be recorded");
    }
    let ended = SessionEnded {
        reason: EndReason::Error,
        counters: SessionCounters::default(),
    };
    if let Err(e) = audit.end(ended).await {
        tracing::error!(error = %e, "a refused ssh login could not be recorded");
    }
}
