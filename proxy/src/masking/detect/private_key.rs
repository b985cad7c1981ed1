//! PEM private key blocks: from `-----BEGIN … PRIVATE KEY-----` to the matching `-----END …
//! PRIVATE KEY-----`. A block with no end (a truncated value) is masked to the end of the
//! value: what follows a key header is key material.

use memchr::memmem;

use super::scan::mark;
use super::{Detector, Needs, Scan, Span};

/// Finds PEM private key blocks.
pub struct PrivateKey;

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const LABEL: &[u8] = b"PRIVATE KEY-----";

impl Detector for PrivateKey {
    fn needs(&self) -> Needs {
        Needs {
            digits: 0,
            token_digits: 0,
            marks: mark::B,
        }
    }

    fn find_in(&self, text: &[u8], _scan: &Scan<'_>, found: &mut Vec<Span>) {
        let mut at = 0;
        // A dash first (cheap), then the whole marker.
        while let Some(offset) = memchr::memchr(b'-', &text[at..]) {
            let start = at + offset;
            if !text[start..].starts_with(BEGIN) {
                at = start + 1;
                continue;
            }
            let header_end = start + BEGIN.len();
            // The label sits on the header line: `RSA PRIVATE KEY-----`, `OPENSSH PRIVATE KEY-----`.
            let line = &text[header_end..text.len().min(header_end + 40)];
            let Some(label) = memmem::find(line, LABEL) else {
                at = header_end;
                continue;
            };
            let body = header_end + label + LABEL.len();
            let end = match memmem::find(&text[body..], END) {
                Some(close) => {
                    let close = body + close + END.len();
                    match memmem::find(&text[close..], b"-----") {
                        Some(dashes) => close + dashes + 5,
                        None => text.len(),
                    }
                }
                None => text.len(),
            };
            found.push(Span { start, end });
            at = end;
            if at >= text.len() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        PrivateKey.find(text.as_bytes(), &mut spans);
        spans.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn finds_whole_blocks_and_truncated_ones() {
        let rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
        assert_eq!(find(&format!("key: {rsa} done")), [rsa]);
        let escaped =
            r"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----";
        assert_eq!(find(escaped), [escaped]);
        assert_eq!(
            find("-----BEGIN PRIVATE KEY-----\nMIIEv"),
            ["-----BEGIN PRIVATE KEY-----\nMIIEv"]
        );
    }

    #[test]
    fn public_material_is_not_a_private_key() {
        assert!(find("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----").is_empty());
        assert!(find("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----").is_empty());
    }
}
