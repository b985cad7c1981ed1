//! Targets: the databases (and later hosts and clusters) blastwall reaches for agents.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use eventlog::Durability;
use serde::Deserialize;

/// `[[targets]]`: one upstream that agents reach by name.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The name clients select it by (the Postgres database name in the startup message).
    pub name: String,
    /// Upstream `host:port`.
    pub address: String,
    /// Upstream database name.
    pub database: String,
    /// Upstream user blastwall logs in as.
    pub user: String,
    /// Where the upstream password comes from; absent for trust authentication.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// TLS towards the upstream.
    #[serde(default)]
    pub tls: TargetTls,
    /// How durable a command's event must be before the command is forwarded.
    #[serde(default)]
    pub durability: Durability,
}

/// Where a secret is read from. The value itself never appears in the configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SecretSource {
    /// An environment variable of the blastwall process.
    Env(String),
    /// A file (e.g. a mounted secret); trailing newlines are removed.
    File(PathBuf),
}

/// `tls` of a target.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTls {
    /// `disable`, `require` (encrypt, no certificate check) or `verify-full` (the default
    /// for anything but loopback would be wise; the default here is `disable`).
    #[serde(default)]
    pub mode: UpstreamTls,
    /// PEM CA bundle used by `verify-full`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// How blastwall secures its connection to an upstream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamTls {
    /// Plain TCP.
    #[default]
    Disable,
    /// TLS without certificate verification.
    Require,
    /// TLS with the certificate checked against `ca_file` and the host name.
    VerifyFull,
}

/// A secret value: shown as `***` by Debug and Display, so it cannot end up in a log line.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that sends it upstream.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A checked target, its secret resolved.
#[derive(Clone, Debug)]
pub struct Target {
    /// The name clients select it by.
    pub name: String,
    /// Upstream `host:port`.
    pub address: String,
    /// Upstream host name (for TLS verification).
    pub host: String,
    /// Upstream database.
    pub database: String,
    /// Upstream user.
    pub user: String,
    /// Upstream password.
    pub password: Option<Secret>,
    /// TLS towards the upstream.
    pub tls: TargetTls,
    /// Durability of command events.
    pub durability: Durability,
}

impl TargetConfig {
    /// Checks the target and reads its secret.
    pub fn resolve(&self) -> Result<Target, String> {
        let name = &self.name;
        if name.is_empty() {
            return Err("a target has an empty name".to_owned());
        }
        let (host, port) = self
            .address
            .rsplit_once(':')
            .ok_or_else(|| format!("target {name}: address {:?} is not host:port", self.address))?;
        port.parse::<u16>()
            .map_err(|_| format!("target {name}: bad port in {:?}", self.address))?;
        if self.tls.mode == UpstreamTls::VerifyFull && self.tls.ca_file.is_none() {
            return Err(format!(
                "target {name}: tls.mode = \"verify-full\" needs tls.ca_file"
            ));
        }
        let password = self
            .password
            .as_ref()
            .map(|s| read_secret(name, s))
            .transpose()?;
        Ok(Target {
            name: name.clone(),
            address: self.address.clone(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            database: self.database.clone(),
            user: self.user.clone(),
            password,
            tls: self.tls.clone(),
            durability: self.durability,
        })
    }
}

impl SecretSource {
    /// Reads the secret; `owner` names what needs it (a target's name), for the error.
    pub fn read(&self, owner: &str) -> Result<Secret, String> {
        read_secret(owner, self)
    }
}

pub(crate) fn read_secret(target: &str, source: &SecretSource) -> Result<Secret, String> {
    let value = match source {
        SecretSource::Env(var) => std::env::var(var)
            .map_err(|_| format!("target {target}: environment variable {var} is not set"))?,
        SecretSource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| {
                format!(
                    "target {target}: cannot read secret file {}: {e}",
                    path.display()
                )
            })?
            .trim_end_matches(['\n', '\r'])
            .to_owned(),
    };
    Ok(Secret(value))
}

/// Targets by name, checked for duplicates.
pub fn resolve_all(configs: &[TargetConfig]) -> Result<BTreeMap<String, Target>, String> {
    let mut targets = BTreeMap::new();
    for config in configs {
        let target = config.resolve()?;
        if targets.insert(target.name.clone(), target).is_some() {
            return Err(format!("two targets are named {}", config.name));
        }
    }
    Ok(targets)
}
