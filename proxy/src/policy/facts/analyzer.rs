//! The [`Analyzer`]: a message's text in, its [`MessageFacts`] out, cached by text so that a
//! statement prepared once (or sent again with the same text) is parsed once.
//!
//! The policy engine owns one, configured with the search path and the dangerous functions;
//! the gateway reaches it through `Policy::facts`. The cache is bounded (entries and text
//! size) and shared by all sessions; facts depend only on the text and the configuration, so
//! a hit is always right. Session state (SQL-level PREPARE) is applied after, by
//! `PreparedStatements`.

use std::sync::Arc;

use quick_cache::sync::Cache;

use super::names::Names;
use super::{MessageFacts, split};

/// How many messages' facts are kept.
const CACHED_MESSAGES: usize = 4096;
/// Longer texts are analysed every time rather than kept.
const CACHED_TEXT_BYTES: usize = 16 * 1024;

/// Reads SQL into facts.
pub struct Analyzer {
    names: Names,
    cache: Cache<String, Arc<MessageFacts>>,
}

impl Analyzer {
    /// An analyzer resolving names with `names`.
    pub fn new(names: Names) -> Self {
        Analyzer {
            names,
            cache: Cache::new(CACHED_MESSAGES),
        }
    }

    /// The facts of `text`, from the cache when it was read before.
    pub fn facts(&self, text: &str) -> Arc<MessageFacts> {
        if let Some(facts) = self.cache.get(text) {
            return facts;
        }
        let facts = Arc::new(self.analyze(text));
        if text.len() <= CACHED_TEXT_BYTES {
            self.cache.insert(text.to_owned(), Arc::clone(&facts));
        }
        facts
    }

    /// The facts of `text`, read afresh.
    pub fn analyze(&self, text: &str) -> MessageFacts {
        MessageFacts {
            statements: split::statements(text, &self.names)
                .into_iter()
                .map(Arc::new)
                .collect(),
            from_session: false,
        }
    }
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("names", &self.names)
            .field("cached", &self.cache.len())
            .finish()
    }
}
