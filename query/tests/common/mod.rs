//! An archive with known content, made the way production makes it: sessions built with the
//! chain builder and sealed, appended to a real embedded event log, archived by the real
//! recorder. Shared by the query crate's tests and the binary's forensics tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eventlog::{Durability, EmbeddedLog, EmbeddedOptions, EventLog, Record, Stream};
use schemas::body::{
    ApprovalDecided, ApprovalDecision, ApprovalRequested, AuthMethod, AuthenticationSucceeded,
    Column, CommandReceived, CommandSummary, EndReason, PolicyDecided, ResultReturned,
    SessionCounters, SessionEnded, SessionStarted, TerminalData, TerminalResized, Verdict,
};
use schemas::{
    Actor, ChainBuilder, Event, EventBody, Protocol, PublicKeys, SealingKey, SessionContext,
    Target, Timestamp,
};
use uuid::Uuid;

/// 2026-11-25T23:59:50Z: the first sessions start just before midnight, so the archive has two
/// day partitions.
pub const BASE_NANOS: i64 = 1_795_651_190_000_000_000;
pub const SECOND: i64 = 1_000_000_000;

/// The sessions of the fixture.
pub const ALICE_SQL: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001);
pub const BOB_APPROVED: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0002);
pub const ALICE_SSH: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0003);
pub const DAVE_OPEN: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0004);

/// The key that seals the fixture's sessions.
pub fn sealing_key() -> SealingKey {
    SealingKey::from_seed(&[7; 32])
}

pub fn actor(subject: &str, agent: Option<&str>) -> Actor {
    Actor {
        subject: subject.into(),
        agents: agent.into_iter().map(str::to_owned).collect(),
        groups: vec!["engineering".into()],
        issuer: "https://idp.example.com".into(),
        token_id: Some(format!("jti-{subject}")),
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_nanos(BASE_NANOS + seconds * SECOND)
}

fn command(text: &str, action: &str, reads: &[&str], writes: &[&str]) -> EventBody {
    EventBody::CommandReceived(CommandReceived {
        protocol: Protocol::Postgres,
        text: text.into(),
        summary: Some(CommandSummary {
            action: action.into(),
            reads: reads.iter().map(|s| (*s).to_owned()).collect(),
            writes: writes.iter().map(|s| (*s).to_owned()).collect(),
            functions: vec![],
            statements: 1,
        }),
        parameters: vec![],
    })
}

fn verdict(command_seq: u64, verdict: Verdict, policy: &str, message: Option<&str>) -> EventBody {
    EventBody::PolicyDecided(PolicyDecided {
        command_seq,
        verdict,
        policies: vec![policy.into()],
        message: message.map(str::to_owned),
    })
}

fn result(
    command_seq: u64,
    tag: &str,
    columns: &[&str],
    rows: &[&[&str]],
    duration_ns: u64,
) -> EventBody {
    EventBody::ResultReturned(ResultReturned {
        command_seq,
        command_tag: Some(tag.into()),
        columns: columns
            .iter()
            .map(|name| Column {
                name: (*name).into(),
                type_name: "text".into(),
            })
            .collect(),
        rows: rows
            .iter()
            .map(|row| row.iter().map(|c| Some((*c).to_owned())).collect())
            .collect(),
        row_count: rows.len() as u64,
        truncated: false,
        error: None,
        duration_ns,
        masked: masked_counts(columns, rows),
    })
}

/// What the proxy would count for cells the fixture writes as masked (`***`).
fn masked_counts(columns: &[&str], rows: &[&[&str]]) -> Vec<schemas::body::MaskCount> {
    columns
        .iter()
        .enumerate()
        .filter_map(|(i, column)| {
            let values = rows
                .iter()
                .filter(|row| row.get(i).is_some_and(|cell| cell.contains("***")))
                .count() as u64;
            (values > 0).then(|| schemas::body::MaskCount {
                column: (*column).into(),
                masked_by: "rule:redact".into(),
                values,
            })
        })
        .collect()
}

fn started(app: &str) -> EventBody {
    EventBody::SessionStarted(SessionStarted {
        application_name: Some(app.into()),
        tls: true,
        parameters: BTreeMap::new(),
    })
}

fn login() -> EventBody {
    EventBody::AuthenticationSucceeded(AuthenticationSucceeded {
        method: AuthMethod::Password,
    })
}

struct Session {
    chain: ChainBuilder,
    events: Vec<Event>,
}

impl Session {
    fn new(id: Uuid, who: Actor, target: &str, protocol: Protocol) -> Self {
        Session {
            chain: ChainBuilder::new(SessionContext {
                session_id: id,
                actor: who,
                target: Target {
                    name: target.into(),
                    protocol,
                },
                client_addr: Some("192.0.2.7:51234".into()),
            }),
            events: Vec::new(),
        }
    }

    fn push(&mut self, seconds: i64, body: EventBody) -> &mut Self {
        let event = self.chain.next(at(seconds), body).unwrap();
        self.events.push(event);
        self
    }

    fn end(mut self, seconds: i64, commands: u64, blocked: u64) -> Vec<Event> {
        let ended = SessionEnded {
            reason: EndReason::ClientClosed,
            counters: SessionCounters {
                commands,
                blocked,
                bytes_in: 100,
                bytes_out: 2000,
            },
        };
        let event = self.chain.end(at(seconds), ended, &sealing_key()).unwrap();
        self.events.push(event);
        self.events
    }
}

/// The terminal output of the SSH session: (seconds since start, bytes).
pub fn ssh_output() -> Vec<(u64, Vec<u8>)> {
    let mut out = vec![(0, b"Welcome to web-1\r\n$ ".to_vec())];
    for i in 1..=30u64 {
        let line = format!(
            "ls -l /var/log/app{i}\r\n\x1b[1;32mapp{i}.log\x1b[0m  size {}\r\n$ ",
            i * 100
        );
        out.push((i * 2, line.into_bytes()));
    }
    out.push((62, b"\x1b[2J\x1b[Htop - load average: 0.42\r\n".to_vec()));
    out.push((63, "caf\u{e9} \u{20ac}".as_bytes().to_vec()));
    out
}

/// Every event of the fixture, per session.
pub fn sessions() -> Vec<Vec<Event>> {
    let mut alice = Session::new(
        ALICE_SQL,
        actor("alice", Some("claude-code")),
        "orders-db",
        Protocol::Postgres,
    );
    alice
        .push(0, started("psql"))
        .push(0, login())
        .push(
            1,
            command(
                "SELECT id, email FROM public.orders",
                "sql:select",
                &["public.orders"],
                &[],
            ),
        )
        .push(1, verdict(2, Verdict::Allow, "allow-reads", None))
        .push(
            2,
            result(
                2,
                "SELECT 2",
                &["id", "email"],
                &[&["1", "***"], &["2", "***"]],
                1_500_000,
            ),
        )
        .push(
            3,
            command(
                "DELETE FROM orders WHERE id = 1",
                "sql:delete",
                &[],
                &["public.orders"],
            ),
        )
        .push(
            3,
            verdict(
                5,
                Verdict::Block,
                "no-delete",
                Some("deleting orders is not allowed"),
            ),
        );
    let alice = alice.end(4, 2, 1);

    let mut bob = Session::new(
        BOB_APPROVED,
        actor("bob", Some("cursor")),
        "orders-db",
        Protocol::Postgres,
    );
    let approval = Uuid::from_u128(0xa99);
    bob.push(20, started("psycopg"))
        .push(20, login())
        .push(
            21,
            command(
                "UPDATE public.orders SET status = 'shipped' WHERE id = 2",
                "sql:update",
                &[],
                &["public.orders"],
            ),
        )
        .push(
            21,
            verdict(2, Verdict::ApprovalRequired, "approve-writes", None),
        )
        .push(
            21,
            EventBody::ApprovalRequested(ApprovalRequested {
                approval_id: approval,
                command_seq: 2,
                approver_group: "dba".into(),
                policy: "approve-writes".into(),
                expires_at: at(321),
                approvers_required: 1,
                command: "UPDATE orders SET total = 0 WHERE id = 7".into(),
                summary: None,
                fingerprint: "UPDATE orders SET total = ? WHERE id = ?".into(),
            }),
        )
        .push(
            30,
            EventBody::ApprovalDecided(ApprovalDecided {
                approval_id: approval,
                decision: ApprovalDecision::Approve,
                reason: Some("ticket OPS-7".into()),
                approver: Some(actor("carol", None)),
                grant_for_secs: None,
            }),
        )
        .push(31, result(2, "UPDATE 1", &[], &[], 2_000_000));
    let bob = bob.end(32, 1, 0);

    let mut ssh = Session::new(
        ALICE_SSH,
        actor("alice", Some("claude-code")),
        "web-1",
        Protocol::Ssh,
    );
    ssh.push(40, started("OpenSSH_9.6")).push(40, login()).push(
        40,
        EventBody::TerminalResized(TerminalResized {
            channel: 0,
            cols: 100,
            rows: 30,
            offset_ns: 0,
        }),
    );
    for (seconds, data) in ssh_output() {
        ssh.push(
            40 + seconds as i64,
            EventBody::TerminalOutput(TerminalData {
                channel: 0,
                data,
                offset_ns: seconds * 1_000_000_000,
            }),
        );
        if seconds == 10 {
            ssh.push(
                50,
                EventBody::TerminalInput(TerminalData {
                    channel: 0,
                    data: b"ls\r".to_vec(),
                    offset_ns: seconds * 1_000_000_000 + 1,
                }),
            );
        }
    }
    let ssh = ssh.end(110, 0, 0);

    let mut dave = Session::new(
        DAVE_OPEN,
        actor("dave", None),
        "orders-db",
        Protocol::Postgres,
    );
    dave.push(120, started("psql"))
        .push(120, login())
        .push(
            121,
            command(
                "SELECT count(*) FROM customers",
                "sql:select",
                &["public.customers"],
                &[],
            ),
        )
        .push(121, verdict(2, Verdict::Allow, "allow-reads", None));
    vec![alice, bob, ssh, dave.events]
}

/// A recorded archive and what it holds.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub archive: PathBuf,
    pub keys: PublicKeys,
    pub keys_file: PathBuf,
    pub events: Vec<Vec<Event>>,
}

impl Fixture {
    pub fn archive(&self) -> query::Archive {
        query::Archive::new(&self.archive)
    }
}

/// Appends the fixture's events (sessions interleaved, each in seq order) to an embedded log
/// and archives them with the recorder, flushing every `flush_events` records.
pub async fn record(flush_events: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let events = sessions();
    let log =
        Arc::new(EmbeddedLog::open(dir.path().join("log"), EmbeddedOptions::default()).unwrap());
    let mut cursors = vec![0usize; events.len()];
    let mut records = Vec::new();
    loop {
        let mut progressed = false;
        for (s, session) in events.iter().enumerate() {
            if let Some(event) = session.get(cursors[s]) {
                records.push(Record::new(
                    event.session_id.to_string(),
                    serde_json::to_vec(event).unwrap(),
                ));
                cursors[s] += 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    let total = records.len() as u64;
    for chunk in records.chunks(flush_events) {
        log.append(Stream::Events, chunk.to_vec(), Durability::Durable)
            .await
            .unwrap();
    }
    let archive = dir.path().join("archive");
    let mut settings = recorder::Settings::new(&archive);
    settings.flush_interval = Duration::from_millis(100);
    settings.max_flush_events = flush_events;
    settings.session_refresh = Duration::ZERO;
    let source: Arc<dyn EventLog> = log;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = recorder::start(settings, Arc::new(source), stopped)
        .await
        .unwrap();
    let mut status = running.status();
    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.events >= total),
    )
    .await
    .expect("the recorder archives every event")
    .unwrap();
    stop.send(true).unwrap();
    running.wait().await.unwrap();
    let keys = PublicKeys::from(&sealing_key());
    let keys_file = dir.path().join("public-keys.json");
    std::fs::write(&keys_file, keys.to_json()).unwrap();
    Fixture {
        dir,
        archive,
        keys,
        keys_file,
        events,
    }
}

/// Every events file of an archive, in name order.
pub fn event_files(archive: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(archive.join("events"))
        .unwrap()
        .flat_map(|day| std::fs::read_dir(day.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}
