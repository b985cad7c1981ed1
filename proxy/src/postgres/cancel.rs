//! Cancel requests: blastwall hands clients its own BackendKeyData and maps it to the
//! upstream session's, so a client can cancel its query without ever seeing upstream keys.
//! A cancel also wakes the session's `interrupt`, which withdraws a statement held for
//! approval (nothing runs upstream to cancel then).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rand::Rng;
use tokio::sync::Notify;

use crate::config::Target;

struct Entry {
    secret: i32,
    target: Target,
    upstream_pid: i32,
    upstream_secret: Bytes,
    interrupt: Arc<Notify>,
}

/// What a matching cancel request reaches.
pub struct Cancel {
    /// The upstream to send the cancel to.
    pub target: Target,
    /// The upstream session's pid.
    pub upstream_pid: i32,
    /// The upstream session's secret.
    pub upstream_secret: Bytes,
    /// Woken (only if waited on) to withdraw a statement held for approval.
    pub interrupt: Arc<Notify>,
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
        interrupt: Arc<Notify>,
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
