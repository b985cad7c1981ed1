//! `blastwall token`: a token from blastwall's local issuer, for the quick start and tests.
//! Production tokens come from a real OIDC issuer, checked by the same code.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::Args;
use proxy::identity::{IssuerKeys, LocalIssuer, MintRequest, TrustedIssuer};

use super::ConfigArgs;

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The human the token is for (`sub`).
    #[arg(long, value_name = "SUBJECT")]
    sub: String,
    /// An agent acting for them (RFC 8693 `act`); repeat for a chain, outermost first.
    #[arg(long, value_name = "AGENT")]
    act: Vec<String>,
    /// A group of the subject; repeat for several.
    #[arg(long, value_name = "GROUP")]
    group: Vec<String>,
    /// How long the token is valid (e.g. 30m, 1h, 1d).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,
}

pub fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    let trusted = TrustedIssuer::try_from(config.identity.clone()).context("invalid [identity]")?;
    if !matches!(trusted.keys(), IssuerKeys::Local) {
        bail!(
            "[identity] trusts a remote issuer (jwks_url): get tokens from it, not from blastwall"
        );
    }
    let path = proxy::server::local_issuer_key(&config.data_dir);
    let issuer = LocalIssuer::open_or_create(&path)
        .with_context(|| format!("local issuer key {}", path.display()))?;
    let mut request = MintRequest::new(trusted.issuer(), trusted.audience(), args.sub, args.ttl);
    request.act = args.act;
    request.groups = args.group;
    request.issued_at = SystemTime::now();
    println!("{}", issuer.mint(&request)?);
    Ok(ExitCode::SUCCESS)
}
