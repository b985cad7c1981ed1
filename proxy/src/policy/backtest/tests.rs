//! The backtest against small Cedar packs and sessions built event by event.

use std::sync::Arc;

use schemas::body::{
    ApprovalDecided, ApprovalDecision, ApprovalRequested, CommandReceived, PolicyDecided, Verdict,
};
use schemas::{Actor, ChainBuilder, Event, EventBody, Protocol, SessionContext, Target, Timestamp};
use uuid::Uuid;

use super::{Backtest, Report};
use crate::policy::cedar::{CedarPolicy, PackSource, PolicyStore};
use crate::policy::facts::{Analyzer, DangerousFunctions, Names};
use crate::policy::{Policy, SshFacts};

fn pack(policies: &str) -> (tempfile::TempDir, CedarPolicy) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pack.cedar"), policies).expect("write");
    let store = PolicyStore::open(PackSource::Dir(dir.path().to_owned())).expect("pack loads");
    let names = Names::new(
        vec!["public".into()],
        DangerousFunctions::new(&crate::policy::config::DEFAULT_DANGEROUS_FUNCTIONS),
    );
    (dir, CedarPolicy::new(Analyzer::new(names), Arc::new(store)))
}

/// A session's events, built as a gateway records them.
struct Recorded {
    chain: ChainBuilder,
    events: Vec<Event>,
}

impl Recorded {
    fn new(protocol: Protocol, client: &str) -> Self {
        let actor = Actor {
            agents: vec!["coding-agent".into()],
            groups: vec!["agents".into()],
            issuer: "test".into(),
            ..Actor::unauthenticated("dev@example.com")
        };
        let chain = ChainBuilder::new(SessionContext {
            session_id: Uuid::now_v7(),
            actor,
            target: Target {
                name: "app".into(),
                protocol,
            },
            client_addr: Some(client.to_owned()),
        });
        Recorded {
            chain,
            events: Vec::new(),
        }
    }

    fn push(&mut self, body: EventBody) -> u64 {
        let event = self.chain.next(Timestamp::now(), body).expect("event");
        let seq = event.seq;
        self.events.push(event);
        seq
    }

    /// A SQL command and its recorded verdict; the command's seq.
    fn sql(&mut self, policy: &CedarPolicy, text: &str, verdict: Verdict) -> u64 {
        let summary = policy.facts(text).summary();
        let seq = self.push(EventBody::CommandReceived(CommandReceived {
            protocol: Protocol::Postgres,
            text: text.to_owned(),
            summary,
            parameters: Vec::new(),
        }));
        self.decided(seq, verdict);
        seq
    }

    /// An SSH request and its recorded verdict.
    fn ssh(&mut self, facts: &SshFacts, text: &str, verdict: Verdict) {
        let mut received = crate::ssh::command::received(facts);
        received.text = text.to_owned();
        let seq = self.push(EventBody::CommandReceived(received));
        self.decided(seq, verdict);
    }

    fn decided(&mut self, command_seq: u64, verdict: Verdict) {
        self.push(EventBody::PolicyDecided(PolicyDecided {
            command_seq,
            verdict,
            policies: Vec::new(),
            message: None,
        }));
    }

    /// A hold of the command at `command_seq` and its outcome.
    fn held(&mut self, command_seq: u64, decision: ApprovalDecision) {
        let approval_id = Uuid::now_v7();
        self.push(EventBody::ApprovalRequested(ApprovalRequested {
            approval_id,
            command_seq,
            approver_group: "dba".into(),
            policy: "hold".into(),
            expires_at: Timestamp::now(),
            approvers_required: 1,
            command: String::new(),
            summary: None,
            fingerprint: String::new(),
        }));
        self.push(EventBody::ApprovalDecided(ApprovalDecided {
            approval_id,
            decision,
            reason: None,
            approver: None,
            grant_for_secs: None,
        }));
    }
}

fn run(policy: &CedarPolicy, sessions: &[&Recorded]) -> Report {
    let mut backtest = Backtest::new(policy);
    for session in sessions {
        for event in &session.events {
            backtest.push(event.clone());
        }
    }
    backtest.finish()
}

fn changed(report: &Report) -> Vec<(&str, Verdict, Verdict)> {
    report
        .changes
        .iter()
        .map(|c| (c.text.as_str(), c.recorded, super::verdict(&c.now)))
        .collect()
}

const NO_DELETE: &str = "@id(\"allow\") permit (principal, action, resource);\n\
    @id(\"no-delete\") forbid (principal, action == Action::\"sql:delete\", resource);\n";

#[test]
fn the_recorded_client_address_is_what_the_candidate_decides_on() {
    let (_dir, policy) = pack(
        "@id(\"allow\") permit (principal, action, resource);\n\
         @id(\"not-from-10\") forbid (principal, action, resource) when \
         { context has client_address && context.client_address.isInRange(ip(\"10.0.0.0/8\")) };\n",
    );
    let mut inside = Recorded::new(Protocol::Postgres, "10.1.2.3:50000");
    inside.sql(&policy, "SELECT 1", Verdict::Allow);
    let mut outside = Recorded::new(Protocol::Postgres, "127.0.0.1:50001");
    outside.sql(&policy, "SELECT 1", Verdict::Allow);
    let report = run(&policy, &[&inside, &outside]);
    assert_eq!(
        changed(&report),
        [("SELECT 1", Verdict::Allow, Verdict::Block)]
    );
    assert_eq!(report.changes[0].session_id, inside.events[0].session_id);
    assert_eq!((report.sessions, report.decided), (2, 2));
}

#[test]
fn a_held_prepare_counts_for_later_executes_only_once_approved() {
    let (_dir, policy) = pack(NO_DELETE);
    let mut sessions = Vec::new();
    for decision in [ApprovalDecision::Approve, ApprovalDecision::Deny] {
        let mut session = Recorded::new(Protocol::Postgres, "127.0.0.1:5");
        let prepare = session.sql(
            &policy,
            "PREPARE wipe AS DELETE FROM t WHERE id = 1",
            Verdict::ApprovalRequired,
        );
        session.held(prepare, decision);
        session.sql(&policy, "EXECUTE wipe", Verdict::Allow);
        sessions.push(session);
    }
    let report = run(&policy, &sessions.iter().collect::<Vec<_>>());
    // Approved: the EXECUTE runs a DELETE, which the candidate forbids. Denied: the PREPARE
    // never ran, so the EXECUTE names nothing the session prepared.
    assert_eq!(
        changed(&report),
        [
            (
                "PREPARE wipe AS DELETE FROM t WHERE id = 1",
                Verdict::ApprovalRequired,
                Verdict::Allow
            ),
            ("EXECUTE wipe", Verdict::Allow, Verdict::Block),
            (
                "PREPARE wipe AS DELETE FROM t WHERE id = 1",
                Verdict::ApprovalRequired,
                Verdict::Allow
            ),
        ]
    );
    assert_eq!(
        report.changes[1].session_id,
        sessions[0].events[0].session_id
    );
}

#[test]
fn text_the_detectors_masked_out_of_shape_is_unreadable_not_a_change() {
    let (_dir, policy) = pack(NO_DELETE);
    let mut session = Recorded::new(Protocol::Postgres, "127.0.0.1:5");
    // Parsed when decided (the client sent a number); masked, it no longer parses.
    let summary = policy
        .facts("SELECT * FROM t WHERE card = 4111111111111111")
        .summary();
    let seq = session.push(EventBody::CommandReceived(CommandReceived {
        protocol: Protocol::Postgres,
        text: "SELECT * FROM t WHERE card = [masked:card]".into(),
        summary,
        parameters: Vec::new(),
    }));
    session.decided(seq, Verdict::Allow);
    // Masked inside a literal, it still reads the same.
    session.sql(
        &policy,
        "DELETE FROM t WHERE card = '[masked:card]'",
        Verdict::Allow,
    );
    let mut ssh = Recorded::new(Protocol::Ssh, "127.0.0.1:6");
    ssh.ssh(
        &SshFacts::exec("x"),
        "curl -H 'Authorization: [masked:jwt]' http://svc",
        Verdict::Allow,
    );
    let report = run(&policy, &[&session, &ssh]);
    assert_eq!((report.decided, report.unreadable), (3, 2));
    assert_eq!(
        changed(&report),
        [(
            "DELETE FROM t WHERE card = '[masked:card]'",
            Verdict::Allow,
            Verdict::Block
        )]
    );
}

#[test]
fn ssh_requests_are_decided_again_from_their_recorded_form() {
    let (_dir, policy) = pack(
        "@id(\"allow\") permit (principal, action, resource);\n\
         @id(\"no-rm\") forbid (principal, action == Action::\"ssh:exec\", resource) \
         when { context.program == \"rm\" };\n\
         @id(\"no-tunnels\") forbid (principal, action == Action::\"ssh:forward\", resource) \
         when { context.forward_kind == \"direct-tcpip\" };\n",
    );
    let mut session = Recorded::new(Protocol::Ssh, "127.0.0.1:7");
    for facts in [
        SshFacts::exec("/bin/rm -rf /tmp/x"),
        SshFacts::exec("ls -la"),
        SshFacts::forward("direct-tcpip", "db:5432"),
        SshFacts::forward("agent", ""),
    ] {
        session.ssh(&facts, &facts.recorded_text(), Verdict::Allow);
    }
    let report = run(&policy, &[&session]);
    assert_eq!(
        changed(&report),
        [
            ("/bin/rm -rf /tmp/x", Verdict::Allow, Verdict::Block),
            ("direct-tcpip db:5432", Verdict::Allow, Verdict::Block),
        ]
    );
}

#[test]
fn a_verdict_whose_command_is_outside_the_window_is_counted_not_decided() {
    let (_dir, policy) = pack(NO_DELETE);
    let mut session = Recorded::new(Protocol::Postgres, "127.0.0.1:5");
    session.sql(&policy, "DELETE FROM t WHERE id = 1", Verdict::Allow);
    // As if `--since` fell between the command and its verdict.
    let verdict_only = Recorded {
        events: session.events[1..].to_vec(),
        chain: session.chain.clone(),
    };
    let report = run(&policy, &[&verdict_only]);
    assert_eq!(
        (report.decided, report.orphaned, report.sessions),
        (0, 1, 0)
    );
    assert!(report.changes.is_empty());
}
