//! Just-in-time approval: holding a request until a decision event arrives.
//!
//! When policy says a command needs approval, the gateway (Postgres today, SSH the same way)
//! asks [`Approvals::request`] with a protocol-neutral [`ApprovalRequest`] and waits on the
//! returned [`Held`]; the request goes to the control stream, approvers decide through the
//! HTTP API ([`http::router`], which the CLI's [`client`] calls), every vote goes to the
//! control stream too, and every proxy reading it resumes what it holds. A webhook
//! ([`webhook`]) tells people a request waits.
//!
//! # Layout
//!
//! - `board`: pure state: requests, votes, grants, and the rules for who may decide.
//! - `service`: [`Approvals`], [`Held`], [`ApprovalOutcome`]: posting, reading, waiting.
//! - [`http`]: the JSON API with bearer-token auth; [`client`]: its client, for the CLI.
//! - [`webhook`]: Slack-compatible notifications with retries and back-off.
//!
//! Fails closed: a request that cannot be posted, a vote that cannot be checked, a decision
//! that never comes: the command does not run. Not here: what needs approval (policy), how a
//! protocol tells its client (the gateways).

mod board;
pub mod client;
pub mod http;
mod service;
pub mod webhook;

use std::time::Duration;

use serde::Deserialize;

pub use board::{Entry, Resolution, SelfApproval, VoteRefused};
pub use service::{ApprovalOutcome, ApprovalRequest, Approvals, Held};
pub use webhook::WebhookConfig;

/// `[approvals]`: how long commands wait, who may decide, whom to tell.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// How long a held command waits for a decision unless its policy says otherwise
    /// (`@expires`).
    #[serde(default = "default_expiry", with = "humantime_serde")]
    pub default_expiry: Duration,
    /// Whether a person may approve a request made for themselves (through their agent).
    /// Off by default: a second pair of eyes is the point.
    #[serde(default)]
    pub allow_self_approval: bool,
    /// The address approvers reach the admin listener at, for links in notifications
    /// (e.g. `https://blastwall.example.com`); by default the admin listener's own address.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Where to announce each request (a Slack incoming webhook, or anything that takes the
    /// same JSON).
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            default_expiry: default_expiry(),
            allow_self_approval: false,
            public_url: None,
            webhook: None,
        }
    }
}

fn default_expiry() -> Duration {
    Duration::from_secs(600)
}

/// The settings the approvals run with: the configuration with its links resolved.
#[derive(Clone, Debug)]
pub struct ApprovalsSettings {
    /// How long a held command waits by default.
    pub default_expiry: Duration,
    /// Whether a requester may decide their own request.
    pub self_approval: SelfApproval,
    /// Where approvers reach the API (for links), if known.
    pub public_url: Option<String>,
    /// The webhook, if any, with the link base resolved.
    pub webhook: Option<webhook::WebhookSettings>,
}

impl ApprovalsConfig {
    /// The settings, with `admin` (the admin listener's address) as the default link base.
    pub fn settings(&self, admin: Option<std::net::SocketAddr>) -> ApprovalsSettings {
        let public_url = self
            .public_url
            .clone()
            .or_else(|| admin.map(|a| format!("http://{a}")))
            .map(|u| u.trim_end_matches('/').to_owned());
        ApprovalsSettings {
            default_expiry: self.default_expiry,
            self_approval: match self.allow_self_approval {
                true => SelfApproval::Allowed,
                false => SelfApproval::Refused,
            },
            webhook: self.webhook.clone().map(|w| w.settings(public_url.clone())),
            public_url,
        }
    }
}

/// Why an approval operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalsError {
    /// The control stream could not be written or read.
    #[error("the event log is unavailable: {0}")]
    Log(String),
    /// The vote breaks a rule.
    #[error(transparent)]
    Refused(VoteRefused),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The command an approver runs to approve `id`, for notices and notifications.
pub fn approve_command(id: uuid::Uuid) -> String {
    format!("blastwall approvals approve {id}")
}

/// The command an approver runs to deny `id`.
pub fn deny_command(id: uuid::Uuid) -> String {
    format!("blastwall approvals deny {id} --reason '...'")
}
