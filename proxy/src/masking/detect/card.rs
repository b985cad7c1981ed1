//! Payment card numbers: 13 to 19 digits, plain or in groups split by single spaces or dashes,
//! that pass the Luhn check and stand alone (no letter or digit right before or after).

use super::{Detector, Needs, Scan, Span, digits_end, ends_token, is_digit, starts_token};

/// Finds payment card numbers.
pub struct Card;

impl Detector for Card {
    fn needs(&self) -> Needs {
        Needs {
            digits: 0,
            token_digits: 13,
            marks: 0,
        }
    }

    fn find_in(&self, text: &[u8], scan: &Scan<'_>, found: &mut Vec<Span>) {
        let mut at = 0;
        // On a miss, try again from the next group: `12 4111 1111 1111 1111` holds a card.
        for run in scan.runs() {
            let start = run.start;
            // Most runs glued to a word (hex ids, hashes) end here, before any copying.
            if start < at || !starts_token(text, start) {
                continue;
            }
            let (end, digits) = candidate(text, start);
            if !ends_token(text, end) {
                continue;
            }
            if let Some((digits, len)) = digits
                && luhn(&digits[..len])
            {
                found.push(Span { start, end });
                at = end;
            }
        }
    }
}

/// From a first digit: where the run of digit groups ends, and its digits if 13 to 19 of them
/// in acceptable groups.
fn candidate(text: &[u8], start: usize) -> (usize, Option<([u8; 19], usize)>) {
    let mut digits = [0u8; 19];
    let mut len = 0;
    let mut at = start;
    let mut grouped_well = true;
    loop {
        let end = digits_end(text, at);
        let group = end - at;
        if len + group > 19 {
            return (end, None);
        }
        digits[len..len + group].copy_from_slice(&text[at..end]);
        len += group;
        at = end;
        match (text.get(at), text.get(at + 1)) {
            (Some(b' ' | b'-'), Some(next)) if is_digit(*next) => {
                if group < 3 {
                    grouped_well = false;
                }
                at += 1;
            }
            _ => break,
        }
    }
    let ok = grouped_well && (13..=19).contains(&len);
    (at, ok.then_some((digits, len)))
}

/// The Luhn checksum over ASCII digits.
pub(super) fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut n = u32::from(d - b'0');
        if i % 2 == 1 {
            n *= 2;
            if n > 9 {
                n -= 9;
            }
        }
        sum += n;
    }
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        Card.find(text.as_bytes(), &mut spans);
        spans.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn finds_luhn_valid_numbers_plain_and_grouped() {
        assert_eq!(find("4111111111111111"), ["4111111111111111"]);
        assert_eq!(find("card: 5500-0000-0000-0004."), ["5500-0000-0000-0004"]);
        assert_eq!(find("amex 3782 822463 10005"), ["3782 822463 10005"]);
        assert_eq!(find(r#"{"card":"4012888888881881"}"#), ["4012888888881881"]);
    }

    #[test]
    fn near_misses_are_not_cards() {
        // Luhn fails.
        assert!(find("4111111111111112").is_empty());
        // Too short, too long, glued to letters or digits.
        assert!(find("411111111111").is_empty());
        assert!(find("41111111111111111111").is_empty());
        assert!(find("x4111111111111111").is_empty());
        // Separated single digits are not a card layout.
        assert!(find("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1").is_empty());
        // A prefix alone.
        assert!(find("41111111").is_empty());
    }

    #[test]
    fn a_card_after_a_short_number_is_found() {
        assert_eq!(find("12 4111 1111 1111 1111"), ["4111 1111 1111 1111"]);
    }
}
