//! `[policy]`: where the Cedar policies live and how SQL is read for them.
//!
//! ```toml
//! [policy]
//! dir = "policies"             # relative to data_dir; without it, the built-in default pack
//! search_path = ["public"]     # how unqualified table names resolve
//! dangerous_functions = ["pg_read_file", "lo_*", ...]   # replaces the default list
//! reload_interval = "1s"       # how often `dir` is checked for changes
//! ```
//!
//! [`PolicyConfig::open`] checks it, loads the pack and returns the [`CedarPolicy`]; a pack
//! that does not load whole refuses to start. Not here: reloading (`cedar::PolicyStore::watch`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::cedar::{CedarPolicy, LoadError, PackSource, PolicyStore};
use super::facts::{Analyzer, DangerousFunctions, Names};

/// The functions flagged dangerous unless the configuration says otherwise: server files,
/// large objects (server-side import and export), other databases, signalling backends,
/// reloading or rewriting configuration, and SQL run from a string (which facts cannot see).
/// `pg_sleep` is not on it: it touches no data, and `statement_timeout` bounds it.
pub const DEFAULT_DANGEROUS_FUNCTIONS: [&str; 24] = [
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "pg_ls_logdir",
    "pg_ls_waldir",
    "pg_ls_tmpdir",
    "pg_ls_archive_statusdir",
    "pg_file_write",
    "pg_file_rename",
    "pg_file_unlink",
    "pg_logdir_ls",
    "lo_*",
    "dblink*",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_promote",
    "set_config",
    "query_to_xml*",
    "table_to_xml*",
    "schema_to_xml*",
    "database_to_xml*",
];

/// `[policy]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The directory of Cedar policy files (`*.cedar`), relative to the data directory.
    /// Without it, the default pack built into blastwall (`examples/policies/`) applies.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// The schemas unqualified table names resolve through, as the upstream role's
    /// search_path has them. An unqualified name counts as a name in each of them.
    #[serde(default = "default_search_path")]
    pub search_path: Vec<String>,
    /// Functions flagged dangerous (`context.dangerous_functions`): exact names, or prefixes
    /// ending in `*`, matched against the unqualified name. Replaces the default list.
    #[serde(default = "default_dangerous_functions")]
    pub dangerous_functions: Vec<String>,
    /// How often `dir` is checked for changed files.
    #[serde(default = "default_reload_interval", with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            dir: None,
            search_path: default_search_path(),
            dangerous_functions: default_dangerous_functions(),
            reload_interval: default_reload_interval(),
        }
    }
}

/// Why the policy could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// `search_path` is empty or names an empty schema.
    #[error("[policy] search_path needs at least one schema, and no empty name")]
    SearchPath,
    /// A dangerous function pattern is empty.
    #[error("[policy] dangerous_functions has an empty name")]
    DangerousFunction,
    /// `reload_interval` is zero.
    #[error("[policy] reload_interval must be more than zero")]
    ReloadInterval,
    /// The pack did not load.
    #[error("policies from {from}: {error}")]
    Load {
        /// Where the pack came from.
        from: String,
        /// Why it did not load.
        error: LoadError,
    },
}

impl PolicyConfig {
    /// The pack's source, with `dir` resolved against `data_dir`.
    pub fn source(&self, data_dir: &Path) -> PackSource {
        match &self.dir {
            Some(dir) => PackSource::Dir(data_dir.join(dir)),
            None => PackSource::Builtin,
        }
    }

    /// The names facts are read with.
    pub fn names(&self) -> Result<Names, PolicyError> {
        if self.search_path.is_empty() || self.search_path.iter().any(|s| s.is_empty()) {
            return Err(PolicyError::SearchPath);
        }
        if self
            .dangerous_functions
            .iter()
            .any(|f| f.trim_end_matches('*').is_empty())
        {
            return Err(PolicyError::DangerousFunction);
        }
        let dangerous = DangerousFunctions::new(&self.dangerous_functions);
        Ok(Names::new(self.search_path.clone(), dangerous))
    }

    /// Checks the section and loads the pack.
    pub fn open(&self, data_dir: &Path) -> Result<CedarPolicy, PolicyError> {
        if self.reload_interval.is_zero() {
            return Err(PolicyError::ReloadInterval);
        }
        let names = self.names()?;
        let source = self.source(data_dir);
        let store = PolicyStore::open(source.clone()).map_err(|error| PolicyError::Load {
            from: describe(&source),
            error,
        })?;
        Ok(CedarPolicy::new(Analyzer::new(names), Arc::new(store)))
    }
}

/// A pack source for messages: a directory's path, or "the built-in default pack".
pub fn describe(source: &PackSource) -> String {
    match source {
        PackSource::Builtin => "the built-in default pack".to_owned(),
        PackSource::Dir(dir) => dir.display().to_string(),
    }
}

fn default_search_path() -> Vec<String> {
    vec!["public".to_owned()]
}

fn default_dangerous_functions() -> Vec<String> {
    DEFAULT_DANGEROUS_FUNCTIONS
        .iter()
        .map(|f| (*f).to_owned())
        .collect()
}

fn default_reload_interval() -> Duration {
    Duration::from_secs(1)
}
