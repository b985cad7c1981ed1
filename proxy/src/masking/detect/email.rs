//! Email addresses: `local@domain.tld`, found from each `@` outwards.
//!
//! The local part takes letters, digits and `._%+-` (the other characters RFC 5322 allows are
//! rare, and `{`, `}` and `,` delimit arrays and JSON around an address);
//! the domain needs at least one dot and a top-level label of two or more letters. Case does not
//! matter, so `upper(email)` is found too.

use super::scan::mark;
use super::{Detector, Needs, Scan, Span};

/// Finds email addresses.
pub struct Email;

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 255;

fn is_local(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'-'
}

impl Detector for Email {
    fn needs(&self) -> Needs {
        Needs {
            digits: 0,
            token_digits: 0,
            marks: mark::AT,
        }
    }

    fn find_in(&self, text: &[u8], _scan: &Scan<'_>, found: &mut Vec<Span>) {
        let mut done = 0;
        for at in memchr::memchr_iter(b'@', text) {
            if at < done {
                continue;
            }
            let mut start = at;
            while start > done && at - start < MAX_LOCAL && is_local(text[start - 1]) {
                start -= 1;
            }
            while start < at && text[start] == b'.' {
                start += 1;
            }
            if start == at {
                continue;
            }
            let mut end = at + 1;
            while end < text.len() && end - at <= MAX_DOMAIN && is_domain(text[end]) {
                end += 1;
            }
            while end > at + 1 && matches!(text[end - 1], b'.' | b'-') {
                end -= 1;
            }
            if valid_domain(&text[at + 1..end]) {
                found.push(Span { start, end });
                done = end;
            }
        }
    }
}

fn valid_domain(domain: &[u8]) -> bool {
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|b| *b == b'.') {
        if label.is_empty() || label.len() > 63 {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2 && last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        Email.find(text.as_bytes(), &mut spans);
        spans.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn finds_addresses_in_text_json_and_arrays() {
        assert_eq!(find("alice@example.com"), ["alice@example.com"]);
        assert_eq!(
            find("ALICE.SMITH+X@MAIL.EXAMPLE.CO.UK."),
            ["ALICE.SMITH+X@MAIL.EXAMPLE.CO.UK"]
        );
        assert_eq!(
            find(r#"{"email":"bob_1@corp-mail.io","n":2}"#),
            ["bob_1@corp-mail.io"]
        );
        assert_eq!(find("{a@b.cd,c@d.ef}"), ["a@b.cd", "c@d.ef"]);
    }

    #[test]
    fn near_misses_are_not_addresses() {
        assert!(find("user@localhost").is_empty());
        assert!(find("@example.com").is_empty());
        assert!(find("a@b.c").is_empty());
        assert!(find("x@1.23").is_empty());
        assert!(find("a@.com").is_empty());
        assert!(find("price @ 5.00").is_empty());
    }
}
