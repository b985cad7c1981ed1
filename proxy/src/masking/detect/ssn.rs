//! US social security numbers in their written form `AAA-GG-SSSS` (or with spaces), minus the
//! numbers the SSA never issues (area 000, 666, 900–999; group 00; serial 0000). Nine digits
//! without separators are not matched: too many other numbers look like that.

use super::scan::mark;
use super::{Detector, Needs, Scan, Span, ends_token, is_digit, starts_token};

/// Finds US social security numbers.
pub struct Ssn;

impl Detector for Ssn {
    fn needs(&self) -> Needs {
        Needs {
            digits: 0,
            token_digits: 9,
            marks: mark::THREE,
        }
    }

    fn find_in(&self, text: &[u8], scan: &Scan<'_>, found: &mut Vec<Span>) {
        let mut at = 0;
        for run in scan.runs() {
            // The area is a run of exactly three digits.
            let start = run.start;
            if start < at || run.end - start != 3 {
                continue;
            }
            let Some(window) = text.get(start..start + 11) else {
                return;
            };
            let sep = window[3];
            let shaped = matches!(sep, b'-' | b' ')
                && window[6] == sep
                && window[..3].iter().all(|b| is_digit(*b))
                && window[4..6].iter().all(|b| is_digit(*b))
                && window[7..].iter().all(|b| is_digit(*b));
            if !shaped || !starts_token(text, start) || !ends_token(text, start + 11) {
                continue;
            }
            // Not part of a longer dashed number (a phone or card group).
            if start >= 2 && matches!(text[start - 1], b'-' | b'.') && is_digit(text[start - 2]) {
                continue;
            }
            if text.get(start + 11) == Some(&sep)
                && text.get(start + 12).is_some_and(|b| is_digit(*b))
            {
                continue;
            }
            let area = &window[..3];
            let issued = area != b"000"
                && area != b"666"
                && area[0] != b'9'
                && &window[4..6] != b"00"
                && &window[7..] != b"0000";
            if issued {
                found.push(Span {
                    start,
                    end: start + 11,
                });
                at = start + 11;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        Ssn.find(text.as_bytes(), &mut spans);
        spans.iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn finds_written_ssns() {
        assert_eq!(find("ssn 123-45-6789"), ["123-45-6789"]);
        assert_eq!(find("078 05 1120;"), ["078 05 1120"]);
        assert_eq!(find(r#"{"ssn":"219-09-9999"}"#), ["219-09-9999"]);
    }

    #[test]
    fn near_misses_are_not_ssns() {
        assert!(find("000-12-3456").is_empty());
        assert!(find("666-12-3456").is_empty());
        assert!(find("900-12-3456").is_empty());
        assert!(find("123-00-4567").is_empty());
        assert!(find("123-45-0000").is_empty());
        assert!(find("123456789").is_empty());
        assert!(find("2024-01-15").is_empty());
        assert!(find("1-123-45-6789").is_empty());
        assert!(find("123-45-67890").is_empty());
    }
}
