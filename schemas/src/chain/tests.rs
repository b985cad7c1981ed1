use uuid::Uuid;

use super::*;
use crate::actor::Actor;
use crate::body::tests::samples;
use crate::body::{EndReason, EventBody, EventKind, SessionCounters, SessionEnded};
use crate::digest::Digest;
use crate::event::Event;
use crate::seal::{PublicKeys, SealingKey};
use crate::target::{Protocol, Target};
use crate::time::Timestamp;

const SESSION: Uuid = Uuid::from_u128(0x0197_7b4e_4e00_7000_8000_0000_0000_0001);

fn key() -> SealingKey {
    SealingKey::from_seed(&[7; 32])
}

fn context() -> SessionContext {
    SessionContext {
        session_id: SESSION,
        actor: Actor::unauthenticated("alice"),
        target: Target {
            name: "orders-db".into(),
            protocol: Protocol::Postgres,
        },
        client_addr: Some("192.0.2.7:51234".into()),
    }
}

fn time(seq: u64) -> Timestamp {
    Timestamp::from_unix_nanos(1_795_670_472_000_000_000 + i64::try_from(seq).unwrap() * 1_000)
}

fn ended() -> SessionEnded {
    SessionEnded {
        reason: EndReason::ClientClosed,
        counters: SessionCounters::default(),
    }
}

/// An open session: one event of every kind but `session.ended`.
fn open_session() -> (ChainBuilder, Vec<Event>) {
    let mut chain = ChainBuilder::new(context());
    let events = samples()
        .into_iter()
        .filter(|body| body.kind() != EventKind::SessionEnded)
        .map(|body| chain.next(time(chain.next_seq()), body).unwrap())
        .collect();
    (chain, events)
}

/// Number of events in [`sealed_session`]; the last, sealed one has seq `LAST`.
const EVENTS: usize = 15;
const LAST: u64 = 14;

/// A sealed session of [`EVENTS`] events.
fn sealed_session() -> Vec<Event> {
    let (chain, mut events) = open_session();
    let seq = chain.next_seq();
    events.push(chain.end(time(seq), ended(), &key()).unwrap());
    events
}

fn keys() -> PublicKeys {
    PublicKeys::from(&key())
}

fn rehash(event: &mut Event) {
    event.hash = event.compute_hash().unwrap();
}

fn broken(seq: u64, kind: BreakKind) -> Result<SessionReport, ChainBreak> {
    Err(ChainBreak {
        session_id: SESSION,
        seq,
        kind,
    })
}

#[test]
fn builder_links_and_numbers_events() {
    let events = sealed_session();
    assert_eq!(events.len(), EVENTS);
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event.seq, u64::try_from(index).unwrap());
        assert_eq!(event.session_id, SESSION);
        assert_eq!(event.hash, event.compute_hash().unwrap());
        assert_eq!(event.seal.is_some(), index == EVENTS - 1);
        assert_eq!(event.id.get_version_num(), 7);
    }
    assert_eq!(events[0].prev, None);
    for pair in events.windows(2) {
        assert_eq!(pair[1].prev, Some(pair[0].hash));
    }
}

#[test]
fn event_ids_carry_the_event_time_in_milliseconds() {
    let (_, events) = open_session();
    let (seconds, nanos) = events[0].id.get_timestamp().unwrap().to_unix();
    assert_eq!(seconds, 1_795_670_472);
    assert_eq!(nanos, 0);
}

#[test]
fn builder_refuses_an_unsealed_end() {
    let mut chain = ChainBuilder::new(context());
    let result = chain.next(time(0), EventBody::SessionEnded(ended()));
    assert_eq!(result, Err(ChainError::EndWithoutSeal));
    assert_eq!(chain.next_seq(), 0);
    assert_eq!(chain.head(), None);
}

#[test]
fn actor_changes_apply_to_later_events() {
    let mut chain = ChainBuilder::new(context());
    let bodies = samples();
    let first = chain.next(time(0), bodies[0].clone()).unwrap();
    let mut alice = Actor::unauthenticated("alice@example.com");
    alice.issuer = "https://idp.example.com".into();
    chain.set_actor(alice.clone());
    let second = chain.next(time(1), bodies[1].clone()).unwrap();
    assert!(!first.actor.is_authenticated());
    assert_eq!(second.actor, alice);
    assert_eq!(chain.context().actor, alice);
    assert_eq!(chain.head(), Some(second.hash));
}

#[test]
fn valid_sealed_chain_passes() {
    let events = sealed_session();
    let report = verify_session(&events, &keys()).unwrap();
    assert_eq!(
        report,
        SessionReport {
            session_id: SESSION,
            events: EVENTS as u64,
            head: events[EVENTS - 1].hash,
            status: SessionStatus::Sealed {
                key_id: key().key_id().clone()
            },
        }
    );
}

#[test]
fn valid_open_chain_passes_as_open() {
    let (_, events) = open_session();
    let report = verify_session(&events, &keys()).unwrap();
    assert_eq!(report.status, SessionStatus::Open);
    assert_eq!(report.events, LAST);
}

#[test]
fn modified_body_is_a_hash_mismatch() {
    let mut events = sealed_session();
    let EventBody::CommandReceived(command) = &mut events[3].body else {
        panic!("seq 3 is the command");
    };
    command.text = "SELECT 1".into();
    let computed = events[3].compute_hash().unwrap();
    assert_eq!(
        verify_session(&events, &keys()),
        broken(
            3,
            BreakKind::HashMismatch {
                stored: events[3].hash,
                computed
            }
        )
    );
}

#[test]
fn modified_and_rehashed_event_breaks_the_next_link() {
    let mut events = sealed_session();
    events[3].time = Timestamp::UNIX_EPOCH;
    rehash(&mut events[3]);
    assert_eq!(
        verify_session(&events, &keys()),
        broken(
            4,
            BreakKind::PrevMismatch {
                expected: Some(events[3].hash),
                found: events[4].prev
            }
        )
    );
}

#[test]
fn deleted_event_is_a_gap() {
    let mut events = sealed_session();
    events.remove(5);
    assert_eq!(
        verify_session(&events, &keys()),
        broken(5, BreakKind::SeqGap { found: 6 })
    );
}

#[test]
fn deleted_tail_of_an_unsealed_session_is_undetectable_but_reported_open() {
    let (_, mut events) = open_session();
    events.truncate(4);
    assert_eq!(
        verify_session(&events, &keys()).unwrap().status,
        SessionStatus::Open
    );
}

#[test]
fn swapped_events_are_out_of_order() {
    let mut events = sealed_session();
    events.swap(4, 5);
    assert_eq!(
        verify_session(&events, &keys()),
        broken(4, BreakKind::SeqOutOfOrder { found: 5 })
    );
    // Streaming, the verifier cannot see that seq 4 comes later.
    let keys = keys();
    let mut verifier = ChainVerifier::new(SESSION, &keys);
    let first_error = events.iter().find_map(|event| verifier.push(event).err());
    assert_eq!(
        first_error.map(|b| b.kind),
        Some(BreakKind::SeqGap { found: 5 })
    );
}

#[test]
fn forged_insert_with_own_hash_breaks_prev() {
    let mut events = sealed_session();
    let mut forged = events[6].clone();
    forged.body = samples()[4].clone();
    forged.prev = Some(Digest::sha256(b"guess"));
    rehash(&mut forged);
    events.insert(6, forged.clone());
    assert_eq!(
        verify_session(&events, &keys()),
        broken(
            6,
            BreakKind::PrevMismatch {
                expected: Some(events[5].hash),
                found: forged.prev
            }
        )
    );
}

#[test]
fn duplicate_seq_is_a_repeat() {
    let mut events = sealed_session();
    let copy = events[6].clone();
    events.insert(7, copy);
    assert_eq!(
        verify_session(&events, &keys()),
        broken(7, BreakKind::SeqRepeated { found: 6 })
    );
}

#[test]
fn rewritten_tail_is_caught_by_the_seal() {
    // Delete seq 5, renumber and relink everything after it: only the seal can tell.
    let mut events = sealed_session();
    events.remove(5);
    for index in 5..events.len() {
        events[index].seq = u64::try_from(index).unwrap();
        events[index].prev = Some(events[index - 1].hash);
        rehash(&mut events[index]);
    }
    let last = u64::try_from(events.len() - 1).unwrap();
    assert_eq!(
        verify_session(&events, &keys()),
        broken(
            last,
            BreakKind::SealInvalid {
                key_id: key().key_id().clone()
            }
        )
    );
}

#[test]
fn seal_by_an_untrusted_key_is_unknown() {
    let mut events = sealed_session();
    let last = events.last_mut().unwrap();
    let stranger = SealingKey::from_seed(&[9; 32]);
    last.seal = Some(stranger.seal(last.session_id, last.seq, &last.hash));
    assert_eq!(
        verify_session(&events, &keys()),
        broken(
            LAST,
            BreakKind::UnknownKey {
                key_id: stranger.key_id().clone()
            }
        )
    );
}

#[test]
fn seal_by_another_key_claiming_the_trusted_id_is_invalid() {
    let mut events = sealed_session();
    let last = events.last_mut().unwrap();
    let mut seal = SealingKey::from_seed(&[9; 32]).seal(last.session_id, last.seq, &last.hash);
    seal.key_id = key().key_id().clone();
    last.seal = Some(seal);
    let expected = BreakKind::SealInvalid {
        key_id: key().key_id().clone(),
    };
    assert_eq!(verify_session(&events, &keys()), broken(LAST, expected));
}

#[test]
fn flipped_signature_byte_is_invalid() {
    let mut events = sealed_session();
    let seal = events.last_mut().unwrap().seal.as_mut().unwrap();
    let mut bytes = seal.signature.to_bytes();
    bytes[10] ^= 0x01;
    seal.signature = ed25519_dalek::Signature::from_bytes(&bytes);
    let expected = BreakKind::SealInvalid {
        key_id: key().key_id().clone(),
    };
    assert_eq!(verify_session(&events, &keys()), broken(LAST, expected));
}

#[test]
fn ended_session_without_seal_is_refused() {
    let mut events = sealed_session();
    events.last_mut().unwrap().seal = None;
    assert_eq!(
        verify_session(&events, &keys()),
        broken(LAST, BreakKind::SealMissing)
    );
}

#[test]
fn seal_on_a_non_final_event_is_refused() {
    let mut events = sealed_session();
    let event = &mut events[2];
    event.seal = Some(key().seal(event.session_id, event.seq, &event.hash));
    assert_eq!(
        verify_session(&events, &keys()),
        broken(
            2,
            BreakKind::UnexpectedSeal {
                kind: events[2].kind()
            }
        )
    );
}

#[test]
fn event_after_the_end_is_refused() {
    let mut events = sealed_session();
    let mut trailing = events[2].clone();
    trailing.seq = LAST + 1;
    trailing.prev = Some(events[EVENTS - 1].hash);
    rehash(&mut trailing);
    events.push(trailing);
    assert_eq!(
        verify_session(&events, &keys()),
        broken(
            LAST + 1,
            BreakKind::EventAfterEnd {
                kind: EventKind::AuthenticationSucceeded
            }
        )
    );
}

#[test]
fn mixed_sessions_are_refused() {
    let mut events = sealed_session();
    events[3].session_id = Uuid::nil();
    rehash(&mut events[3]);
    assert_eq!(
        verify_session(&events, &keys()),
        broken(3, BreakKind::MixedSession { found: Uuid::nil() })
    );
}

#[test]
fn first_event_must_have_no_prev() {
    let mut events = sealed_session();
    events[0].prev = Some(Digest::sha256(b"before"));
    rehash(&mut events[0]);
    assert_eq!(
        verify_session(&events[..1], &keys()),
        broken(
            0,
            BreakKind::PrevMismatch {
                expected: None,
                found: events[0].prev
            }
        )
    );
}

#[test]
fn unknown_schema_version_is_refused() {
    let mut events = sealed_session();
    events[1].schema_version = 2;
    rehash(&mut events[1]);
    assert_eq!(
        verify_session(&events, &keys()),
        broken(1, BreakKind::UnsupportedVersion { found: 2 })
    );
}

#[test]
fn no_events_is_a_break() {
    let broken = verify_session(&[], &keys()).unwrap_err();
    assert_eq!(broken.kind, BreakKind::Empty);
    assert_eq!(
        broken.to_string(),
        format!("session {}: no events to verify", Uuid::nil())
    );
    let keys = keys();
    assert_eq!(
        ChainVerifier::new(SESSION, &keys)
            .finish()
            .unwrap_err()
            .session_id,
        SESSION
    );
}

#[test]
fn streaming_verifier_stays_broken() {
    let mut events = sealed_session();
    events.remove(2);
    let keys = keys();
    let mut verifier = ChainVerifier::new(SESSION, &keys);
    assert!(verifier.push(&events[0]).is_ok());
    assert!(verifier.push(&events[1]).is_ok());
    let first = verifier.push(&events[2]).unwrap_err();
    assert_eq!(verifier.push(&events[3]), Err(first.clone()));
    assert_eq!(verifier.finish(), Err(first));
}

#[test]
fn break_messages_name_session_and_seq() {
    let mut events = sealed_session();
    events.remove(5);
    let message = verify_session(&events, &keys()).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "session {SESSION}: chain broken at seq 5: expected seq 5, found seq 6: \
             events are missing (deleted) or out of order"
        )
    );
}

/// Pushes `events` with precomputed hashes, the last one's seal checked by `checked_by`.
fn push_hashed_with(
    events: &[Event],
    keys: &PublicKeys,
    checked_by: &PublicKeys,
) -> Result<SessionReport, ChainBreak> {
    let mut verifier = ChainVerifier::new(events[0].session_id, keys);
    for event in events {
        let check = event
            .seal
            .as_ref()
            .map(|seal| checked_by.check(seal, event.session_id, event.seq, &event.hash));
        verifier.push_hashed(
            &Link::of(event),
            event.compute_hash().unwrap(),
            check.as_ref(),
        )?;
    }
    verifier.finish()
}

#[test]
fn push_hashed_agrees_with_push() {
    let keys = PublicKeys::from(&key());
    let events = sealed_session();
    assert_eq!(
        push_hashed_with(&events, &keys, &keys),
        verify_session(&events, &keys)
    );
    let mut forged = events.clone();
    let last = forged.last_mut().unwrap();
    last.seal = Some(SealingKey::from_seed(&[9; 32]).seal(last.session_id, last.seq, &last.hash));
    assert_eq!(
        push_hashed_with(&forged, &keys, &keys),
        verify_session(&forged, &keys)
    );
}

#[test]
fn a_seal_check_is_trusted_only_for_the_keys_and_event_it_was_taken_with() {
    let keys = PublicKeys::from(&key());
    let events = sealed_session();
    // A forger's key set under the same id cannot vouch for a forged seal.
    let forger = SealingKey::from_seed(&[9; 32]);
    let mut forged = events.clone();
    let last = forged.last_mut().unwrap();
    let mut seal = forger.seal(last.session_id, last.seq, &last.hash);
    seal.key_id = key().key_id().clone();
    last.seal = Some(seal);
    let mut forger_keys = PublicKeys::new();
    let forged_id = forger_keys.insert(forger.verifying_key());
    assert_ne!(&forged_id, key().key_id());
    let broken = push_hashed_with(&forged, &keys, &keys).unwrap_err();
    assert!(
        matches!(broken.kind, BreakKind::SealInvalid { .. }),
        "{broken:?}"
    );
    let broken = push_hashed_with(&forged, &keys, &forger_keys).unwrap_err();
    assert!(
        matches!(broken.kind, BreakKind::SealInvalid { .. }),
        "{broken:?}"
    );
    // A check taken on another event is not used for this one.
    let last = events.last().unwrap();
    let other = keys.check(
        last.seal.as_ref().unwrap(),
        last.session_id,
        last.seq + 1,
        &last.hash,
    );
    let mut verifier = ChainVerifier::new(last.session_id, &keys);
    for event in &events[..events.len() - 1] {
        verifier.push(event).unwrap();
    }
    verifier
        .push_hashed(&Link::of(last), last.hash, Some(&other))
        .unwrap();
}

#[test]
fn linked_events_read_back_as_the_chain_with_hashes_of_their_canonical_bytes() {
    let mut chain = ChainBuilder::new(context());
    let bodies: Vec<EventBody> = samples()
        .into_iter()
        .filter(|body| body.kind() != EventKind::SessionEnded)
        .collect();
    let mut linked: Vec<Linked> = bodies
        .iter()
        .map(|body| {
            chain
                .next_linked(time(chain.next_seq()), body.clone())
                .unwrap()
        })
        .collect();
    let seq = chain.next_seq();
    linked.push(chain.end_linked(time(seq), ended(), &key()).unwrap());

    let mut events = Vec::new();
    for (seq, linked) in linked.into_iter().enumerate() {
        let (hash, json) = (linked.hash(), linked.into_json().unwrap());
        let event: Event = serde_json::from_slice(&json).unwrap();
        assert_eq!(event.seq, seq as u64);
        assert_eq!(event.hash, hash);
        // The spliced encoding is the canonical one, and it is what the JSON holds before
        // `hash` and `seal`.
        assert_eq!(event.compute_hash().unwrap(), event.hash);
        let text = String::from_utf8(json).unwrap();
        let cut = text.rfind(",\"hash\":").unwrap();
        let hashed = format!("{}}}", &text[..cut]);
        assert_eq!(hashed.as_bytes(), event.canonical_bytes().unwrap());
        events.push(event);
    }
    for (event, body) in events.iter().zip(&bodies) {
        assert_eq!(&event.body, body);
        assert_eq!(event.actor, context().actor);
        assert_eq!(event.client_addr, context().client_addr);
    }
    let report = verify_session(&events, &keys()).unwrap();
    assert!(matches!(report.status, SessionStatus::Sealed { .. }));
    assert_eq!(report.events, bodies.len() as u64 + 1);
}
