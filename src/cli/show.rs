//! `blastwall show SESSION`: one session's timeline.

use std::process::ExitCode;

use clap::Args;

use super::query::ArchiveArgs;

#[derive(Debug, Args)]
#[command(after_help = "\
Prints who, where and when, then one line per command, verdict, approval and result \
(terminal bytes are left to `blastwall replay`).")]
pub struct ShowArgs {
    /// The session id (a UUID, as `blastwall sessions` lists it).
    session: String,
    #[command(flatten)]
    archive: ArchiveArgs,
}

pub async fn run(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let ctx = query::context::open(&args.archive.archive()?).await?;
    let events = query::replay::load_session(&ctx, &args.session).await?;
    print!("{}", query::forensics::render_show(&events));
    Ok(ExitCode::SUCCESS)
}
