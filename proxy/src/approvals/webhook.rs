//! Outbound notifications: each new request is POSTed as Slack-compatible JSON (`text` and
//! `blocks`, which a Slack incoming webhook shows as is, plus a `blastwall` member with the
//! same facts for other receivers: id, who, what, link).
//!
//! Delivery retries with exponential back-off (a connection error, 429 or 5xx; another 4xx
//! is final) and gives up after the configured attempts with a warning: a notification is a
//! convenience, the request waits on the control stream whether or not anyone was told.
//! The command text goes to the receiver (approvers must see what they approve); no result
//! or row value ever does.

use std::time::Duration;

use schemas::control::ApprovalPosted;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::approve_command;

/// `[approvals.webhook]`: where to announce requests.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL to POST to (e.g. a Slack incoming webhook).
    pub url: String,
    /// How many times to try each notification.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The wait before the first retry; it doubles after each failure, up to a minute.
    #[serde(default = "default_first_retry", with = "humantime_serde")]
    pub first_retry: Duration,
}

fn default_attempts() -> u32 {
    5
}

fn default_first_retry() -> Duration {
    Duration::from_secs(1)
}

/// The longest wait between two attempts.
const MAX_RETRY: Duration = Duration::from_secs(60);

/// The webhook with the link base resolved.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// The URL to POST to.
    pub url: String,
    /// Attempts per notification (at least 1).
    pub attempts: u32,
    /// The first back-off.
    pub first_retry: Duration,
    /// The base of links to a request (`{base}/v1/approvals/{id}`), if known.
    pub link_base: Option<String>,
}

impl WebhookConfig {
    /// The settings, links under `link_base`.
    pub fn settings(&self, link_base: Option<String>) -> WebhookSettings {
        WebhookSettings {
            url: self.url.clone(),
            attempts: self.attempts.max(1),
            first_retry: self.first_retry,
            link_base,
        }
    }
}

/// Sends notifications in the background; returns the queue to feed.
pub struct Notifier;

impl Notifier {
    /// Starts the sender task.
    pub fn start(settings: WebhookSettings) -> mpsc::UnboundedSender<ApprovalPosted> {
        let (queue, mut requests) = mpsc::unbounded_channel::<ApprovalPosted>();
        tokio::spawn(async move {
            let http = match reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
            {
                Ok(http) => http,
                Err(e) => {
                    tracing::error!(error = %e, "the approvals webhook cannot start");
                    return;
                }
            };
            while let Some(posted) = requests.recv().await {
                let (http, settings) = (http.clone(), settings.clone());
                tokio::spawn(async move { deliver(&http, &settings, &posted).await });
            }
        });
        queue
    }
}

/// The JSON sent for a request.
pub fn message(posted: &ApprovalPosted, link_base: Option<&str>) -> Value {
    let request = &posted.request;
    let id = request.approval_id;
    let who = match posted.requester.agents.first() {
        Some(agent) => format!("{} (through {agent})", posted.requester.subject),
        None => posted.requester.subject.clone(),
    };
    let link = link_base.map(|base| format!("{base}/v1/approvals/{id}"));
    let text = format!(
        "Approval needed from {group}: {who} wants to run on {target}:\n```{command}```\n\
         Policy {policy}; expires {expires}. Approve with `{approve}`{link}",
        group = request.approver_group,
        target = posted.target.name,
        command = request.command,
        policy = request.policy,
        expires = request.expires_at,
        approve = approve_command(id),
        link = link
            .as_deref()
            .map(|l| format!(" or see {l}"))
            .unwrap_or_default(),
    );
    json!({
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        "blastwall": {
            "id": id,
            "who": who,
            "what": request.command,
            "target": posted.target.name,
            "group": request.approver_group,
            "policy": request.policy,
            "expires_at": request.expires_at.to_string(),
            "link": link,
        },
    })
}

async fn deliver(http: &reqwest::Client, settings: &WebhookSettings, posted: &ApprovalPosted) {
    let body = message(posted, settings.link_base.as_deref());
    let id = posted.request.approval_id;
    let mut wait = settings.first_retry;
    for attempt in 1..=settings.attempts {
        let outcome = http.post(&settings.url).json(&body).send().await;
        let retry = match outcome {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(approval = %id, attempt, "approval notification delivered");
                return;
            }
            Ok(response) => {
                let status = response.status();
                tracing::warn!(approval = %id, attempt, %status, "the approvals webhook refused a notification");
                status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            Err(e) => {
                tracing::warn!(approval = %id, attempt, error = %e, "the approvals webhook is unreachable");
                true
            }
        };
        if !retry || attempt == settings.attempts {
            break;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RETRY);
    }
    tracing::warn!(approval = %id, "an approval notification was given up");
}
