//! A session as it happened, rebuilt from archived events.
//!
//! `blastwall replay` loads a session's events ([`load_session`]) and then, by protocol:
//! a SQL session becomes a psql-style transcript (`sql`); a terminal session becomes a
//! [`terminal::Recording`], which plays with its timing, converts to asciicast v2
//! (`asciicast`), or renders the screen at a moment (`screen`, with keyframes for fast seek).
//! Every function past [`load_session`] takes plain `schemas::Event`s, so a live capture and
//! the archive can be replayed the same way and compared.
//!
//! Only what was recorded is shown: results are the masked rows the proxy recorded.

pub mod asciicast;
pub mod screen;
pub mod sql;
pub mod terminal;

use datafusion::prelude::SessionContext;
use schemas::Event;

use crate::Error;
use crate::events::{Selection, for_each};

/// The session's events from the archive, in seq order.
pub async fn load_session(ctx: &SessionContext, session_id: &str) -> Result<Vec<Event>, Error> {
    let id = uuid::Uuid::parse_str(session_id)
        .map_err(|_| Error::Invalid(format!("`{session_id}` is not a session id (a UUID)")))?;
    let selection = Selection {
        session: Some(id),
        ..Selection::default()
    };
    let mut events = Vec::new();
    for_each(ctx, &selection, |event| events.push(event)).await?;
    if events.is_empty() {
        return Err(Error::UnknownSession(id.to_string()));
    }
    Ok(events)
}
