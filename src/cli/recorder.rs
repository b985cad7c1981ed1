//! `blastwall recorder`: archive the events stream as Parquet until stopped, on its own —
//! beside a `blastwall proxy` in another process (reading the embedded log without its writer
//! lock) or as a member of a Kafka consumer group. `blastwall up` runs the same recorder
//! in-process. `blastwall recorder compact` merges the archive's small files once, now.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use eventlog::config::LogKind;
use eventlog::{EmbeddedReader, EventLog, KafkaLog};
use tokio::sync::watch;

use super::ConfigArgs;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RecorderArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Merge each day's small files into large ones now, with a progress bar. Safe beside a
    /// running recorder and running queries: merged-away files stay for the grace period.
    Compact(CompactArgs),
}

#[derive(Debug, Args)]
struct CompactArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// How long merged-away files stay for queries that listed them before
    /// (default: [recorder.compaction] grace).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    grace: Option<std::time::Duration>,
    /// A merged file grows up to about this size, e.g. "128 MiB"
    /// (default: [recorder.compaction] target_size).
    #[arg(long, value_name = "SIZE")]
    target_size: Option<bytesize::ByteSize>,
}

pub async fn run(args: RecorderArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        Some(Action::Compact(compact)) => run_compact(compact).await,
        None => run_recorder(args.config).await,
    }
}

async fn run_compact(args: CompactArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    let settings = config.recorder.settings(&config.data_dir)?;
    let mut compaction = settings.compaction.clone().unwrap_or_default();
    if let Some(grace) = args.grace {
        compaction.grace = grace;
    }
    if let Some(size) = args.target_size {
        anyhow::ensure!(size.as_u64() > 0, "--target-size must be more than zero");
        compaction.target_size = size.as_u64();
    }
    let layout = ::recorder::archive::Layout::new(&settings.archive);
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} merging [{bar:30}] {human_pos}/{human_len} rows, {msg} ({eta} left)",
        )
        .context("the progress bar's template")?
        .progress_chars("=> "),
    );
    let report = tokio::task::spawn_blocking({
        let bar = bar.clone();
        move || {
            ::recorder::compaction::compact(&layout, settings.encoding, &compaction, &mut |p| {
                bar.set_length(p.rows_total);
                bar.set_position(p.rows_done);
                bar.set_message(format!("{} of {} files", p.merges_done, p.merges_total));
            })
        }
    })
    .await
    .context("the compaction task failed")?
    .with_context(|| format!("cannot compact {}", settings.archive.display()))?;
    bar.finish_and_clear();
    for merged in &report.merged {
        println!(
            "{}  {}  {} files -> 1 ({})",
            merged.day,
            merged.name,
            merged.inputs,
            bytesize::ByteSize::b(merged.bytes)
        );
    }
    println!(
        "merged {} runs of files; removed {} files merged away earlier",
        report.merged.len(),
        report.removed.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn run_recorder(config: ConfigArgs) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
    let config = config.load()?;
    let settings = config.recorder.settings(&config.data_dir)?;
    let (source, described): (Arc<dyn ::recorder::EventSource>, String) = match config.log.kind {
        LogKind::Embedded => {
            let dir = config.data_dir.join(&config.log.dir);
            let reader = EmbeddedReader::open(&dir, config.log.embedded_options()?);
            (
                Arc::new(reader),
                format!("embedded log at {}", dir.display()),
            )
        }
        LogKind::Kafka => {
            let kafka = config
                .log
                .kafka
                .clone()
                .context("log.kind is \"kafka\" but [log.kafka] is missing")?;
            let brokers = kafka.brokers.join(",");
            let log: Arc<dyn EventLog> = Arc::new(
                KafkaLog::connect(kafka)
                    .await
                    .context("cannot connect to Kafka")?,
            );
            (Arc::new(log), format!("Kafka at {brokers}"))
        }
    };
    let (stop, stopped) = watch::channel(false);
    let running = ::recorder::start(settings.clone(), source, stopped)
        .await
        .context("cannot start the recorder")?;
    let survey = running.survey();
    println!("blastwall recorder {} is up", env!("CARGO_PKG_VERSION"));
    println!("  reading         {described} as {}", settings.consumer);
    println!("  archive         {}", settings.archive.display());
    println!(
        "  archived        {} records; flushing every {}",
        survey.archived_records(),
        humantime::format_duration(settings.flush_interval)
    );
    if !survey.damaged.is_empty() || !survey.gaps.is_empty() {
        println!(
            "  repairing       {} damaged groups, {} missing ranges (see the log)",
            survey.damaged.len(),
            survey.gaps.len()
        );
    }
    if settings.retention.is_some() {
        println!(
            "  retention       runs in `blastwall up`, where each removal is recorded in the log first"
        );
    }
    println!("press Ctrl-C to stop");
    let progress_bar = indicatif::ProgressBar::new_spinner();
    let progress = show_progress(running.status(), progress_bar.clone());

    let wait = running.wait();
    tokio::pin!(wait);
    let result = tokio::select! {
        _ = interrupt.recv() => None,
        _ = terminate.recv() => None,
        result = &mut wait => Some(result),
    };
    let result = match result {
        Some(result) => result,
        None => {
            tracing::info!("stopping");
            let _ = stop.send(true);
            wait.await
        }
    };
    progress.abort();
    progress_bar.finish_and_clear();
    let status = result.context("the recorder failed")?;
    println!(
        "archived {} events ({} quarantined) in {} groups",
        status.events, status.quarantined, status.groups
    );
    Ok(ExitCode::SUCCESS)
}

/// On a terminal, a live line of what the recorder has archived and how fast: a backfill of a
/// long log shows its pace. Hidden when stderr is not a terminal.
fn show_progress(
    mut status: watch::Receiver<::recorder::Status>,
    bar: indicatif::ProgressBar,
) -> tokio::task::JoinHandle<()> {
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        while status.changed().await.is_ok() {
            let now = status.borrow_and_update().clone();
            let rate = now.events as f64 / started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{:?}: {} events archived ({rate:.0}/s), {} files, {}",
                now.phase,
                now.events,
                now.groups,
                bytesize::ByteSize::b(now.bytes)
            ));
            bar.tick();
        }
    })
}
