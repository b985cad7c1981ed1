//! Phone numbers: international (`+` and 8 to 15 digits, with spaces, dashes, dots or a
//! parenthesised area code) and North American written forms (`(415) 555-0132`,
//! `415-555-0132`, `415.555.0132`). Undelimited digit runs are left to other detectors: a bare
//! ten-digit number is as likely an id as a phone.

use super::scan::mark;
use super::{Detector, Needs, Scan, Span, digits_end, ends_token, is_digit, starts_token};

/// Finds phone numbers.
pub struct Phone;

impl Detector for Phone {
    fn needs(&self) -> Needs {
        Needs {
            digits: 0,
            token_digits: 8,
            marks: mark::THREE | mark::PLUS,
        }
    }

    fn find_in(&self, text: &[u8], scan: &Scan<'_>, found: &mut Vec<Span>) {
        let mut at = 0;
        for run in scan.runs() {
            let first = run.start;
            if first < at {
                continue;
            }
            let before = first.checked_sub(1).map(|i| text[i]);
            // A written North American number starts with its three-digit area code, or `1`.
            let area = run.end - first == 3;
            let one = run.end - first == 1 && text[first] == b'1';
            let span = match before {
                Some(b'+') => international(text, first - 1),
                Some(b'(') if area => north_american(text, first - 1),
                _ if (area || one)
                    && starts_token(text, first)
                    && !glued_to_number(text, first) =>
                {
                    north_american(text, first)
                }
                _ => None,
            };
            if let Some(span) = span {
                at = span.end;
                found.push(span);
            }
        }
    }
}

/// A digit right before a separator right before `at`: `1-415-...` is read from its start.
fn glued_to_number(text: &[u8], at: usize) -> bool {
    at >= 2 && matches!(text[at - 1], b'-' | b'.') && is_digit(text[at - 2])
}

fn international(text: &[u8], plus: usize) -> Option<Span> {
    if plus > 0 && is_digit(text[plus - 1]) {
        return None;
    }
    let mut at = plus + 1;
    let mut digits = 0;
    let mut end = at;
    let mut separators = 0;
    while at < text.len() {
        let byte = text[at];
        if is_digit(byte) {
            digits += 1;
            separators = 0;
            at += 1;
            end = at;
        } else if matches!(byte, b' ' | b'-' | b'.' | b'(' | b')') && separators < 2 {
            separators += 1;
            at += 1;
        } else {
            break;
        }
        if digits > 15 {
            return None;
        }
    }
    ((8..=15).contains(&digits) && ends_token(text, end)).then_some(Span { start: plus, end })
}

/// `(AAA) EEE-NNNN`, `AAA-EEE-NNNN`, `AAA.EEE.NNNN`, `AAA EEE NNNN`, optionally `1-` first.
fn north_american(text: &[u8], start: usize) -> Option<Span> {
    let mut at = start;
    if text.get(at) == Some(&b'1') && matches!(text.get(at + 1), Some(b'-' | b' ' | b'.')) {
        at += 2;
    }
    let parenthesised = text.get(at) == Some(&b'(');
    if parenthesised {
        at += 1;
    }
    let area = group(text, at, 3)?;
    at = area;
    if parenthesised {
        if text.get(at) != Some(&b')') {
            return None;
        }
        at += 1;
        if text.get(at) == Some(&b' ') {
            at += 1;
        }
    } else {
        at = separator(text, at)?;
    }
    let exchange = group(text, at, 3)?;
    let sep = separator(text, exchange)?;
    if !parenthesised && text.get(exchange) != text.get(area) {
        return None;
    }
    let end = group(text, sep, 4)?;
    if !ends_token(text, end) || matches!(text.get(end), Some(b'-')) {
        return None;
    }
    Some(Span { start, end })
}

fn group(text: &[u8], at: usize, len: usize) -> Option<usize> {
    let end = digits_end(text, at);
    (end - at == len).then_some(end)
}

fn separator(text: &[u8], at: usize) -> Option<usize> {
    matches!(text.get(at), Some(b'-' | b'.' | b' ')).then_some(at + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        Phone.find(text.as_bytes(), &mut spans);
        spans.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn finds_international_and_north_american_numbers() {
        assert_eq!(find("call +44 20 7946 0958 now"), ["+44 20 7946 0958"]);
        assert_eq!(find("+14155550132"), ["+14155550132"]);
        assert_eq!(find("(415) 555-0132"), ["(415) 555-0132"]);
        assert_eq!(find("tel 415-555-0132."), ["415-555-0132"]);
        assert_eq!(find("415.555.0132"), ["415.555.0132"]);
        assert_eq!(find("1-800-555-0199"), ["1-800-555-0199"]);
        assert_eq!(
            find(r#"{"phone":"+1 (415) 555-0132"}"#),
            ["+1 (415) 555-0132"]
        );
    }

    #[test]
    fn near_misses_are_not_phones() {
        assert!(find("4155550132").is_empty());
        assert!(find("+123").is_empty());
        assert!(find("2024-01-15").is_empty());
        assert!(find("123-45-6789").is_empty());
        assert!(find("415-555.0132").is_empty());
        assert!(find("10.0.0.1").is_empty());
        assert!(find("1+2345678901").is_empty());
        assert!(find("415-555-01321").is_empty());
    }
}
