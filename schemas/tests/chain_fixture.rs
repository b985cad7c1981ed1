//! The published test vector: `fixtures/chain.jsonl`, one sealed SSH session, and
//! `fixtures/chain.public-keys.json`, the key that sealed it.
//!
//! Implementations in other languages verify against these files (CHAIN.md shows how). This
//! test rebuilds the session from fixed inputs and fails when the files are stale;
//! `BLASTWALL_BLESS=1 cargo test -p schemas` rewrites them. The session is chosen to exercise
//! the canonical encoding: escapes, non-ASCII text, member names that sort differently in
//! UTF-16 and UTF-8, nulls, base64 bytes, and the seal.

#![allow(
    clippy::unwrap_used,
    reason = "a test: a panic is a failure, in helpers too"
)]

use std::collections::BTreeMap;
use std::path::Path;

use schemas::body::{
    AuthMethod, AuthenticationSucceeded, CommandReceived, CommandSummary, EndReason, PolicyDecided,
    ResultReturned, SessionCounters, SessionEnded, SessionStarted, TerminalData, TerminalResized,
    Verdict,
};
use schemas::{
    Actor, ChainBuilder, Digest, Event, EventBody, Protocol, PublicKeys, SealingKey,
    SessionContext, SessionStatus, Target, Timestamp, verify_session,
};
use uuid::Uuid;

const EVENTS_FILE: &str = "tests/fixtures/chain.jsonl";
const KEYS_FILE: &str = "tests/fixtures/chain.public-keys.json";

/// The fixture's private key: seed = SHA-256("blastwall chain fixture key"). Public on purpose.
fn fixture_key() -> SealingKey {
    SealingKey::from_seed(Digest::sha256(b"blastwall chain fixture key").as_bytes())
}

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_unix_nanos(1_795_670_472_000_000_000 + offset_ms * 1_000_000 + 123)
}

fn id(seq: u128) -> Uuid {
    Uuid::from_u128(0x019a_c0e1_a000_7000_8000_0000_0000_0000 + seq)
}

fn fixture_events() -> Vec<Event> {
    let session_id = Uuid::from_u128(0x019a_c0e1_a000_7000_8000_0000_0000_5e55);
    let mut chain = ChainBuilder::new(SessionContext {
        session_id,
        actor: Actor::unauthenticated("alice"),
        target: Target {
            name: "bastion-eu-1".into(),
            protocol: Protocol::Ssh,
        },
        client_addr: Some("[2001:db8::7]:51234".into()),
    });
    let mut events = Vec::new();
    let mut push = |chain: &mut ChainBuilder, offset_ms, body| {
        let seq = u128::from(chain.next_seq());
        events.push(chain.next_with_id(id(seq), at(offset_ms), body).unwrap());
    };

    let parameters = BTreeMap::from([
        ("channel".to_owned(), "session".to_owned()),
        ("env.LANG".to_owned(), "C.UTF-8".to_owned()),
        (
            "env.\u{1f600}".to_owned(),
            "a name beyond U+FFFF".to_owned(),
        ),
        (
            "env.\u{fb33}".to_owned(),
            "sorts after the emoji in UTF-16, before it in UTF-8".to_owned(),
        ),
        ("term".to_owned(), "xterm-256color".to_owned()),
    ]);
    push(
        &mut chain,
        0,
        EventBody::SessionStarted(SessionStarted {
            application_name: Some("SSH-2.0-OpenSSH_9.6".into()),
            tls: true,
            parameters,
        }),
    );
    chain.set_actor(Actor {
        subject: "alice@example.com".into(),
        agents: vec!["claude-code".into()],
        groups: vec!["eng".into(), "oncall".into()],
        issuer: "https://idp.example.com".into(),
        token_id: Some("7c1e9b2a".into()),
    });
    push(
        &mut chain,
        40,
        EventBody::AuthenticationSucceeded(AuthenticationSucceeded {
            method: AuthMethod::Password,
        }),
    );
    push(
        &mut chain,
        55,
        EventBody::CommandReceived(CommandReceived {
            protocol: Protocol::Ssh,
            text: "grep -c \"café\" /var/log/app.log\t# ✓ \u{1}".into(),
            summary: Some(CommandSummary {
                action: "ssh:exec".into(),
                reads: vec!["/var/log/app.log".into()],
                writes: vec![],
                functions: vec![],
                statements: 1,
            }),
            parameters: vec![],
        }),
    );
    push(
        &mut chain,
        56,
        EventBody::PolicyDecided(PolicyDecided {
            command_seq: 2,
            verdict: Verdict::Allow,
            policies: vec!["oncall-may-read-logs".into()],
            message: None,
        }),
    );
    push(
        &mut chain,
        57,
        EventBody::TerminalResized(TerminalResized {
            channel: 0,
            cols: 120,
            rows: 40,
            offset_ns: 57_000_000,
        }),
    );
    push(
        &mut chain,
        60,
        EventBody::TerminalInput(TerminalData {
            channel: 0,
            data: b"\x03".to_vec(),
            offset_ns: 60_000_000,
        }),
    );
    push(
        &mut chain,
        61,
        EventBody::TerminalOutput(TerminalData {
            channel: 0,
            data: b"\x1b[1;32m42\x1b[0m\r\n\xff\xfe".to_vec(),
            offset_ns: 61_000_000,
        }),
    );
    push(
        &mut chain,
        62,
        EventBody::ResultReturned(ResultReturned {
            command_seq: 2,
            command_tag: Some("exit-status 0".into()),
            columns: vec![],
            rows: vec![],
            row_count: 0,
            truncated: false,
            duration_ns: 6_999_877,
            error: None,
            masked: Vec::new(),
        }),
    );
    let seq = u128::from(chain.next_seq());
    let ended = SessionEnded {
        reason: EndReason::ClientClosed,
        counters: SessionCounters {
            commands: 1,
            blocked: 0,
            bytes_in: 1,
            bytes_out: 12,
        },
    };
    events.push(
        chain
            .end_with_id(id(seq), at(70), ended, &fixture_key())
            .unwrap(),
    );
    events
}

fn jsonl(events: &[Event]) -> String {
    events
        .iter()
        .map(|event| serde_json::to_string(event).unwrap() + "\n")
        .collect()
}

fn bless() -> bool {
    std::env::var_os("BLASTWALL_BLESS").is_some_and(|value| value == "1")
}

fn check_or_bless(relative: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    if bless() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "schemas/{relative} is stale or missing; run `BLASTWALL_BLESS=1 cargo test -p schemas` \
         to rewrite it, and review the diff (other implementations test against it)"
    );
}

#[test]
fn fixture_files_are_current() {
    let events = fixture_events();
    check_or_bless(EVENTS_FILE, &jsonl(&events));
    check_or_bless(KEYS_FILE, &PublicKeys::from(&fixture_key()).to_json());
}

#[test]
fn fixture_verifies_from_its_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let keys =
        PublicKeys::from_json(&std::fs::read_to_string(root.join(KEYS_FILE)).unwrap()).unwrap();
    let text = std::fs::read_to_string(root.join(EVENTS_FILE)).unwrap();
    let events: Vec<Event> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let report = verify_session(&events, &keys).unwrap();
    assert_eq!(report.events, 9);
    assert_eq!(
        report.status,
        SessionStatus::Sealed {
            key_id: fixture_key().key_id().clone()
        }
    );
}

#[test]
fn fixture_breaks_when_one_byte_changes() {
    let keys = PublicKeys::from(&fixture_key());
    let text = jsonl(&fixture_events()).replacen("café", "cafe", 1);
    let events: Vec<Event> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let broken = verify_session(&events, &keys).unwrap_err();
    assert_eq!(broken.seq, 2);
}
