//! Masking end to end: a seeded table of people (emails, cards, SSNs, IBANs, phones, keys and
//! tokens) read through the gateway by psql, tokio-postgres (binary results) and psycopg, in
//! every shape a value can take on the way out (columns, aliases, subqueries, views, joins,
//! expressions, JSON, aggregates, cursors, COPY). Then every byte blastwall wrote — what the
//! clients got, their error messages, the event log on disk and as events, the process's
//! tracing output — is searched for each seeded value.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use common::{Gateway, allow_all, allow_plaintext, results};
use proxy::masking::MaskingConfig;

const PRIVATE_KEY_BODY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7";
const JWT: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IiLCJyb2xlIjoiYWRtaW4ifQ.c2lnbmF0dXJlLW9mLWJvYnMtdG9rZW4";

/// Every seeded sensitive value; none may appear in anything blastwall writes.
const RAW: [&str; 18] = [
    "alice.smith@example.com",
    "bob.jones@example.org",
    "carol@corp.example.net",
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
    "123-45-6789",
    "219-09-9999",
    "078-05-1120",
    "DE89370400440532013000",
    "GB82WEST12345698765432",
    "FR1420041010050500013M02606",
    "+44 20 7946 0958",
    "(415) 555-0132",
    "AKIAIOSFODNN7EXAMPLE",
    JWT,
    PRIVATE_KEY_BODY,
    "4012888888881881",
];

fn seed() -> String {
    format!(
        "CREATE TABLE people (id int PRIMARY KEY, name text, email text, card text, ssn text, \
           iban text, phone text, secret text, card_number int8);\n\
         INSERT INTO people VALUES\n\
           (1, 'Alice Smith', 'alice.smith@example.com', '4111111111111111', '123-45-6789', \
            'DE89370400440532013000', '+44 20 7946 0958', 'AKIAIOSFODNN7EXAMPLE', 4012888888881881),\n\
           (2, 'Bob Jones', 'bob.jones@example.org', '5555555555554444', '219-09-9999', \
            'GB82WEST12345698765432', '(415) 555-0132', '{JWT}', NULL),\n\
           (3, 'Carol White', 'carol@corp.example.net', '378282246310005', '078-05-1120', \
            'FR1420041010050500013M02606', NULL, \
            E'-----BEGIN PRIVATE KEY-----\\n{PRIVATE_KEY_BODY}\\n-----END PRIVATE KEY-----', NULL);\n\
         CREATE VIEW people_view AS SELECT id, email, card, iban FROM people;\n\
         CREATE TABLE orders (id int, customer_email text, amount int);\n\
         INSERT INTO orders VALUES (1, 'alice.smith@example.com', 10), (2, 'alice.smith@example.com', 20), \
           (3, 'bob.jones@example.org', 5), (4, 'alice.smith@example.com', 7);\n"
    )
}

/// The rules the tests run under: hashed emails, partial cards, redacted SSNs, withheld
/// secrets; IBANs and phones left to the detectors; the `oncall` group exempt.
fn masking_config(key: &Path) -> MaskingConfig {
    toml::from_str(&format!(
        r#"
exempt_groups = ["oncall"]
hash_key = {{ file = "{}" }}

[[rules]]
table = "people"
column = "email"
strategy = "hash"

[[rules]]
table = "orders"
column = "customer_email"
strategy = "hash"

[[rules]]
table = "people"
column = "card*"
strategy = "partial"
keep = 4

[[rules]]
schema = "public"
table = "people"
column = "ssn"
type = "text"
strategy = "redact"

[[rules]]
table = "people"
column = "secret"
strategy = "null"
"#,
        key.display()
    ))
    .expect("masking config")
}

/// What the tracing output of this test process holds (blastwall's own crates, every level).
fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let writer = Arc::clone(&buffer);
            tracing_subscriber::fmt()
                .with_env_filter("proxy=trace,eventlog=trace,schemas=trace,pgwire=trace")
                .with_writer(move || SharedWriter(Arc::clone(&writer)))
                .with_ansi(false)
                .init();
            buffer
        })
        .clone()
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn gateway() -> Gateway {
    let _ = log_buffer();
    let keys = tempfile::tempdir().expect("dir").keep();
    let key = keys.join("masking-key");
    std::fs::write(&key, "a-masking-key-for-tests-0123456789\n").expect("key");
    let config = masking_config(&key);
    let gateway = Gateway::start_with(allow_all(), move |settings| {
        allow_plaintext(settings);
        settings.masking = config;
    })
    .await;
    gateway.direct(&seed());
    gateway
}

/// Fails if `text` holds any seeded value.
fn assert_clean(what: &str, text: &str) {
    for raw in RAW {
        assert!(
            !text.contains(raw),
            "{what} holds the seeded value {raw:?}:\n{text}"
        );
    }
}

fn assert_clean_bytes(what: &str, bytes: &[u8]) {
    for raw in RAW {
        let found = bytes.windows(raw.len()).any(|w| w == raw.as_bytes());
        assert!(!found, "{what} holds the seeded value {raw:?}");
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Every byte blastwall wrote besides what clients got: the data directory (event log
/// segments and all), the events as decoded, and the tracing output.
async fn assert_nothing_written_holds_a_seeded_value(gateway: &Gateway) {
    let mut files = Vec::new();
    files_under(gateway.data.path(), &mut files);
    assert!(
        files.iter().any(|f| f.to_string_lossy().contains("log")),
        "the event log is on disk"
    );
    let mut plain = false;
    for file in files {
        let bytes = std::fs::read(&file).expect("read");
        assert_clean_bytes(&file.display().to_string(), &bytes);
        plain |= bytes.windows(11).any(|w| w == b"Alice Smith");
    }
    assert!(
        plain,
        "the search reads the log as written: an unmasked value is found in it"
    );
    for events in gateway.sessions().await.values() {
        for event in events {
            let json = serde_json::to_string(event).expect("json");
            assert_clean("an event", &json);
        }
    }
    let logs = log_buffer().lock().unwrap().clone();
    assert!(!logs.is_empty(), "tracing output was captured");
    assert_clean_bytes("the tracing output", &logs);
}

fn psql(gateway: &Gateway, token: &str, commands: &[&str]) -> common::Psql {
    let mut args = Vec::new();
    for command in commands {
        args.push("-c");
        args.push(command);
    }
    let out = gateway.psql(token, &args);
    assert_clean(&format!("psql output of {commands:?}"), &out.stdout);
    assert_clean(&format!("psql errors of {commands:?}"), &out.stderr);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_seeded_value_escapes_through_psql_tokio_postgres_or_psycopg() {
    let gateway = gateway().await;
    let token = gateway.token();

    let all = psql(&gateway, &token, &["SELECT * FROM people ORDER BY id"]);
    assert!(all.ok, "{}", all.stderr);
    let first = all.stdout.lines().next().expect("a row");
    let fields: Vec<&str> = first.split('|').collect();
    assert_eq!(fields[1], "Alice Smith", "unrelated columns pass: {first}");
    assert!(
        fields[2].starts_with("hmac:") && fields[2].len() == 37,
        "{first}"
    );
    assert_eq!(fields[3], "************1111");
    assert_eq!(fields[4], "[redacted]");
    assert_eq!(fields[5], "[masked:iban]");
    assert_eq!(fields[6], "[masked:phone]");
    assert_eq!(fields[7], "", "the secret is NULL");
    assert_eq!(
        fields[8], "",
        "an int8 column under a partial rule is withheld"
    );

    // Every shape a value can take on the way out.
    let shapes = [
        "SELECT email AS e, card AS c FROM people",
        "SELECT e FROM (SELECT email AS e FROM people) s",
        "WITH p AS (SELECT * FROM people) SELECT email, ssn FROM p",
        "SELECT * FROM people_view",
        "SELECT p.email, o.amount FROM people p JOIN orders o ON o.customer_email = p.email",
        "SELECT upper(email), email || '', lower(iban) FROM people",
        "SELECT row_to_json(p) FROM people p",
        "SELECT json_agg(p) FROM people p",
        "SELECT array_agg(email), array_agg(card), array_agg(phone) FROM people",
        "SELECT string_agg(ssn || ' ' || iban || ' ' || coalesce(phone, ''), '; ') FROM people",
        "SELECT substr(card, 1, 8), card_number, card_number::text FROM people",
        "SELECT secret, secret || '' FROM people",
    ];
    for shape in shapes {
        let out = psql(&gateway, &token, &[shape]);
        assert!(out.ok, "{shape}: {}", out.stderr);
        assert!(!out.stdout.trim().is_empty(), "{shape} returned rows");
    }

    let cursor = psql(
        &gateway,
        &token,
        &[
            "BEGIN",
            "DECLARE c CURSOR FOR SELECT * FROM people ORDER BY id",
            "FETCH 2 FROM c",
            "FETCH ALL FROM c",
            "COMMIT",
        ],
    );
    assert!(cursor.ok, "{}", cursor.stderr);
    assert_eq!(
        cursor.stdout.matches("hmac:").count(),
        3,
        "{}",
        cursor.stdout
    );

    let copy_text = psql(&gateway, &token, &["COPY people TO STDOUT"]);
    assert!(copy_text.ok, "{}", copy_text.stderr);
    assert_eq!(copy_text.stdout.lines().count(), 3);
    assert!(
        copy_text
            .stdout
            .contains("\t************1111\t[redacted]\t[masked:iban]\t")
    );
    let copy_csv = psql(
        &gateway,
        &token,
        &[
            "COPY (SELECT id, email, secret, iban FROM people ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)",
        ],
    );
    assert!(copy_csv.ok, "{}", copy_csv.stderr);
    let lines: Vec<&str> = copy_csv.stdout.lines().collect();
    assert_eq!(lines[0], "id,email,secret,iban");
    assert!(
        lines[1].starts_with("1,\"hmac:") && lines[1].ends_with(",,\"[masked:iban]\""),
        "{}",
        lines[1]
    );

    let binary = psql(
        &gateway,
        &token,
        &[
            "COPY people TO STDOUT (FORMAT binary)",
            "SELECT 'still serving'",
        ],
    );
    assert!(
        binary.stderr.contains("binary COPY cannot be masked"),
        "a clear refusal: {}",
        binary.stderr
    );
    assert!(
        binary.stdout.contains("still serving"),
        "the session goes on"
    );

    let error = psql(
        &gateway,
        &token,
        &["SELECT email::int FROM people WHERE id = 1"],
    );
    assert!(!error.ok);
    assert!(error.stderr.contains("[masked:email]"), "{}", error.stderr);
    let pasted = psql(
        &gateway,
        &token,
        &[
            "SELECT count(*) FROM people WHERE card = '4111111111111111' OR email = 'carol@corp.example.net'",
        ],
    );
    assert_eq!(pasted.stdout.trim(), "2");

    // tokio-postgres: the extended protocol, binary results, bound parameters.
    let client = gateway.connect(&token).await;
    let rows = client
        .query("SELECT * FROM people ORDER BY id", &[])
        .await
        .expect("select");
    let mut seen = String::new();
    for row in &rows {
        for i in 1..8 {
            seen.push_str(&format!("{:?}|", row.get::<_, Option<String>>(i)));
        }
        seen.push_str(&format!("{:?}\n", row.get::<_, Option<i64>>(8)));
    }
    assert_clean("tokio-postgres rows", &seen);
    assert_eq!(
        rows[0].get::<_, Option<String>>(3).as_deref(),
        Some("************1111")
    );
    assert_eq!(
        rows[0].get::<_, Option<String>>(5).as_deref(),
        Some("[masked:iban]")
    );
    assert_eq!(
        rows[0].get::<_, Option<i64>>(8),
        None,
        "a binary int8 under a rule is NULL"
    );
    let expressions = client
        .query(
            "SELECT upper(email), row_to_json(p)::text, array_agg(email) OVER () FROM people p",
            &[],
        )
        .await
        .expect("expressions");
    for row in &expressions {
        let text = format!(
            "{:?} {:?} {:?}",
            row.get::<_, Option<String>>(0),
            row.get::<_, Option<String>>(1),
            row.get::<_, Option<Vec<String>>>(2)
        );
        assert_clean("tokio-postgres expressions", &text);
    }
    let bound = client
        .query(
            "SELECT id, card_number FROM people WHERE email = $1 OR card_number = $2",
            &[&"alice.smith@example.com", &4012888888881881i64],
        )
        .await
        .expect("bound");
    assert_eq!(bound.len(), 1);
    let failed = client
        .query("SELECT email::int FROM people", &[])
        .await
        .expect_err("not an int");
    let message = failed
        .as_db_error()
        .map(|e| format!("{e:?}"))
        .unwrap_or_default();
    assert!(message.contains("[masked:email]"), "{message}");
    assert_clean("a tokio-postgres error", &message);
    drop(client);

    // psycopg: text and binary, a named cursor, bound parameters, an error.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/psycopg_masking.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(gateway.dsn("require"))
        .env("PGPASSWORD", &token)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("python3 runs (scripts/setup installs psycopg)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the psycopg client failed: {stderr}");
    assert_clean("psycopg output", &stdout);
    assert_clean("psycopg errors", &stderr);
    let printed: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(printed["text"][0][3], "************1111");
    assert_eq!(printed["binary"][0][3], "[masked:iban]");
    assert_eq!(printed["named_cursor"].as_array().map(Vec::len), Some(3));
    assert!(
        printed["error"]
            .as_str()
            .is_some_and(|e| e.contains("[masked:email]"))
    );

    gateway.ended_sessions(21).await;
    let sessions = gateway.sessions().await;
    let all_results: Vec<_> = sessions
        .values()
        .flat_map(|events| results(events))
        .collect();
    let counted: Vec<String> = all_results
        .iter()
        .flat_map(|r| {
            r.masked
                .iter()
                .map(|m| format!("{}:{}", m.column, m.masked_by))
        })
        .collect();
    for expected in [
        "email:rule:hash",
        "card:rule:partial",
        "iban:detector:iban",
        "phone:detector:phone",
    ] {
        assert!(
            counted.iter().any(|c| c == expected),
            "{expected} counted in {counted:?}"
        );
    }
    assert_nothing_written_holds_a_seeded_value(&gateway).await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_masked_values_join_and_group_as_the_raw_values_do() {
    let gateway = gateway().await;
    let token = gateway.token();
    let alice = psql(&gateway, &token, &["SELECT email FROM people WHERE id = 1"]);
    let alice = alice.stdout.trim().to_owned();
    assert!(alice.starts_with("hmac:"), "{alice}");

    let joined = psql(
        &gateway,
        &token,
        &[
            "SELECT p.email, o.customer_email FROM people p JOIN orders o ON o.customer_email = p.email ORDER BY o.id",
        ],
    );
    let pairs: Vec<(String, String)> = joined
        .stdout
        .lines()
        .map(|l| {
            let (a, b) = l.split_once('|').expect("two columns");
            (a.to_owned(), b.to_owned())
        })
        .collect();
    assert_eq!(pairs.len(), 4);
    assert!(
        pairs.iter().all(|(a, b)| a == b),
        "equal values hash equally: {pairs:?}"
    );

    let grouped = psql(
        &gateway,
        &token,
        &["SELECT customer_email, count(*) FROM orders GROUP BY customer_email ORDER BY 2 DESC"],
    );
    let lines: Vec<&str> = grouped.stdout.lines().collect();
    assert_eq!(lines, [format!("{alice}|3").as_str(), lines[1]]);
    assert!(lines[1].ends_with("|1") && !lines[1].starts_with(&alice));

    // The hash is the same from another session and through the tokio-postgres binary path.
    let client = gateway.connect(&token).await;
    let row = client
        .query_one("SELECT customer_email FROM orders WHERE id = 1", &[])
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>(0), alice);
    drop(client);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exempt_group_sees_real_values_and_its_recording_stays_masked() {
    let gateway = gateway().await;
    let oncall = gateway.token_for("oncall@example.com", &[], &["oncall"], common::HOUR);
    let out = gateway.psql(
        &oncall,
        &[
            "-c",
            "SELECT email, card, iban, secret FROM people WHERE id = 1",
        ],
    );
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        "alice.smith@example.com|4111111111111111|DE89370400440532013000|AKIAIOSFODNN7EXAMPLE"
    );
    let copy = gateway.psql(
        &oncall,
        &[
            "-c",
            "COPY (SELECT email FROM people WHERE id = 2) TO STDOUT",
        ],
    );
    assert_eq!(copy.stdout.trim(), "bob.jones@example.org");

    // An agent in the same gateway is masked.
    let agent = psql(
        &gateway,
        &gateway.token(),
        &["SELECT email FROM people WHERE id = 1"],
    );
    assert!(agent.stdout.starts_with("hmac:"));

    gateway.ended_sessions(3).await;
    for events in gateway.sessions().await.values() {
        for result in results(events) {
            let json = serde_json::to_string(&result.rows).expect("json");
            assert_clean("a recorded result of an exempt session", &json);
        }
    }
    gateway.stop().await;
}

/// Reads messages up to ReadyForQuery, returning their type bytes and the first error.
async fn until_ready(
    raw: &mut common::raw::RawClient,
) -> (Vec<u8>, Option<(String, String, String)>) {
    let mut tags = Vec::new();
    let mut error = None;
    loop {
        let message = raw.read().await;
        tags.push(message.tag);
        if message.tag == b'E' && error.is_none() {
            error = Some(message.error());
        }
        if message.tag == b'Z' {
            return (tags, error);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_masked_is_withheld_with_a_clear_error_and_the_session_goes_on() {
    let gateway = gateway().await;
    let token = gateway.token();

    // An Execute with no Describe: column rules cannot be applied, so no row goes out.
    let mut raw = common::raw::RawClient::login(gateway.addr, common::TARGET, &token).await;
    raw.send(b'P', b"\0SELECT email, card FROM people\0\0\0")
        .await;
    raw.send(b'B', &[0, 0, 0, 0, 0, 0, 0, 0]).await;
    raw.send(b'E', &[0, 0, 0, 0, 0]).await;
    raw.send(b'S', &[]).await;
    let (tags, error) = until_ready(&mut raw).await;
    assert!(!tags.contains(&b'D'), "no DataRow went out: {tags:?}");
    let (severity, code, message) = error.expect("an error");
    assert_eq!((severity.as_str(), code.as_str()), ("ERROR", "0A000"));
    assert!(message.contains("cannot mask"), "{message}");
    raw.query("SELECT 'after'").await;
    let (tags, error) = until_ready(&mut raw).await;
    assert_eq!(
        (tags, error),
        (b"TDCZ".to_vec(), None),
        "the session goes on"
    );
    drop(raw);

    let name = psql(&gateway, &token, &["SELECT name FROM people WHERE id = 1"]);
    assert_eq!(name.stdout.trim(), "Alice Smith");

    // COPY options masking cannot follow, and binary COPY, are refused before any data.
    let odd = psql(&gateway, &token, &["COPY people TO STDOUT (NULL 'none')"]);
    assert!(
        !odd.ok && odd.stderr.contains("cannot be masked"),
        "{}",
        odd.stderr
    );
    assert!(odd.stdout.is_empty());
    let binary = psql(
        &gateway,
        &token,
        &["COPY (SELECT iban FROM people) TO STDOUT BINARY"],
    );
    assert!(
        !binary.ok && binary.stderr.contains("binary COPY cannot be masked"),
        "{}",
        binary.stderr
    );

    // The refusals are recorded as the statements' failed results.
    gateway.ended_sessions(4).await;
    let sessions = gateway.sessions().await;
    let failed: Vec<String> = sessions
        .values()
        .flat_map(|events| results(events))
        .filter_map(|r| r.error.as_ref().map(|e| e.code.clone()))
        .collect();
    assert_eq!(
        failed.iter().filter(|c| *c == "0A000").count(),
        3,
        "{failed:?}"
    );
    assert_nothing_written_holds_a_seeded_value(&gateway).await;
    gateway.stop().await;
}
