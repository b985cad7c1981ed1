//! The command line: one module per subcommand, each turning its arguments into validated
//! settings and calling one entry point of a library.

mod approvals;
mod keys;
mod log;
mod policy;
mod query;
mod recorder;
mod replay;
mod sessions;
mod show;
mod token;
mod up;
mod verify;
mod who_touched;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

/// blastwall: a gateway between AI coding agents and production infrastructure.
///
/// It checks who is acting, understands what is asked at the protocol level, allows,
/// blocks or holds it for approval, masks sensitive values, and records every command,
/// verdict and result as tamper-evident events.
#[derive(Debug, Parser)]
#[command(name = "blastwall", version, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v debug, -vv trace). RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start every part of blastwall in one process, on the embedded defaults unless a
    /// configuration says otherwise.
    Up(up::UpArgs),
    /// Start the proxy listeners (and the event log they record to).
    Proxy(up::UpArgs),
    /// Print a token from blastwall's local issuer, to use as a password.
    Token(token::TokenArgs),
    /// Manage the keys that seal each session's hash chain.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Inspect the event log.
    #[command(subcommand)]
    Log(log::LogCommand),
    /// Check policies and try statements against them.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Archive the events stream as Parquet, exactly once, until stopped.
    Recorder(recorder::RecorderArgs),
    /// Decide statements held for approval (list, show, approve, deny).
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCommand),
    /// Run SQL over the archive (tables events, sessions; views commands, verdicts, ...).
    Query(query::QueryArgs),
    /// List sessions, filtered by human, agent, target, time and verdict.
    Sessions(sessions::SessionsArgs),
    /// Show one session's timeline: commands, verdicts, approvals, results.
    Show(show::ShowArgs),
    /// Which humans and agents read or wrote a target or table, with their statements.
    WhoTouched(who_touched::WhoTouchedArgs),
    /// Replay a session: terminal playback, SQL transcript, asciicast, or the screen at a moment.
    Replay(replay::ReplayArgs),
    /// Prove the archive complete and unmodified: chains, seq, seals, files (exit 1 on findings).
    Verify(verify::VerifyArgs),
}

/// Where the configuration and the data directory come from; shared by every subcommand.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The configuration file (TOML). Without it, blastwall runs on its embedded defaults.
    #[arg(short, long, env = "BLASTWALL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where blastwall keeps its state (event log, keys); overrides `data_dir` of the file.
    #[arg(long, env = "BLASTWALL_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    /// Loads the configuration, or the defaults, and applies the overrides.
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Up(args) => up::run(args, up::Parts::Everything).await,
        Command::Proxy(args) => up::run(args, up::Parts::Proxy).await,
        Command::Token(args) => token::run(args),
        Command::Keys(command) => keys::run(command),
        Command::Log(command) => log::run(command).await,
        Command::Policy(command) => policy::run(command).await,
        Command::Recorder(args) => recorder::run(args).await,
        Command::Approvals(command) => approvals::run(command).await,
        Command::Query(args) => query::run(args).await,
        Command::Sessions(args) => sessions::run(args).await,
        Command::Show(args) => show::run(args).await,
        Command::WhoTouched(args) => who_touched::run(args).await,
        Command::Replay(args) => replay::run(args).await,
        Command::Verify(args) => verify::run(args).await,
    }
}
