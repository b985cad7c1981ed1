//! The candidate scan: one pass over a value that every detector then shares.
//!
//! [`Scan::new`] reads the value eight bytes at a time (exact per-byte bit tricks, no
//! branches per byte) and notes what the detectors start from: how many ASCII digits it holds,
//! where its runs of digits are, and which marker bytes occur (`@`, `J`, `A`, `B`). It then
//! looks once at the byte or three before each run (no branch per run): how many
//! digits stand in runs that start a token, and whether a run is a free-standing three, follows
//! a `+`, or follows a two-letter country code. [`Detectors`](super::Detectors) skips every
//! detector whose [`Needs`] the scan does not meet (a [`Gate`](super::gate::Gate) works that
//! out per value with one table look-up), and the digit detectors (card, SSN, IBAN, phone) walk
//! the scan's runs instead of searching the value again each. Most values meet few detectors'
//! needs and are read once: a hex hash, whose digits are all glued to letters, meets none.
//!
//! A text of at most 64 bytes (most values) keeps its digits as one 64-bit mask, one bit per
//! byte, and its runs are read from that. A longer one keeps its first run edges inline (no
//! allocation); past them, [`Runs`] finds the rest in the text as it goes, so a long text (a
//! COPY line, terminal output) yields the same runs either way, and its run shapes are taken as
//! all present (a need is never wrongly unmet).

use super::word_bits::{
    GATHER, ONES, POSITIONS, fold_marks, gather, last_word, marker_bits, shape,
};
use super::{digits_end, next_digit};

/// Marker bytes a detector may need, as bits of [`Needs::marks`].
pub mod mark {
    /// A `B` (of `-----BEGIN`).
    pub const B: u8 = 1;
    /// An `A` (of `AKIA`, `AIza`, `AccountKey=`).
    pub const A: u8 = 2;
    /// A `J` (of `eyJ`).
    pub const J: u8 = 4;
    /// An `@`.
    pub const AT: u8 = 8;
    /// A run of exactly three digits that starts a token and is followed by `-`, ` `, `.` or
    /// `)` (an SSN's area, a phone's area code).
    pub const THREE: u8 = 16;
    /// A run of digits right after a `+` (an international phone number).
    pub const PLUS: u8 = 32;
    /// A run of two or more digits right after two letters that start a token (an IBAN's
    /// country code and check digits).
    pub const COUNTRY: u8 = 64;
}

/// Marker sets: every combination of the [`mark`] bits.
pub const MARK_SETS: usize = 128;

/// What a value must show for a detector to possibly find something in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// The fewest ASCII digits.
    pub digits: usize,
    /// The fewest ASCII digits in runs that start a token (at the text's start or after a byte
    /// that is no ASCII letter or digit): a card's, an SSN's or a phone's groups all do, the
    /// digits of a hex hash or an id like `a9f3` do not.
    pub token_digits: usize,
    /// Marker bytes and run shapes ([`mark`]) of which at least one must occur; 0 means none needed.
    pub marks: u8,
}

/// A run of ASCII digits: `text[start..end]`, with non-digits (or the text's ends) around it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Run {
    /// First digit.
    pub start: usize,
    /// One past the last digit.
    pub end: usize,
}

/// Run edges kept inline (a start and an end per run); longer texts find the rest of their
/// runs as they are walked. Eight more slots take a word's edges whole.
const STORED_EDGES: usize = 32;
const EDGE_SLOTS: usize = STORED_EDGES + 8;

/// The scan's state between words.
struct Words {
    /// Marker bits seen, per byte.
    marks: u64,
    /// The previous word's last-byte digit bit, moved to byte 0.
    carry: u64,
    /// Whether edges are stored (positions fit in `u32`).
    store: bool,
}

/// What one pass over a value found.
#[derive(Debug)]
pub struct Scan<'t> {
    text: &'t [u8],
    digits: usize,
    token_digits: usize,
    marks: u8,
    /// Where runs start and end, alternately (positions fit in `u32`, or nothing is stored).
    edges: [u32; EDGE_SLOTS],
    /// How many of `edges` hold edges.
    stored: usize,
    /// How many edges there were (more than stored when the text has more runs).
    edge_count: usize,
    /// For a short text ([`SHORT`] bytes at most), its digits as bits (bit `i` for byte `i`):
    /// its runs are read from these, and no edges are stored.
    packed: Option<u64>,
}

/// The longest text whose digits fit one 64-bit mask: most values of most columns.
const SHORT: usize = 64;

impl<'t> Scan<'t> {
    /// Scans `text` once.
    pub fn new(text: &'t [u8]) -> Self {
        let mut scan = Scan::blank(text);
        scan.fill();
        scan
    }

    /// A scan of `text` yet to be done: [`Scan::fill`] does it in place (the scan holds its
    /// runs inline; filled where it lies, it is not copied).
    #[inline]
    pub fn blank(text: &'t [u8]) -> Self {
        Scan {
            text,
            digits: 0,
            token_digits: 0,
            marks: 0,
            edges: [0; EDGE_SLOTS],
            stored: 0,
            edge_count: 0,
            packed: None,
        }
    }

    /// Scans the text once (on a blank scan).
    #[inline]
    pub fn fill(&mut self) {
        if self.text.len() <= SHORT {
            self.fill_short();
            return;
        }
        let text = self.text;
        let scan = self;
        let mut words = Words {
            marks: 0,
            carry: 0,
            // Past `u32` positions nothing is stored: the runs are found as they are walked.
            store: u32::try_from(text.len()).is_ok(),
        };
        let mut chunks = text.chunks_exact(8);
        let mut base = 0;
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            scan.word(&mut words, u64::from_le_bytes(word), base);
            base += 8;
        }
        // Zero padding is neither a digit nor a marker: a run ending in it ends at the end.
        let mut last = 0u64;
        for (i, byte) in chunks.remainder().iter().enumerate() {
            last |= u64::from(*byte) << (8 * i);
        }
        scan.word(&mut words, last, base);
        scan.marks = fold_marks(words.marks);
        scan.shape_runs();
    }

    /// Notes how many digits stand in runs that start a token and which run shapes
    /// ([`mark::THREE`], [`mark::PLUS`], [`mark::COUNTRY`]) occur, from the bytes before each
    /// stored run. With runs not stored (a long text), every shape counts as present.
    #[inline]
    fn shape_runs(&mut self) {
        if self.stored != self.edge_count {
            self.token_digits = self.digits;
            self.marks |= mark::THREE | mark::PLUS | mark::COUNTRY;
            return;
        }
        let mut token_digits = 0;
        let mut marks = 0;
        for edges in self
            .edges
            .get(..self.stored)
            .unwrap_or_default()
            .chunks_exact(2)
        {
            let (start, end) = (edges[0] as usize, edges[1] as usize);
            let (digits, shapes) = shape(self.text, start, end - start);
            token_digits += digits;
            marks |= shapes;
        }
        self.token_digits = token_digits;
        self.marks |= marks;
    }

    /// [`Scan::fill`] for a short text: its digits gathered into one mask (a third of the work
    /// per word of storing run edges), its runs and their shapes read from the mask.
    #[inline]
    fn fill_short(&mut self) {
        let text = self.text;
        let mut packed = 0u64;
        let mut marks = 0u64;
        let mut chunks = text.chunks_exact(8);
        let mut shift = 0;
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let x = u64::from_le_bytes(word);
            packed |= gather(super::digit_mask(x)) << shift;
            marks |= marker_bits(x);
            shift += 8;
        }
        let rest = chunks.remainder().len();
        if rest > 0 {
            // Zero padding is neither a digit nor a marker; `shift` is at most 56 here.
            let x = last_word(text, rest);
            packed |= gather(super::digit_mask(x)) << shift;
            marks |= marker_bits(x);
        }
        self.marks = fold_marks(marks);
        self.packed = Some(packed);
        // The digits are counted run by run (no `popcnt` in baseline x86-64).
        let mut digits = 0;
        let mut token_digits = 0;
        let mut shapes = 0;
        let mut starts = run_starts(packed);
        while starts != 0 {
            let start = starts.trailing_zeros() as usize;
            starts &= starts - 1;
            let len = run_len(packed, start);
            let (tokens, marks) = shape(text, start, len);
            digits += len;
            token_digits += tokens;
            shapes |= marks;
        }
        self.digits = digits;
        self.token_digits = token_digits;
        self.marks |= shapes;
    }

    /// One word of the text, at `base`: its digits, run edges and markers.
    #[inline(always)]
    fn word(&mut self, words: &mut Words, x: u64, base: usize) {
        let digit_bits = super::digit_mask(x);
        // One per digit byte, summed into the top byte (a multiply: no `popcnt` needed).
        self.digits += ((digit_bits >> 7).wrapping_mul(ONES) >> 56) as usize;
        words.marks |= marker_bits(x);
        let before = (digit_bits << 8) | words.carry;
        words.carry = digit_bits >> 56;
        // No branch on whether the word has edges: too often mispredicted in text with numbers
        // (a word without edges stores nothing and counts none).
        let changes = (digit_bits ^ before) >> 7;
        let count = (changes.wrapping_mul(ONES) >> 56) as usize;
        let positions = &POSITIONS[(changes.wrapping_mul(GATHER) >> 56) as usize];
        if words.store
            && self.stored == self.edge_count
            && let Some(slots) = self.edges.get_mut(self.stored..self.stored + 8)
        {
            for (slot, position) in slots.iter_mut().zip(positions) {
                // Fits: the text's length does.
                *slot = base as u32 + u32::from(*position);
            }
            self.stored += count;
        }
        self.edge_count += count;
    }

    /// How many ASCII digits the text holds.
    pub fn digits(&self) -> usize {
        self.digits
    }

    /// How many ASCII digits stand in runs that start a token.
    pub fn token_digits(&self) -> usize {
        self.token_digits
    }

    /// The [`mark`] bits of the markers and run shapes the text holds.
    pub fn marks(&self) -> u8 {
        self.marks
    }

    /// The scan of a text with `digits` digits (`token_digits` of them in runs that start a
    /// token) and `marks`, and no runs: for working out which needs such texts meet.
    pub(super) fn with(digits: usize, token_digits: usize, marks: u8) -> Scan<'static> {
        Scan {
            digits,
            token_digits,
            marks,
            ..Scan::blank(&[])
        }
    }

    /// Whether the text meets `needs`.
    #[inline]
    pub fn meets(&self, needs: Needs) -> bool {
        // `&` and `|`, not `&&` and `||`: no branches, the set tests every detector at once.
        (self.digits >= needs.digits)
            & (self.token_digits >= needs.token_digits)
            & ((needs.marks == 0) | (self.marks & needs.marks != 0))
    }

    /// The runs of digits, in order.
    pub fn runs(&self) -> Runs<'_, 't> {
        Runs {
            scan: self,
            next: 0,
            from: 0,
            starts: self.packed.map_or(0, run_starts),
        }
    }
}

/// The runs of digits of a scanned text: the stored ones, then (for a long text) the rest as
/// found in the text.
pub struct Runs<'s, 't> {
    scan: &'s Scan<'t>,
    /// The next stored run.
    next: usize,
    /// Where the last run ended.
    from: usize,
    /// For a short text, the starts of the runs still to come, as bits.
    starts: u64,
}

/// The first digits of the runs of a short text's digit bits.
#[inline(always)]
fn run_starts(packed: u64) -> u64 {
    packed & !(packed << 1)
}

/// The length of the run of digit bits at `start` (below 64).
#[inline(always)]
fn run_len(packed: u64, start: usize) -> usize {
    (!(packed >> start)).trailing_zeros() as usize
}

impl Iterator for Runs<'_, '_> {
    type Item = Run;

    #[inline]
    fn next(&mut self) -> Option<Run> {
        let scan = self.scan;
        if let Some(packed) = scan.packed {
            if self.starts == 0 {
                return None;
            }
            let start = self.starts.trailing_zeros() as usize;
            self.starts &= self.starts - 1;
            let end = start + run_len(packed, start);
            return Some(Run { start, end });
        }
        let stored = scan.stored / 2;
        if self.next < stored {
            let start = scan.edges[2 * self.next] as usize;
            let end = scan.edges[2 * self.next + 1] as usize;
            self.next += 1;
            self.from = end;
            return Some(Run { start, end });
        }
        if scan.edge_count == 2 * stored {
            // Every run was stored.
            return None;
        }
        let start = next_digit(scan.text, self.from)?;
        let end = digits_end(scan.text, start);
        self.from = end;
        Some(Run { start, end })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{count_digits, is_digit};
    use super::*;

    /// Runs and counts found byte by byte, the slow and obvious way.
    fn plain_runs(text: &[u8]) -> Vec<Run> {
        let mut runs = Vec::new();
        let mut at = 0;
        while at < text.len() {
            if is_digit(text[at]) {
                let end = digits_end(text, at);
                runs.push(Run { start: at, end });
                at = end;
            } else {
                at += 1;
            }
        }
        runs
    }

    #[test]
    fn the_last_word_holds_exactly_the_bytes_past_the_whole_words() {
        let text: Vec<u8> = (1..=40u8).collect();
        for len in 0..=text.len() {
            let text = &text[..len];
            let rest = len % 8;
            let mut want = [0u8; 8];
            want[..rest].copy_from_slice(&text[len - rest..]);
            assert_eq!(last_word(text, rest), u64::from_le_bytes(want), "{len}");
        }
    }

    #[test]
    fn runs_and_digit_counts_agree_with_a_plain_walk() {
        let mut samples: Vec<Vec<u8>> = [
            &b""[..],
            b"7",
            b"abc",
            b"12345678",
            b"1234567890123456789",
            b"a1b2c3d4e5f6g7h8i9",
            b"order 2024-03-15 id-88231 12.50",
            b"\xff\xfe\x80/:;0\x00\x009",
            b"////////::::::::0",
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect();
        // Past the stored runs: a long text of many short numbers.
        samples.push(
            (0..200)
                .flat_map(|i| format!("n{i} ").into_bytes())
                .collect(),
        );
        // Around the short texts' limit: digits in the first and last bytes, runs across it.
        for len in [62, 63, 64, 65, 66] {
            samples.push(b"7".repeat(len));
            let mut text = b"9 a".repeat(len / 3 + 1);
            text.truncate(len - 1);
            text.push(b'5');
            samples.push(text);
        }
        let all: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        samples.push(all);
        for sample in &samples {
            let scan = Scan::new(sample);
            let want = plain_runs(sample);
            assert_eq!(scan.runs().collect::<Vec<_>>(), want, "{sample:?}");
            let digits = sample.iter().filter(|b| is_digit(**b)).count();
            assert_eq!(scan.digits(), digits, "{sample:?}");
            assert_eq!(scan.digits(), count_digits(sample), "{sample:?}");
        }
    }

    /// Token digits and run shapes worked out byte by byte from the plain runs.
    fn plain_shapes(text: &[u8]) -> (usize, u8) {
        let alnum = |at: Option<usize>| {
            at.and_then(|i| text.get(i))
                .is_some_and(u8::is_ascii_alphanumeric)
        };
        let alpha = |at: Option<usize>| {
            at.and_then(|i| text.get(i))
                .is_some_and(u8::is_ascii_alphabetic)
        };
        let (mut token_digits, mut marks) = (0, 0);
        for run in plain_runs(text) {
            let len = run.end - run.start;
            let token = !alnum(run.start.checked_sub(1));
            if token {
                token_digits += len;
                if len == 3 && matches!(text.get(run.end), Some(b'-' | b' ' | b'.' | b')')) {
                    marks |= mark::THREE;
                }
            }
            if run.start > 0 && text[run.start - 1] == b'+' {
                marks |= mark::PLUS;
            }
            if alpha(run.start.checked_sub(1))
                && alpha(run.start.checked_sub(2))
                && !alnum(run.start.checked_sub(3))
                && len >= 2
            {
                marks |= mark::COUNTRY;
            }
        }
        (token_digits, marks)
    }

    #[test]
    fn token_digits_and_run_shapes_agree_with_a_plain_walk() {
        let shapes = mark::THREE | mark::PLUS | mark::COUNTRY;
        let at_the_limit = b"x".repeat(60);
        let samples: [&[u8]; 18] = [
            &[at_the_limit.as_slice(), b"1234"].concat(),
            &[at_the_limit.as_slice(), b"12345"].concat(),
            &[at_the_limit.as_slice(), b" 123"].concat(),
            &[b"12 ".as_slice(), &at_the_limit, b"+7"].concat(),
            b"",
            b"123",
            b"c4ca4238a0b923820dcc509a6f75849b",
            b"customer 123456 ordered item 456",
            b"shipped to warehouse 12 on 2024-03-15",
            b"+44 20 7946 0958",
            b"DE89370400440532013000",
            b"iban: GB82 WEST 1234 5698 7654 32.",
            b"xDE89 aDE8 DE8 (415) 555-0132",
            b"ab12",
            b"9ab12",
            b"\xc3\xa9AB12 \xffcd345",
            b"4111 1111 1111 1111",
            b"a+1 b+22",
        ];
        for sample in samples {
            let scan = Scan::new(sample);
            let (token_digits, marks) = plain_shapes(sample);
            assert_eq!(scan.token_digits(), token_digits, "{sample:?}");
            assert_eq!(scan.marks() & shapes, marks, "{sample:?}");
        }
        // Past the stored runs every shape counts as present and every digit as a token's.
        let long: Vec<u8> = (0..200)
            .flat_map(|i| format!("n{i} ").into_bytes())
            .collect();
        let scan = Scan::new(&long);
        assert_eq!(scan.marks() & shapes, shapes);
        assert_eq!(scan.token_digits(), scan.digits());
    }

    #[test]
    fn markers_are_found_exactly() {
        let needs = |marks| Needs {
            marks,
            ..Needs::default()
        };
        let scan = Scan::new(b"mail a@b.io");
        assert!(scan.meets(needs(mark::AT)));
        assert!(!scan.meets(needs(mark::J | mark::A | mark::B)));
        let scan = Scan::new(b"2024-03-15 id-88231 eyJ");
        assert!(scan.meets(needs(mark::J)));
        assert!(!scan.meets(needs(mark::B)));
        // Markers in the last partial word, and after a word with none.
        assert!(Scan::new(b"1234567-----BEGIN").meets(needs(mark::B)));
        assert!(Scan::new(b"12345678A").meets(needs(mark::A)));
        // Bytes one bit away from a marker, or near one (`C`, `I`), are not it.
        assert!(!Scan::new(b"\xc0\x60\x4b\x6a\xc1\xca\xad\x2c\x2e\x49\x43").meets(needs(0xff)));
        assert!(Scan::new(b"").meets(Needs::default()));
        assert!(!Scan::new(b"12").meets(Needs {
            digits: 3,
            ..Needs::default()
        }));
        assert!(!Scan::new(b"a123").meets(Needs {
            token_digits: 1,
            ..Needs::default()
        }));
    }
}
