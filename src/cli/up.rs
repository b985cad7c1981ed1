//! `blastwall up` and `blastwall proxy`: start blastwall's parts in one process. `proxy`
//! starts the event log, the sealing key and the proxy listeners; `up` adds the recorder
//! (unless `[recorder] enabled = false`) on the same opened log, and will add the web UI.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tokio::sync::watch;

use super::ConfigArgs;
use crate::keystore;

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Which parts a command starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parts {
    /// `blastwall up`: the proxy and the recorder.
    Everything,
    /// `blastwall proxy`: the proxy alone.
    Proxy,
}

pub async fn run(args: UpArgs, parts: Parts) -> anyhow::Result<ExitCode> {
    // Listen for SIGTERM and Ctrl-C before anything starts, so a stop at any moment is clean.
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
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
    let (stop, stopped) = watch::channel(false);
    let (key_state, key_id) = (keys.state(), keys.key().key_id().as_str().to_owned());
    let key = Arc::new(keys.into_key());
    let proxy = proxy::server::start(
        config.proxy_settings(),
        log.log(),
        Arc::clone(&key),
        stopped,
    )
    .await
    .context("cannot start the proxy")?;
    // The recorder stops after the proxy, so that it sees the proxy's last events.
    let (stop_recorder, recorder_stopped) = watch::channel(false);
    let recorder = match parts == Parts::Everything && config.recorder.enabled {
        true => {
            let settings = config.recorder.settings(&config.data_dir)?;
            let source: Arc<dyn recorder::EventSource> = Arc::new(log.log());
            let retention = settings.retention.clone().map(|retention| {
                let layout = recorder::archive::Layout::new(&settings.archive);
                let stopped = recorder_stopped.clone();
                recorder::retention::spawn(layout, retention, log.log(), key, stopped)
            });
            let running = recorder::start(settings.clone(), source, recorder_stopped)
                .await
                .context("cannot start the recorder")?;
            // Reports a failure when it happens, not only at shutdown.
            let task = tokio::spawn(async move {
                match running.wait().await {
                    Ok(status) => tracing::info!(events = status.events, "recorder stopped"),
                    Err(error) => tracing::error!(
                        %error,
                        "the recorder stopped; it resumes from the archive at the next start"
                    ),
                }
                if let Some(retention) = retention {
                    let _ = retention.await;
                }
            });
            Some((task, settings))
        }
        false => None,
    };

    println!("blastwall {} is up", env!("CARGO_PKG_VERSION"));
    println!("  data directory  {}", config.data_dir.display());
    println!("  event log       {}", log.describe());
    println!("  sealing key     {key_id} ({key_state})");
    println!(
        "  public keys     {} (`blastwall keys export` prints them)",
        public_keys.display()
    );
    println!("  postgres        {}", proxy.postgres);
    if let Some(ssh) = proxy.ssh {
        println!("  ssh             {ssh} (ssh -p PORT TARGET@HOST, the token as the password)");
    }
    println!("  policy          {}", proxy.policy);
    match proxy.targets.is_empty() {
        true => {
            println!("  targets         none yet: add [[targets]] (see blastwall.example.toml)")
        }
        false => println!("  targets         {}", proxy.targets.join(", ")),
    }
    if let Some(admin) = proxy.admin {
        println!("  admin           http://{admin} (JWKS at /.well-known/jwks.json)");
        println!("  approvals       http://{admin}/v1/approvals (`blastwall approvals list`)");
    }
    if let Some((_, settings)) = &recorder {
        println!(
            "  recorder        {} (Parquet, flushed every {})",
            settings.archive.display(),
            humantime::format_duration(settings.flush_interval)
        );
        if let Some(retention) = &settings.retention {
            println!(
                "  retention       days older than {} are removed (each an archive.pruned event)",
                humantime::format_duration(retention.max_age)
            );
        }
    }
    println!("press Ctrl-C to stop");

    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("stopping");
    let _ = stop.send(true);
    proxy.wait().await;
    let _ = stop_recorder.send(true);
    if let Some((task, _)) = recorder {
        let _ = task.await;
    }
    log.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
