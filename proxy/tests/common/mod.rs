//! A real gateway for end-to-end tests: a throwaway PostgreSQL cluster, blastwall's proxy in
//! this process on port 0 with an embedded event log, tokens from its local issuer, the stock
//! psql client, and the events the session left in the log.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use eventlog::{EmbeddedLog, EmbeddedOptions, EmbeddedReader, Stream};
use proxy::config::{PostgresListenerConfig, SecretSource, TargetConfig};
use proxy::identity::{IdentityConfig, LocalIssuer, MintRequest};
use proxy::policy::{DenyRuleConfig, PolicyConfig};
use proxy::server::{ProxySettings, RunningProxy};
use schemas::{Event, PublicKeys, SealingKey};
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

/// The deny rule most tests use.
pub fn no_drop() -> PolicyConfig {
    PolicyConfig {
        deny: vec![DenyRuleConfig {
            id: "no-drop".into(),
            kinds: vec!["drop".into(), "truncate".into()],
            message: "dropping and truncating tables is not allowed here".into(),
        }],
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
            policy,
            admin: None,
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

    /// Every event in the log, by session, in seq order.
    pub async fn sessions(&self) -> BTreeMap<uuid::Uuid, Vec<Event>> {
        let reader = EmbeddedReader::open(self.data.path().join("log"), EmbeddedOptions::default());
        let consumer = format!("test-{}", uuid::Uuid::now_v7().simple());
        let mut sub = reader
            .subscribe(Stream::Events, &consumer)
            .expect("subscribe");
        let mut sessions: BTreeMap<uuid::Uuid, Vec<Event>> = BTreeMap::new();
        loop {
            let batch = sub
                .poll(10_000, Duration::from_millis(100))
                .await
                .expect("read log");
            if batch.is_empty() {
                break;
            }
            for entry in batch {
                let event: Event = serde_json::from_slice(&entry.value).expect("event json");
                sessions.entry(event.session_id).or_default().push(event);
            }
        }
        for events in sessions.values_mut() {
            events.sort_by_key(|e| e.seq);
        }
        sessions
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

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(running) = self.running.take() {
            running.wait().await;
        }
    }
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

pub fn data_dir(gateway: &Gateway) -> PathBuf {
    gateway.data.path().to_owned()
}
