use super::*;

fn session() -> Uuid {
    Uuid::from_u128(0x0197_7b4e_4e00_7000_8000_0000_0000_0001)
}

#[test]
fn sealed_message_layout() {
    let hash = Digest::sha256(b"x");
    let message = sealed_message(session(), 0x0102_0304_0506_0708, &hash);
    assert_eq!(&message[..18], b"blastwall-seal-v1\0");
    assert_eq!(&message[18..34], session().as_bytes());
    assert_eq!(&message[34..42], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&message[42..], hash.as_bytes());
}

#[test]
fn rfc8032_test_vector_1_key_id() {
    // RFC 8032 §7.1 TEST 1: the seed and public key.
    let seed: [u8; 32] =
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap();
    let key = SealingKey::from_seed(&seed);
    assert_eq!(
        hex::encode(key.verifying_key().as_bytes()),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    let expected = &hex::encode(Digest::sha256(key.verifying_key().as_bytes()).as_bytes())[..16];
    assert_eq!(key.key_id().as_str(), expected);
}

#[test]
fn seal_verifies_only_for_its_message_and_key() {
    let key = SealingKey::from_seed(&[7; 32]);
    let keys = PublicKeys::from(&key);
    let hash = Digest::sha256(b"head");
    let seal = key.seal(session(), 5, &hash);
    assert_eq!(keys.verify(&seal, session(), 5, &hash), Ok(()));
    let invalid = Err(SealError::InvalidSignature(key.key_id().clone()));
    assert_eq!(keys.verify(&seal, session(), 6, &hash), invalid);
    assert_eq!(keys.verify(&seal, Uuid::nil(), 5, &hash), invalid);
    assert_eq!(
        keys.verify(&seal, session(), 5, &Digest::sha256(b"other")),
        invalid
    );

    let stranger = SealingKey::from_seed(&[8; 32]);
    let forged = stranger.seal(session(), 5, &hash);
    assert_eq!(
        keys.verify(&forged, session(), 5, &hash),
        Err(SealError::UnknownKey(stranger.key_id().clone()))
    );
    let impostor = Seal {
        key_id: key.key_id().clone(),
        signature: forged.signature,
    };
    assert_eq!(keys.verify(&impostor, session(), 5, &hash), invalid);
}

#[test]
fn seal_serializes_as_key_id_and_base64() {
    let key = SealingKey::from_seed(&[7; 32]);
    let seal = key.seal(session(), 0, &Digest::sha256(b""));
    let value = serde_json::to_value(&seal).unwrap();
    assert_eq!(value["key_id"], key.key_id().as_str());
    let signature = value["signature"].as_str().unwrap();
    assert_eq!(
        crate::base64_bytes::decode(signature).unwrap(),
        seal.signature.to_bytes()
    );
    assert_eq!(serde_json::from_value::<Seal>(value).unwrap(), seal);
    let short = serde_json::json!({"key_id": key.key_id().as_str(), "signature": "AAAA"});
    assert!(serde_json::from_value::<Seal>(short).is_err());
}

#[test]
fn key_ids_are_16_lowercase_hex() {
    assert!("0123456789abcdef".parse::<KeyId>().is_ok());
    for bad in [
        "0123456789ABCDEF",
        "0123456789abcde",
        "0123456789abcdef0",
        "g123456789abcdef",
    ] {
        assert_eq!(bad.parse::<KeyId>(), Err(InvalidKeyId(bad.into())));
    }
}

#[test]
fn private_key_file_round_trips_and_hides_the_key() {
    let key = SealingKey::generate();
    let text = key.to_file_contents();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["algorithm"], "Ed25519");
    assert_eq!(value["key_id"], key.key_id().as_str());
    let back = SealingKey::from_file_contents(&text).unwrap();
    assert_eq!(back.key_id(), key.key_id());
    assert_eq!(back.verifying_key(), key.verifying_key());

    let private = value["private_key"].as_str().unwrap();
    let debug = format!("{key:?}");
    assert!(
        !debug.contains(private),
        "Debug shows the private key: {debug}"
    );
    assert!(debug.contains(key.key_id().as_str()));
}

#[test]
fn private_key_file_is_checked() {
    let key = SealingKey::from_seed(&[7; 32]);
    let text = key.to_file_contents().to_string();
    let other = SealingKey::from_seed(&[8; 32]);
    let lying = text.replace(key.key_id().as_str(), other.key_id().as_str());
    assert!(matches!(
        SealingKey::from_file_contents(&lying),
        Err(KeyFileError::KeyIdMismatch { .. })
    ));
    assert_eq!(
        SealingKey::from_file_contents(&text.replace("Ed25519", "Ed448")).unwrap_err(),
        KeyFileError::UnsupportedAlgorithm("Ed448".into())
    );
    let seed_b64 = crate::base64_bytes::encode(&[7; 32]);
    assert_eq!(
        SealingKey::from_file_contents(&text.replace(&seed_b64, "AAAA")).unwrap_err(),
        KeyFileError::KeyEncoding {
            field: "private_key"
        }
    );
    assert!(matches!(
        SealingKey::from_file_contents("{}"),
        Err(KeyFileError::Syntax { .. })
    ));
}

#[test]
fn public_keys_export_round_trips() {
    let a = SealingKey::from_seed(&[7; 32]);
    let b = SealingKey::from_seed(&[8; 32]);
    let keys: PublicKeys = [a.verifying_key(), b.verifying_key()].into_iter().collect();
    let text = keys.to_json();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entries = value["keys"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries[0]["key_id"].as_str() < entries[1]["key_id"].as_str());
    assert_eq!(entries[0]["algorithm"], "Ed25519");
    assert_eq!(PublicKeys::from_json(&text).unwrap(), keys);

    let empty = PublicKeys::new();
    assert_eq!(PublicKeys::from_json(&empty.to_json()).unwrap(), empty);
}

#[test]
fn public_keys_import_is_checked() {
    let a = SealingKey::from_seed(&[7; 32]);
    let b = SealingKey::from_seed(&[8; 32]);
    let text = PublicKeys::from(&a).to_json();
    let lying = text.replace(a.key_id().as_str(), b.key_id().as_str());
    assert!(matches!(
        PublicKeys::from_json(&lying),
        Err(KeyFileError::KeyIdMismatch { .. })
    ));
    let entry = serde_json::json!({
        "key_id": a.key_id().as_str(),
        "algorithm": "Ed25519",
        "public_key": crate::base64_bytes::encode(a.verifying_key().as_bytes()),
    });
    let twice = serde_json::json!({ "keys": [entry.clone(), entry] }).to_string();
    assert_eq!(
        PublicKeys::from_json(&twice).unwrap_err(),
        KeyFileError::DuplicateKey(a.key_id().clone())
    );
}
