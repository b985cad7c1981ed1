//! Cancel requests: blastwall hands clients its own BackendKeyData and maps it to the
//! upstream session's, so a client can cancel its query without ever seeing upstream keys.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use rand::Rng;

use crate::config::Target;

struct Entry {
    secret: i32,
    target: Target,
    upstream_pid: i32,
    upstream_secret: Bytes,
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

    /// The upstream to cancel for a client's (pid, secret), if they match a live session.
    pub fn lookup(&self, pid: i32, secret: &[u8]) -> Option<(Target, i32, Bytes)> {
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
        same.then(|| {
            (
                entry.target.clone(),
                entry.upstream_pid,
                entry.upstream_secret.clone(),
            )
        })
    }
}
