//! The configuration file: one TOML document whose sections belong to the libraries
//! (`[log]` to `eventlog`, …). This module only assembles them and resolves paths.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where blastwall keeps its state. Relative paths in the file are resolved against the
    /// file's directory.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The event log.
    #[serde(default)]
    pub log: eventlog::LogConfig,
    /// The keys that seal sessions.
    #[serde(default)]
    pub seal: SealConfig,
    /// Who may connect: the token issuer and audience.
    #[serde(default = "default_identity")]
    pub identity: proxy::identity::IdentityConfig,
    /// The Postgres listener.
    #[serde(default)]
    pub postgres: proxy::config::PostgresListenerConfig,
    /// The upstreams agents reach by name.
    #[serde(default)]
    pub targets: Vec<proxy::config::TargetConfig>,
    /// The SSH listener and its hosts; it runs only when the section is present.
    #[serde(default)]
    pub ssh: Option<proxy::config::SshListenerConfig>,
    /// What is allowed: the Cedar policy pack (`dir`, relative to the data directory; without
    /// it the built-in default pack) and how SQL is read for it.
    #[serde(default)]
    pub policy: proxy::policy::PolicyConfig,
    /// Masking of results, statement text and errors (`[masking]`, `[[masking.rules]]`).
    #[serde(default)]
    pub masking: proxy::masking::MaskingConfig,
    /// The admin HTTP listener (the local issuer's JWKS, health).
    #[serde(default = "default_admin")]
    pub admin: Option<proxy::server::AdminConfig>,
    /// Approvals: how long held statements wait, who may decide, the webhook to notify.
    #[serde(default)]
    pub approvals: proxy::approvals::ApprovalsConfig,
    /// The recorder: the Parquet archive of the events stream (`dir`, relative to the data
    /// directory), how often it is written, and whether `blastwall up` starts it.
    #[serde(default)]
    pub recorder: recorder::RecorderConfig,
}

/// `[seal]`: where the sealing key and the exported public keys live.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealConfig {
    /// The private sealing key, generated on first start. Relative to the data directory.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
    /// Every public key that ever sealed a session, for auditors. Relative to the data directory.
    #[serde(default = "default_public_keys")]
    pub public_keys: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            log: Default::default(),
            seal: Default::default(),
            identity: default_identity(),
            postgres: Default::default(),
            targets: Vec::new(),
            ssh: None,
            policy: Default::default(),
            masking: Default::default(),
            admin: default_admin(),
            approvals: Default::default(),
            recorder: Default::default(),
        }
    }
}

impl Default for SealConfig {
    fn default() -> Self {
        SealConfig {
            key_file: default_key_file(),
            public_keys: default_public_keys(),
        }
    }
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration {}", path.display()))?;
        let mut config: Config = toml::from_str(&text)
            .with_context(|| format!("invalid configuration {}", path.display()))?;
        if let Some(base) = path.parent() {
            config.data_dir = base.join(&config.data_dir);
        }
        Ok(config)
    }

    /// A path of the configuration, resolved against the data directory.
    pub fn in_data_dir(&self, path: &Path) -> PathBuf {
        self.data_dir.join(path)
    }

    /// The proxy's part, for `proxy::server::start`.
    pub fn proxy_settings(&self) -> proxy::server::ProxySettings {
        proxy::server::ProxySettings {
            identity: self.identity.clone(),
            postgres: self.postgres.clone(),
            targets: self.targets.clone(),
            ssh: self.ssh.clone(),
            policy: self.policy.clone(),
            admin: self.admin.clone(),
            approvals: self.approvals.clone(),
            masking: self.masking.clone(),
            data_dir: self.data_dir.clone(),
        }
    }
}

/// Without an `[identity]` section blastwall trusts its own local issuer (`blastwall token`).
fn default_identity() -> proxy::identity::IdentityConfig {
    proxy::identity::IdentityConfig::local("blastwall-local", "blastwall")
}

fn default_admin() -> Option<proxy::server::AdminConfig> {
    Some(proxy::server::AdminConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8089)),
    })
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

fn default_key_file() -> PathBuf {
    PathBuf::from("keys/sealing-key.json")
}

fn default_public_keys() -> PathBuf {
    PathBuf::from("keys/public-keys.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_configuration_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("blastwall.example.toml");
        let config = Config::from_file(&path).expect("example parses");
        assert_eq!(config.log.kind, eventlog::config::LogKind::Embedded);
        let ssh = config.ssh.expect("the example has an [ssh] section");
        assert_eq!(ssh.targets[0].name, "web-1");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[log]\nsegment_sise = \"1 MiB\"\n").expect("write");
        let err = format!("{:#}", Config::from_file(&path).expect_err("typo refused"));
        assert!(err.contains("segment_sise"), "{err}");
    }
}
