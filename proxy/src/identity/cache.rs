//! [`JwksCache`]: the trusted issuer's key set, fetched from a [`KeySource`], cached and rotated.
//!
//! The validator asks [`JwksCache::keys`] for the current set on every token and
//! [`JwksCache::refetch`] when a token names a `kid` the set lacks (the issuer rotated its keys).
//! Both sources — a remote issuer over HTTP(S) and the local issuer in-process — go through the
//! same fetch → [`KeySet::parse`] → cache path; only [`KeySource::fetch`] differs.
//!
//! Invariants: refresh is lazy (a set older than `refresh` is refetched by the one request that
//! takes the fetch lock; the others keep using it meanwhile); fetches, whatever triggers them,
//! are at least `min_refetch` apart, so made-up `kid`s cannot flood the issuer; a failed fetch
//! never replaces a good set (it is logged and the last good set stays in use); responses are
//! bounded in time and size.
//!
//! Not here: choosing a key for a token (`keyset`), the signature check (`validator`).

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::ACCEPT;
use tokio::sync::{Mutex, MutexGuard};

use super::error::JwksError;
use super::keyset::KeySet;

/// The largest JWK set response read, in bytes.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// How long connecting to the JWKS endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole JWKS request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the key set document comes from.
pub(super) enum KeySource {
    /// An external issuer's `jwks_uri`, fetched over HTTP(S).
    Remote {
        /// The JWK set URL.
        url: Url,
        /// A client with connect and request timeouts.
        client: reqwest::Client,
    },
    /// A JWK set document held in-process (the local issuer's).
    Static(Vec<u8>),
}

impl KeySource {
    /// A remote source with a client configured for short, bounded requests.
    pub(super) fn remote(url: Url) -> Result<KeySource, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("blastwall/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(KeySource::Remote { url, client })
    }

    /// The key set document, as bytes.
    async fn fetch(&self) -> Result<Vec<u8>, JwksError> {
        match self {
            KeySource::Remote { url, client } => fetch_remote(client, url).await,
            KeySource::Static(document) => Ok(document.clone()),
        }
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Remote { url, .. } => write!(f, "{url}"),
            KeySource::Static(_) => f.write_str("the local issuer"),
        }
    }
}

async fn fetch_remote(client: &reqwest::Client, url: &Url) -> Result<Vec<u8>, JwksError> {
    let mut response = client
        .get(url.clone())
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| transport_error(url, &e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(JwksError::Status {
            status: status.as_u16(),
        });
    }
    let too_large = JwksError::TooLarge {
        limit: MAX_JWKS_BYTES,
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(url, &e))?
    {
        if body.len().saturating_add(chunk.len()) > MAX_JWKS_BYTES {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Logs a transport failure in full (for the operator) and classifies it (for the client).
fn transport_error(url: &Url, error: &reqwest::Error) -> JwksError {
    tracing::warn!(url = %url, error = %error, "JWK set request failed");
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    JwksError::Unreachable { kind }
}

/// A parsed key set and when it was fetched.
pub(super) struct Loaded {
    /// The keys.
    pub(super) keys: KeySet,
    /// Increases with every successful fetch; tells a waiting refetch whether it is still needed.
    pub(super) generation: u64,
    fetched_at: Instant,
}

/// Bookkeeping of fetch attempts; held under the fetch lock.
#[derive(Default)]
struct Attempts {
    last: Option<Instant>,
    last_error: Option<JwksError>,
    generation: u64,
}

/// The cached key set of the trusted issuer.
pub(super) struct JwksCache {
    source: KeySource,
    refresh: Duration,
    min_refetch: Duration,
    current: RwLock<Option<Arc<Loaded>>>,
    fetching: Mutex<Attempts>,
}

impl JwksCache {
    /// A cache that has fetched nothing yet; the first [`JwksCache::keys`] fetches.
    pub(super) fn new(source: KeySource, refresh: Duration, min_refetch: Duration) -> Self {
        JwksCache {
            source,
            refresh,
            min_refetch,
            current: RwLock::new(None),
            fetching: Mutex::new(Attempts::default()),
        }
    }

    /// The current key set, refreshing it first if it is older than `refresh`.
    pub(super) async fn keys(&self) -> Result<Arc<Loaded>, JwksError> {
        match self.snapshot() {
            Some(loaded) if loaded.fetched_at.elapsed() < self.refresh => Ok(loaded),
            Some(stale) => match self.fetching.try_lock() {
                Ok(attempts) => Ok(self
                    .fetch_locked(attempts, Some(stale.generation))
                    .await
                    .unwrap_or(stale)),
                // Another request is refreshing: keep using the stale set meanwhile.
                Err(_) => Ok(stale),
            },
            None => self.refetch(None).await,
        }
    }

    /// Fetches the set again because a token named a key that set generation `seen` lacks —
    /// unless a newer set arrived meanwhile, or the last fetch is less than `min_refetch` ago.
    /// On failure, the last good set (if any) is returned.
    pub(super) async fn refetch(&self, seen: Option<u64>) -> Result<Arc<Loaded>, JwksError> {
        let attempts = self.fetching.lock().await;
        self.fetch_locked(attempts, seen).await
    }

    fn snapshot(&self) -> Option<Arc<Loaded>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn fetch_locked(
        &self,
        mut attempts: MutexGuard<'_, Attempts>,
        seen: Option<u64>,
    ) -> Result<Arc<Loaded>, JwksError> {
        let current = self.snapshot();
        if let Some(loaded) = &current
            && Some(loaded.generation) != seen
        {
            return Ok(Arc::clone(loaded));
        }
        if let Some(last) = attempts.last
            && last.elapsed() < self.min_refetch
        {
            return current.ok_or_else(|| attempts.last_error.clone().unwrap_or(NOT_FETCHED));
        }
        attempts.last = Some(Instant::now());
        match self
            .source
            .fetch()
            .await
            .and_then(|doc| KeySet::parse(&doc))
        {
            Ok(keys) => {
                attempts.generation = attempts.generation.saturating_add(1);
                attempts.last_error = None;
                let loaded = Arc::new(Loaded {
                    keys,
                    generation: attempts.generation,
                    fetched_at: Instant::now(),
                });
                tracing::debug!(source = %self.source, keys = loaded.keys.len(),
                    generation = loaded.generation, "fetched the issuer's JWK set");
                *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                    Some(Arc::clone(&loaded));
                Ok(loaded)
            }
            Err(error) => {
                attempts.last_error = Some(error.clone());
                self.log_failure(&error, current.is_some());
                current.ok_or(error)
            }
        }
    }

    fn log_failure(&self, error: &JwksError, have_keys: bool) {
        if have_keys {
            tracing::warn!(source = %self.source, error = %error,
                "fetching the issuer's JWK set failed; still using the last good set");
        } else {
            tracing::warn!(source = %self.source, error = %error,
                "fetching the issuer's JWK set failed; no token can be validated until it succeeds");
        }
    }
}

/// Reported when fetching is rate-limited and no attempt has recorded an error (cannot happen:
/// a set is absent only after a failed attempt, which records its error).
const NOT_FETCHED: JwksError = JwksError::Unreachable {
    kind: "not fetched yet",
};
