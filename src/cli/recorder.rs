//! `blastwall recorder`: archive the events stream as Parquet until stopped, on its own —
//! beside a `blastwall proxy` in another process (reading the embedded log without its writer
//! lock) or as a member of a Kafka consumer group. `blastwall up` runs the same recorder
//! in-process.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use eventlog::config::LogKind;
use eventlog::{EmbeddedReader, EventLog, KafkaLog};
use tokio::sync::watch;

use super::ConfigArgs;

#[derive(Debug, Args)]
pub struct RecorderArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

pub async fn run(args: RecorderArgs) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
    let config = args.config.load()?;
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
    println!("press Ctrl-C to stop");

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
    let status = result.context("the recorder failed")?;
    println!(
        "archived {} events ({} quarantined) in {} groups",
        status.events, status.quarantined, status.groups
    );
    Ok(ExitCode::SUCCESS)
}
