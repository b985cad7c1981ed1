//! The board: every approval request, vote and grant seen on the control stream, and what
//! they amount to. Pure: no I/O, no clock of its own (the time comes in), so every rule is
//! tested here.
//!
//! Rules: a vote counts only from an authenticated person (no agent in the token) in the
//! request's group; one vote per approver; the requester may not vote on their own request
//! unless the configuration allows it; a request is approved once `approvers_required`
//! distinct approvers approved, denied by the first deny, and ends at most once (approved,
//! denied, expired or cancelled). Applying the same event twice changes nothing, so a proxy
//! may apply what it posts at once and again when it reads it back.
//!
//! Not here: posting and reading the stream (`service`), who may call the API (`http`).

use std::collections::HashMap;

use schemas::body::{ApprovalDecided, ApprovalDecision};
use schemas::control::{ApprovalPosted, ControlBody, ControlEvent, GrantIssued};
use schemas::{Actor, Timestamp};
use uuid::Uuid;

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Enough distinct approvers approved; their votes, in order.
    Approved(Vec<ApprovalDecided>),
    /// An approver denied it.
    Denied(ApprovalDecided),
    /// It lapsed, or the proxy holding it stopped.
    Expired(ApprovalDecided),
    /// The client went away.
    Cancelled(ApprovalDecided),
}

/// Why a vote is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VoteRefused {
    /// No request with that id is known (or it is not yet known here).
    #[error("no approval request {0} is waiting")]
    Unknown(Uuid),
    /// The request already ended.
    #[error("approval request {0} is already decided")]
    AlreadyDecided(Uuid),
    /// The request lapsed.
    #[error("approval request {0} has expired")]
    Expired(Uuid),
    /// The approver is not in the group the policy names.
    #[error("only members of group {group:?} may decide this request")]
    NotInGroup {
        /// The group.
        group: String,
    },
    /// The approver asked for it.
    #[error("you cannot decide your own request")]
    SelfApproval,
    /// The token is an agent's, acting for a person: only people decide.
    #[error("an agent cannot decide approval requests; use your own token")]
    Agent,
    /// This approver already approved.
    #[error("you already approved request {0}; it needs another approver")]
    AlreadyVoted(Uuid),
}

/// Whether a requester may decide their own request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SelfApproval {
    /// No: someone else must decide (the default).
    #[default]
    Refused,
    /// Yes (a team of one).
    Allowed,
}

/// How long a request is remembered after it expired, so that `show` still finds it.
const REMEMBER_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

/// A request and the votes it has.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The request as posted.
    pub posted: ApprovalPosted,
    /// The approvals so far, in order.
    pub approvals: Vec<ApprovalDecided>,
    /// How it ended, once it did.
    pub resolution: Option<Resolution>,
}

/// Every request, vote and grant seen.
#[derive(Debug, Default)]
pub struct Board {
    entries: HashMap<Uuid, Entry>,
    grants: HashMap<Uuid, GrantIssued>,
    self_approval: SelfApproval,
}

impl Board {
    /// An empty board.
    pub fn new(self_approval: SelfApproval) -> Self {
        Board {
            self_approval,
            ..Board::default()
        }
    }

    /// Forgets requests and grants that ended long before `now`, so memory stays bounded
    /// however long the proxy runs.
    fn forget_before(&mut self, now: Timestamp) {
        let keep = |expires_at: Timestamp| {
            expires_at
                .checked_add(REMEMBER_FOR)
                .is_none_or(|until| until > now)
        };
        self.entries
            .retain(|_, e| keep(e.posted.request.expires_at));
        self.grants.retain(|_, g| g.expires_at > now);
    }

    /// Applies an event; returns the resolution when this event ended a request.
    pub fn apply(&mut self, event: &ControlEvent) -> Option<(Uuid, Resolution)> {
        match &event.body {
            ControlBody::ApprovalRequested(posted) => {
                self.forget_before(event.time);
                let id = posted.request.approval_id;
                self.entries.entry(id).or_insert_with(|| Entry {
                    posted: posted.clone(),
                    approvals: Vec::new(),
                    resolution: None,
                });
                None
            }
            ControlBody::GrantIssued(grant) => {
                self.grants.insert(grant.approval_id, grant.clone());
                None
            }
            ControlBody::ApprovalDecided(decided) => self.decided(decided),
            _ => None,
        }
    }

    fn decided(&mut self, decided: &ApprovalDecided) -> Option<(Uuid, Resolution)> {
        let id = decided.approval_id;
        let self_approval = self.self_approval;
        let entry = self.entries.get_mut(&id)?;
        if entry.resolution.is_some() {
            return None;
        }
        let resolution = match decided.decision {
            ApprovalDecision::Approve | ApprovalDecision::Deny => {
                let approver = decided.approver.as_ref()?;
                // Votes were checked where they were cast; a vote that breaks the rules here
                // (forged, or cast under other settings) is ignored: fail closed.
                if eligible(entry, approver, self_approval).is_err() {
                    tracing::warn!(approval = %id, "a vote that breaks the approval rules was ignored");
                    return None;
                }
                if decided.decision == ApprovalDecision::Deny {
                    Resolution::Denied(decided.clone())
                } else {
                    entry.approvals.push(decided.clone());
                    if entry.approvals.len() < required(entry) {
                        return None;
                    }
                    Resolution::Approved(entry.approvals.clone())
                }
            }
            ApprovalDecision::Expired => Resolution::Expired(decided.clone()),
            ApprovalDecision::Cancelled => Resolution::Cancelled(decided.clone()),
            _ => return None,
        };
        entry.resolution = Some(resolution.clone());
        Some((id, resolution))
    }

    /// Checks a vote before it is cast: the request waits, and `approver` may decide it.
    /// `Ok(true)` when this approval would complete the request.
    pub fn check_vote(
        &self,
        id: Uuid,
        approver: &Actor,
        decision: ApprovalDecision,
        now: Timestamp,
    ) -> Result<bool, VoteRefused> {
        let entry = self.entries.get(&id).ok_or(VoteRefused::Unknown(id))?;
        if entry.resolution.is_some() {
            return Err(VoteRefused::AlreadyDecided(id));
        }
        if entry.posted.request.expires_at <= now {
            return Err(VoteRefused::Expired(id));
        }
        eligible(entry, approver, self.self_approval)?;
        Ok(decision == ApprovalDecision::Approve && entry.approvals.len() + 1 >= required(entry))
    }

    /// A request by id.
    pub fn get(&self, id: Uuid) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Requests still waiting at `now`, oldest first.
    pub fn waiting(&self, now: Timestamp) -> Vec<&Entry> {
        let mut waiting: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| e.resolution.is_none() && e.posted.request.expires_at > now)
            .collect();
        waiting.sort_by_key(|e| e.posted.request.approval_id);
        waiting
    }

    /// A grant in force at `now` for this party, target and fingerprint.
    pub fn grant(
        &self,
        requester: &Actor,
        target: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Option<&GrantIssued> {
        self.grants.values().find(|g| {
            g.expires_at > now
                && g.subject == requester.subject
                && g.agents == requester.agents
                && g.target == target
                && g.fingerprint == fingerprint
        })
    }
}

fn required(entry: &Entry) -> usize {
    usize::try_from(entry.posted.request.approvers_required.max(1)).unwrap_or(usize::MAX)
}

/// May `approver` vote on `entry`?
fn eligible(
    entry: &Entry,
    approver: &Actor,
    self_approval: SelfApproval,
) -> Result<(), VoteRefused> {
    let id = entry.posted.request.approval_id;
    if !approver.agents.is_empty() || !approver.is_authenticated() {
        return Err(VoteRefused::Agent);
    }
    let group = &entry.posted.request.approver_group;
    if !approver.groups.iter().any(|g| g == group) {
        return Err(VoteRefused::NotInGroup {
            group: group.clone(),
        });
    }
    if self_approval == SelfApproval::Refused && approver.subject == entry.posted.requester.subject
    {
        return Err(VoteRefused::SelfApproval);
    }
    let voted = entry.approvals.iter().any(|v| {
        v.approver
            .as_ref()
            .is_some_and(|a| a.subject == approver.subject)
    });
    if voted {
        return Err(VoteRefused::AlreadyVoted(id));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
