//! Approvals across proxies: two proxies on one real Kafka (`BLASTWALL_KAFKA_BROKERS`), a
//! statement held by one, the decision cast through the other's API; the held statement
//! resumes where it waits, and both streams say so.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::approvals::{decided, holding_policy, requested, waiting_for};
use eventlog::{EventLog, KafkaConfig, KafkaLog, Stream};
use proxy::approvals::client::ApprovalsClient;
use proxy::config::{PostgresListenerConfig, SecretSource, TargetConfig};
use proxy::identity::{IdentityConfig, LocalIssuer, MintRequest};
use proxy::server::{AdminConfig, ProxySettings, RunningProxy};
use schemas::body::ApprovalDecision;
use schemas::control::{ControlBody, ControlEvent};
use schemas::{Event, SealingKey, verify_session};
use tokio::sync::watch;

const ISSUER: &str = "blastwall-test";

struct Proxy {
    running: RunningProxy,
    log: Arc<KafkaLog>,
}

async fn start_proxy(
    kafka: &KafkaConfig,
    cluster: &testkit::postgres::Cluster,
    data: &std::path::Path,
    policy: proxy::policy::PolicyConfig,
    key: Arc<SealingKey>,
    stopped: watch::Receiver<bool>,
) -> Proxy {
    let secret = data.join("upstream-password");
    std::fs::write(&secret, cluster.password()).unwrap();
    let log = Arc::new(KafkaLog::connect(kafka.clone()).await.expect("Kafka log"));
    let settings = ProxySettings {
        identity: IdentityConfig::local(ISSUER, "blastwall"),
        postgres: PostgresListenerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            allow_plaintext_on_loopback: true,
            ..PostgresListenerConfig::default()
        },
        ssh: None,
        masking: Default::default(),
        targets: vec![TargetConfig {
            name: "app".into(),
            address: format!("127.0.0.1:{}", cluster.port()),
            database: "postgres".into(),
            user: cluster.superuser().into(),
            password: Some(SecretSource::File(secret)),
            tls: Default::default(),
            durability: Default::default(),
        }],
        policy,
        admin: Some(AdminConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
        }),
        approvals: Default::default(),
        data_dir: data.to_owned(),
    };
    let running = proxy::server::start(settings, log.clone(), key, stopped)
        .await
        .expect("proxy starts");
    Proxy { running, log }
}

fn token(data: &std::path::Path, sub: &str, act: &[&str], groups: &[&str]) -> String {
    let issuer = LocalIssuer::open_or_create(&proxy::server::local_issuer_key(data)).unwrap();
    let mut request = MintRequest::new(ISSUER, "blastwall", sub, Duration::from_secs(3600));
    request.act = act.iter().map(|s| s.to_string()).collect();
    request.groups = groups.iter().map(|s| s.to_string()).collect();
    request.issued_at = SystemTime::now();
    issuer.mint(&request).unwrap()
}

/// Reads `stream` from the start until `done` is satisfied (up to 30 s).
async fn read_until<T>(
    log: &KafkaLog,
    stream: Stream,
    decode: impl Fn(&[u8]) -> T,
    done: impl Fn(&[T]) -> bool,
) -> Vec<T> {
    let consumer = format!("test-{}", uuid::Uuid::now_v7().simple());
    let mut sub = log.subscribe(stream, &consumer).await.unwrap();
    let mut values = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done(&values) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{stream} never had what was expected"
        );
        for entry in sub.poll(1000, Duration::from_millis(200)).await.unwrap() {
            values.push(decode(&entry.value));
        }
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_cast_through_another_proxy_resumes_the_held_statement() {
    let brokers = testkit::kafka::shared_brokers().expect("a Kafka broker");
    let cluster = testkit::postgres::Cluster::start().expect("a PostgreSQL cluster");
    let data = tempfile::tempdir().unwrap();
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let mut kafka = KafkaConfig::new(brokers);
    kafka.topics.events = format!("approvals-{unique}.events");
    kafka.topics.control = format!("approvals-{unique}.control");
    let key = Arc::new(SealingKey::generate());
    let keys = schemas::PublicKeys::from(key.as_ref());
    let (stop, stopped) = watch::channel(false);
    let policy = holding_policy("10m");
    let holding = start_proxy(
        &kafka,
        &cluster,
        data.path(),
        policy.clone(),
        key.clone(),
        stopped.clone(),
    )
    .await;
    let deciding = start_proxy(&kafka, &cluster, data.path(), policy, key, stopped).await;

    cluster
        .psql("postgres", "CREATE TABLE doomed (id int)")
        .unwrap();
    let agent = token(
        data.path(),
        "dev@example.com",
        &["coding-agent"],
        &["agents"],
    );
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(holding.running.postgres.port())
        .dbname("app")
        .user("agent")
        .password(&agent);
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let waiter = tokio::spawn(async move { client.simple_query("DROP TABLE doomed").await });

    let bob = token(data.path(), "bob@example.com", &[], &["dba"]);
    let elsewhere =
        ApprovalsClient::new(&format!("http://{}", deciding.running.admin.unwrap()), &bob).unwrap();
    // The other proxy learns of the request from Kafka.
    let view = waiting_for(&elsewhere, "DROP TABLE doomed").await;
    assert_eq!(view.group, "dba");
    assert!(!waiter.is_finished());
    elsewhere
        .approve(view.id, Some("approved from the other proxy".into()), None)
        .await
        .expect("bob approves through the other proxy");
    tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("resumed where it was held")
        .unwrap()
        .expect("the DROP ran");
    let left = cluster
        .psql(
            "postgres",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'doomed'",
        )
        .unwrap();
    assert_eq!(left.trim(), "0");

    let control = read_until(
        &holding.log,
        Stream::Control,
        |v| serde_json::from_slice::<ControlEvent>(v).unwrap(),
        |events| events.len() >= 2,
    )
    .await;
    assert!(
        matches!(&control[0].body, ControlBody::ApprovalRequested(p) if p.request.approval_id == view.id)
    );
    assert!(matches!(&control[1].body, ControlBody::ApprovalDecided(d)
        if d.approval_id == view.id && d.decision == ApprovalDecision::Approve));

    let _ = stop.send(true);
    holding.running.wait().await;
    deciding.running.wait().await;
    let events = read_until(
        &deciding.log,
        Stream::Events,
        |v| serde_json::from_slice::<Event>(v).unwrap(),
        |events| events.iter().any(|e| e.kind_name() == "session.ended"),
    )
    .await;
    verify_session(&events, &keys).expect("the held session's record verifies");
    assert_eq!(requested(&events)[0].approval_id, view.id);
    let vote = decided(&events)[0];
    assert_eq!(vote.approver.as_ref().unwrap().subject, "bob@example.com");
    assert_eq!(
        vote.reason.as_deref(),
        Some("approved from the other proxy")
    );
}
