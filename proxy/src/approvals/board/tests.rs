#![allow(clippy::unwrap_used)] // test data is well-formed

use std::time::Duration;

use schemas::body::ApprovalRequested;
use schemas::{Protocol, Target};

use super::*;

fn person(subject: &str, groups: &[&str]) -> Actor {
    Actor {
        subject: subject.into(),
        agents: Vec::new(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        issuer: "test".into(),
        token_id: None,
    }
}

fn requester() -> Actor {
    Actor {
        agents: vec!["coding-agent".into()],
        ..person("dev@example.com", &["agents", "dba"])
    }
}

fn posted(approvers: u32) -> ControlEvent {
    ControlEvent::now(ControlBody::ApprovalRequested(ApprovalPosted {
        session_id: Uuid::from_u128(1),
        requester: requester(),
        target: Target {
            name: "app".into(),
            protocol: Protocol::Postgres,
        },
        request: ApprovalRequested {
            approval_id: Uuid::from_u128(9),
            command_seq: 3,
            approver_group: "dba".into(),
            policy: "ddl".into(),
            expires_at: Timestamp::now()
                .checked_add(Duration::from_secs(60))
                .unwrap(),
            approvers_required: approvers,
            command: "DROP TABLE t".into(),
            summary: None,
            fingerprint: "DROP TABLE t".into(),
        },
    }))
}

fn vote(approver: Actor, decision: ApprovalDecision) -> ControlEvent {
    ControlEvent::now(ControlBody::ApprovalDecided(ApprovalDecided {
        approval_id: Uuid::from_u128(9),
        decision,
        reason: Some("ok".into()),
        approver: Some(approver),
        grant_for_secs: None,
    }))
}

const ID: Uuid = Uuid::from_u128(9);

#[test]
fn one_approval_from_the_group_approves() {
    let mut board = Board::new(SelfApproval::Refused);
    board.apply(&posted(1));
    let bob = person("bob", &["dba"]);
    assert_eq!(
        board.check_vote(ID, &bob, ApprovalDecision::Approve, Timestamp::now()),
        Ok(true)
    );
    let (id, resolution) = board.apply(&vote(bob, ApprovalDecision::Approve)).unwrap();
    assert_eq!(id, ID);
    assert!(matches!(resolution, Resolution::Approved(votes) if votes.len() == 1));
    assert!(board.waiting(Timestamp::now()).is_empty());
}

#[test]
fn outsiders_agents_and_the_requester_cannot_decide() {
    let mut board = Board::new(SelfApproval::Refused);
    board.apply(&posted(1));
    let now = Timestamp::now();
    let check = |actor: &Actor| board.check_vote(ID, actor, ApprovalDecision::Approve, now);
    assert!(matches!(
        check(&person("carol", &["dev"])),
        Err(VoteRefused::NotInGroup { .. })
    ));
    assert_eq!(check(&requester()), Err(VoteRefused::Agent));
    assert_eq!(
        check(&person("dev@example.com", &["dba"])),
        Err(VoteRefused::SelfApproval)
    );
    // A vote that slipped past the check is ignored all the same.
    assert!(
        board
            .apply(&vote(person("carol", &["dev"]), ApprovalDecision::Approve))
            .is_none()
    );
    assert_eq!(board.waiting(now).len(), 1);
}

#[test]
fn self_approval_can_be_allowed() {
    let mut board = Board::new(SelfApproval::Allowed);
    board.apply(&posted(1));
    let me = person("dev@example.com", &["dba"]);
    assert_eq!(
        board.check_vote(ID, &me, ApprovalDecision::Approve, Timestamp::now()),
        Ok(true)
    );
}

#[test]
fn two_approvers_must_be_distinct() {
    let mut board = Board::new(SelfApproval::Refused);
    board.apply(&posted(2));
    let bob = person("bob", &["dba"]);
    assert_eq!(
        board.check_vote(ID, &bob, ApprovalDecision::Approve, Timestamp::now()),
        Ok(false)
    );
    assert!(
        board
            .apply(&vote(bob.clone(), ApprovalDecision::Approve))
            .is_none()
    );
    assert_eq!(
        board.check_vote(ID, &bob, ApprovalDecision::Approve, Timestamp::now()),
        Err(VoteRefused::AlreadyVoted(ID))
    );
    assert!(board.apply(&vote(bob, ApprovalDecision::Approve)).is_none());
    let alice = person("alice", &["dba"]);
    let (_, resolution) = board
        .apply(&vote(alice, ApprovalDecision::Approve))
        .unwrap();
    assert!(matches!(resolution, Resolution::Approved(votes) if votes.len() == 2));
}

#[test]
fn a_deny_ends_it_and_later_votes_change_nothing() {
    let mut board = Board::new(SelfApproval::Refused);
    board.apply(&posted(2));
    let (_, resolution) = board
        .apply(&vote(person("bob", &["dba"]), ApprovalDecision::Deny))
        .unwrap();
    assert!(matches!(resolution, Resolution::Denied(_)));
    assert!(
        board
            .apply(&vote(person("alice", &["dba"]), ApprovalDecision::Approve))
            .is_none()
    );
    assert_eq!(
        board.check_vote(
            ID,
            &person("alice", &["dba"]),
            ApprovalDecision::Approve,
            Timestamp::now()
        ),
        Err(VoteRefused::AlreadyDecided(ID))
    );
}

#[test]
fn applying_twice_is_applying_once() {
    let mut board = Board::new(SelfApproval::Refused);
    board.apply(&posted(1));
    board.apply(&posted(1));
    let bob = vote(person("bob", &["dba"]), ApprovalDecision::Approve);
    assert!(board.apply(&bob).is_some());
    assert!(board.apply(&bob).is_none());
}

#[test]
fn a_grant_covers_the_same_party_target_and_fingerprint_until_it_expires() {
    let mut board = Board::new(SelfApproval::Refused);
    let now = Timestamp::now();
    let grant = GrantIssued {
        approval_id: ID,
        subject: "dev@example.com".into(),
        agents: vec!["coding-agent".into()],
        target: "app".into(),
        fingerprint: "DELETE FROM t WHERE id = ?".into(),
        granted_by: person("bob", &["dba"]),
        expires_at: now.checked_add(Duration::from_secs(60)).unwrap(),
    };
    board.apply(&ControlEvent::now(ControlBody::GrantIssued(grant)));
    let me = requester();
    assert!(
        board
            .grant(&me, "app", "DELETE FROM t WHERE id = ?", now)
            .is_some()
    );
    assert!(
        board
            .grant(&me, "other", "DELETE FROM t WHERE id = ?", now)
            .is_none()
    );
    assert!(board.grant(&me, "app", "DROP TABLE t", now).is_none());
    let someone_else = Actor {
        agents: vec!["another-agent".into()],
        ..requester()
    };
    assert!(
        board
            .grant(&someone_else, "app", "DELETE FROM t WHERE id = ?", now)
            .is_none()
    );
    let later = now.checked_add(Duration::from_secs(61)).unwrap();
    assert!(
        board
            .grant(&me, "app", "DELETE FROM t WHERE id = ?", later)
            .is_none()
    );
}

#[test]
fn an_unknown_or_expired_request_takes_no_vote() {
    let mut board = Board::new(SelfApproval::Refused);
    let bob = person("bob", &["dba"]);
    assert_eq!(
        board.check_vote(ID, &bob, ApprovalDecision::Approve, Timestamp::now()),
        Err(VoteRefused::Unknown(ID))
    );
    board.apply(&posted(1));
    let later = Timestamp::now()
        .checked_add(Duration::from_secs(61))
        .unwrap();
    assert_eq!(
        board.check_vote(ID, &bob, ApprovalDecision::Approve, later),
        Err(VoteRefused::Expired(ID))
    );
}

#[test]
fn requests_long_expired_are_forgotten_when_new_ones_come() {
    let mut board = Board::new(SelfApproval::Refused);
    board.apply(&posted(1));
    let mut later = posted(1);
    later.time = Timestamp::now()
        .checked_add(Duration::from_secs(2 * 3600))
        .unwrap();
    if let ControlBody::ApprovalRequested(p) = &mut later.body {
        p.request.approval_id = Uuid::from_u128(10);
    }
    board.apply(&later);
    assert!(board.get(ID).is_none());
    assert!(board.get(Uuid::from_u128(10)).is_some());
}
