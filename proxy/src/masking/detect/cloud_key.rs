//! Cloud access keys, by their documented prefixes: AWS access key ids (`AKIA`/`ASIA` + 16
//! upper-case letters or digits), Google API keys (`AIza` + 35 URL-safe characters) and Azure
//! storage account keys (`AccountKey=` + base64, as in connection strings). All start with `A`,
//! so one `memchr` pass finds every candidate.

use super::scan::mark;
use super::{Detector, Needs, Scan, Span, starts_token};

/// Finds cloud access keys.
pub struct CloudKey;

impl Detector for CloudKey {
    fn needs(&self) -> Needs {
        Needs {
            digits: 0,
            token_digits: 0,
            marks: mark::A,
        }
    }

    fn find_in(&self, text: &[u8], _scan: &Scan<'_>, found: &mut Vec<Span>) {
        let mut done = 0;
        for at in memchr::memchr_iter(b'A', text) {
            if at < done {
                continue;
            }
            let rest = &text[at..];
            let end = if rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA") {
                fixed(text, at, 4, 16, |b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit()
                })
            } else if rest.starts_with(b"AIza") {
                fixed(text, at, 4, 35, |b| {
                    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
                })
            } else if rest.starts_with(b"AccountKey=") {
                azure(text, at + "AccountKey=".len())
            } else {
                None
            };
            if let Some(end) = end {
                found.push(Span { start: at, end });
                done = end;
            }
        }
    }
}

/// `prefix` bytes then exactly `len` bytes of `class`, standing alone.
fn fixed(
    text: &[u8],
    at: usize,
    prefix: usize,
    len: usize,
    class: fn(u8) -> bool,
) -> Option<usize> {
    if !starts_token(text, at) {
        return None;
    }
    let body = text.get(at + prefix..at + prefix + len)?;
    let end = at + prefix + len;
    let alone = text.get(end).is_none_or(|b| !class(*b));
    (body.iter().all(|b| class(*b)) && alone).then_some(end)
}

/// The base64 key after `AccountKey=`: the key is masked, the name stays readable.
fn azure(text: &[u8], from: usize) -> Option<usize> {
    let mut end = from;
    while end < text.len()
        && (text[end].is_ascii_alphanumeric() || matches!(text[end], b'+' | b'/' | b'='))
    {
        end += 1;
    }
    (end - from >= 20).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        CloudKey.find(text.as_bytes(), &mut spans);
        spans.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn finds_aws_google_and_azure_keys() {
        assert_eq!(find("id=AKIAIOSFODNN7EXAMPLE;"), ["AKIAIOSFODNN7EXAMPLE"]);
        assert_eq!(find("ASIAY34FZKBOKMUTVV7A"), ["ASIAY34FZKBOKMUTVV7A"]);
        assert_eq!(
            find("key AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"),
            ["AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"]
        );
        assert_eq!(
            find(
                "AccountName=x;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
            ),
            [
                "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
            ]
        );
    }

    #[test]
    fn near_misses_are_not_keys() {
        assert!(find("AKIAIOSFODNN7EXAMPL").is_empty());
        assert!(find("AKIAIOSFODNN7EXAMPLE1").is_empty());
        assert!(find("XAKIAIOSFODNN7EXAMPLE").is_empty());
        assert!(find("akiaiosfodnn7example").is_empty());
        assert!(find("AccountKey=short").is_empty());
        assert!(find("AIza too short").is_empty());
    }
}
