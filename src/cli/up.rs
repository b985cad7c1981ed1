//! `blastwall up`: every part in one process. Today that is the event log and the sealing
//! key; the listeners join as they are built.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::ConfigArgs;
use crate::keystore;

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

pub async fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let public_keys = config.in_data_dir(&config.seal.public_keys);
    let keys = keystore::open(&config.in_data_dir(&config.seal.key_file), &public_keys)?;
    let log = config
        .log
        .open(&config.data_dir)
        .await
        .context("cannot open the event log")?;

    let key_state = match &keys {
        keystore::Opened::Loaded(_) => "loaded",
        keystore::Opened::Generated(_) => "generated",
    };
    println!("blastwall {} is up", env!("CARGO_PKG_VERSION"));
    println!("  data directory  {}", config.data_dir.display());
    println!("  event log       {}", log.describe());
    println!(
        "  sealing key     {} ({key_state})",
        keys.key().key_id().as_str()
    );
    println!(
        "  public keys     {} (`blastwall keys export` prints them)",
        public_keys.display()
    );
    println!("press Ctrl-C to stop");

    shutdown_signal().await?;
    tracing::info!("stopping");
    if let eventlog::OpenedLog::Kafka(spooled) = log {
        spooled.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
