use serde_json::{Value, json};

use super::*;
use crate::body::{CommandReceived, CommandSummary};
use crate::target::Protocol;

/// A fixed event whose canonical bytes and hash are pinned below.
pub(super) fn golden_event() -> Event {
    let mut event = Event {
        schema_version: SCHEMA_VERSION,
        id: "01977b4e-4f2a-7c3d-9e10-5a6b7c8d9e0f".parse().unwrap(),
        session_id: "01977b4e-4e00-7000-8000-000000000001".parse().unwrap(),
        seq: 1,
        time: "2026-11-26T05:21:12.123456789Z".parse().unwrap(),
        actor: Actor {
            subject: "alice@example.com".into(),
            agents: vec!["claude-code".into()],
            groups: vec!["dba".into(), "eng".into()],
            issuer: "https://idp.example.com".into(),
            token_id: Some("jti-42".into()),
        },
        target: Target {
            name: "orders-db".into(),
            protocol: Protocol::Postgres,
        },
        client_addr: Some("192.0.2.7:51234".into()),
        body: EventBody::CommandReceived(CommandReceived {
            protocol: Protocol::Postgres,
            text: "SELECT \"naïve\", '€'\n\tFROM t -- \u{1}".into(),
            summary: Some(CommandSummary {
                action: "sql:select".into(),
                reads: vec!["public.t".into()],
                writes: vec![],
                functions: vec![],
                statements: 1,
            }),
            parameters: vec![None, Some("42".into())],
        }),
        prev: Some(Digest::sha256(b"seq 0")),
        hash: Digest::from_bytes([0; 32]),
        seal: None,
    };
    event.hash = event.compute_hash().unwrap();
    event
}

const GOLDEN_CANONICAL: &str = concat!(
    r#"{"actor":{"agents":["claude-code"],"groups":["dba","eng"],"#,
    r#""issuer":"https://idp.example.com","subject":"alice@example.com","#,
    r#""token_id":"jti-42"},"body":{"parameters":[null,"42"],"protocol":"postgres","#,
    r#""summary":{"action":"sql:select","functions":[],"reads":["public.t"],"statements":1,"#,
    r#""writes":[]},"text":"SELECT \"naïve\", '€'\n\tFROM t -- \u0001"},"#,
    r#""client_addr":"192.0.2.7:51234","id":"01977b4e-4f2a-7c3d-9e10-5a6b7c8d9e0f","#,
    r#""kind":"command.received","#,
    r#""prev":"96670da87861bb2eebf755d59569f5301e1dbc6ad5572821eede65332963bada","#,
    r#""schema_version":1,"seq":1,"session_id":"01977b4e-4e00-7000-8000-000000000001","#,
    r#""target":{"name":"orders-db","protocol":"postgres"},"#,
    r#""time":"2026-11-26T05:21:12.123456789Z"}"#,
);
/// Also computed independently with the Python canonicalizer in CHAIN.md.
const GOLDEN_HASH: &str = "9eaa417bcdb21b7da50255d0d898638e0448c3ab2fe098cd460dd642ae1967d6";

#[test]
fn golden_canonical_bytes() {
    let event = golden_event();
    let text = String::from_utf8(event.canonical_bytes().unwrap()).unwrap();
    assert_eq!(text, GOLDEN_CANONICAL);
    assert_eq!(event.hash.to_string(), GOLDEN_HASH);
}

#[test]
fn kind_and_body_sit_at_the_top_level() {
    let value = serde_json::to_value(golden_event()).unwrap();
    let members: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for member in [
        "schema_version",
        "id",
        "session_id",
        "seq",
        "time",
        "actor",
        "target",
        "client_addr",
        "kind",
        "body",
        "prev",
        "hash",
        "seal",
    ] {
        assert!(
            members.contains(&member),
            "{member} missing from {members:?}"
        );
    }
    assert_eq!(members.len(), 13);
    assert_eq!(value["kind"], "command.received");
    assert_eq!(value["seal"], Value::Null);
    assert_eq!(golden_event().kind_name(), "command.received");
}

#[test]
fn every_kind_round_trips_in_an_envelope() {
    for body in crate::body::tests::samples() {
        let mut event = golden_event();
        event.body = body;
        event.hash = event.compute_hash().unwrap();
        let text = serde_json::to_string(&event).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.compute_hash().unwrap(), event.hash);
    }
}

/// The direct canonical writer gives exactly the bytes of the `Value` route it replaced.
#[test]
fn canonical_bytes_are_those_of_the_value_route() {
    for body in crate::body::tests::samples() {
        let mut event = golden_event();
        event.body = body;
        let mut value = serde_json::to_value(&event).unwrap();
        if let Value::Object(members) = &mut value {
            for name in UNHASHED_MEMBERS {
                members.remove(name);
            }
        }
        let expected = crate::canonical::to_canonical_bytes(&value).unwrap();
        assert_eq!(
            String::from_utf8(event.canonical_bytes().unwrap()).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }
}

#[test]
fn hash_and_seal_are_not_hashed_but_prev_is() {
    let event = golden_event();
    let mut other = event.clone();
    other.hash = Digest::sha256(b"anything");
    other.seal =
        Some(crate::seal::SealingKey::from_seed(&[1; 32]).seal(event.session_id, 1, &event.hash));
    assert_eq!(
        other.canonical_bytes().unwrap(),
        event.canonical_bytes().unwrap()
    );
    other.prev = None;
    assert_ne!(other.compute_hash().unwrap(), event.hash);
}

#[test]
fn missing_and_unknown_members_are_rejected() {
    let value = serde_json::to_value(golden_event()).unwrap();
    for member in ["prev", "seal", "client_addr", "kind", "body", "hash"] {
        let mut incomplete = value.clone();
        incomplete.as_object_mut().unwrap().remove(member);
        assert!(
            serde_json::from_value::<Event>(incomplete).is_err(),
            "accepted without {member}"
        );
    }
    let mut extra = value.clone();
    extra["note"] = json!("smuggled");
    assert!(serde_json::from_value::<Event>(extra).is_err());
    let mut extra_in_actor = value;
    extra_in_actor["actor"]["admin"] = json!(true);
    assert!(serde_json::from_value::<Event>(extra_in_actor).is_err());
}
