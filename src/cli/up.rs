//! `blastwall up` and `blastwall proxy`: start blastwall's parts in one process. Today `up`
//! and `proxy` start the same parts (event log, sealing key, proxy listeners); `up` will add
//! the recorder and the web UI as they are built.

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

pub async fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
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
    let proxy = proxy::server::start(config.proxy_settings(), log.log(), key, stopped)
        .await
        .context("cannot start the proxy")?;

    println!("blastwall {} is up", env!("CARGO_PKG_VERSION"));
    println!("  data directory  {}", config.data_dir.display());
    println!("  event log       {}", log.describe());
    println!("  sealing key     {key_id} ({key_state})");
    println!(
        "  public keys     {} (`blastwall keys export` prints them)",
        public_keys.display()
    );
    println!("  postgres        {}", proxy.postgres);
    match proxy.targets.is_empty() {
        true => {
            println!("  targets         none yet: add [[targets]] (see blastwall.example.toml)")
        }
        false => println!("  targets         {}", proxy.targets.join(", ")),
    }
    if let Some(admin) = proxy.admin {
        println!("  admin           http://{admin} (JWKS at /.well-known/jwks.json)");
    }
    println!("press Ctrl-C to stop");

    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("stopping");
    let _ = stop.send(true);
    proxy.wait().await;
    log.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
