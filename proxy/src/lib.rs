//! The blastwall data path: who is acting, what is asked, what is decided, what is recorded.
//!
//! ```text
//! client ── listener (postgres) ── startup: TLS, target, token ─── identity ──▶ Principal
//!                                  session: every command ──────── policy ────▶ Decision
//!                                           held for approval ──── approvals ─▶ control stream
//!                                           every event ────────── audit ─────▶ eventlog
//!                                           upstream login ─────── config (targets, secrets)
//! ```
//!
//! # Layout
//!
//! - [`server`]: the entry point, [`server::start`], from settings to running listeners.
//! - [`config`]: the listener and target sections of the configuration.
//! - [`identity`]: tokens, JWKS, the local issuer, principals.
//! - [`policy`]: facts about a command in, a verdict out; pure.
//! - [`approvals`]: holding a command until approvers decide, the approvals API.
//! - [`audit`]: the only code that builds events and hands them to the log.
//! - [`postgres`]: the PostgreSQL wire-protocol gateway.
//! - [`ssh`]: the SSH gateway (exec, shells, sftp, scp, git).
//! - [`tls`]: certificates and connectors.

mod accept;
pub mod approvals;
pub mod audit;
pub mod config;
pub mod identity;
pub mod masking;
pub mod policy;
pub mod postgres;
pub mod server;
pub mod ssh;
pub mod tls;
