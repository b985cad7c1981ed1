use super::*;
use crate::body::tests::samples;

#[test]
fn field_list_is_pinned() {
    let schema = events_schema();
    let fields: Vec<(&str, String, bool)> = schema
        .fields()
        .iter()
        .map(|f| {
            (
                f.name().as_str(),
                f.data_type().to_string(),
                f.is_nullable(),
            )
        })
        .collect();
    let expected: Vec<(&str, &str, bool)> = vec![
        ("schema_version", "UInt16", false),
        ("event_id", "Utf8", false),
        ("session_id", "Utf8", false),
        ("seq", "UInt64", false),
        ("time", "Timestamp(ns, \"UTC\")", false),
        ("kind", "Utf8", false),
        ("actor_subject", "Utf8", false),
        ("actor_agents", "List(Utf8)", false),
        ("actor_groups", "List(Utf8)", false),
        ("actor_issuer", "Utf8", false),
        ("actor_token_id", "Utf8", true),
        ("target_name", "Utf8", false),
        ("target_protocol", "Utf8", false),
        ("client_addr", "Utf8", true),
        ("body", "Utf8", false),
        ("prev", "FixedSizeBinary(32)", true),
        ("hash", "FixedSizeBinary(32)", false),
        ("seal_key_id", "Utf8", true),
        ("seal_signature", "Binary", true),
        ("command_text", "Utf8", true),
        ("verdict", "Utf8", true),
        ("row_count", "UInt64", true),
        ("terminal_data", "Binary", true),
        ("command_reads", "List(Utf8)", true),
        ("command_writes", "List(Utf8)", true),
        ("command_seq", "UInt64", true),
    ];
    let expected: Vec<(&str, String, bool)> = expected
        .into_iter()
        .map(|(n, t, null)| (n, t.to_owned(), null))
        .collect();
    assert_eq!(fields, expected);
}

#[test]
fn every_field_is_described() {
    for field in events_schema().fields() {
        let description = field.metadata().get(DESCRIPTION_KEY);
        assert!(
            description.is_some_and(|d| !d.is_empty()),
            "{} undescribed",
            field.name()
        );
    }
}

#[test]
fn list_items_match_arrows_list_builder_default() {
    let schema = events_schema();
    let DataType::List(item) = schema
        .field_with_name(columns::ACTOR_AGENTS)
        .unwrap()
        .data_type()
    else {
        panic!("actor_agents is a list");
    };
    assert_eq!(item.name(), Field::LIST_FIELD_DEFAULT_NAME);
    assert!(item.is_nullable());
}

#[test]
fn promoted_columns_come_from_their_kinds() {
    for body in samples() {
        let promoted = Promoted::of(&body);
        let expected = match &body {
            EventBody::CommandReceived(c) => Promoted {
                command_text: Some(&c.text),
                command_reads: c.summary.as_ref().map(|s| &s.reads[..]),
                command_writes: c.summary.as_ref().map(|s| &s.writes[..]),
                ..Promoted::default()
            },
            EventBody::PolicyDecided(p) => Promoted {
                verdict: Some(p.verdict),
                command_seq: Some(p.command_seq),
                ..Promoted::default()
            },
            EventBody::ApprovalRequested(a) => Promoted {
                command_seq: Some(a.command_seq),
                ..Promoted::default()
            },
            EventBody::ResultReturned(r) => Promoted {
                row_count: Some(r.row_count),
                command_seq: Some(r.command_seq),
                ..Promoted::default()
            },
            EventBody::TerminalOutput(t) | EventBody::TerminalInput(t) => Promoted {
                terminal_data: Some(&t.data),
                ..Promoted::default()
            },
            _ => Promoted::default(),
        };
        assert_eq!(promoted, expected, "{}", body.kind());
    }
}

#[test]
fn bodies_round_trip_through_the_body_column() {
    for body in samples() {
        let text = encode_body(&body).unwrap();
        assert!(!text.contains("\"kind\""), "{text}");
        assert_eq!(decode_body(body.kind().as_str(), &text).unwrap(), body);
    }
}

#[test]
fn body_column_is_the_canonical_content_of_the_tagged_body() {
    for body in samples() {
        let tagged = serde_json::to_value(&body).unwrap();
        let expected = crate::canonical::to_canonical_bytes(&tagged["body"]).unwrap();
        assert_eq!(encode_body(&body).unwrap().into_bytes(), expected);
    }
}

#[test]
fn body_column_must_be_canonical() {
    let body = &samples()[4];
    let text = encode_body(body).unwrap();
    let spaced = text.replacen(':', ": ", 1);
    assert!(matches!(
        decode_body("policy.decided", &spaced),
        Err(BodyColumnError::NotCanonical {
            kind: EventKind::PolicyDecided
        })
    ));
    let extra = text.replacen('{', "{\"zz\":1,", 1);
    assert!(matches!(
        decode_body("policy.decided", &extra),
        Err(BodyColumnError::Invalid { .. })
    ));
    assert!(matches!(
        decode_body("command.received", &text),
        Err(BodyColumnError::Invalid { .. })
    ));
    assert!(matches!(
        decode_body("policy.changed", &text),
        Err(BodyColumnError::UnknownKind(_))
    ));
}

#[test]
fn an_event_rebuilt_from_columns_has_the_same_hash() {
    use crate::Event;
    let mut chain = crate::ChainBuilder::new(crate::SessionContext {
        session_id: uuid::Uuid::from_u128(1),
        actor: crate::Actor::unauthenticated("alice"),
        target: crate::Target {
            name: "db".into(),
            protocol: crate::Protocol::Postgres,
        },
        client_addr: None,
    });
    let original = chain
        .next(crate::Timestamp::from_unix_nanos(5), samples()[3].clone())
        .unwrap();
    // What a reader of one row has: envelope columns, `kind`, and `body` text.
    let (kind, body_text) = (original.kind_name(), encode_body(&original.body).unwrap());
    let rebuilt = Event {
        body: decode_body(kind, &body_text).unwrap(),
        ..original.clone()
    };
    assert_eq!(rebuilt.compute_hash().unwrap(), original.hash);
}
