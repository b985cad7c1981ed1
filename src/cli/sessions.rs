//! `blastwall sessions`: the session list, filtered by who, where, when and what was decided.

use std::process::ExitCode;

use clap::Args;
use query::forensics::{SessionFilter, parse_when};
use schemas::Timestamp;

use super::query::{ArchiveArgs, OutputArgs};

#[derive(Debug, Args)]
#[command(after_help = "\
Times are a duration ago (24h, 7d), a day (2026-11-20) or an RFC 3339 time.

Examples:
  blastwall sessions --agent claude-code --since 24h
  blastwall sessions --target orders-db --verdict block --json")]
pub struct SessionsArgs {
    /// Only sessions of this human (the token subject).
    #[arg(long)]
    human: Option<String>,
    /// Only sessions where this agent acted (anywhere in the delegation chain).
    #[arg(long)]
    agent: Option<String>,
    /// Only sessions on this target.
    #[arg(long)]
    target: Option<String>,
    /// Only sessions started at or after this time.
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Only sessions started before this time.
    #[arg(long, value_name = "WHEN")]
    until: Option<String>,
    /// Only sessions with at least one verdict of this kind: allow, block, approval_required.
    #[arg(long, value_parser = ["allow", "block", "approval_required"])]
    verdict: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    archive: ArchiveArgs,
}

pub async fn run(args: SessionsArgs) -> anyhow::Result<ExitCode> {
    let now = Timestamp::now();
    let filter = SessionFilter {
        human: args.human,
        agent: args.agent,
        target: args.target,
        since: args
            .since
            .as_deref()
            .map(|t| parse_when(t, now))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| parse_when(t, now))
            .transpose()?,
        verdict: args.verdict,
    };
    let ctx = query::context::open(&args.archive.archive()?).await?;
    let rows = query::forensics::sessions(&ctx, &filter).await?;
    print!("{}", query::output::render(&rows, args.output.format())?);
    Ok(ExitCode::SUCCESS)
}
