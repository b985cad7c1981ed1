//! The approvals HTTP API, mounted on the admin listener: list, show, approve, deny.
//!
//! ```text
//! GET  /v1/approvals                 the requests waiting now
//! GET  /v1/approvals/{id}            one request, waiting or not
//! POST /v1/approvals/{id}/approve    {"reason": "...", "grant_for_secs": 1800}  (both optional)
//! POST /v1/approvals/{id}/deny       {"reason": "..."}                          (reason required)
//! ```
//!
//! Every call carries the caller's own token (`Authorization: Bearer ...`), validated by the
//! same code as the gateways' logins; the vote is cast as that identity. Errors are JSON
//! `{"error": "..."}` with 401 (no or bad token), 403 (not allowed to decide), 404 (unknown
//! request), 409 (already decided, expired, already voted), 400 (bad body), 503 (log down).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State, rejection::JsonRejection};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use schemas::Actor;
use schemas::body::ApprovalDecision;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::board::{Entry, Resolution};
use super::{Approvals, ApprovalsError, VoteRefused, approve_command};
use crate::identity::TokenValidator;

/// What the handlers share.
#[derive(Clone)]
struct Api {
    approvals: Approvals,
    validator: Arc<TokenValidator>,
}

/// The API's routes.
pub fn router(approvals: Approvals, validator: Arc<TokenValidator>) -> Router {
    Router::new()
        .route("/v1/approvals", get(list))
        .route("/v1/approvals/{id}", get(show))
        .route("/v1/approvals/{id}/approve", post(approve))
        .route("/v1/approvals/{id}/deny", post(deny))
        .with_state(Api {
            approvals,
            validator,
        })
}

/// A request as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalView {
    /// The approval's id.
    pub id: Uuid,
    /// `waiting`, `approved`, `denied`, `expired` or `cancelled`.
    pub status: String,
    /// Who asked: the token subject.
    pub subject: String,
    /// The agents acting for them, outermost first.
    pub agents: Vec<String>,
    /// The target.
    pub target: String,
    /// The command held.
    pub command: String,
    /// The policy that asked for approval.
    pub policy: String,
    /// Who may decide.
    pub group: String,
    /// How many distinct approvers are needed.
    pub approvers_required: u32,
    /// Who approved so far.
    pub approved_by: Vec<String>,
    /// When it lapses (RFC 3339).
    pub expires_at: String,
    /// The command that approves it.
    pub approve_with: String,
}

impl From<&Entry> for ApprovalView {
    fn from(entry: &Entry) -> Self {
        let request = &entry.posted.request;
        let status = match &entry.resolution {
            None => "waiting",
            Some(Resolution::Approved(_)) => "approved",
            Some(Resolution::Denied(_)) => "denied",
            Some(Resolution::Expired(_)) => "expired",
            Some(Resolution::Cancelled(_)) => "cancelled",
        };
        ApprovalView {
            id: request.approval_id,
            status: status.to_owned(),
            subject: entry.posted.requester.subject.clone(),
            agents: entry.posted.requester.agents.clone(),
            target: entry.posted.target.name.clone(),
            command: request.command.clone(),
            policy: request.policy.clone(),
            group: request.approver_group.clone(),
            approvers_required: request.approvers_required,
            approved_by: entry
                .approvals
                .iter()
                .filter_map(|v| v.approver.as_ref().map(|a| a.subject.clone()))
                .collect(),
            expires_at: request.expires_at.to_string(),
            approve_with: approve_command(request.approval_id),
        }
    }
}

/// The body of an approve.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// Why, for the record.
    #[serde(default)]
    pub reason: Option<String>,
    /// Approve every command with the same fingerprint, by the same party on the same target,
    /// for this many seconds.
    #[serde(default)]
    pub grant_for_secs: Option<u64>,
}

/// The body of a deny.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyBody {
    /// Why: the client is told.
    pub reason: String,
}

/// The longest grant the API accepts.
const MAX_GRANT: Duration = Duration::from_secs(24 * 3600);

async fn list(State(api): State<Api>, headers: HeaderMap) -> Response {
    if let Err(refused) = caller(&api, &headers).await {
        return refused;
    }
    let views: Vec<ApprovalView> = api.approvals.waiting().iter().map(Into::into).collect();
    json(StatusCode::OK, &views)
}

async fn show(State(api): State<Api>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(refused) = caller(&api, &headers).await {
        return refused;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return problem(StatusCode::BAD_REQUEST, "an approval id is a UUID");
    };
    match api.approvals.get(id) {
        Some(entry) => json(StatusCode::OK, &ApprovalView::from(&entry)),
        None => problem(StatusCode::NOT_FOUND, &VoteRefused::Unknown(id).to_string()),
    }
}

async fn approve(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<axum::Json<ApproveBody>, JsonRejection>,
) -> Response {
    let approver = match caller(&api, &headers).await {
        Ok(approver) => approver,
        Err(refused) => return refused,
    };
    let body = match body {
        Ok(axum::Json(body)) => body,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let grant_for = body.grant_for_secs.map(Duration::from_secs);
    if grant_for.is_some_and(|g| g.is_zero() || g > MAX_GRANT) {
        return problem(
            StatusCode::BAD_REQUEST,
            "grant_for_secs must be from 1 second to 24 hours",
        );
    }
    cast(
        &api,
        &id,
        approver,
        ApprovalDecision::Approve,
        body.reason,
        grant_for,
    )
    .await
}

async fn deny(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<axum::Json<DenyBody>, JsonRejection>,
) -> Response {
    let approver = match caller(&api, &headers).await {
        Ok(approver) => approver,
        Err(refused) => return refused,
    };
    let reason = match body {
        Ok(axum::Json(body)) if !body.reason.trim().is_empty() => body.reason,
        Ok(_) => return problem(StatusCode::BAD_REQUEST, "a deny needs a reason"),
        Err(e) => return problem(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    cast(
        &api,
        &id,
        approver,
        ApprovalDecision::Deny,
        Some(reason),
        None,
    )
    .await
}

async fn cast(
    api: &Api,
    id: &str,
    approver: Actor,
    decision: ApprovalDecision,
    reason: Option<String>,
    grant_for: Option<Duration>,
) -> Response {
    let Ok(id) = Uuid::parse_str(id) else {
        return problem(StatusCode::BAD_REQUEST, "an approval id is a UUID");
    };
    let who = approver.subject.clone();
    match api
        .approvals
        .vote(id, approver, decision, reason, grant_for)
        .await
    {
        Ok(()) => {
            tracing::info!(approval = %id, approver = %who, ?decision, "approval vote cast");
            match api.approvals.get(id) {
                Some(entry) => json(StatusCode::OK, &ApprovalView::from(&entry)),
                None => problem(StatusCode::INTERNAL_SERVER_ERROR, "the vote was lost"),
            }
        }
        Err(ApprovalsError::Refused(refused)) => {
            let status = match refused {
                VoteRefused::Unknown(_) => StatusCode::NOT_FOUND,
                VoteRefused::NotInGroup { .. } | VoteRefused::SelfApproval | VoteRefused::Agent => {
                    StatusCode::FORBIDDEN
                }
                _ => StatusCode::CONFLICT,
            };
            tracing::info!(approval = %id, approver = %who, why = %refused, "approval vote refused");
            problem(status, &refused.to_string())
        }
        Err(ApprovalsError::Log(why)) => {
            tracing::warn!(approval = %id, why = %why, "approval vote not recorded");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the vote could not be recorded; try again",
            )
        }
        Err(e) => {
            tracing::error!(approval = %id, error = %e, "approval vote failed");
            problem(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// The caller's identity from their bearer token.
async fn caller(api: &Api, headers: &HeaderMap) -> Result<Actor, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(problem(
            StatusCode::UNAUTHORIZED,
            "send your token as Authorization: Bearer <token>",
        ));
    };
    match api.validator.validate(token).await {
        Ok(principal) => Ok(Actor::from(&principal)),
        Err(e) => Err(problem(
            StatusCode::UNAUTHORIZED,
            &format!("token refused: {e}"),
        )),
    }
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    (status, axum::Json(value)).into_response()
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}
