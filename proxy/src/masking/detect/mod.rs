//! Content detectors: sensitive values found by their shape (and checksum) inside any text.
//!
//! Every detector implements [`Detector`]: given bytes, it appends the spans it recognises.
//! [`Detectors`] runs a configured set over a value, merges overlapping spans and replaces
//! each with a fixed token (`[masked:email]`), counting hits per detector. The same API serves
//! Postgres values, COPY lines, statement text and, later, terminal output.
//!
//! Speed matters (every text value of every result passes here): one shared pass ([`scan`])
//! counts digits, lists runs of digits and notes marker bytes; a detector runs only on values
//! that meet its [`Needs`], and the digit detectors walk the scan's runs. Detectors never panic
//! and never allocate unless they find something.
//!
//! Adding a detector is one file here plus its [`DetectorKind`] variant.

mod card;
mod cloud_key;
mod email;
mod gate;
mod iban;
mod jwt;
mod phone;
mod private_key;
pub mod scan;
mod ssn;
mod word_bits;

use serde::Deserialize;

use gate::Gate;
pub use scan::{Needs, Run, Scan};

/// The detectors there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// Email addresses.
    Email,
    /// Payment card numbers (13–19 digits, Luhn-checked).
    Card,
    /// US social security numbers (`AAA-GG-SSSS`).
    Ssn,
    /// IBANs (mod-97 checked).
    Iban,
    /// Phone numbers (international `+…` and North American formats).
    Phone,
    /// Cloud access keys: AWS key ids, Google API keys, Azure account keys.
    CloudKey,
    /// PEM private key blocks.
    PrivateKey,
    /// JSON Web Tokens.
    Jwt,
}

impl DetectorKind {
    /// Every detector, in the order they run.
    pub const ALL: [DetectorKind; 8] = [
        DetectorKind::PrivateKey,
        DetectorKind::Jwt,
        DetectorKind::CloudKey,
        DetectorKind::Email,
        DetectorKind::Iban,
        DetectorKind::Card,
        DetectorKind::Ssn,
        DetectorKind::Phone,
    ];

    /// The name used in configuration and in events.
    pub fn name(self) -> &'static str {
        match self {
            DetectorKind::Email => "email",
            DetectorKind::Card => "card",
            DetectorKind::Ssn => "ssn",
            DetectorKind::Iban => "iban",
            DetectorKind::Phone => "phone",
            DetectorKind::CloudKey => "cloud_key",
            DetectorKind::PrivateKey => "private_key",
            DetectorKind::Jwt => "jwt",
        }
    }

    /// The token a detected value is replaced by.
    pub fn token(self) -> &'static [u8] {
        match self {
            DetectorKind::Email => b"[masked:email]",
            DetectorKind::Card => b"[masked:card]",
            DetectorKind::Ssn => b"[masked:ssn]",
            DetectorKind::Iban => b"[masked:iban]",
            DetectorKind::Phone => b"[masked:phone]",
            DetectorKind::CloudKey => b"[masked:cloud_key]",
            DetectorKind::PrivateKey => b"[masked:private_key]",
            DetectorKind::Jwt => b"[masked:jwt]",
        }
    }

    fn detector(self) -> Box<dyn Detector> {
        match self {
            DetectorKind::Email => Box::new(email::Email),
            DetectorKind::Card => Box::new(card::Card),
            DetectorKind::Ssn => Box::new(ssn::Ssn),
            DetectorKind::Iban => Box::new(iban::Iban),
            DetectorKind::Phone => Box::new(phone::Phone),
            DetectorKind::CloudKey => Box::new(cloud_key::CloudKey),
            DetectorKind::PrivateKey => Box::new(private_key::PrivateKey),
            DetectorKind::Jwt => Box::new(jwt::Jwt),
        }
    }
}

/// A byte range of a value that a detector recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// One kind of sensitive value, recognised by its shape.
pub trait Detector: Send + Sync {
    /// What a text must show (digits, marker bytes) for this detector to find anything in it
    /// (a card has 13 digits, an email an `@`): the set scans each value once and skips the
    /// detectors whose needs it does not meet.
    fn needs(&self) -> Needs;

    /// Appends to `found` the spans of `text` this detector recognises, in order; `scan` is
    /// the shared pass over `text` (its runs of digits).
    fn find_in(&self, text: &[u8], scan: &Scan<'_>, found: &mut Vec<Span>);

    /// Appends to `found` the spans of `text` this detector recognises, in order.
    fn find(&self, text: &[u8], found: &mut Vec<Span>) {
        let scan = Scan::new(text);
        if scan.meets(self.needs()) {
            self.find_in(text, &scan, found);
        }
    }
}

/// Hits per detector, indexed like [`DetectorKind::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DetectorCounts([u64; 8]);

impl DetectorCounts {
    /// Hits of `kind`.
    pub fn get(&self, kind: DetectorKind) -> u64 {
        self.0[slot(kind)]
    }

    /// Adds `other`'s hits.
    pub fn add(&mut self, other: &DetectorCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0.iter()) {
            *mine += theirs;
        }
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|n| *n == 0)
    }

    /// Total hits.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(kind, hits)` for each detector that found something.
    pub fn iter(&self) -> impl Iterator<Item = (DetectorKind, u64)> + '_ {
        DetectorKind::ALL
            .iter()
            .map(|kind| (*kind, self.get(*kind)))
            .filter(|(_, n)| *n > 0)
    }

    fn bump(&mut self, kind: DetectorKind) {
        self.0[slot(kind)] += 1;
    }
}

fn slot(kind: DetectorKind) -> usize {
    match kind {
        DetectorKind::PrivateKey => 0,
        DetectorKind::Jwt => 1,
        DetectorKind::CloudKey => 2,
        DetectorKind::Email => 3,
        DetectorKind::Iban => 4,
        DetectorKind::Card => 5,
        DetectorKind::Ssn => 6,
        DetectorKind::Phone => 7,
    }
}

/// What detectors found in one text: spans by detector, in order of their starts.
#[derive(Debug)]
pub struct Found {
    hits: Vec<(Span, DetectorKind)>,
}

impl Found {
    /// Writes the masked text, piece by piece, to `put`: the text between hits as it is and a
    /// token in place of each hit (overlapping hits become one). Returns the hits per
    /// detector.
    pub fn write(&self, text: &[u8], mut put: impl FnMut(&[u8])) -> DetectorCounts {
        let mut counts = DetectorCounts::default();
        let mut done = 0;
        for (span, kind) in &self.hits {
            let end = span.end.min(text.len());
            if span.start < done {
                // Overlaps what was already replaced: extend the replacement over it.
                done = done.max(end);
                continue;
            }
            put(text.get(done..span.start).unwrap_or_default());
            put(kind.token());
            counts.bump(*kind);
            done = end;
        }
        put(text.get(done..).unwrap_or_default());
        counts
    }
}

/// A set of detectors, run together.
pub struct Detectors {
    running: Vec<Running>,
    gate: Gate,
}

struct Running {
    kind: DetectorKind,
    needs: Needs,
    detector: Box<dyn Detector>,
}

impl std::fmt::Debug for Detectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<&str> = self.running.iter().map(|r| r.kind.name()).collect();
        f.debug_struct("Detectors").field("kinds", &kinds).finish()
    }
}

impl Detectors {
    /// The detectors of `kinds` (each once, in the standard order).
    pub fn new(kinds: &[DetectorKind]) -> Self {
        let running: Vec<Running> = DetectorKind::ALL
            .iter()
            .filter(|kind| kinds.contains(kind))
            .map(|kind| {
                let detector = kind.detector();
                Running {
                    kind: *kind,
                    needs: detector.needs(),
                    detector,
                }
            })
            .collect();
        let needs: Vec<Needs> = running.iter().map(|r| r.needs).collect();
        let gate = Gate::new(&needs);
        Detectors { running, gate }
    }

    /// Every detector.
    pub fn all() -> Self {
        Self::new(&DetectorKind::ALL)
    }

    /// Whether no detector runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// What the detectors find in `text`, or `None` when nothing (no allocation then).
    pub fn find(&self, text: &[u8]) -> Option<Found> {
        let mut scan = Scan::blank(text);
        scan.fill();
        let mut eligible = self.gate.eligible(&scan);
        let mut hits: Vec<(Span, DetectorKind)> = Vec::new();
        let mut spans = Vec::new();
        while eligible != 0 {
            let index = eligible.trailing_zeros() as usize;
            eligible &= eligible - 1;
            let Some(running) = self.running.get(index) else {
                break;
            };
            spans.clear();
            running.detector.find_in(text, &scan, &mut spans);
            hits.extend(spans.iter().map(|span| (*span, running.kind)));
        }
        if hits.is_empty() {
            return None;
        }
        // Earlier detectors in the standard order win an overlap (a key block over the
        // digits inside it); the sort is stable.
        hits.sort_by_key(|(span, _)| span.start);
        Some(Found { hits })
    }

    /// The masked form of `text`, or `None` when nothing was found (no copy made).
    pub fn mask(&self, text: &[u8]) -> Option<(Vec<u8>, DetectorCounts)> {
        let found = self.find(text)?;
        let mut out = Vec::with_capacity(text.len());
        let counts = found.write(text, |piece| out.extend_from_slice(piece));
        Some((out, counts))
    }

    /// Masks `text` in place; returns what was found.
    pub fn mask_bytes(&self, text: &mut Vec<u8>) -> DetectorCounts {
        match self.mask(text) {
            Some((masked, counts)) => {
                *text = masked;
                counts
            }
            None => DetectorCounts::default(),
        }
    }

    /// Masks a string (statement text, a parameter, an error message).
    pub fn mask_str(&self, text: &str) -> (String, DetectorCounts) {
        match self.mask(text.as_bytes()) {
            Some((masked, counts)) => (String::from_utf8_lossy(&masked).into_owned(), counts),
            None => (text.to_owned(), DetectorCounts::default()),
        }
    }

    /// Whether any detector recognises something in `text`.
    pub fn finds_any(&self, text: &[u8]) -> bool {
        let mut spans = Vec::new();
        let scan = Scan::new(text);
        let eligible = self.gate.eligible(&scan);
        self.running.iter().enumerate().any(|(i, running)| {
            if eligible & (1 << i) == 0 {
                return false;
            }
            running.detector.find_in(text, &scan, &mut spans);
            !spans.is_empty()
        })
    }
}

/// Bytes that continue a word or number: a value next to one of these is not a separate token.
fn is_alnum(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
}

fn is_digit(byte: u8) -> bool {
    byte.is_ascii_digit()
}

/// Whether `text[at - 1]` (if any) is not alphanumeric.
fn starts_token(text: &[u8], at: usize) -> bool {
    at == 0 || text.get(at - 1).is_none_or(|b| !is_alnum(*b))
}

/// Whether `text[at]` (if any) is not alphanumeric.
fn ends_token(text: &[u8], at: usize) -> bool {
    text.get(at).is_none_or(|b| !is_alnum(*b))
}

/// The first ASCII digit at or after `from`, eight bytes at a time.
fn next_digit(text: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at + 8 <= text.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&text[at..at + 8]);
        // Bytes strictly between 0x2f and 0x3a (bit-twiddling "hasbetween"), exact per byte.
        let hit = digit_mask(u64::from_le_bytes(word));
        if hit != 0 {
            return Some(at + (hit.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    text.get(at..)?
        .iter()
        .position(|b| is_digit(*b))
        .map(|p| at + p)
}

/// How many ASCII digits `text` holds, eight bytes at a time (the scan counts them as it
/// goes; this is the reference its tests hold it to).
#[cfg(test)]
fn count_digits(text: &[u8]) -> usize {
    let mut count = 0;
    let mut chunks = text.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        count += digit_mask(u64::from_le_bytes(word)).count_ones() as usize;
    }
    count + chunks.remainder().iter().filter(|b| is_digit(**b)).count()
}

/// One high bit per byte of `x` that is an ASCII digit (exact per byte).
fn digit_mask(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = ONES * 127;
    const HIGH: u64 = ONES * 128;
    let low = x & LOW7;
    (ONES * (127 + 0x3a) - low) & !x & (low + ONES * (127 - 0x2f)) & HIGH
}

/// The end of the run of digits starting at `from`.
fn digits_end(text: &[u8], from: usize) -> usize {
    let mut at = from;
    while at < text.len() && is_digit(text[at]) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_digit_agrees_with_a_plain_search() {
        let samples: [&[u8]; 6] = [
            b"",
            b"abc",
            b"abcdefgh9",
            b"\xff\xfe\x80/:;0",
            b"////////::::::::0",
            b"no digits here at all, none",
        ];
        for sample in samples {
            for from in 0..=sample.len() {
                let plain = sample[from..]
                    .iter()
                    .position(u8::is_ascii_digit)
                    .map(|p| p + from);
                assert_eq!(next_digit(sample, from), plain, "{sample:?} from {from}");
            }
        }
        let all: Vec<u8> = (0..=255u8).collect();
        let found: Vec<usize> = {
            let mut v = Vec::new();
            let mut at = 0;
            while let Some(p) = next_digit(&all, at) {
                v.push(p);
                at = p + 1;
            }
            v
        };
        assert_eq!(found, (48..58).collect::<Vec<usize>>());
        assert_eq!(count_digits(&all), 10);
        assert_eq!(count_digits(b"a1b2c3d4e5f6g7h8i9"), 9);
    }

    #[test]
    fn masks_each_kind_with_its_token_and_counts() {
        let detectors = Detectors::all();
        let text = b"mail alice@example.com card 4111 1111 1111 1111 ssn 123-45-6789";
        let (masked, counts) = detectors.mask(text).expect("found");
        assert_eq!(
            masked,
            b"mail [masked:email] card [masked:card] ssn [masked:ssn]".to_vec()
        );
        assert_eq!(counts.get(DetectorKind::Email), 1);
        assert_eq!(counts.get(DetectorKind::Card), 1);
        assert_eq!(counts.get(DetectorKind::Ssn), 1);
        assert_eq!(counts.total(), 3);
    }

    #[test]
    fn nothing_found_makes_no_copy() {
        assert!(Detectors::all().mask(b"just words, 42 and 7").is_none());
        let mut value = b"plain".to_vec();
        assert!(Detectors::all().mask_bytes(&mut value).is_empty());
        assert_eq!(value, b"plain");
    }

    #[test]
    fn overlapping_hits_become_one_replacement() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIIB 4111111111111111 alice@example.com\n-----END PRIVATE KEY-----";
        let (masked, counts) = Detectors::all().mask_str(key);
        assert_eq!(masked, "[masked:private_key]");
        assert_eq!(counts.total(), 1);
    }

    #[test]
    fn values_past_the_stored_runs_are_still_found() {
        // Forty short numbers first: more runs than a scan keeps inline.
        let mut text: String = (0..40).map(|i| format!("n{i} ")).collect();
        text.push_str("card 4111 1111 1111 1111 ssn 123-45-6789 tel 415-555-0132");
        let (masked, counts) = Detectors::all().mask_str(&text);
        assert!(
            masked.ends_with("card [masked:card] ssn [masked:ssn] tel [masked:phone]"),
            "{masked}"
        );
        assert_eq!(counts.total(), 3);
    }

    #[test]
    fn a_subset_runs_only_its_detectors() {
        let only_email = Detectors::new(&[DetectorKind::Email]);
        let (masked, _) = only_email.mask_str("a@b.io 123-45-6789");
        assert_eq!(masked, "[masked:email] 123-45-6789");
    }
}
