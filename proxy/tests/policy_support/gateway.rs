//! The shared test gateway (`common::Gateway`) as the policy tests use it: the corpus's tables,
//! tokens for the corpus's principals, one simple-protocol Query per psql run, the server log.

#![allow(dead_code)]

use std::time::Duration;

use proxy::policy::PolicyConfig;

pub use crate::common::Psql;
use crate::common::{Gateway, allow_plaintext};

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

/// A gateway taking tokens over plaintext from loopback (tokio-postgres connects with NoTls).
pub struct PolicyGateway {
    gateway: Gateway,
}

impl PolicyGateway {
    pub async fn start(policy: PolicyConfig) -> PolicyGateway {
        PolicyGateway {
            // Nobody approves here: a held statement expires at once, refused like a block.
            gateway: Gateway::start_with(policy, |settings| {
                allow_plaintext(settings);
                settings.approvals.default_expiry = Duration::from_millis(200);
            })
            .await,
        }
    }

    pub fn token(&self, subject: &str, agents: &[String], groups: &[String]) -> String {
        let agents: Vec<&str> = agents.iter().map(String::as_str).collect();
        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
        self.gateway
            .token_for(subject, &agents, &groups, Duration::from_secs(3600))
    }

    /// Runs `sql` directly on the cluster (not through blastwall).
    pub fn direct(&self, sql: &str) -> String {
        self.gateway.direct(sql)
    }

    /// Sends `sql` through the gateway as one simple-protocol Query, with psql.
    pub fn psql(&self, token: &str, sql: &str) -> Psql {
        self.gateway.psql(token, &["-c", sql])
    }

    /// A tokio-postgres client through the gateway (plaintext on loopback).
    pub async fn connect(&self, token: &str) -> tokio_postgres::Client {
        self.gateway.connect(token).await
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

    pub async fn stop(self) {
        self.gateway.stop().await;
    }
}
