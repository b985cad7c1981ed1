//! IBANs: a country code, two check digits and 11 to 30 letters and digits, plain or in groups
//! of four split by single spaces, accepted only when the ISO 13616 mod-97 check gives 1.
//! Found from their check digits: a digit pair right after two letters.

use super::scan::mark;
use super::{Detector, Needs, Scan, Span, ends_token, is_digit, starts_token};

/// Finds IBANs.
pub struct Iban;

const MIN_LEN: usize = 15;
const MAX_LEN: usize = 34;

impl Detector for Iban {
    fn needs(&self) -> Needs {
        Needs {
            digits: 6,
            token_digits: 0,
            marks: mark::COUNTRY,
        }
    }

    fn find_in(&self, text: &[u8], scan: &Scan<'_>, found: &mut Vec<Span>) {
        let mut at = 2;
        for run in scan.runs() {
            // The check digits start a run of digits right after the country code.
            let digit = run.start;
            if digit < at {
                continue;
            }
            let start = digit - 2;
            let shaped = text[start].is_ascii_alphabetic()
                && text[start + 1].is_ascii_alphabetic()
                && text.get(digit + 1).is_some_and(|b| is_digit(*b));
            if !shaped || !starts_token(text, start) {
                continue;
            }
            let (end, compact) = collect(text, start);
            if (MIN_LEN..=MAX_LEN).contains(&compact.len)
                && ends_token(text, end)
                && mod97(compact.as_slice()) == 1
            {
                found.push(Span { start, end });
                at = end;
            }
        }
    }
}

/// The IBAN's characters without spaces (upper-cased), kept on the stack: one more than the
/// longest IBAN, so a longer run is seen to be too long.
struct Compact {
    bytes: [u8; MAX_LEN + 1],
    len: usize,
}

impl Compact {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// The IBAN's characters without spaces (upper-cased) and where it ends.
fn collect(text: &[u8], start: usize) -> (usize, Compact) {
    let mut compact = Compact {
        bytes: [0; MAX_LEN + 1],
        len: 0,
    };
    let mut at = start;
    let mut group = 0;
    while at < text.len() && compact.len <= MAX_LEN {
        let byte = text[at];
        if byte.is_ascii_alphanumeric() {
            if let Some(slot) = compact.bytes.get_mut(compact.len) {
                *slot = byte.to_ascii_uppercase();
            }
            compact.len += 1;
            group += 1;
            at += 1;
        } else if byte == b' '
            && group == 4
            && text.get(at + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            group = 0;
            at += 1;
        } else {
            break;
        }
    }
    (at, compact)
}

/// ISO 7064 mod 97-10 over the rearranged IBAN (first four characters moved to the end,
/// letters as 10–35). The number is built up in a `u64` and reduced only when it grows large
/// (a division every dozen characters, not one per character).
fn mod97(iban: &[u8]) -> u32 {
    const LARGE: u64 = 1 << 56;
    let (head, tail) = iban.split_at(4.min(iban.len()));
    let mut rest = 0u64;
    for byte in tail.iter().chain(head.iter()) {
        let value = match byte {
            b'0'..=b'9' => u64::from(byte - b'0'),
            b'A'..=b'Z' => u64::from(byte - b'A') + 10,
            _ => return 0,
        };
        // Below 2^56 before, below 2^63 after: no overflow.
        rest = if value >= 10 {
            rest * 100 + value
        } else {
            rest * 10 + value
        };
        if rest >= LARGE {
            rest %= 97;
        }
    }
    // Below 97: fits.
    (rest % 97) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        Iban.find(text.as_bytes(), &mut spans);
        spans.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn finds_valid_ibans_plain_grouped_and_lower_case() {
        assert_eq!(find("DE89370400440532013000"), ["DE89370400440532013000"]);
        assert_eq!(
            find("iban: GB82 WEST 1234 5698 7654 32."),
            ["GB82 WEST 1234 5698 7654 32"]
        );
        assert_eq!(
            find(r#"{"iban":"fr1420041010050500013m02606"}"#),
            ["fr1420041010050500013m02606"]
        );
    }

    #[test]
    fn mod97_agrees_with_a_digit_by_digit_reduction() {
        let plain = |iban: &[u8]| {
            let (head, tail) = iban.split_at(4.min(iban.len()));
            tail.iter().chain(head).fold(0u32, |rest, byte| {
                let value = u32::from(if byte.is_ascii_digit() {
                    byte - b'0'
                } else {
                    byte - b'A' + 10
                });
                if value >= 10 {
                    (rest * 100 + value) % 97
                } else {
                    (rest * 10 + value) % 97
                }
            })
        };
        for iban in [
            &b"DE89370400440532013000"[..],
            b"GB82WEST12345698765432",
            b"MT84MALT011000012345MTLCAST001S",
            b"ZZ99999999999999999999999999999999",
            b"AB12CDEF34",
        ] {
            assert_eq!(mod97(iban), plain(iban), "{iban:?}");
        }
        assert_eq!(mod97(b"DE89370400440532013000"), 1);
    }

    #[test]
    fn near_misses_are_not_ibans() {
        // One check digit off.
        assert!(find("DE88370400440532013000").is_empty());
        // Too short.
        assert!(find("DE8937040044").is_empty());
        // Too long: one character past the longest IBAN there is.
        assert!(find("DE893704004405320130001234567890123").is_empty());
        assert_eq!(
            find("MT84MALT011000012345MTLCAST001S"),
            ["MT84MALT011000012345MTLCAST001S"]
        );
        // Glued to a word.
        assert!(find("XDE89370400440532013000").is_empty());
        assert!(find("AB12").is_empty());
    }
}
