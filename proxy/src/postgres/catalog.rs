//! Column names from the upstream catalog, for masking rules: table OID and attribute number
//! (as RowDescription carries them) to schema, table, column and type names.
//!
//! One `Catalog` per target, shared by its sessions: a side connection logged in with the
//! target's own credentials (the agent's session is never used for it, so lookups cannot
//! disturb its transaction), opened on first need and reopened after a failure. Names are
//! cached by table; the cache is dropped after any DDL statement a session runs and every
//! `REFRESH` interval, so renames made outside blastwall are seen within that time.
//! The same connection describes the query of a `COPY ... TO STDOUT`, whose output carries
//! no RowDescription. Failures are errors: the caller withholds the result (fail closed).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use pgwire::messages::data::RowDescription;
use pgwire::messages::extendedquery::{Describe, Parse, Sync as SyncMessage};
use pgwire::messages::simplequery::Query;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio_util::codec::Framed;

use super::Io;
use super::codec::BackendCodec;
use super::upstream;
use crate::config::Target;
use crate::masking::ColumnSource;

/// How long cached names are trusted without DDL seen.
const REFRESH: Duration = Duration::from_secs(60);
/// The largest catalog answer accepted.
const MESSAGE_LIMIT: usize = 16 * 1024 * 1024;

/// Why a lookup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The side connection could not be opened.
    #[error("cannot open the catalog connection: {0}")]
    Connect(#[from] upstream::UpstreamError),
    /// The side connection failed or answered unexpectedly.
    #[error("the catalog connection failed: {0}")]
    Connection(String),
    /// The upstream refused the lookup or the description (its SQLSTATE).
    #[error("the upstream refused a catalog lookup ({0})")]
    Refused(String),
}

type Columns = HashMap<i16, Arc<ColumnSource>>;

/// The names of one target's columns.
pub struct Catalog {
    target: Target,
    tables: Mutex<Cache>,
    connection: tokio::sync::Mutex<Option<Framed<Box<dyn Io>, BackendCodec>>>,
}

struct Cache {
    tables: HashMap<u32, Columns>,
    filled: Instant,
}

impl Catalog {
    /// The catalog of `target`; nothing is connected until a lookup needs it.
    pub fn new(target: Target) -> Self {
        Catalog {
            target,
            tables: Mutex::new(Cache {
                tables: HashMap::new(),
                filled: Instant::now(),
            }),
            connection: tokio::sync::Mutex::new(None),
        }
    }

    /// Forgets every name (after DDL).
    pub fn invalidate(&self) {
        if let Ok(mut cache) = self.tables.lock() {
            cache.tables.clear();
            cache.filled = Instant::now();
        }
    }

    /// The sources of `(table OID, attribute number)` pairs; pairs the catalog does not know
    /// (a table dropped meanwhile) are absent.
    pub async fn resolve(
        &self,
        columns: &[(u32, i16)],
    ) -> Result<HashMap<(u32, i16), Arc<ColumnSource>>, CatalogError> {
        let mut missing: Vec<u32> = Vec::new();
        if let Ok(mut cache) = self.tables.lock() {
            if cache.filled.elapsed() > REFRESH {
                cache.tables.clear();
                cache.filled = Instant::now();
            }
            for (table, _) in columns {
                if !cache.tables.contains_key(table) && !missing.contains(table) {
                    missing.push(*table);
                }
            }
        }
        if !missing.is_empty() {
            let found = self.load(&missing).await?;
            if let Ok(mut cache) = self.tables.lock() {
                for table in &missing {
                    let names = found.get(table).cloned().unwrap_or_default();
                    cache.tables.insert(*table, names);
                }
            }
        }
        let cache = self
            .tables
            .lock()
            .map_err(|_| CatalogError::Connection("the catalog cache is poisoned".into()))?;
        Ok(columns
            .iter()
            .filter_map(|(table, attnum)| {
                let source = cache.tables.get(table)?.get(attnum)?;
                Some(((*table, *attnum), Arc::clone(source)))
            })
            .collect())
    }

    /// The RowDescription `sql` would return, without running it.
    pub async fn describe(&self, sql: &str) -> Result<Option<RowDescription>, CatalogError> {
        let messages = vec![
            PgWireFrontendMessage::Parse(Parse::new(None, sql.to_owned(), Vec::new())),
            PgWireFrontendMessage::Describe(Describe::new(b'S', None)),
            PgWireFrontendMessage::Sync(SyncMessage::new()),
        ];
        let answers = self.exchange(messages).await?;
        Ok(answers.into_iter().find_map(|m| match m {
            PgWireBackendMessage::RowDescription(d) => Some(d),
            _ => None,
        }))
    }

    async fn load(&self, tables: &[u32]) -> Result<HashMap<u32, Columns>, CatalogError> {
        let list: Vec<String> = tables.iter().map(u32::to_string).collect();
        // Only integers are put in the text; no value from a client reaches it.
        let sql = format!(
            "SELECT a.attrelid::int8::text, a.attnum::text, n.nspname::text, c.relname::text, \
             a.attname::text, t.typname::text \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid IN ({}) AND a.attnum > 0 AND NOT a.attisdropped",
            list.join(",")
        );
        let answers = self
            .exchange(vec![PgWireFrontendMessage::Query(Query::new(sql))])
            .await?;
        let mut found: HashMap<u32, Columns> = HashMap::new();
        for answer in answers {
            let PgWireBackendMessage::DataRow(row) = answer else {
                continue;
            };
            let values = text_values(&row.data);
            let [
                Some(table),
                Some(attnum),
                Some(schema),
                Some(name),
                Some(column),
                Some(type_name),
            ] = <[Option<String>; 6]>::try_from(values).map_err(|_| {
                CatalogError::Connection("a catalog row has the wrong shape".into())
            })?
            else {
                continue;
            };
            let (Ok(table), Ok(attnum)) = (table.parse::<u32>(), attnum.parse::<i16>()) else {
                continue;
            };
            found.entry(table).or_default().insert(
                attnum,
                Arc::new(ColumnSource {
                    schema,
                    table: name,
                    column,
                    type_name,
                }),
            );
        }
        Ok(found)
    }

    /// Sends `messages` and collects the answers up to ReadyForQuery; one retry on a fresh
    /// connection if the kept one failed.
    async fn exchange(
        &self,
        messages: Vec<PgWireFrontendMessage>,
    ) -> Result<Vec<PgWireBackendMessage>, CatalogError> {
        let mut connection = self.connection.lock().await;
        for attempt in 0..2 {
            if connection.is_none() {
                let opened =
                    upstream::connect(&self.target, &BTreeMap::new(), MESSAGE_LIMIT).await?;
                *connection = Some(opened.framed);
            }
            let Some(framed) = connection.as_mut() else {
                continue;
            };
            match round_trip(framed, &messages).await {
                Ok(answers) => return refused(answers),
                Err(e) => {
                    *connection = None;
                    if attempt == 1 {
                        return Err(e);
                    }
                }
            }
        }
        Err(CatalogError::Connection("no catalog connection".into()))
    }
}

async fn round_trip(
    framed: &mut Framed<Box<dyn Io>, BackendCodec>,
    messages: &[PgWireFrontendMessage],
) -> Result<Vec<PgWireBackendMessage>, CatalogError> {
    for message in messages {
        framed
            .feed(clone_message(message))
            .await
            .map_err(|e| CatalogError::Connection(e.to_string()))?;
    }
    framed
        .flush()
        .await
        .map_err(|e| CatalogError::Connection(e.to_string()))?;
    let mut answers = Vec::new();
    loop {
        match framed.next().await {
            Some(Ok(PgWireBackendMessage::ReadyForQuery(_))) => return Ok(answers),
            Some(Ok(message)) => answers.push(message),
            Some(Err(e)) => return Err(CatalogError::Connection(e.to_string())),
            None => return Err(CatalogError::Connection("closed".into())),
        }
    }
}

fn refused(answers: Vec<PgWireBackendMessage>) -> Result<Vec<PgWireBackendMessage>, CatalogError> {
    for answer in &answers {
        if let PgWireBackendMessage::ErrorResponse(e) = answer {
            let (code, _) = super::error::code_and_message(&e.fields);
            return Err(CatalogError::Refused(code));
        }
    }
    Ok(answers)
}

fn clone_message(message: &PgWireFrontendMessage) -> PgWireFrontendMessage {
    match message {
        PgWireFrontendMessage::Query(q) => {
            PgWireFrontendMessage::Query(Query::new(q.query.clone()))
        }
        PgWireFrontendMessage::Parse(p) => PgWireFrontendMessage::Parse(Parse::new(
            p.name.clone(),
            p.query.clone(),
            p.type_oids.clone(),
        )),
        PgWireFrontendMessage::Describe(d) => {
            PgWireFrontendMessage::Describe(Describe::new(d.target_type, d.name.clone()))
        }
        _ => PgWireFrontendMessage::Sync(SyncMessage::new()),
    }
}

/// A DataRow's values as text.
fn text_values(data: &[u8]) -> Vec<Option<String>> {
    let mut values = Vec::new();
    let mut at = 0;
    while let Some(len) = data.get(at..at + 4) {
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        at += 4;
        if len < 0 {
            values.push(None);
            continue;
        }
        let end = at + len as usize;
        let Some(value) = data.get(at..end) else {
            break;
        };
        values.push(Some(String::from_utf8_lossy(value).into_owned()));
        at = end;
    }
    values
}
