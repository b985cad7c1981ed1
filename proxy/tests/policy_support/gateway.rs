//! A gateway for the policy tests: a throwaway PostgreSQL cluster with the corpus's tables and
//! `log_statement = 'all'`, blastwall's proxy in this process with a given `[policy]`, tokens
//! from its local issuer, psql for the simple protocol and tokio-postgres for the extended one.
//! (Self-contained, so that the policy tests do not depend on the shared harness's policy
//! helpers.)

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use eventlog::{EmbeddedLog, EmbeddedOptions};
use proxy::config::{PostgresListenerConfig, SecretSource, TargetConfig};
use proxy::identity::{IdentityConfig, LocalIssuer, MintRequest};
use proxy::policy::PolicyConfig;
use proxy::server::{ProxySettings, RunningProxy};
use schemas::SealingKey;
use tokio::sync::watch;

const ISSUER: &str = "blastwall-policy-test";
const AUDIENCE: &str = "blastwall";
pub const TARGET: &str = "app";

/// The tables the corpus names, with a little data.
pub const SCHEMA: &str = "
CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric);
CREATE TABLE orders (id int, account_id int, total numeric, created date DEFAULT now());
CREATE TABLE customers (id int, name text, email text);
CREATE TABLE secrets (id int, value text);
CREATE TABLE \"Accounts\" (id int);
CREATE SCHEMA audit;
CREATE TABLE audit.events (id serial, what text);
INSERT INTO accounts SELECT i, 'owner ' || i, i * 10 FROM generate_series(1, 20) i;
INSERT INTO orders SELECT i, 1 + i % 20, i * 3 FROM generate_series(1, 60) i;
INSERT INTO customers SELECT i, 'customer ' || i, 'c' || i || '@example.com' FROM generate_series(1, 20) i;
INSERT INTO secrets VALUES (1, 'the launch codes');
";

pub struct PolicyGateway {
    pub cluster: testkit::postgres::Cluster,
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    issuer: LocalIssuer,
    stop: watch::Sender<bool>,
    running: Option<RunningProxy>,
    _log: Arc<EmbeddedLog>,
}

/// The output of one psql run.
pub struct Psql {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl PolicyGateway {
    pub async fn start(policy: PolicyConfig) -> PolicyGateway {
        let cluster =
            testkit::postgres::Cluster::start().expect("a PostgreSQL cluster (run scripts/setup)");
        let data = tempfile::tempdir().expect("tempdir");
        let secret = data.path().join("upstream-password");
        std::fs::write(&secret, format!("{}\n", cluster.password())).expect("secret");
        let log = Arc::new(
            EmbeddedLog::open(data.path().join("log"), EmbeddedOptions::default()).expect("log"),
        );
        let settings = ProxySettings {
            identity: IdentityConfig::local(ISSUER, AUDIENCE),
            postgres: PostgresListenerConfig {
                listen: "127.0.0.1:0".parse().expect("addr"),
                allow_plaintext_on_loopback: true,
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
        let (stop, stopped) = watch::channel(false);
        let running = proxy::server::start(
            settings,
            log.clone(),
            Arc::new(SealingKey::generate()),
            stopped,
        )
        .await
        .expect("proxy starts");
        let issuer = LocalIssuer::open_or_create(&proxy::server::local_issuer_key(data.path()))
            .expect("issuer");
        PolicyGateway {
            cluster,
            addr: running.postgres,
            data,
            issuer,
            stop,
            running: Some(running),
            _log: log,
        }
    }

    pub fn token(&self, subject: &str, agents: &[String], groups: &[String]) -> String {
        let mut request = MintRequest::new(ISSUER, AUDIENCE, subject, Duration::from_secs(3600));
        request.act = agents.to_vec();
        request.groups = groups.to_vec();
        request.issued_at = SystemTime::now();
        self.issuer.mint(&request).expect("mint")
    }

    /// Runs `sql` directly on the cluster (not through blastwall).
    pub fn direct(&self, sql: &str) -> String {
        self.cluster.psql("postgres", sql).expect("direct psql")
    }

    /// Sends `sql` through the gateway as one simple-protocol Query, with psql.
    pub fn psql(&self, token: &str, sql: &str) -> Psql {
        let dsn = format!(
            "host=127.0.0.1 port={} dbname={TARGET} user=agent sslmode=require",
            self.addr.port()
        );
        let out = Command::new(self.cluster.bin_dir().join("psql"))
            .arg(dsn)
            .args(["-X", "-A", "-t", "-q", "-c", sql])
            .env("PGPASSWORD", token)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()
            .expect("psql runs");
        Psql {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A tokio-postgres client through the gateway (plaintext on loopback).
    pub async fn connect(&self, token: &str) -> tokio_postgres::Client {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.addr.port())
            .dbname(TARGET)
            .user("agent")
            .password(token)
            .ssl_mode(tokio_postgres::config::SslMode::Disable)
            .connect_timeout(Duration::from_secs(10));
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("tokio-postgres connects through the gateway");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// The server's log (stderr of `pg_ctl -l`), next to the data directory of testkit's
    /// cluster layout.
    pub fn server_log(&self) -> String {
        let data_dir = self.direct("SHOW data_directory");
        let path = std::path::Path::new(data_dir.trim())
            .parent()
            .expect("the data directory has a parent")
            .join("postgres.log");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the server log {}: {e}", path.display()))
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(running) = self.running.take() {
            running.wait().await;
        }
    }
}
