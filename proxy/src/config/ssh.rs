//! `[ssh]`: the SSH listener, the hosts agents reach through it, and public keys bound to
//! identities.
//!
//! Read from the file as `SshListenerConfig` and checked once (`SshListenerConfig::resolve`)
//! into `SshSettings`: upstream private keys and passwords are read at start, host-key pins
//! are parsed, and nothing secret is kept in a form that `Debug` prints. The listener runs
//! only when the section is present; its host key lives in the data directory unless named.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytesize::ByteSize;
use eventlog::Durability;
use russh::keys::{PrivateKey, PublicKey};
use serde::Deserialize;

use super::target::{Secret, SecretSource, read_secret};

/// `[ssh]`: the SSH listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshListenerConfig {
    /// Address to listen on (default `127.0.0.1:2222`).
    #[serde(default = "default_ssh_listen")]
    pub listen: SocketAddr,
    /// The gateway's host key (OpenSSH format). Without it blastwall creates an Ed25519 key
    /// in the data directory (`keys/ssh-host-key`) and keeps using it.
    #[serde(default)]
    pub host_key: Option<PathBuf>,
    /// Output of a non-interactive exec recorded per channel; the rest is relayed, counted
    /// and not recorded. Terminals (a pty) are recorded whole; sftp is never recorded.
    #[serde(default = "default_exec_output_limit")]
    pub record_exec_output_limit: ByteSize,
    /// `[[ssh.keys]]`: public keys that log in as an identity, instead of a token.
    #[serde(default)]
    pub keys: Vec<SshKeyConfig>,
    /// `[[ssh.targets]]`: the hosts, selected by the SSH user name (`ssh web-1@gateway`).
    #[serde(default)]
    pub targets: Vec<SshTargetConfig>,
}

impl Default for SshListenerConfig {
    fn default() -> Self {
        SshListenerConfig {
            listen: default_ssh_listen(),
            host_key: None,
            record_exec_output_limit: default_exec_output_limit(),
            keys: Vec::new(),
            targets: Vec::new(),
        }
    }
}

/// `[[ssh.keys]]`: a client public key and the identity it logs in as.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshKeyConfig {
    /// The key as in `authorized_keys`: `ssh-ed25519 AAAA... comment`.
    pub public_key: String,
    /// The person or service responsible (a token's `sub`).
    pub subject: String,
    /// The agents acting for it, outermost first (a token's `act` chain).
    #[serde(default)]
    pub agents: Vec<String>,
    /// Its groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `[[ssh.targets]]`: one SSH host.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshTargetConfig {
    /// The name clients select it by: the SSH user name they log in with.
    pub name: String,
    /// Upstream `host:port`.
    pub address: String,
    /// The upstream user blastwall logs in as.
    pub user: String,
    /// The private key blastwall logs in with (OpenSSH format, unencrypted).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Or a password, from an environment variable or a file.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// The upstream host key, pinned by a known_hosts file...
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    /// ...or by its SHA-256 fingerprint, as `ssh-keygen -lf` prints it (`SHA256:...`).
    #[serde(default)]
    pub host_key_fingerprint: Option<String>,
    /// Environment variables a client may set (`SendEnv`); a trailing `*` matches a prefix.
    /// Others are dropped.
    #[serde(default)]
    pub env: Vec<String>,
    /// How durable a command's event must be before the command runs.
    #[serde(default)]
    pub durability: Durability,
    /// Run the masking detectors (`[masking]`) over recorded terminal output, so secrets a
    /// command prints (keys, tokens, card numbers) are masked in the events. The client still
    /// sees its terminal as it is.
    #[serde(default)]
    pub mask_output: bool,
}

/// The checked `[ssh]` section.
#[derive(Clone, Debug)]
pub struct SshSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The host key's path, if configured.
    pub host_key: Option<PathBuf>,
    /// Exec output recorded per channel.
    pub record_exec_output_limit: u64,
    /// Public keys bound to identities.
    pub keys: Vec<KeyBinding>,
    /// Hosts by name.
    pub targets: BTreeMap<String, SshTarget>,
}

/// A client key bound to an identity.
#[derive(Clone, Debug)]
pub struct KeyBinding {
    /// The key.
    pub key: PublicKey,
    /// Who logs in with it.
    pub subject: String,
    /// Agents acting.
    pub agents: Vec<String>,
    /// Groups.
    pub groups: Vec<String>,
}

/// A checked SSH host.
#[derive(Clone, Debug)]
pub struct SshTarget {
    /// The name clients select it by.
    pub name: String,
    /// Upstream host.
    pub host: String,
    /// Upstream port.
    pub port: u16,
    /// Upstream user.
    pub user: String,
    /// What blastwall logs in with.
    pub credential: UpstreamCredential,
    /// How the upstream host key is checked.
    pub pin: HostKeyPin,
    /// Environment variables passed on.
    pub env: Vec<String>,
    /// Durability of command events.
    pub durability: Durability,
    /// Whether recorded output goes through the masking detectors.
    pub mask_output: bool,
}

impl SshTarget {
    /// Whether a client may set environment variable `name` on this host.
    pub fn allows_env(&self, name: &str) -> bool {
        self.env
            .iter()
            .any(|allowed| match allowed.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => allowed == name,
            })
    }
}

/// blastwall's own credential for an upstream host.
#[derive(Clone)]
pub enum UpstreamCredential {
    /// A private key.
    Key(Arc<PrivateKey>),
    /// A password.
    Password(Secret),
}

impl std::fmt::Debug for UpstreamCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamCredential::Key(key) => write!(f, "Key({})", key.algorithm()),
            UpstreamCredential::Password(_) => f.write_str("Password(***)"),
        }
    }
}

/// How an upstream host key is trusted.
#[derive(Clone, Debug)]
pub enum HostKeyPin {
    /// Listed for the host in this known_hosts file.
    KnownHosts(PathBuf),
    /// Has this SHA-256 fingerprint (`SHA256:...`).
    Fingerprint(String),
}

impl SshListenerConfig {
    /// Checks the section and reads the upstream credentials.
    pub fn resolve(&self) -> Result<SshSettings, String> {
        let mut targets = BTreeMap::new();
        for config in &self.targets {
            let target = config.resolve()?;
            if targets.insert(target.name.clone(), target).is_some() {
                return Err(format!("two [[ssh.targets]] are named {}", config.name));
            }
        }
        let keys = self
            .keys
            .iter()
            .map(SshKeyConfig::resolve)
            .collect::<Result<_, _>>()?;
        Ok(SshSettings {
            listen: self.listen,
            host_key: self.host_key.clone(),
            record_exec_output_limit: self.record_exec_output_limit.as_u64(),
            keys,
            targets,
        })
    }
}

impl SshKeyConfig {
    fn resolve(&self) -> Result<KeyBinding, String> {
        let key = PublicKey::from_openssh(self.public_key.trim()).map_err(|e| {
            format!(
                "[[ssh.keys]] for {}: not an OpenSSH public key: {e}",
                self.subject
            )
        })?;
        if self.subject.is_empty() {
            return Err("[[ssh.keys]]: subject is empty".to_owned());
        }
        Ok(KeyBinding {
            key,
            subject: self.subject.clone(),
            agents: self.agents.clone(),
            groups: self.groups.clone(),
        })
    }
}

impl SshTargetConfig {
    fn resolve(&self) -> Result<SshTarget, String> {
        let name = &self.name;
        if name.is_empty() {
            return Err("an [[ssh.targets]] entry has an empty name".to_owned());
        }
        let (host, port) = self.address.rsplit_once(':').ok_or_else(|| {
            format!(
                "ssh target {name}: address {:?} is not host:port",
                self.address
            )
        })?;
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("ssh target {name}: bad port in {:?}", self.address))?;
        let credential = match (&self.key, &self.password) {
            (Some(path), None) => {
                let key = russh::keys::load_secret_key(path, None).map_err(|e| {
                    format!(
                        "ssh target {name}: cannot read private key {}: {e}",
                        path.display()
                    )
                })?;
                UpstreamCredential::Key(Arc::new(key))
            }
            (None, Some(source)) => UpstreamCredential::Password(read_secret(name, source)?),
            _ => {
                return Err(format!(
                    "ssh target {name}: set exactly one of key and password"
                ));
            }
        };
        let pin = match (&self.known_hosts, &self.host_key_fingerprint) {
            (Some(path), None) => HostKeyPin::KnownHosts(path.clone()),
            (None, Some(fingerprint)) if fingerprint.starts_with("SHA256:") => {
                HostKeyPin::Fingerprint(fingerprint.clone())
            }
            (None, Some(_)) => {
                return Err(format!(
                    "ssh target {name}: host_key_fingerprint must read SHA256:... (ssh-keygen -lf)"
                ));
            }
            _ => {
                return Err(format!(
                    "ssh target {name}: pin the host key: set exactly one of known_hosts and host_key_fingerprint"
                ));
            }
        };
        Ok(SshTarget {
            name: name.clone(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            user: self.user.clone(),
            credential,
            pin,
            env: self.env.clone(),
            durability: self.durability,
            mask_output: self.mask_output,
        })
    }
}

fn default_ssh_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 2222))
}

fn default_exec_output_limit() -> ByteSize {
    ByteSize::mib(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_allow_list_matches_names_and_prefixes() {
        let config: SshListenerConfig = toml::from_str(
            "[[targets]]\nname = \"web-1\"\naddress = \"127.0.0.1:22\"\nuser = \"deploy\"\n\
             password = { env = \"PATH\" }\nhost_key_fingerprint = \"SHA256:abc\"\n\
             env = [\"LANG\", \"LC_*\"]\n",
        )
        .unwrap();
        let settings = config.resolve().unwrap();
        let target = &settings.targets["web-1"];
        assert!(target.allows_env("LANG"));
        assert!(target.allows_env("LC_ALL"));
        assert!(!target.allows_env("LD_PRELOAD"));
        assert_eq!(settings.listen, default_ssh_listen());
    }

    #[test]
    fn a_target_without_a_pinned_host_key_is_refused() {
        let config: SshListenerConfig = toml::from_str(
            "[[targets]]\nname = \"web-1\"\naddress = \"127.0.0.1:22\"\nuser = \"deploy\"\n\
             password = { env = \"PATH\" }\n",
        )
        .unwrap();
        let error = config.resolve().unwrap_err();
        assert!(error.contains("pin the host key"), "{error}");
    }
}
