//! Policies as data: a pack of Cedar policies, validated against blastwall's schema, deciding
//! on the facts of each statement. [`CedarPolicy`] is the [`Policy`] the gateway uses.
//!
//! Each statement's accesses (an action on a table, or on the target) are Cedar requests:
//! principal `Agent` or `Human` (in its `Group`s), action `sql:…`, resource `Table` (in its
//! `Target`) or `Target`, context the statement's facts. A forbid blocks, a permit with
//! `@approval` holds, another permit allows, nothing blocks; the most restrictive verdict of a
//! message decides it (see `engine`). The pack reloads when its files change (see `store`).
//!
//! # Layout
//!
//! - `schema` (+ `blastwall.cedarschema`), `pack` (the built-in default pack).
//! - `load`: files → validated pack, problems with file and line; `store`: the pack in force.
//! - `request`: entities and context; `inputs`: what the pack reads; `engine`: verdicts;
//!   `verdicts`: the decision cache; `ssh`: the `ssh:*` actions.

mod engine;
mod inputs;
mod load;
mod pack;
mod request;
mod schema;
mod ssh;
mod store;
mod verdicts;

use std::sync::Arc;
use std::time::UNIX_EPOCH;

pub use engine::{AccessVerdict, DEFAULT_DENY, Evaluation, Verdict};
pub use load::{LoadError, Pack, PolicyFile, PolicyInfo, Problem, load, read_dir};
pub use pack::files as default_pack;
pub use schema::SCHEMA;
pub use store::{Loaded, PackSource, PolicyStore, Reloaded};

use super::decision::{Decision, Policy, Request};
use super::facts::{Analyzer, MessageFacts};
use super::ssh::SshFacts;
use verdicts::{Varying, Verdicts};

/// Decides with the pack in force in a [`PolicyStore`], on facts from an [`Analyzer`].
pub struct CedarPolicy {
    analyzer: Analyzer,
    store: Arc<PolicyStore>,
    verdicts: Verdicts,
}

impl CedarPolicy {
    /// A policy reading SQL with `analyzer` and deciding with `store`'s pack.
    pub fn new(analyzer: Analyzer, store: Arc<PolicyStore>) -> Self {
        CedarPolicy {
            analyzer,
            store,
            verdicts: Verdicts::default(),
        }
    }

    /// The pack in force, and where it comes from.
    pub fn store(&self) -> &Arc<PolicyStore> {
        &self.store
    }

    /// The analyzer.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Every access's verdict, not cached: what `blastwall policy test` prints.
    pub fn evaluate(&self, request: &Request<'_>) -> Evaluation {
        engine::evaluate(&self.store.current(), request)
    }

    /// Reloads the pack if its files changed; forgets cached decisions when it did.
    pub fn reload(&self) -> Result<Reloaded, LoadError> {
        let reloaded = self.store.reload()?;
        if reloaded != Reloaded::Unchanged {
            self.verdicts.clear();
        }
        Ok(reloaded)
    }
}

impl Policy for CedarPolicy {
    fn facts(&self, text: &str) -> Arc<MessageFacts> {
        self.analyzer.facts(text)
    }

    fn decide(&self, request: &Request<'_>) -> Decision {
        let loaded = self.store.current();
        let inputs = &loaded.inputs;
        let cacheable = !request.facts.from_session && !inputs.reads("time");
        let varying = Varying {
            client: request.client.filter(|_| inputs.reads("client_address")),
            hour: (inputs.reads("hour") || inputs.reads("weekday")).then(|| {
                request
                    .time
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() / 3600)
            }),
        };
        if cacheable && let Some(decision) = self.verdicts.get(loaded.generation, request, varying)
        {
            return decision;
        }
        let decision = engine::evaluate(&loaded, request).decision;
        if cacheable {
            self.verdicts
                .insert(loaded.generation, request, varying, &decision);
        }
        decision
    }

    fn decide_ssh(&self, request: &Request<'_>, ssh: &SshFacts) -> Decision {
        ssh::decide(&self.store.current(), request, ssh)
    }
}

impl std::fmt::Debug for CedarPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CedarPolicy")
            .field("source", self.store.source())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
