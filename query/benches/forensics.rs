//! Benchmark (not a test): the forensic commands on a generated archive.
//!
//! ```text
//! cargo bench -p query --bench forensics                          # 10,000,000 events
//! BENCH_EVENTS=1000000 cargo bench -p query --bench forensics     # scaled down
//! BENCH_ARCHIVE=/tmp/bw-archive cargo bench -p query --bench forensics   # keep and reuse it
//! ```
//!
//! The archive is written the way the recorder writes it (`recorder::encode::events::batch`,
//! `recorder::archive::write_group`, the session index) from real chained, sealed sessions:
//! SQL sessions of ~100 events over seven days by 50 humans through 20 agents on 10 targets,
//! plus one SSH session of an hour with output every 100 ms. Figures (targets from the issue):
//!
//! 1. `sessions --agent X` (≤ 1 s) and 2. `who-touched TARGET.public.orders --since 7d` (≤ 1 s),
//!    each opening the context as the CLI does;
//! 3. a full-scan aggregate over `events`;
//! 4. `verify` throughput (≥ 1 M events/s);
//! 5. `replay --at` at random points of the one-hour session (≤ 100 ms per seek), after loading
//!    the session and building its keyframes (reported separately).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use recorder::archive::{Encoding, GroupFile, Layout, PartName, Table, write_group};
use recorder::encode::EventRow;
use recorder::sessions::SessionIndex;
use schemas::body::{
    AuthMethod, AuthenticationSucceeded, Column, CommandReceived, CommandSummary, EndReason,
    PolicyDecided, ResultReturned, SessionCounters, SessionEnded, SessionStarted, TerminalData,
    TerminalResized, Verdict,
};
use schemas::{
    Actor, ChainBuilder, Event, EventBody, Protocol, PublicKeys, SealingKey, SessionContext,
    Target, Timestamp,
};
use uuid::Uuid;

const GROUP: usize = 250_000;
const COMMANDS: u64 = 32;
const SECOND: i64 = 1_000_000_000;
const HOUR_FRAMES: u64 = 36_000;

struct Writer {
    layout: Layout,
    index: SessionIndex,
    rows: Vec<EventRow>,
    next_offset: u64,
    written: u64,
}

impl Writer {
    fn push(&mut self, event: Event) {
        let body = schemas::arrow::encode_body(&event.body).unwrap();
        self.rows.push(EventRow { event, body });
    }

    fn flush(&mut self) {
        if self.rows.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.rows);
        let name = PartName {
            partition: 0,
            first: self.next_offset,
            last: self.next_offset + rows.len() as u64 - 1,
        };
        self.next_offset = name.last + 1;
        self.written += rows.len() as u64;
        let mut days: BTreeMap<chrono::NaiveDate, Vec<&EventRow>> = BTreeMap::new();
        for row in &rows {
            days.entry(row.event.time.to_datetime().date_naive())
                .or_default()
                .push(row);
        }
        let files = days
            .into_iter()
            .map(|(day, mut rows)| {
                rows.sort_by_key(|r| (r.event.session_id, r.event.seq));
                GroupFile {
                    table: Table::Events,
                    day,
                    batch: recorder::encode::events::batch(&rows).unwrap(),
                }
            })
            .collect();
        let encoding = Encoding {
            zstd_level: 3,
            row_group_rows: 128 * 1024,
        };
        write_group(&self.layout, name, files, encoding).unwrap();
        for row in &rows {
            self.index.observe(&row.event);
        }
        self.index.write_due(name).unwrap();
    }
}

fn generate(archive: &Path, events: u64, key: &SealingKey, now: i64) -> Uuid {
    let mut writer = Writer {
        layout: Layout::new(archive),
        index: SessionIndex::open(archive, Duration::from_secs(3600)).unwrap(),
        rows: Vec::new(),
        next_offset: 0,
        written: 0,
    };
    let per_session = 3 + 3 * COMMANDS + 1;
    let sessions = (events.saturating_sub(HOUR_FRAMES + 4) / per_session).max(1);
    let start = now - 7 * 86_400 * SECOND + 3_600 * SECOND;
    let span = 7 * 86_400 * SECOND - 4 * 3_600 * SECOND;
    let ssh_id = Uuid::now_v7();
    for i in 0..sessions {
        let t0 = start + (span / sessions as i64) * i as i64;
        let context = SessionContext {
            session_id: Uuid::now_v7(),
            actor: Actor {
                subject: format!("human-{:02}@example.com", i % 50),
                agents: vec![format!("agent-{:02}", i % 20)],
                groups: vec!["engineering".into()],
                issuer: "https://idp.example.com".into(),
                token_id: Some(format!("jti-{i}")),
            },
            target: Target {
                name: format!("db-{}", i % 10),
                protocol: Protocol::Postgres,
            },
            client_addr: Some("192.0.2.7:51234".into()),
        };
        let mut chain = ChainBuilder::new(context);
        let at = |s: i64| Timestamp::from_unix_nanos(t0 + s * SECOND / 10);
        writer.push(
            chain
                .next(
                    at(0),
                    EventBody::SessionStarted(SessionStarted {
                        application_name: Some("psql".into()),
                        tls: true,
                        parameters: BTreeMap::new(),
                    }),
                )
                .unwrap(),
        );
        writer.push(
            chain
                .next(
                    at(0),
                    EventBody::AuthenticationSucceeded(AuthenticationSucceeded {
                        method: AuthMethod::Password,
                    }),
                )
                .unwrap(),
        );
        for c in 0..COMMANDS {
            let n = i * COMMANDS + c;
            let table = ["public.orders", "public.customers", "public.payments"][(n % 3) as usize];
            let write = n.is_multiple_of(7);
            let text = if write {
                format!("UPDATE {table} SET status = 'done' WHERE id = {n}")
            } else {
                format!(
                    "SELECT id, email, plan FROM {table} WHERE org_id = {} ORDER BY id LIMIT 50",
                    n % 9_973
                )
            };
            let summary = CommandSummary {
                action: if write { "sql:update" } else { "sql:select" }.into(),
                reads: if write { vec![] } else { vec![table.into()] },
                writes: if write { vec![table.into()] } else { vec![] },
                functions: vec![],
                statements: 1,
            };
            let seq = chain.next_seq();
            let s = 1 + c as i64 * 3;
            writer.push(
                chain
                    .next(
                        at(s),
                        EventBody::CommandReceived(CommandReceived {
                            protocol: Protocol::Postgres,
                            text,
                            summary: Some(summary),
                            parameters: vec![],
                        }),
                    )
                    .unwrap(),
            );
            let verdict = if n.is_multiple_of(20) {
                Verdict::Block
            } else {
                Verdict::Allow
            };
            writer.push(
                chain
                    .next(
                        at(s),
                        EventBody::PolicyDecided(PolicyDecided {
                            command_seq: seq,
                            verdict,
                            policies: vec!["default".into()],
                            message: None,
                        }),
                    )
                    .unwrap(),
            );
            writer.push(
                chain
                    .next(
                        at(s + 1),
                        EventBody::ResultReturned(ResultReturned {
                            command_seq: seq,
                            command_tag: Some("SELECT 3".into()),
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
                            rows: (0..3)
                                .map(|r| vec![Some(format!("{}", n * 3 + r)), Some("***".into())])
                                .collect(),
                            row_count: 3,
                            truncated: false,
                            error: None,
                            duration_ns: 1_000_000 + n % 5_000_000,
                            masked: vec![schemas::body::MaskCount {
                                column: "email".into(),
                                masked_by: "detector:email".into(),
                                values: 3,
                            }],
                        }),
                    )
                    .unwrap(),
            );
        }
        let ended = SessionEnded {
            reason: EndReason::ClientClosed,
            counters: SessionCounters {
                commands: COMMANDS,
                blocked: 0,
                bytes_in: 4_000,
                bytes_out: 40_000,
            },
        };
        writer.push(chain.end(at(3 * COMMANDS as i64 + 2), ended, key).unwrap());
        if writer.rows.len() >= GROUP {
            writer.flush();
        }
    }
    // The one-hour SSH session.
    let t0 = now - 2 * 3_600 * SECOND;
    let mut chain = ChainBuilder::new(SessionContext {
        session_id: ssh_id,
        actor: Actor {
            subject: "ops@example.com".into(),
            agents: vec!["agent-00".into()],
            groups: vec![],
            issuer: "https://idp.example.com".into(),
            token_id: None,
        },
        target: Target {
            name: "web-1".into(),
            protocol: Protocol::Ssh,
        },
        client_addr: None,
    });
    let ts = |offset: u64| Timestamp::from_unix_nanos(t0 + offset as i64);
    writer.push(
        chain
            .next(
                ts(0),
                EventBody::SessionStarted(SessionStarted {
                    application_name: Some("OpenSSH".into()),
                    tls: true,
                    parameters: BTreeMap::new(),
                }),
            )
            .unwrap(),
    );
    writer.push(
        chain
            .next(
                ts(0),
                EventBody::TerminalResized(TerminalResized {
                    channel: 0,
                    cols: 120,
                    rows: 40,
                    offset_ns: 0,
                }),
            )
            .unwrap(),
    );
    for f in 0..HOUR_FRAMES {
        let offset = f * 100_000_000;
        let data = if f % 600 == 0 {
            b"\x1b[2J\x1b[H".to_vec()
        } else {
            format!("\x1b[1;3{}m{:>8}\x1b[0m tail -f /var/log/app.log | line {f} of the hour's output\r\n", f % 7, f).into_bytes()
        };
        writer.push(
            chain
                .next(
                    ts(offset),
                    EventBody::TerminalOutput(TerminalData {
                        channel: 0,
                        data,
                        offset_ns: offset,
                    }),
                )
                .unwrap(),
        );
    }
    let ended = SessionEnded {
        reason: EndReason::ClientClosed,
        counters: SessionCounters::default(),
    };
    writer.push(
        chain
            .end(ts(HOUR_FRAMES * 100_000_000), ended, key)
            .unwrap(),
    );
    writer.flush();
    println!(
        "generated {} events in {} sessions",
        writer.written,
        sessions + 1
    );
    ssh_id
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    println!("{what:<52} {:>9.3} s", took.as_secs_f64());
    (out, took)
}

fn main() {
    let events: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let key = SealingKey::from_seed(&[42; 32]);
    let keys = PublicKeys::from(&key);
    let temp = tempfile::tempdir().unwrap();
    let archive = std::env::var("BENCH_ARCHIVE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| temp.path().join("archive"));
    let now = Timestamp::now().unix_nanos();
    let id_file = archive.join("bench-ssh-session");
    let ssh = match std::fs::read_to_string(&id_file) {
        Ok(id) => id.trim().parse().unwrap(),
        Err(_) => {
            let (ssh, _) = timed("generate the archive", || {
                generate(&archive, events, &key, now)
            });
            std::fs::write(&id_file, ssh.to_string()).unwrap();
            ssh
        }
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let archive = query::Archive::new(&archive);
    runtime.block_on(async {
        let (rows, _) = timed_async("sessions --agent agent-07", async {
            let ctx = query::context::open(&archive).await.unwrap();
            let filter = query::forensics::SessionFilter {
                agent: Some("agent-07".into()),
                ..Default::default()
            };
            query::forensics::sessions(&ctx, &filter).await.unwrap()
        })
        .await;
        println!("  {} sessions", query::output::row_count(&rows));
        let (rows, _) = timed_async("who-touched db-3.public.orders --since 7d", async {
            let ctx = query::context::open(&archive).await.unwrap();
            let mut touch = query::forensics::Touch::parse("db-3.public.orders").unwrap();
            touch.since = Some(Timestamp::from_unix_nanos(now - 7 * 86_400 * SECOND));
            query::forensics::who_touched(&ctx, &touch).await.unwrap()
        })
        .await;
        println!("  {} statements", query::output::row_count(&rows));
        let (rows, _) = timed_async(
            "full scan: SELECT verdict, count(*) GROUP BY verdict",
            async {
                let ctx = query::context::open(&archive).await.unwrap();
                query::context::run(
                    &ctx,
                    "SELECT kind, verdict, count(*) FROM events GROUP BY kind, verdict",
                )
                .await
                .unwrap()
            },
        )
        .await;
        println!("  {} groups", query::output::row_count(&rows));
        let (rows, _) = timed_async("full scan: count(*) of commands per agent (view)", async {
            let ctx = query::context::open(&archive).await.unwrap();
            query::context::run(&ctx, "SELECT agent, count(*) FROM commands GROUP BY agent")
                .await
                .unwrap()
        })
        .await;
        println!("  {} groups", query::output::row_count(&rows));
    });
    let (report, took) = timed("verify (every chain, seq, seal, file)", || {
        query::verify::verify(&archive, &keys, None).unwrap()
    });
    assert!(report.is_clean(), "{:?}", report.findings.first());
    println!(
        "  {} events, {} sealed sessions: {:.0} events/s",
        report.events,
        report.sealed,
        report.events as f64 / took.as_secs_f64()
    );

    let (events, _) = runtime.block_on(timed_async("replay: load the one-hour session", async {
        let ctx = query::context::open(&archive).await.unwrap();
        query::replay::load_session(&ctx, &ssh.to_string())
            .await
            .unwrap()
    }));
    let recording = query::replay::terminal::Recording::from_events(&events);
    let (index, _) = timed("replay: build keyframes (every 5 s)", || {
        query::replay::screen::ScreenIndex::build(
            recording.clone(),
            query::replay::screen::KEYFRAME_EVERY,
        )
    });
    let mut worst = Duration::ZERO;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = Duration::from_millis(seed % 3_600_000);
        let start = Instant::now();
        let screen = index.at(at);
        worst = worst.max(start.elapsed());
        assert!(!screen.screen().contents().is_empty() || at.as_secs().is_multiple_of(60));
    }
    println!(
        "{:<52} {:>9.3} s  ({} keyframes)",
        "replay --at: worst of 20 random seeks",
        worst.as_secs_f64(),
        index.keyframes()
    );
    let (_, _) = timed(
        "replay --at without keyframes (from the start, at 59:59)",
        || query::replay::screen::screen_at(&recording, Duration::from_secs(3599)),
    );
}

async fn timed_async<T>(what: &str, f: impl std::future::Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let out = f.await;
    let took = start.elapsed();
    println!("{what:<52} {:>9.3} s", took.as_secs_f64());
    (out, took)
}
