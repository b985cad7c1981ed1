//! Decisions cached by everything they depend on, so that a statement sent again by the same
//! principal (a prepared statement executed in a loop) is decided by a lookup.
//!
//! The key is the pack's generation, the facts (by identity: the analyzer's cache hands out
//! one `Arc` per text, and an entry holds its `Arc`, so an address is never reused while it is
//! cached), the principal, the target, and — only when the pack reads them — the client
//! address and the hour. Facts resolved from session state, and packs that read
//! `context.time`, are not cached. Cedar is deterministic, so a hit is the decision a fresh
//! evaluation would give.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::policy::decision::{Decision, Request};
use crate::policy::facts::MessageFacts;

/// How many decisions are kept.
const CACHED_DECISIONS: usize = 8192;

/// What a decision depended on, besides the pack and the facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Varying {
    /// The client's address, when the pack reads it.
    pub client: Option<IpAddr>,
    /// Hours since the epoch, when the pack reads the hour or the weekday.
    pub hour: Option<u64>,
}

struct Entry {
    generation: u64,
    facts: Arc<MessageFacts>,
    subject: String,
    agents: Vec<String>,
    groups: Vec<String>,
    target: String,
    varying: Varying,
    decision: Decision,
}

/// The cache.
pub struct Verdicts {
    cache: Cache<u64, Arc<Entry>>,
}

impl Default for Verdicts {
    fn default() -> Self {
        Verdicts {
            cache: Cache::new(CACHED_DECISIONS),
        }
    }
}

impl Verdicts {
    /// The cached decision for this request, if any.
    pub fn get(
        &self,
        generation: u64,
        request: &Request<'_>,
        varying: Varying,
    ) -> Option<Decision> {
        let entry = self.cache.get(&key(generation, request, varying))?;
        let same = entry.generation == generation
            && Arc::ptr_eq(&entry.facts, request.facts)
            && entry.subject == request.subject
            && entry.agents == request.agents
            && entry.groups == request.groups
            && entry.target == request.target
            && entry.varying == varying;
        same.then(|| entry.decision.clone())
    }

    /// Keeps a decision.
    pub fn insert(
        &self,
        generation: u64,
        request: &Request<'_>,
        varying: Varying,
        decision: &Decision,
    ) {
        let entry = Entry {
            generation,
            facts: Arc::clone(request.facts),
            subject: request.subject.to_owned(),
            agents: request.agents.to_vec(),
            groups: request.groups.to_vec(),
            target: request.target.to_owned(),
            varying,
            decision: decision.clone(),
        };
        self.cache
            .insert(key(generation, request, varying), Arc::new(entry));
    }

    /// Forgets everything (a new pack is in force).
    pub fn clear(&self) {
        self.cache.clear();
    }
}

fn key(generation: u64, request: &Request<'_>, varying: Varying) -> u64 {
    let mut hasher = DefaultHasher::new();
    generation.hash(&mut hasher);
    (Arc::as_ptr(request.facts) as usize).hash(&mut hasher);
    request.subject.hash(&mut hasher);
    request.agents.hash(&mut hasher);
    request.groups.hash(&mut hasher);
    request.target.hash(&mut hasher);
    varying.client.hash(&mut hasher);
    varying.hour.hash(&mut hasher);
    hasher.finish()
}
