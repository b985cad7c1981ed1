use std::collections::BTreeMap;

use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::actor::Actor;
use crate::target::Protocol;
use crate::time::Timestamp;

/// One body of every kind, with every optional member used somewhere.
pub(crate) fn samples() -> Vec<EventBody> {
    vec![
        EventBody::SessionStarted(SessionStarted {
            application_name: Some("psql".into()),
            tls: true,
            parameters: BTreeMap::from([
                ("database".into(), "orders".into()),
                ("user".into(), "alice".into()),
            ]),
        }),
        EventBody::AuthenticationFailed(AuthenticationFailed {
            method: AuthMethod::Password,
            reason: AuthFailureReason::Expired,
            message: "token expired 30s ago".into(),
        }),
        EventBody::AuthenticationSucceeded(AuthenticationSucceeded {
            method: AuthMethod::KeyboardInteractive,
        }),
        EventBody::CommandReceived(CommandReceived {
            protocol: Protocol::Postgres,
            text: "UPDATE accounts SET plan = $1 WHERE id = $2".into(),
            summary: Some(CommandSummary {
                action: "sql:update".into(),
                reads: vec!["public.accounts".into()],
                writes: vec!["public.accounts".into()],
                functions: vec![],
                statements: 1,
            }),
            parameters: vec![Some("pro".into()), None],
        }),
        EventBody::PolicyDecided(PolicyDecided {
            command_seq: 3,
            verdict: Verdict::ApprovalRequired,
            policies: vec!["writes-need-approval".into()],
            message: Some("writes to accounts need a DBA's approval".into()),
        }),
        EventBody::ApprovalRequested(ApprovalRequested {
            approval_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
            command_seq: 3,
            approver_group: "dba".into(),
            policy: "writes-need-approval".into(),
            expires_at: Timestamp::from_unix_nanos(1_795_670_772_000_000_000),
            approvers_required: 1,
            command: "DROP TABLE accounts".into(),
            summary: None,
            fingerprint: "DROP TABLE accounts".into(),
        }),
        EventBody::ApprovalDecided(ApprovalDecided {
            approval_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
            decision: ApprovalDecision::Approve,
            reason: Some("ticket OPS-12".into()),
            approver: Some(Actor {
                subject: "bob@example.com".into(),
                agents: vec![],
                groups: vec!["dba".into()],
                issuer: "https://idp.example.com".into(),
                token_id: None,
            }),
            grant_for_secs: Some(600),
        }),
        EventBody::ResultReturned(ResultReturned {
            command_seq: 3,
            command_tag: Some("SELECT 2".into()),
            columns: vec![
                Column {
                    name: "id".into(),
                    type_name: "int4".into(),
                },
                Column {
                    name: "email".into(),
                    type_name: "text".into(),
                },
            ],
            rows: vec![
                vec![Some("1".into()), Some("a***@example.com".into())],
                vec![Some("2".into()), None],
            ],
            row_count: 2,
            truncated: false,
            duration_ns: 1_250_000,
            error: None,
            masked: Vec::new(),
        }),
        EventBody::ResultReturned(ResultReturned {
            command_seq: 9,
            command_tag: None,
            columns: vec![],
            rows: vec![],
            row_count: 0,
            truncated: false,
            duration_ns: 90_000,
            error: Some(ResultError {
                code: "42P01".into(),
                message: "relation \"acounts\" does not exist".into(),
            }),
            masked: vec![MaskCount {
                column: "email".into(),
                masked_by: "detector:email".into(),
                values: 2,
            }],
        }),
        EventBody::TerminalOutput(TerminalData {
            channel: 0,
            data: b"\x1b[1;32m$\x1b[0m \xff".to_vec(),
            offset_ns: 5_000_000,
        }),
        EventBody::TerminalInput(TerminalData {
            channel: 0,
            data: b"ls -la\r".to_vec(),
            offset_ns: 6_000_000,
        }),
        EventBody::TerminalResized(TerminalResized {
            channel: 0,
            cols: 120,
            rows: 40,
            offset_ns: 7_000_000,
        }),
        EventBody::OperationFailed(OperationFailed {
            fault: Fault::Client,
            stage: Stage::Parse,
            message: "message length 2147483647 exceeds the 1 MiB limit".into(),
        }),
        EventBody::ArchivePruned(ArchivePruned {
            table: "events".into(),
            day: "2026-08-28".into(),
            files: 3,
            rows: 120_000,
            bytes: 9_400_000,
            max_age_secs: 90 * 86_400,
        }),
        EventBody::SessionEnded(SessionEnded {
            reason: EndReason::ClientClosed,
            counters: SessionCounters {
                commands: 4,
                blocked: 1,
                bytes_in: 1_024,
                bytes_out: 65_536,
            },
        }),
    ]
}

#[test]
fn samples_cover_every_kind() {
    let kinds: std::collections::BTreeSet<EventKind> =
        samples().iter().map(EventBody::kind).collect();
    assert_eq!(kinds.len(), EventKind::ALL.len());
}

#[test]
fn every_kind_round_trips_and_its_tag_is_its_name() {
    for body in samples() {
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(value["kind"], body.kind().as_str());
        assert!(
            value["body"].is_object(),
            "{}: body is not an object",
            body.kind()
        );
        let back: EventBody = serde_json::from_value(value).unwrap();
        assert_eq!(back, body);
    }
}

#[test]
fn kind_names_parse_back() {
    for kind in EventKind::ALL {
        assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        assert_eq!(kind.to_string(), kind.as_str());
    }
    assert_eq!(
        "command.sent".parse::<EventKind>(),
        Err(UnknownKind("command.sent".into()))
    );
}

#[test]
fn enums_serialize_snake_case() {
    let body = EventBody::AuthenticationFailed(AuthenticationFailed {
        method: AuthMethod::KeyboardInteractive,
        reason: AuthFailureReason::WrongAudience,
        message: String::new(),
    });
    assert_eq!(
        serde_json::to_value(&body).unwrap()["body"],
        json!({"method": "keyboard_interactive", "reason": "wrong_audience", "message": ""})
    );
    assert_eq!(
        serde_json::to_value(Verdict::ApprovalRequired).unwrap(),
        Value::from(Verdict::ApprovalRequired.as_str())
    );
}

#[test]
fn terminal_data_is_base64() {
    let body = EventBody::TerminalInput(TerminalData {
        channel: 2,
        data: vec![0, 255, b'a'],
        offset_ns: 1,
    });
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({"kind": "terminal.input", "body": {"channel": 2, "data": "AP9h", "offset_ns": 1}})
    );
}

#[test]
fn null_members_must_be_present_and_unknown_ones_are_rejected() {
    let complete = json!({"kind": "policy.decided", "body": {
        "command_seq": 1, "verdict": "block", "policies": [], "message": null}});
    assert!(serde_json::from_value::<EventBody>(complete).is_ok());
    let missing = json!({"kind": "policy.decided", "body": {
        "command_seq": 1, "verdict": "block", "policies": []}});
    assert!(serde_json::from_value::<EventBody>(missing).is_err());
    let extra = json!({"kind": "policy.decided", "body": {
        "command_seq": 1, "verdict": "block", "policies": [], "message": null, "note": "x"}});
    assert!(serde_json::from_value::<EventBody>(extra).is_err());
}

#[test]
fn durations_convert() {
    let EventBody::ResultReturned(result) = &samples()[7] else {
        panic!("sample 7 is a result");
    };
    assert_eq!(result.duration(), std::time::Duration::from_micros(1_250));
}
