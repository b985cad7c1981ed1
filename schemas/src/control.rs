//! [`ControlEvent`]: what travels on the control stream, to every proxy and approver.
//!
//! Session events are hash-chained per session; decisions that must reach every proxy are not
//! part of any one session, so they travel on their own stream, each in a small envelope:
//! `{"schema_version":1,"id":…,"time":…,"kind":"approval.decided","body":{…}}`. A proxy that
//! holds a command posts the request (`approval.requested`, with who asked and where), every
//! approver's vote is an `approval.decided`, and an approval for a period is also posted as a
//! `grant.issued`, so that any proxy, now or replaying the stream later, honours it.
//!
//! Invariants: unknown members are rejected, as for session events; the bodies reuse the
//! session events' bodies where the meaning is the same.
//!
//! Not here: who may decide (the proxy's `approvals`), the session's own record of the same
//! decisions (`body::approval`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::actor::Actor;
use crate::body::{ApprovalDecided, ApprovalDecision, ApprovalRequested};
use crate::target::Target;
use crate::time::Timestamp;

/// The format version of control events this crate writes.
pub const CONTROL_SCHEMA_VERSION: u16 = 1;

/// One decision or request on the control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlEvent {
    /// The format version, [`CONTROL_SCHEMA_VERSION`].
    pub schema_version: u16,
    /// This event's id, a UUIDv7.
    pub id: Uuid,
    /// When it was posted.
    pub time: Timestamp,
    /// What it says: `kind` and `body` at the top level of the JSON.
    #[serde(flatten)]
    pub body: ControlBody,
}

impl ControlEvent {
    /// A new event posted now.
    pub fn now(body: ControlBody) -> Self {
        ControlEvent {
            schema_version: CONTROL_SCHEMA_VERSION,
            id: Uuid::now_v7(),
            time: Timestamp::now(),
            body,
        }
    }

    /// The approval this event is about.
    pub fn approval_id(&self) -> Uuid {
        match &self.body {
            ControlBody::ApprovalRequested(posted) => posted.request.approval_id,
            ControlBody::ApprovalDecided(decided) => decided.approval_id,
            ControlBody::GrantIssued(grant) => grant.approval_id,
        }
    }
}

/// The kinds of control event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", content = "body")]
#[non_exhaustive]
pub enum ControlBody {
    /// A command is held somewhere, waiting for approvers.
    #[serde(rename = "approval.requested")]
    ApprovalRequested(ApprovalPosted),
    /// An approver's vote, or the request's end (expired, cancelled).
    #[serde(rename = "approval.decided")]
    ApprovalDecided(ApprovalDecided),
    /// The same command by the same party on the same target passes without a hold until
    /// `expires_at`.
    #[serde(rename = "grant.issued")]
    GrantIssued(GrantIssued),
}

/// A held command as every proxy and approver sees it: the session's `approval.requested`
/// with the envelope members a reader of the control stream needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPosted {
    /// The session holding the command.
    pub session_id: Uuid,
    /// Who asked: the session's actor.
    pub requester: Actor,
    /// Where the command would run.
    pub target: Target,
    /// The request, as recorded in the session.
    pub request: ApprovalRequested,
}

/// A time-boxed approval: the commands it lets through without a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantIssued {
    /// The approval that issued it.
    pub approval_id: Uuid,
    /// The token subject the grant is for.
    pub subject: String,
    /// The agent chain the grant is for (outermost first), as on the request.
    pub agents: Vec<String>,
    /// The target's name.
    pub target: String,
    /// The fingerprint of the commands it covers.
    pub fingerprint: String,
    /// Who granted it (the last approver needed).
    pub granted_by: Actor,
    /// When it stops covering commands.
    pub expires_at: Timestamp,
}

impl GrantIssued {
    /// The `approval.decided` a session records when this grant lets its command through
    /// without a hold.
    pub fn covering(self) -> ApprovalDecided {
        ApprovalDecided {
            approval_id: self.approval_id,
            decision: ApprovalDecision::Approve,
            reason: Some(format!(
                "covered by the grant of approval {} until {}",
                self.approval_id, self.expires_at
            )),
            approver: Some(self.granted_by),
            grant_for_secs: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test data is well-formed

    use super::*;
    use crate::body::ApprovalDecision;

    #[test]
    fn a_decision_round_trips_with_kind_and_body_at_the_top() {
        let event = ControlEvent::now(ControlBody::ApprovalDecided(ApprovalDecided {
            approval_id: Uuid::from_u128(7),
            decision: ApprovalDecision::Deny,
            reason: Some("not during business hours".into()),
            approver: Some(Actor::unauthenticated("bob")),
            grant_for_secs: None,
        }));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "approval.decided");
        assert_eq!(json["body"]["decision"], "deny");
        let back: ControlEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.approval_id(), Uuid::from_u128(7));
    }

    #[test]
    fn unknown_members_are_refused() {
        let event = ControlEvent::now(ControlBody::ApprovalDecided(ApprovalDecided {
            approval_id: Uuid::from_u128(7),
            decision: ApprovalDecision::Expired,
            reason: None,
            approver: None,
            grant_for_secs: None,
        }));
        let mut json = serde_json::to_value(&event).unwrap();
        json["extra"] = serde_json::Value::Bool(true);
        assert!(serde_json::from_value::<ControlEvent>(json).is_err());
    }
}
