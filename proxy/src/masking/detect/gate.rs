//! The gate: which detectors of a set a scanned value can hold anything for.
//!
//! Worked out once per set (at start-up) for every digit count, token-digit count and set of
//! [`mark`] bits a [`Scan`] can report, so that per value the answer is one table look-up in
//! place of a test per detector. The table says exactly what [`Scan::meets`] says for each
//! detector's [`Needs`]; the needs themselves are each detector's business (they must hold for
//! anything it can find).

use super::scan::{MARK_SETS, Needs, Scan};

#[cfg(test)]
use super::scan::mark;

/// The eligible detectors per digit count, token-digit count and marker set.
pub struct Gate {
    /// Per digit count, the first table row of the digit step it reaches (counts past the
    /// last entry reach every step).
    digit_rows: Vec<usize>,
    /// Per token-digit count, the row offset of the token step it reaches (likewise).
    token_rows: Vec<usize>,
    /// Per digit step reached (0 to `digit_steps.len()`), token step reached and marker set,
    /// the eligible detectors as bits.
    table: Vec<u32>,
}

/// Per count from 0 to the last step, the steps reached times `stride`.
fn rows(steps: &[usize], stride: usize) -> Vec<usize> {
    let last = steps.last().copied().unwrap_or(0);
    (0..=last)
        .map(|count| reached(steps, count) * stride)
        .collect()
}

/// The entry of `rows` for `count` (past the end: the last).
#[inline(always)]
fn row(rows: &[usize], count: usize) -> usize {
    rows.get(count).or(rows.last()).copied().unwrap_or(0)
}

/// The distinct counts of `counts`, ascending.
fn steps(counts: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut steps: Vec<usize> = counts.filter(|n| *n > 0).collect();
    steps.sort_unstable();
    steps.dedup();
    steps
}

/// How many of `steps` `count` reaches.
#[inline]
fn reached(steps: &[usize], count: usize) -> usize {
    steps.iter().filter(|s| count >= **s).count()
}

impl Gate {
    /// The gate for detectors with `needs`, in order.
    pub fn new(needs: &[Needs]) -> Gate {
        let digit_steps = steps(needs.iter().map(|n| n.digits));
        let token_steps = steps(needs.iter().map(|n| n.token_digits));
        // The fewest of a count that reaches step `reached`.
        let least =
            |steps: &[usize], reached: usize| reached.checked_sub(1).map_or(0, |i| steps[i]);
        let mut table =
            Vec::with_capacity((digit_steps.len() + 1) * (token_steps.len() + 1) * MARK_SETS);
        for digits_reached in 0..=digit_steps.len() {
            for tokens_reached in 0..=token_steps.len() {
                let digits = least(&digit_steps, digits_reached);
                let token_digits = least(&token_steps, tokens_reached);
                for marks in 0..MARK_SETS {
                    let scan = Scan::with(digits, token_digits, marks as u8);
                    let bits = needs
                        .iter()
                        .enumerate()
                        .fold(0u32, |bits, (i, n)| bits | (u32::from(scan.meets(*n)) << i));
                    table.push(bits);
                }
            }
        }
        let token_stride = MARK_SETS;
        let digit_stride = (token_steps.len() + 1) * token_stride;
        Gate {
            digit_rows: rows(&digit_steps, digit_stride),
            token_rows: rows(&token_steps, token_stride),
            table,
        }
    }

    /// The detectors (as bits, in order) whose needs `scan` meets.
    #[inline]
    pub fn eligible(&self, scan: &Scan<'_>) -> u32 {
        let at = row(&self.digit_rows, scan.digits())
            + row(&self.token_rows, scan.token_digits())
            + usize::from(scan.marks());
        self.table.get(at).copied().unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DetectorKind, Detectors};
    use super::*;

    #[test]
    fn the_gate_lets_through_exactly_the_detectors_whose_needs_are_met() {
        let needs = |digits, token_digits, marks| Needs {
            digits,
            token_digits,
            marks,
        };
        for set in [
            vec![
                needs(0, 0, mark::B),
                needs(0, 0, mark::J),
                needs(0, 13, 0),
                needs(6, 0, mark::COUNTRY),
                needs(0, 8, mark::THREE | mark::PLUS),
            ],
            vec![
                needs(9, 0, 0),
                needs(0, 0, mark::AT),
                needs(6, 0, 0),
                needs(9, 9, mark::THREE),
            ],
            vec![needs(0, 0, 0)],
            vec![],
        ] {
            let gate = Gate::new(&set);
            for digits in 0..20 {
                for token_digits in 0..=digits {
                    for marks in 0..MARK_SETS as u8 {
                        let scan = Scan::with(digits, token_digits, marks);
                        let want = set
                            .iter()
                            .enumerate()
                            .filter(|(_, n)| scan.meets(**n))
                            .fold(0u32, |bits, (i, _)| bits | 1 << i);
                        assert_eq!(
                            gate.eligible(&scan),
                            want,
                            "{digits} {token_digits} {marks}"
                        );
                    }
                }
            }
        }
    }

    /// Pieces that texts are made of in [`needs_hold_for_everything_a_detector_finds`]:
    /// parts of every kind of value, separators, letters and digits.
    const PIECES: [&str; 42] = [
        "4111",
        "1111",
        "4111111111111111",
        "5500",
        "0000",
        "0004",
        "3782",
        "822463",
        "10005",
        "123",
        "45",
        "6789",
        "123-45-",
        "123 45 ",
        "415",
        "555",
        "0132",
        "1",
        "44",
        "20",
        "7946",
        "0958",
        "DE89",
        "370400440532013000",
        "GB82",
        "WEST",
        "1234",
        "5698",
        "7654",
        "32",
        "fr14",
        "ab",
        "x",
        " ",
        " ",
        "-",
        "+",
        "(",
        ")",
        ".",
        "@example.com",
        "USER",
    ];

    /// Texts of the pieces, pseudo-random but the same every run.
    fn texts(count: usize) -> Vec<String> {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        (0..count)
            .map(|_| {
                let pieces = 1 + (next() % 9) as usize;
                (0..pieces)
                    .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    /// The gate may only turn away values a detector finds nothing in: for every text, a
    /// detector that finds something when run regardless of its needs has its needs met.
    #[test]
    fn needs_hold_for_everything_a_detector_finds() {
        let mut samples = texts(200_000);
        // Values the shapes must not turn away: inside other text, grouped, upper-cased.
        for value in [
            "pay to DE89370400440532013000 today",
            "iban:GB82 WEST 1234 5698 7654 32",
            r#"{"iban":"fr1420041010050500013m02606"}"#,
            "card 4111 1111 1111 1111.",
            "card=5500-0000-0000-0004",
            "amex 3782 822463 10005",
            "MAIL ALICE@EXAMPLE.COM",
            "ssn:123-45-6789",
            "ssn 123 45 6789",
            "call +44 20 7946 0958",
            "+14155550132",
            "(415) 555-0132",
            "1-800-555-0199",
            "tel 415.555.0132",
            "key: -----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
        ] {
            samples.push(value.to_owned());
        }
        let mut found_by = [0usize; 8];
        for text in &samples {
            let scan = Scan::new(text.as_bytes());
            for (i, kind) in DetectorKind::ALL.iter().enumerate() {
                let detector = kind.detector();
                let mut spans = Vec::new();
                detector.find_in(text.as_bytes(), &scan, &mut spans);
                if !spans.is_empty() {
                    found_by[i] += 1;
                    assert!(
                        scan.meets(detector.needs()),
                        "{} found something its needs turn away in {text:?}",
                        kind.name()
                    );
                }
            }
        }
        // Every digit detector and email had things to find.
        for (kind, found) in DetectorKind::ALL.iter().zip(found_by) {
            if !matches!(
                kind,
                DetectorKind::PrivateKey | DetectorKind::Jwt | DetectorKind::CloudKey
            ) {
                assert!(found > 10, "{} found only {found}", kind.name());
            }
        }
        // And the gated set masks the named values.
        for value in samples.iter().skip(200_000) {
            assert!(Detectors::all().mask(value.as_bytes()).is_some(), "{value}");
        }
    }
}
