//! Test support for blastwall: the real services its end-to-end tests run against,
//! started on loopback and torn down when the handle is dropped.
//!
//! Used only as a dev-dependency. Tests that need a service sit behind each crate's
//! `e2e` feature, which `scripts/test` turns on; there a missing service makes
//! `start()` return an error and the test fail, never skip. Nothing here knows
//! about blastwall's own types: events, policies and sessions live in their crates.
//!
//! # Layout
//!
//! - [`kafka`]: the run's shared broker ([`kafka::shared_brokers`]) and private
//!   brokers that a test may stop and restart ([`kafka::Broker`]), via `scripts/kafka`.
//! - [`postgres`]: throwaway PostgreSQL clusters ([`postgres::Cluster`]) from the
//!   machine's server binaries, `initdb` into a temp dir.
//! - [`ssh`]: throwaway OpenSSH servers ([`ssh::Sshd`]) on loopback, logins by key.
//! - [`net`]: free loopback ports.
//!
//! # Example
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! let pg = testkit::postgres::Cluster::start()?;
//! assert_eq!(pg.psql("postgres", "select 1")?.trim(), "1");
//! let brokers = testkit::kafka::shared_brokers()?; // "127.0.0.1:PORT"
//! # let _ = brokers;
//! # Ok(())
//! # }
//! ```

pub mod kafka;
pub mod net;
pub mod postgres;
pub mod ssh;

mod process;
