//! What can go wrong in an SSH session, classified by fault (client, upstream, internal) so
//! that the client is told the right thing and the right `operation.failed` is recorded.
//!
//! Messages are written for the person at the client: they name the target, never a secret.
//! Not here: policy refusals, which are verdicts, not errors (`channel`).

use schemas::body::{Fault, Stage};

/// An SSH session's failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshError {
    /// The upstream host cannot be reached.
    #[error("blastwall cannot reach target {target} ({address}): {reason}")]
    UpstreamUnreachable {
        /// The target.
        target: String,
        /// Its address.
        address: String,
        /// Why.
        reason: String,
    },
    /// The upstream's host key is not the pinned one.
    #[error(
        "the host key of target {target} ({fingerprint}) does not match the key pinned in blastwall's configuration; refusing to connect"
    )]
    HostKeyMismatch {
        /// The target.
        target: String,
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// The upstream's host key is not listed in the configured known_hosts file.
    #[error(
        "the host key of target {target} ({fingerprint}) is not in the configured known_hosts file; refusing to connect"
    )]
    HostKeyUnknown {
        /// The target.
        target: String,
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// The upstream refused blastwall's credentials.
    #[error("target {target} refused blastwall's credentials for user {user}")]
    UpstreamAuthentication {
        /// The target.
        target: String,
        /// The upstream user.
        user: String,
    },
    /// The upstream broke the protocol or closed.
    #[error("target {target}: {reason}")]
    Upstream {
        /// The target.
        target: String,
        /// What happened.
        reason: String,
    },
    /// The session's events could not be recorded, so nothing runs.
    #[error("blastwall could not record this request, so it was not run: {0}")]
    NotRecorded(String),
    /// The SSH library reported an error on the client's connection.
    #[error("ssh: {0}")]
    Protocol(#[from] russh::Error),
}

impl SshError {
    /// Whose fault it was.
    pub fn fault(&self) -> Fault {
        match self {
            SshError::UpstreamUnreachable { .. }
            | SshError::HostKeyMismatch { .. }
            | SshError::HostKeyUnknown { .. }
            | SshError::UpstreamAuthentication { .. }
            | SshError::Upstream { .. } => Fault::Upstream,
            SshError::NotRecorded(_) => Fault::Internal,
            SshError::Protocol(_) => Fault::Client,
        }
    }

    /// The step that failed.
    pub fn stage(&self) -> Stage {
        match self {
            SshError::NotRecorded(_) => Stage::Recording,
            SshError::Protocol(_) => Stage::Relay,
            _ => Stage::Upstream,
        }
    }
}
