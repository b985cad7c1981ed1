//! Cancel requests: blastwall hands clients its own BackendKeyData and maps it to the
//! upstream session's, so a client can cancel its query without ever seeing upstream keys.
//! A cancel also counts in the session's [`Interrupts`], which withdraws a statement held for
//! approval (nothing runs upstream to cancel then).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rand::Rng;
use tokio::sync::watch;

use crate::config::Target;

struct Entry {
    secret: i32,
    target: Target,
    upstream_pid: i32,
    upstream_secret: Bytes,
    interrupt: Interrupts,
}

/// A session's cancel requests, for a statement held for approval: counted (not a wake-up, so
/// one sent just before the session starts waiting is not lost), and while a statement is
/// held they go no further (nothing runs upstream, and a cancel sent there would hit
/// whatever the client runs next).
#[derive(Debug)]
pub struct SessionInterrupts {
    sent: watch::Sender<u64>,
    holding: AtomicBool,
}

/// A session's interrupts, shared with the registry.
pub type Interrupts = Arc<SessionInterrupts>;

impl SessionInterrupts {
    /// None sent yet, nothing held.
    pub fn new() -> Interrupts {
        Arc::new(SessionInterrupts {
            sent: watch::Sender::new(0),
            holding: AtomicBool::new(false),
        })
    }

    /// Counts a cancel request; `true` when a held statement takes it, so that it must not
    /// be passed upstream.
    pub fn cancel(&self) -> bool {
        self.sent.send_modify(|sent| *sent += 1);
        self.holding.load(Ordering::SeqCst)
    }

    /// How many were sent so far.
    pub fn count(&self) -> u64 {
        *self.sent.borrow()
    }

    /// Waits on the count.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sent.subscribe()
    }

    /// A statement is held (or no longer).
    pub fn set_holding(&self, holding: bool) {
        self.holding.store(holding, Ordering::SeqCst);
    }
}

/// What a matching cancel request reaches.
pub struct Cancel {
    /// The upstream to send the cancel to.
    pub target: Target,
    /// The upstream session's pid.
    pub upstream_pid: i32,
    /// The upstream session's secret.
    pub upstream_secret: Bytes,
    /// Counted, to withdraw a statement held for approval.
    pub interrupt: Interrupts,
}

/// The live sessions' cancel keys.
#[derive(Default)]
pub struct CancelRegistry {
    sessions: Mutex<HashMap<i32, Entry>>,
}

impl CancelRegistry {
    /// Registers a session; returns the (pid, secret) to give its client.
    pub fn register(
        &self,
        target: &Target,
        upstream_pid: i32,
        upstream_secret: Bytes,
        interrupt: Interrupts,
    ) -> (i32, i32) {
        let mut rng = rand::thread_rng();
        let Ok(mut sessions) = self.sessions.lock() else {
            return (0, 0);
        };
        loop {
            let pid = rng.gen_range(1..i32::MAX);
            if sessions.contains_key(&pid) {
                continue;
            }
            let secret = rng.r#gen::<i32>();
            let entry = Entry {
                secret,
                target: target.clone(),
                upstream_pid,
                upstream_secret: upstream_secret.clone(),
                interrupt: Arc::clone(&interrupt),
            };
            sessions.insert(pid, entry);
            return (pid, secret);
        }
    }

    /// Forgets a session.
    pub fn remove(&self, pid: i32) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(&pid);
        }
    }

    /// What to cancel for a client's (pid, secret), if they match a live session.
    pub fn lookup(&self, pid: i32, secret: &[u8]) -> Option<Cancel> {
        let sessions = self.sessions.lock().ok()?;
        let entry = sessions.get(&pid)?;
        // Compare without an early exit, so timing does not reveal a partial match.
        let expected = entry.secret.to_be_bytes();
        let same = secret.len() == 4
            && expected
                .iter()
                .zip(secret)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same.then(|| Cancel {
            target: entry.target.clone(),
            upstream_pid: entry.upstream_pid,
            upstream_secret: entry.upstream_secret.clone(),
            interrupt: Arc::clone(&entry.interrupt),
        })
    }
}
