//! `blastwall policy backtest DIR`: what a policy change would have done to the commands the
//! archive holds.
//!
//! The archive's decided commands stream by session and seq (`query::events`) into
//! `proxy::policy::backtest`, which decides each again with the candidate pack as the gateway
//! would have then (same identity, target, client, time, session state). Each changed verdict
//! is a row; a summary goes to stderr, so `--json` and `--csv` stay machine-readable. The exit
//! status says whether anything would change, for CI on a policy repository.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use proxy::policy::backtest::{Backtest, Change, Report, verdict};
use proxy::policy::cedar::PackSource;
use proxy::policy::decision::Decision;
use query::events::Selection;
use query::forensics::parse_when;
use schemas::Timestamp;
use schemas::body::Verdict;

use super::EXIT_ERROR;
use crate::cli::query::{ArchiveArgs, OutputArgs};

/// The events a backtest reads: commands, their verdicts, and approvals (a held command's
/// SQL-level PREPAREs count once it is approved).
const KINDS: &[&str] = &[
    "command.received",
    "policy.decided",
    "approval.requested",
    "approval.decided",
];

/// Commands longer than this are cut in the table (the JSON and CSV keep them whole).
const TEXT_IN_TABLE: usize = 80;

#[derive(Debug, Args)]
#[command(after_help = "\
Every command the archive recorded a verdict for is decided again with the policies in DIR, \
as the gateway would have decided it then: the same human, agents, groups, target, client \
address and time, and the session's prepared statements. The [policy] section of the \
configuration (search_path, dangerous_functions) applies. Commands whose recorded text the \
content detectors masked in a way that changes how they read are counted as unreadable.

Times are a duration ago (24h, 7d), a day (2026-11-20) or an RFC 3339 time.

Exit status:
  0   no verdict would change
  1   some verdicts would change (listed)
  3   the policies, the configuration or the archive could not be read

Examples:
  blastwall policy backtest ./policies --since 7d
  blastwall policy backtest ./policies --target orders-db --json")]
pub struct BacktestArgs {
    /// The candidate policy directory (*.cedar files).
    dir: PathBuf,
    /// Only commands recorded at or after this time.
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Only commands recorded before this time.
    #[arg(long, value_name = "WHEN")]
    until: Option<String>,
    /// Only commands on this target.
    #[arg(long)]
    target: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    archive: ArchiveArgs,
}

pub async fn run(args: BacktestArgs) -> ExitCode {
    match backtest(&args).await {
        Ok(report) if report.changes.is_empty() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

async fn backtest(args: &BacktestArgs) -> anyhow::Result<Report> {
    let config = args.archive.config.load()?;
    let policy = super::open(PackSource::Dir(args.dir.clone()), &config.policy)?;
    let now = Timestamp::now();
    let when = |text: &Option<String>| text.as_deref().map(|t| parse_when(t, now)).transpose();
    let selection = Selection {
        kinds: KINDS.to_vec(),
        target: args.target.clone(),
        since: when(&args.since)?,
        until: when(&args.until)?,
        session: None,
    };
    let ctx = query::context::open(&args.archive.archive()?).await?;

    let bar = progress();
    let mut backtest = Backtest::new(&policy);
    query::events::for_each(&ctx, &selection, |event| {
        backtest.push(event);
        bar.inc(1);
    })
    .await?;
    bar.finish_and_clear();
    let report = backtest.finish();

    let format = args.output.format();
    let rows: Vec<Vec<Option<String>>> = report
        .changes
        .iter()
        .map(|change| row(change, format == query::output::Format::Table))
        .collect();
    let batch = query::output::text_rows(COLUMNS, &rows)?;
    print!("{}", query::output::render(&[batch], format)?);
    eprintln!("{}", summary(&report));
    Ok(report)
}

/// On a terminal, how many events have been read; hidden otherwise.
fn progress() -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner().with_style(
        indicatif::ProgressStyle::with_template("{spinner} {human_pos} events read ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

const COLUMNS: &[&str] = &[
    "time",
    "session_id",
    "seq",
    "human",
    "agent",
    "target",
    "recorded",
    "now",
    "policy",
    "command",
];

fn row(change: &Change, cut: bool) -> Vec<Option<String>> {
    let text = match cut && change.text.chars().count() > TEXT_IN_TABLE {
        true => format!(
            "{}…",
            change.text.chars().take(TEXT_IN_TABLE).collect::<String>()
        ),
        false => change.text.clone(),
    };
    let deciding = match &change.now {
        Decision::Allow { policies } => policies.join(", "),
        Decision::Block { policy, .. } | Decision::RequireApproval { policy, .. } => policy.clone(),
    };
    vec![
        Some(change.time.to_string()),
        Some(change.session_id.to_string()),
        Some(change.seq.to_string()),
        Some(change.human.clone()),
        change.agent.clone(),
        Some(change.target.clone()),
        Some(change.recorded.to_string()),
        Some(verdict(&change.now).to_string()),
        Some(deciding),
        Some(text),
    ]
}

/// One line: how much was decided and how the verdicts would move.
fn summary(report: &Report) -> String {
    let mut line = format!(
        "{} commands in {} sessions decided again: {} verdicts would change",
        report.decided,
        report.sessions,
        report.changes.len()
    );
    let moves: Vec<String> = VERDICTS
        .iter()
        .flat_map(|from| VERDICTS.iter().map(move |to| (*from, *to)))
        .filter(|(from, to)| from != to)
        .filter_map(|(from, to)| {
            let n = report.count(from, to);
            (n > 0).then(|| format!("{n} {from} → {to}"))
        })
        .collect();
    if !moves.is_empty() {
        line.push_str(&format!(" ({})", moves.join(", ")));
    }
    if report.unreadable > 0 {
        line.push_str(&format!(
            "; {} unreadable (their recorded text was masked)",
            report.unreadable
        ));
    }
    if report.orphaned > 0 {
        line.push_str(&format!(
            "; {} verdicts of commands before --since skipped",
            report.orphaned
        ));
    }
    line
}

const VERDICTS: [Verdict; 3] = [Verdict::Allow, Verdict::Block, Verdict::ApprovalRequired];
