//! `blastwall query "SQL"`: any SQL over the archive's tables and views, and the archive
//! arguments every forensic subcommand shares.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use query::output::Format;

use super::ConfigArgs;

/// Where the archive is: `--archive`, or the `[recorder]` section of the configuration.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub config: ConfigArgs,

    /// The archive directory (the recorder's `[recorder] dir`); overrides the configuration.
    #[arg(long, env = "BLASTWALL_ARCHIVE", value_name = "DIR")]
    pub archive: Option<PathBuf>,
}

impl ArchiveArgs {
    /// The archive to read. A directory that does not exist is an error rather than an empty
    /// answer: a mistyped path must not look like an agent that did nothing.
    pub fn archive(&self) -> anyhow::Result<query::Archive> {
        let (dir, origin) = match &self.archive {
            Some(dir) => (dir.clone(), "--archive"),
            None => {
                let config = self.config.load()?;
                let settings = config.recorder.settings(&config.data_dir)?;
                (settings.archive, "the configuration's [recorder] dir")
            }
        };
        anyhow::ensure!(
            dir.is_dir(),
            "no archive at {} ({origin}): the recorder writes it once it has archived events \
             (`blastwall up` or `blastwall recorder`)",
            dir.display()
        );
        Ok(query::Archive::new(dir))
    }
}

/// How rows are printed.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum OutputFormat {
    /// An aligned table.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// Output flags shared by the commands that print rows.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print CSV instead of a table.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

impl OutputArgs {
    pub fn format(&self) -> Format {
        match (self.csv, self.json) {
            (true, _) => Format::Csv,
            (_, true) => Format::Json,
            _ => Format::Table,
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = "\
Tables: events (one row per event; filter on `date` = 'YYYY-MM-DD' to read fewer days), \
sessions (one row per session). Views: commands, verdicts, approvals, results, terminal. \
json_text(body, '/pointer') and json_list(body, '/pointer') read an event's body.

Examples:
  blastwall query \"SELECT human, agent, count(*) FROM commands GROUP BY 1, 2\"
  blastwall query --csv \"SELECT * FROM verdicts WHERE verdict = 'block' AND date >= '2026-11-20'\"
  blastwall query \"DESCRIBE events\"")]
pub struct QueryArgs {
    /// The SQL to run (DataFusion's dialect).
    sql: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    archive: ArchiveArgs,
}

pub async fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let ctx = query::context::open(&args.archive.archive()?).await?;
    let rows = query::context::run(&ctx, &args.sql).await?;
    print!("{}", query::output::render(&rows, args.output.format())?);
    Ok(ExitCode::SUCCESS)
}
