//! A client of the approvals API, for `blastwall approvals`: the running proxy holds the
//! event log, so decisions reach it over HTTP, never through the log's files.
//!
//! Each call sends the approver's token as a bearer token; an error status becomes
//! [`ClientError::Refused`] with the server's message, so the CLI can print it as it is.

use std::time::Duration;

use reqwest::StatusCode;
use uuid::Uuid;

use super::http::{ApprovalView, ApproveBody, DenyBody};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server could not be reached.
    #[error("cannot reach blastwall at {url}: {source}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("{message} (HTTP {status})")]
    Refused {
        /// The status.
        status: StatusCode,
        /// The server's message.
        message: String,
    },
    /// The answer was not what the API sends.
    #[error("unexpected answer from {url}: {source}")]
    Unreadable {
        /// The URL called.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
}

/// The approvals API of one blastwall.
pub struct ApprovalsClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ApprovalsClient {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:8089`) acting with `token`.
    pub fn new(base: &str, token: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: base.to_owned(),
                source,
            })?;
        Ok(ApprovalsClient {
            base: base.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
            http,
        })
    }

    /// The requests waiting now.
    pub async fn list(&self) -> Result<Vec<ApprovalView>, ClientError> {
        let url = format!("{}/v1/approvals", self.base);
        self.send(self.http.get(&url), &url).await
    }

    /// One request.
    pub async fn show(&self, id: Uuid) -> Result<ApprovalView, ClientError> {
        let url = format!("{}/v1/approvals/{id}", self.base);
        self.send(self.http.get(&url), &url).await
    }

    /// Approves `id`, once or (with `grant_for`) for a period.
    pub async fn approve(
        &self,
        id: Uuid,
        reason: Option<String>,
        grant_for: Option<Duration>,
    ) -> Result<ApprovalView, ClientError> {
        let url = format!("{}/v1/approvals/{id}/approve", self.base);
        let body = ApproveBody {
            reason,
            grant_for_secs: grant_for.map(|d| d.as_secs()),
        };
        self.send(self.http.post(&url).json(&body), &url).await
    }

    /// Denies `id`, saying why.
    pub async fn deny(&self, id: Uuid, reason: String) -> Result<ApprovalView, ClientError> {
        let url = format!("{}/v1/approvals/{id}/deny", self.base);
        let body = DenyBody { reason };
        self.send(self.http.post(&url).json(&body), &url).await
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<T, ClientError> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: url.to_owned(),
                source,
            })?;
        let status = response.status();
        if !status.is_success() {
            let message = match response.json::<serde_json::Value>().await {
                Ok(body) => body["error"].as_str().unwrap_or("no message").to_owned(),
                Err(_) => "no message".to_owned(),
            };
            return Err(ClientError::Refused { status, message });
        }
        response
            .json()
            .await
            .map_err(|source| ClientError::Unreadable {
                url: url.to_owned(),
                source,
            })
    }
}
