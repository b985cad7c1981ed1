//! The pack in force, and how it changes: [`PolicyStore`] holds the validated pack and swaps
//! in a new one only when it loads whole; [`PolicyStore::watch`] re-reads the directory every
//! interval (one second by default) and reloads when a file's content changed.
//!
//! Invariants: a pack that fails to load leaves the previous one in force (and is not retried
//! until its files change again); a statement is decided by one pack from start to end (the
//! engine takes an `Arc` of the current pack). Reload outcomes are logged with the files and
//! lines of each problem, never with statement text.
//!
//! Not here: what a pack is (`load`), deciding (`engine`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use cedar_policy::{ActionConstraint, PolicySet};
use tokio::sync::watch;

use super::inputs::Inputs;
use super::load::{self, LoadError, Pack, PolicyFile};
use super::request::{Uids, uid};
use crate::policy::facts::Action;

/// Where a pack comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackSource {
    /// The default pack built into blastwall.
    Builtin,
    /// The `*.cedar` files of a directory.
    Dir(PathBuf),
}

impl PackSource {
    /// The source's files as they are now.
    pub fn files(&self) -> Result<Vec<PolicyFile>, LoadError> {
        match self {
            PackSource::Builtin => Ok(super::pack::files()),
            PackSource::Dir(dir) => load::read_dir(dir),
        }
    }
}

/// A pack ready to decide with.
#[derive(Debug)]
pub struct Loaded {
    /// The pack.
    pub pack: Pack,
    /// For each action, the policies whose scope can match it.
    pub(crate) by_action: HashMap<Action, PolicySet>,
    /// The context attributes the pack reads.
    pub(crate) inputs: Inputs,
    /// Counts loads, so that verdicts of an older pack are never reused.
    pub generation: u64,
    /// The schema's entity types and actions, parsed.
    pub(crate) uids: Uids,
}

/// What a reload did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The files are as they were at the last attempt.
    Unchanged,
    /// A new pack is in force.
    Applied {
        /// How many policies it has.
        policies: usize,
    },
}

/// The pack in force.
#[derive(Debug)]
pub struct PolicyStore {
    source: PackSource,
    current: RwLock<Arc<Loaded>>,
    /// The files of the last load attempt, good or bad.
    attempted: Mutex<Vec<PolicyFile>>,
}

impl PolicyStore {
    /// Loads the pack from `source`; fails if it does not load whole.
    pub fn open(source: PackSource) -> Result<Self, LoadError> {
        let files = source.files()?;
        let loaded = prepare(load::load(&files)?, 1)?;
        Ok(PolicyStore {
            source,
            current: RwLock::new(Arc::new(loaded)),
            attempted: Mutex::new(files),
        })
    }

    /// Where the pack comes from.
    pub fn source(&self) -> &PackSource {
        &self.source
    }

    /// The pack in force.
    pub fn current(&self) -> Arc<Loaded> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the source and loads it if it changed since the last attempt. On error the
    /// pack in force stays.
    pub fn reload(&self) -> Result<Reloaded, LoadError> {
        let files = self.source.files()?;
        {
            let mut attempted = self.attempted.lock().unwrap_or_else(|p| p.into_inner());
            if *attempted == files {
                return Ok(Reloaded::Unchanged);
            }
            *attempted = files.clone();
        }
        let generation = self.current().generation + 1;
        let loaded = prepare(load::load(&files)?, generation)?;
        let policies = loaded.pack.info.len();
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        *current = Arc::new(loaded);
        Ok(Reloaded::Applied { policies })
    }

    /// Reloads every `interval` until `shutdown` turns true. A directory source only.
    pub async fn watch(self: Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            let store = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || store.reload()).await {
                Ok(Ok(Reloaded::Unchanged)) => {}
                Ok(Ok(Reloaded::Applied { policies })) => {
                    tracing::info!(policies, source = ?self.source, "policies reloaded");
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, source = ?self.source, "policies not reloaded; the previous ones stay in force");
                }
                Err(error) => tracing::error!(%error, "the policy reload task failed"),
            }
        }
    }
}

fn prepare(pack: Pack, generation: u64) -> Result<Loaded, LoadError> {
    let by_action = Action::ALL
        .into_iter()
        .map(|action| (action, for_action(&pack, action)))
        .collect();
    let inputs = Inputs::of(pack.set.policies());
    let uids = Uids::new().map_err(|e| LoadError::Schema(e.to_string()))?;
    Ok(Loaded {
        pack,
        by_action,
        inputs,
        generation,
        uids,
    })
}

/// The policies of `pack` whose action scope can match `action`.
fn for_action(pack: &Pack, action: Action) -> PolicySet {
    let Ok(wanted) = uid("Action", action.name()) else {
        return pack.set.clone();
    };
    let mut set = PolicySet::new();
    for policy in pack.set.policies() {
        let matches = match policy.action_constraint() {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(uid) => uid == wanted,
            ActionConstraint::In(uids) => uids.contains(&wanted),
        };
        if matches {
            // Ids are unique in the pack, so adding cannot fail.
            let _ = set.add(policy.clone());
        }
    }
    set
}
