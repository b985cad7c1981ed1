//! The key of the `hash` strategy: HMAC-SHA256 (RFC 2104), computed from the key's two padded
//! blocks hashed once, when the configuration is read.
//!
//! A hash rule runs once per value of its column, so the per-value cost is what counts: each
//! value costs its own blocks plus one for the outer hash (two SHA-256 compressions for a value
//! under 56 bytes), with no key setup, context copy through a foreign interface or allocation.
//! The result is the standard HMAC-SHA256 (checked against RFC 4231 and against aws-lc below).
//! The key's bytes are not kept, only the two hash states derived from them.

use sha2::{Digest, Sha256};

/// The key `hash` uses.
pub struct HashKey {
    /// SHA-256 state after the key XOR ipad block.
    inner: Sha256,
    /// SHA-256 state after the key XOR opad block.
    outer: Sha256,
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(***)")
    }
}

/// SHA-256's block size, the HMAC key's padded length.
const BLOCK: usize = 64;

impl HashKey {
    /// The key from a secret's bytes (hashed first when longer than a block, as HMAC says).
    pub fn new(secret: &[u8]) -> Self {
        let mut key = [0u8; BLOCK];
        if secret.len() > BLOCK {
            key[..32].copy_from_slice(&Sha256::digest(secret));
        } else {
            key[..secret.len()].copy_from_slice(secret);
        }
        let padded = |pad: u8| {
            let mut block = key;
            for byte in &mut block {
                *byte ^= pad;
            }
            let mut state = Sha256::new();
            state.update(block);
            zeroize::Zeroize::zeroize(&mut block);
            state
        };
        let hash_key = HashKey {
            inner: padded(0x36),
            outer: padded(0x5c),
        };
        zeroize::Zeroize::zeroize(&mut key);
        hash_key
    }

    /// HMAC-SHA256 of `value`.
    pub fn sign(&self, value: &[u8]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        inner.update(value);
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }

    /// `hmac:` + the first 16 bytes of HMAC-SHA256(value), in hex.
    pub fn hash(&self, value: &[u8]) -> Vec<u8> {
        self.tag(value).to_vec()
    }

    /// [`HashKey::hash`] without an allocation.
    pub fn tag(&self, value: &[u8]) -> [u8; 37] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let tag = self.sign(value);
        let mut out = [0u8; 37];
        out[..5].copy_from_slice(b"hmac:");
        for (pair, byte) in out[5..].chunks_exact_mut(2).zip(&tag) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::hmac;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn rfc_4231_vectors() {
        // Test case 1: a 20-byte key of 0x0b, "Hi There".
        assert_eq!(
            hex(&HashKey::new(&[0x0b; 20]).sign(b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 6: a 131-byte key (longer than a block, so hashed first).
        assert_eq!(
            hex(&HashKey::new(&[0xaa; 131])
                .sign(b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn agrees_with_aws_lc_for_every_key_and_value_length_around_the_block_edges() {
        for key_len in [0usize, 1, 16, 63, 64, 65, 200] {
            let secret: Vec<u8> = (0..key_len).map(|i| (i * 7 + 3) as u8).collect();
            let ours = HashKey::new(&secret);
            let reference = hmac::Key::new(hmac::HMAC_SHA256, &secret);
            for value_len in 0..300 {
                let value: Vec<u8> = (0..value_len).map(|i| (i * 13 + key_len) as u8).collect();
                assert_eq!(
                    ours.sign(&value).as_slice(),
                    hmac::sign(&reference, &value).as_ref(),
                    "key {key_len} bytes, value {value_len} bytes"
                );
            }
        }
    }
}
