//! Durability modes end to end: a `strict` target behind Kafka refuses statements while the
//! broker is down (and the session goes on), while a `durable` target keeps working from the
//! spool; when the broker returns, every event of both reaches Kafka.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use eventlog::{EmbeddedOptions, EventLog, KafkaConfig, SpoolConfig, SpooledLog, Stream};
use proxy::config::{PostgresListenerConfig, SecretSource, TargetConfig};
use proxy::identity::{IdentityConfig, LocalIssuer, MintRequest};
use proxy::server::ProxySettings;
use schemas::{Event, EventBody, SealingKey};
use tokio::sync::watch;
use tokio_postgres::NoTls;

fn target(
    name: &str,
    cluster: &testkit::postgres::Cluster,
    secret: &std::path::Path,
    durability: &str,
) -> TargetConfig {
    TargetConfig {
        name: name.into(),
        address: format!("127.0.0.1:{}", cluster.port()),
        database: "postgres".into(),
        user: cluster.superuser().into(),
        password: Some(SecretSource::File(secret.to_owned())),
        tls: Default::default(),
        durability: serde_json::from_value(serde_json::json!(durability)).unwrap(),
    }
}

async fn connect(port: u16, dbname: &str, token: &str) -> tokio_postgres::Client {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .dbname(dbname)
        .user("agent")
        .password(token);
    let (client, connection) = config
        .connect(NoTls)
        .await
        .expect("connect through the gateway");
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_refuses_while_kafka_is_down_and_durable_goes_on() {
    let cluster = testkit::postgres::Cluster::start().expect("a PostgreSQL cluster");
    let mut broker = testkit::kafka::Broker::start().expect("a private Kafka broker");
    let data = tempfile::tempdir().unwrap();
    let secret = data.path().join("pw");
    std::fs::write(&secret, cluster.password()).unwrap();

    let unique = uuid::Uuid::now_v7().simple().to_string();
    let mut kafka = KafkaConfig::new(broker.bootstrap());
    kafka.topics.events = format!("durability-{unique}.events");
    kafka.topics.control = format!("durability-{unique}.control");
    kafka.ack_timeout = Duration::from_secs(2);
    let log = Arc::new(
        SpooledLog::open(
            data.path().join("spool"),
            EmbeddedOptions::default(),
            kafka,
            SpoolConfig::default(),
        )
        .await
        .expect("spooled log"),
    );
    let settings = ProxySettings {
        identity: IdentityConfig::local("blastwall-test", "blastwall"),
        postgres: PostgresListenerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            allow_plaintext_on_loopback: true,
            ..PostgresListenerConfig::default()
        },
        targets: vec![
            target("strict-db", &cluster, &secret, "strict"),
            target("durable-db", &cluster, &secret, "durable"),
        ],
        ssh: None,
        policy: Default::default(),
        admin: None,
        approvals: Default::default(),
        masking: Default::default(),
        data_dir: data.path().to_owned(),
    };
    let (stop, stopped) = watch::channel(false);
    let running = proxy::server::start(
        settings,
        log.clone(),
        Arc::new(SealingKey::generate()),
        stopped,
    )
    .await
    .expect("proxy starts");
    let issuer =
        LocalIssuer::open_or_create(&proxy::server::local_issuer_key(data.path())).unwrap();
    let mut request = MintRequest::new(
        "blastwall-test",
        "blastwall",
        "dev@example.com",
        Duration::from_secs(3600),
    );
    request.issued_at = SystemTime::now();
    let token = issuer.mint(&request).unwrap();
    let port = running.postgres.port();

    let strict = connect(port, "strict-db", &token).await;
    let durable = connect(port, "durable-db", &token).await;
    assert_eq!(
        strict
            .query_one("SELECT 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1
    );

    tokio::task::block_in_place(|| broker.stop()).expect("stop the broker");
    let started = Instant::now();
    let refused = strict
        .query_one("SELECT 2", &[])
        .await
        .expect_err("strict refuses without Kafka");
    let db_error = refused.as_db_error().expect("an ErrorResponse");
    assert_eq!(db_error.code().code(), "58000");
    assert!(
        db_error.message().contains("strict durability"),
        "{}",
        db_error.message()
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "refused within the ack timeout"
    );
    let spooled = durable
        .query_one("SELECT 3", &[])
        .await
        .expect("durable runs from the spool");
    assert_eq!(spooled.get::<_, i32>(0), 3);

    tokio::task::block_in_place(|| broker.restart()).expect("restart the broker");
    // The producer reconnects and the spool drains; until then strict keeps refusing cleanly.
    let back = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match strict.query_one("SELECT 4", &[]).await {
            Ok(row) => break assert_eq!(row.get::<_, i32>(0), 4),
            Err(e) => {
                let code = e.as_db_error().map(|d| d.code().code().to_owned());
                assert_eq!(code.as_deref(), Some("58000"), "{e}");
                assert!(
                    back.elapsed() < Duration::from_secs(60),
                    "strict never recovered"
                );
            }
        }
    }
    drop((strict, durable));

    // Every statement, refused or not, reached Kafka once the broker was back.
    let texts = commands_in_kafka(log.as_ref(), 3 + attempts, Duration::from_secs(60)).await;
    for text in ["SELECT 1", "SELECT 2", "SELECT 3"] {
        assert_eq!(
            texts.iter().filter(|t| t.as_str() == text).count(),
            1,
            "{text} in {texts:?}"
        );
    }
    assert_eq!(
        texts.iter().filter(|t| t.as_str() == "SELECT 4").count(),
        attempts,
        "{texts:?}"
    );
    let _ = stop.send(true);
    running.wait().await;
}

/// The command texts of the events topic, read until `count` arrived.
async fn commands_in_kafka(log: &SpooledLog, count: usize, limit: Duration) -> Vec<String> {
    let mut sub = log
        .subscribe(Stream::Events, "durability-test")
        .await
        .unwrap();
    let until = Instant::now() + limit;
    let mut texts = Vec::new();
    while texts.len() < count && Instant::now() < until {
        for entry in sub.poll(1000, Duration::from_millis(500)).await.unwrap() {
            let event: Event = serde_json::from_slice(&entry.value).unwrap();
            if let EventBody::CommandReceived(command) = event.body {
                texts.push(command.text);
            }
        }
    }
    texts
}
