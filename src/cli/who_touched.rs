//! `blastwall who-touched TARGET[.SCHEMA.TABLE]`: which humans and agents read or wrote it.

use std::process::ExitCode;

use clap::Args;
use query::forensics::{Touch, parse_when};
use schemas::Timestamp;

use super::query::{ArchiveArgs, OutputArgs};

#[derive(Debug, Args)]
#[command(after_help = "\
A table is matched as the SQL parser recorded it: `public.orders` and `orders` are the same.

Examples:
  blastwall who-touched orders-db.public.orders --since 7d
  blastwall who-touched orders-db.orders --writes --csv
  blastwall who-touched orders-db --since 24h")]
pub struct WhoTouchedArgs {
    /// The target, optionally with a table: TARGET, TARGET.TABLE or TARGET.SCHEMA.TABLE.
    #[arg(value_name = "TARGET[.SCHEMA.TABLE]")]
    spec: String,
    /// Only statements at or after this time (a duration ago like 7d, a day or an RFC 3339 time).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Only statements that wrote it (insert, update, delete, DDL).
    #[arg(long)]
    writes: bool,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    archive: ArchiveArgs,
}

pub async fn run(args: WhoTouchedArgs) -> anyhow::Result<ExitCode> {
    let mut touch = Touch::parse(&args.spec)?;
    touch.since = args
        .since
        .as_deref()
        .map(|t| parse_when(t, Timestamp::now()))
        .transpose()?;
    touch.writes_only = args.writes;
    let ctx = query::context::open(&args.archive.archive()?).await?;
    let rows = query::forensics::who_touched(&ctx, &touch).await?;
    print!("{}", query::output::render(&rows, args.output.format())?);
    Ok(ExitCode::SUCCESS)
}
