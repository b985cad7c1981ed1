//! A real gateway for end-to-end tests: a throwaway PostgreSQL cluster, blastwall's proxy in
//! this process on port 0 with an embedded event log, tokens from its local issuer, the stock
//! clients (psql, pgbench, tokio-postgres; `raw` for what no stock client sends), and the
//! events the session left in the log, with helpers to pick commands and results out of them.

#![allow(dead_code)]

pub mod approvals;
pub mod raw;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use eventlog::{EmbeddedLog, EmbeddedOptions, EmbeddedReader, Stream};
use proxy::config::{PostgresListenerConfig, SecretSource, TargetConfig};
use proxy::identity::{IdentityConfig, LocalIssuer, MintRequest};
use proxy::policy::PolicyConfig;
use proxy::server::{ProxySettings, RunningProxy};
use schemas::body::{AuthFailureReason, CommandReceived, ResultReturned};
use schemas::{Event, EventBody, PublicKeys, SealingKey, verify_session};
use tokio::sync::watch;

pub const ISSUER: &str = "blastwall-test";
pub const AUDIENCE: &str = "blastwall";
pub const TARGET: &str = "app";

pub struct Gateway {
    pub cluster: testkit::postgres::Cluster,
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    pub keys: PublicKeys,
    issuer: LocalIssuer,
    stop: watch::Sender<bool>,
    running: Option<RunningProxy>,
    _log: Arc<EmbeddedLog>,
}

/// The policy most tests use: everything allowed, except dropping and truncating.
pub fn no_drop() -> PolicyConfig {
    policy_dir(
        "@id(\"allow\") permit (principal, action, resource);\n\
         @id(\"no-drop\") @message(\"dropping and truncating tables is not allowed here\")\n\
         forbid (principal, action, resource) when { context.kind == \"drop\" || context.kind == \"truncate\" };\n",
    )
}

/// A policy directory holding `policies` (Cedar), kept for the test process's life.
pub fn policy_dir(policies: &str) -> PolicyConfig {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    std::fs::write(dir.join("policies.cedar"), policies).expect("policy file");
    PolicyConfig {
        dir: Some(dir),
        ..PolicyConfig::default()
    }
}

impl Gateway {
    pub async fn start(policy: PolicyConfig) -> Gateway {
        Self::start_with(policy, |_| {}).await
    }

    pub async fn start_with(
        policy: PolicyConfig,
        adjust: impl FnOnce(&mut ProxySettings),
    ) -> Gateway {
        let cluster =
            testkit::postgres::Cluster::start().expect("a PostgreSQL cluster (run scripts/setup)");
        let data = tempfile::tempdir().expect("tempdir");
        let secret = data.path().join("upstream-password");
        std::fs::write(&secret, format!("{}\n", cluster.password())).expect("secret");
        let log = Arc::new(
            EmbeddedLog::open(data.path().join("log"), EmbeddedOptions::default()).expect("log"),
        );
        let key = SealingKey::generate();
        let keys = PublicKeys::from(&key);
        let mut settings = ProxySettings {
            identity: IdentityConfig::local(ISSUER, AUDIENCE),
            postgres: PostgresListenerConfig {
                listen: "127.0.0.1:0".parse().expect("addr"),
                ..PostgresListenerConfig::default()
            },
            targets: vec![TargetConfig {
                name: TARGET.into(),
                address: format!("127.0.0.1:{}", cluster.port()),
                database: "postgres".into(),
                user: cluster.superuser().into(),
                password: Some(SecretSource::File(secret)),
                tls: Default::default(),
                durability: Default::default(),
            }],
            ssh: None,
            policy,
            admin: None,
            approvals: Default::default(),
            masking: Default::default(),
            data_dir: data.path().to_owned(),
        };
        adjust(&mut settings);
        let (stop, stopped) = watch::channel(false);
        let running = proxy::server::start(settings, log.clone(), Arc::new(key), stopped)
            .await
            .expect("proxy starts");
        let issuer = LocalIssuer::open_or_create(&proxy::server::local_issuer_key(data.path()))
            .expect("issuer");
        Gateway {
            cluster,
            addr: running.postgres,
            data,
            keys,
            issuer,
            stop,
            running: Some(running),
            _log: log,
        }
    }

    /// A gateway that also takes tokens over plaintext from loopback, for drivers connecting
    /// with `NoTls` and for the raw protocol client.
    pub async fn start_plaintext(policy: PolicyConfig) -> Gateway {
        Self::start_with(policy, allow_plaintext).await
    }

    /// A token for dev@example.com acting through coding-agent, in group agents.
    pub fn token(&self) -> String {
        self.token_for(
            "dev@example.com",
            &["coding-agent"],
            &["agents"],
            Duration::from_secs(3600),
        )
    }

    pub fn token_for(&self, sub: &str, act: &[&str], groups: &[&str], ttl: Duration) -> String {
        let mut request = MintRequest::new(ISSUER, AUDIENCE, sub, ttl);
        request.act = act.iter().map(|s| s.to_string()).collect();
        request.groups = groups.iter().map(|s| s.to_string()).collect();
        request.issued_at = SystemTime::now();
        self.issuer.mint(&request).expect("mint")
    }

    /// A token minted after `adjust` changed the usual request (expired, another audience, ...).
    pub fn mint(&self, adjust: impl FnOnce(&mut MintRequest)) -> String {
        let mut request = MintRequest::new(ISSUER, AUDIENCE, "dev@example.com", HOUR);
        request.act = vec!["coding-agent".into()];
        request.groups = vec!["agents".into()];
        adjust(&mut request);
        self.issuer.mint(&request).expect("mint")
    }

    /// A program from the PostgreSQL installation the cluster runs from (psql, pgbench).
    pub fn program(&self, name: &str) -> PathBuf {
        self.cluster.bin_dir().join(name)
    }

    /// tokio-postgres settings for the gateway, without TLS (needs `start_plaintext`).
    pub fn tokio_config(&self, token: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.addr.port())
            .dbname(TARGET)
            .user("agent")
            .password(token)
            .ssl_mode(tokio_postgres::config::SslMode::Disable)
            .connect_timeout(Duration::from_secs(10));
        config
    }

    /// A tokio-postgres client through the gateway, its connection driven by a task.
    pub async fn connect(&self, token: &str) -> tokio_postgres::Client {
        let (client, connection) = self
            .tokio_config(token)
            .connect(tokio_postgres::NoTls)
            .await
            .expect("tokio-postgres connects through the gateway");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// Proves the gateway still serves a fresh session after whatever the test did.
    pub fn assert_serves_a_healthy_session(&self) {
        let out = self.psql(&self.token(), &["-c", "SELECT 'still serving'"]);
        assert!(out.ok, "a healthy session failed: {}", out.stderr);
        assert_eq!(out.stdout.trim(), "still serving");
    }

    /// A libpq connection string to the gateway.
    pub fn dsn(&self, sslmode: &str) -> String {
        format!(
            "host=127.0.0.1 port={} dbname={TARGET} user=agent sslmode={sslmode}",
            self.addr.port()
        )
    }

    /// Runs psql against the gateway with `args`, the token as PGPASSWORD.
    pub fn psql(&self, token: &str, args: &[&str]) -> Psql {
        self.psql_dsn(&self.dsn("require"), token, args)
    }

    pub fn psql_dsn(&self, dsn: &str, token: &str, args: &[&str]) -> Psql {
        let out = Command::new(self.cluster.bin_dir().join("psql"))
            .arg(dsn)
            .args(["-X", "-A", "-t", "-q"])
            .args(args)
            .env("PGPASSWORD", token)
            .env("PGCONNECT_TIMEOUT", "10")
            // A COPY ... FROM STDIN must see end-of-input, not wait on the test's terminal.
            .stdin(std::process::Stdio::null())
            .output()
            .expect("psql runs");
        Psql {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs SQL directly on the cluster, bypassing the gateway.
    pub fn direct(&self, sql: &str) -> String {
        self.cluster.psql("postgres", sql).expect("direct psql")
    }

    /// `direct` for async tests: runs SQL on the cluster without blocking the runtime.
    pub async fn direct_async(&self, sql: &str) -> String {
        let out = tokio::process::Command::new(self.program("psql"))
            .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql, "-d"])
            .arg(self.cluster.connection_string("postgres"))
            .env("PGCONNECT_TIMEOUT", "10")
            // A COPY ... FROM STDIN must see end-of-input, not wait on the test's terminal.
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("direct psql runs");
        assert!(
            out.status.success(),
            "direct psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Counts the cluster's active backends running exactly `sql`.
    pub async fn running(&self, sql: &str) -> usize {
        let check = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = '{}'",
            sql.replace('\'', "''")
        );
        self.direct_async(&check)
            .await
            .trim()
            .parse()
            .expect("a count")
    }

    /// Waits (up to 5 s) until the cluster shows `sql` running.
    pub async fn wait_until_running(&self, sql: &str) {
        for _ in 0..100 {
            if self.running(sql).await == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{sql} never started");
    }

    /// Every event in the log, by session, in seq order.
    pub async fn sessions(&self) -> BTreeMap<uuid::Uuid, Vec<Event>> {
        read_sessions(self.data.path()).await
    }

    /// Waits until `count` sessions have ended (their sealed last event is in the log).
    pub async fn ended_sessions(&self, count: usize) -> Vec<Vec<Event>> {
        for _ in 0..100 {
            let ended: Vec<Vec<Event>> = self
                .sessions()
                .await
                .into_values()
                .filter(|events| {
                    events
                        .last()
                        .is_some_and(|e| e.kind_name() == "session.ended")
                })
                .collect();
            if ended.len() >= count {
                return ended;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {count} sessions ended");
    }

    /// Waits until `count` sessions have ended and returns the one `pick` chooses.
    pub async fn ended_session(&self, count: usize, pick: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        self.ended_sessions(count)
            .await
            .into_iter()
            .find(|events| pick(events))
            .expect("an ended session of the kind asked for")
    }

    /// The one failed login recorded (a session of its own), checked to be sealed and whole.
    pub async fn failed_login(&self) -> (AuthFailureReason, String) {
        let events = self
            .ended_session(1, |events| kinds(events).contains(&"authentication.failed"))
            .await;
        assert_eq!(kinds(&events), ["authentication.failed", "session.ended"]);
        verify_session(&events, &self.keys).expect("a failed login's record verifies");
        match &events[0].body {
            EventBody::AuthenticationFailed(failed) => (failed.reason, failed.message.clone()),
            _ => unreachable!(),
        }
    }

    /// Where the admin listener (JWKS, the approvals API) listens, when started with one.
    pub fn admin(&self) -> Option<SocketAddr> {
        self.running.as_ref().and_then(|r| r.admin)
    }

    /// Every event on the control stream (approval requests, votes, grants), in order.
    pub async fn control_events(&self) -> Vec<schemas::control::ControlEvent> {
        read_control(self.data.path()).await
    }

    /// Stops the proxy and hands back the cluster and the data directory (with the log).
    pub async fn stop_keeping_data(mut self) -> (testkit::postgres::Cluster, tempfile::TempDir) {
        let _ = self.stop.send(true);
        if let Some(running) = self.running.take() {
            running.wait().await;
        }
        (self.cluster, self.data)
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(running) = self.running.take() {
            running.wait().await;
        }
    }
}

/// Every event in the embedded log under `data`, by session, in seq order.
pub async fn read_sessions(data: &std::path::Path) -> BTreeMap<uuid::Uuid, Vec<Event>> {
    let mut sessions: BTreeMap<uuid::Uuid, Vec<Event>> = BTreeMap::new();
    for value in read_stream(data, Stream::Events).await {
        let event: Event = serde_json::from_slice(&value).expect("event json");
        sessions.entry(event.session_id).or_default().push(event);
    }
    for events in sessions.values_mut() {
        events.sort_by_key(|e| e.seq);
    }
    sessions
}

/// Every event on the control stream of the embedded log under `data`, in order.
pub async fn read_control(data: &std::path::Path) -> Vec<schemas::control::ControlEvent> {
    read_stream(data, Stream::Control)
        .await
        .iter()
        .map(|value| serde_json::from_slice(value).expect("control event json"))
        .collect()
}

async fn read_stream(data: &std::path::Path, stream: Stream) -> Vec<bytes::Bytes> {
    let reader = EmbeddedReader::open(data.join("log"), EmbeddedOptions::default());
    let consumer = format!("test-{}", uuid::Uuid::now_v7().simple());
    let mut sub = reader.subscribe(stream, &consumer).expect("subscribe");
    let mut values = Vec::new();
    loop {
        let batch = sub
            .poll(10_000, Duration::from_millis(100))
            .await
            .expect("read log");
        if batch.is_empty() {
            break;
        }
        values.extend(batch.into_iter().map(|entry| entry.value));
    }
    values
}

pub struct Psql {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// The kinds of a session's events, in order.
pub fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind_name()).collect()
}

/// One hour, the usual token lifetime.
pub const HOUR: Duration = Duration::from_secs(3600);

/// Lets the gateway take tokens over plaintext from loopback.
pub fn allow_plaintext(settings: &mut ProxySettings) {
    settings.postgres.allow_plaintext_on_loopback = true;
}

/// Everything is allowed (pgbench drops and truncates its own tables).
pub fn allow_all() -> PolicyConfig {
    policy_dir("@id(\"allow-all\") permit (principal, action, resource);\n")
}

/// The session's `command.received` events with their seq.
pub fn commands(events: &[Event]) -> Vec<(u64, &CommandReceived)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::CommandReceived(c) => Some((e.seq, c)),
            _ => None,
        })
        .collect()
}

/// The session's `result.returned` events, in order.
pub fn results(events: &[Event]) -> Vec<&ResultReturned> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ResultReturned(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The results recorded for the command event `seq`.
pub fn results_of(events: &[Event], seq: u64) -> Vec<&ResultReturned> {
    results(events)
        .into_iter()
        .filter(|r| r.command_seq == seq)
        .collect()
}

/// The one result recorded for the command whose text is `text`.
pub fn result_for<'a>(events: &'a [Event], text: &str) -> &'a ResultReturned {
    let matching: Vec<u64> = commands(events)
        .into_iter()
        .filter(|(_, c)| c.text == text)
        .map(|(seq, _)| seq)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one command {text:?} in {:#?}",
        commands(events)
    );
    let results = results_of(events, matching[0]);
    assert_eq!(results.len(), 1, "one result for {text:?}");
    results[0]
}

/// The single-column rows of a result, as text.
pub fn column(result: &ResultReturned) -> Vec<String> {
    result
        .rows
        .iter()
        .map(|row| row[0].clone().unwrap_or_default())
        .collect()
}

/// Whether the session recorded a command with exactly this text.
pub fn has_command(events: &[Event], text: &str) -> bool {
    commands(events).iter().any(|(_, c)| c.text == text)
}

/// This process's peak resident set (VmHWM), in bytes: the proxy runs in-process.
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib * 1024
}

pub fn data_dir(gateway: &Gateway) -> PathBuf {
    gateway.data.path().to_owned()
}
