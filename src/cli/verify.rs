//! `blastwall verify`: proves the archive complete and unmodified; exits 1 on any finding.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use query::forensics::parse_when;
use schemas::{PublicKeys, Timestamp};

use super::query::ArchiveArgs;
use crate::keystore;

#[derive(Debug, Args)]
#[command(after_help = "\
Recomputes every session's hash chain from the archive, checks that seq has no gaps and that \
each session.ended seal verifies against the trusted public keys, and that the archive's files \
cover every log offset exactly once. Every broken, missing or tampered session is listed with \
the exact event and file. Exit status: 0 clean, 1 findings, 2 the check itself failed.")]
pub struct VerifyArgs {
    /// Only check days from this one on (a duration ago like 7d, a day or an RFC 3339 time);
    /// sessions that began earlier are counted as not judged.
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// The trusted public keys (`blastwall keys export`); default: the data directory's.
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    #[command(flatten)]
    archive: ArchiveArgs,
}

pub async fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let keys: PublicKeys = match &args.keys {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            PublicKeys::from_json(&text)
                .with_context(|| format!("invalid public keys file {}", path.display()))?
        }
        None => {
            let config = args.archive.config.load()?;
            keystore::public_keys(&config.in_data_dir(&config.seal.public_keys))?
        }
    };
    let since = args
        .since
        .as_deref()
        .map(|t| parse_when(t, Timestamp::now()))
        .transpose()?
        .map(|t| t.to_datetime().date_naive());
    let archive = args.archive.archive()?;
    let started = std::time::Instant::now();
    let report = tokio::task::spawn_blocking(move || query::verify::verify(&archive, &keys, since))
        .await
        .context("the verifier stopped")??;
    let elapsed = started.elapsed();
    for finding in &report.findings {
        println!("FINDING {finding}");
    }
    println!(
        "{} events in {} files, {} sessions sealed, {} open, {} not judged, {} removed by retention: {} finding{} ({:.1}s)",
        report.events,
        report.files,
        report.sealed,
        report.open,
        report.not_judged,
        report.pruned,
        report.findings.len(),
        if report.findings.len() == 1 { "" } else { "s" },
        elapsed.as_secs_f64()
    );
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
