//! JSON Web Tokens: three base64url segments joined by dots, the first starting `eyJ` (the
//! encoding of `{"`). The signature may be empty (unsecured tokens are tokens too).

use super::scan::mark;
use super::{Detector, Needs, Scan, Span};

/// Finds JSON Web Tokens.
pub struct Jwt;

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

impl Detector for Jwt {
    fn needs(&self) -> Needs {
        Needs {
            digits: 0,
            token_digits: 0,
            marks: mark::J,
        }
    }

    fn find_in(&self, text: &[u8], _scan: &Scan<'_>, found: &mut Vec<Span>) {
        let mut done = 0;
        // `J` is rare in text, `e` is not: find the `J` of `eyJ`, then look back.
        for j in memchr::memchr_iter(b'J', text) {
            if j < done + 2 || text[j - 2] != b'e' || text[j - 1] != b'y' {
                continue;
            }
            let start = j - 2;
            if start > 0 && is_base64url(text[start - 1]) {
                continue;
            }
            let header = segment(text, start);
            if header - start < 10 || text.get(header) != Some(&b'.') {
                continue;
            }
            let payload = segment(text, header + 1);
            if payload - header - 1 < 2 || text.get(payload) != Some(&b'.') {
                continue;
            }
            let end = segment(text, payload + 1);
            found.push(Span { start, end });
            done = end;
        }
    }
}

fn segment(text: &[u8], from: usize) -> usize {
    let mut end = from;
    while end < text.len() && is_base64url(text[end]) {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        Jwt.find(text.as_bytes(), &mut spans);
        spans.iter().map(|s| &text[s.start..s.end]).collect()
    }

    const TOKEN: &str =
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

    #[test]
    fn finds_signed_and_unsecured_tokens() {
        assert_eq!(find(&format!("Bearer {TOKEN}")), [TOKEN]);
        assert_eq!(
            find("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
            ["eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."]
        );
    }

    #[test]
    fn near_misses_are_not_tokens() {
        assert!(find("eyJhbGciOiJIUzI1NiJ9").is_empty());
        assert!(find("eyJ.x.y").is_empty());
        assert!(find("xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig").is_empty());
    }
}
