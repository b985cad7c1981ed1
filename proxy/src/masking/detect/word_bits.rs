//! The bit tricks [`Scan`](super::scan::Scan) reads a value with: eight bytes at a time, exact
//! per byte (no carries between bytes, no branch per byte).
//!
//! A word's digits (`super::digit_mask`) and marker bytes ([`marker_bits`]) come out as the
//! high bit of each byte; [`gather`] packs those into one bit per byte and [`POSITIONS`] turns
//! such a byte into the positions of its bits. [`shape`] reads the few bytes before a run of
//! digits through the [`CLASS`] table. Nothing here allocates or panics; the scan decides what
//! is kept.

use super::scan::mark;

/// [`CLASS`] bits: an ASCII letter or digit; an ASCII letter.
const ALNUM: u8 = 1;
const ALPHA: u8 = 2;

/// Per byte, its [`ALNUM`] and [`ALPHA`] bits.
const CLASS: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        if b.is_ascii_alphanumeric() {
            table[byte] |= ALNUM;
        }
        if b.is_ascii_alphabetic() {
            table[byte] |= ALPHA;
        }
        byte += 1;
    }
    table
}

/// The last `rest` bytes of `text` (fewer than eight) as a word, zero-padded: read with
/// overlapping loads rather than byte by byte (a loop whose length changes from value to
/// value costs a mispredicted branch per value).
#[inline(always)]
pub fn last_word(text: &[u8], rest: usize) -> u64 {
    let word = |at: usize| {
        text.get(at..at + 8)
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let half = |at: usize| {
        text.get(at..at + 4)
            .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
            .map_or(0, |bytes| u64::from(u32::from_le_bytes(bytes)))
    };
    let byte = |at: usize| u64::from(text.get(at).copied().unwrap_or(0));
    let len = text.len();
    if rest == 0 {
        0
    } else if len >= 8 {
        // The word ending at the text's end, less the bytes already read.
        word(len - 8) >> (8 * (8 - rest))
    } else if rest >= 4 {
        // The whole text is the rest: two halves that may overlap (equal bytes OR'd).
        half(0) | (half(rest - 4) << (8 * (rest - 4)))
    } else {
        byte(0) | (byte(rest / 2) << (8 * (rest / 2))) | (byte(rest - 1) << (8 * (rest - 1)))
    }
}

/// Byte `i`'s high bit to bit `i` of the top byte (a multiply in place of `pmovmskb`).
pub const GATHER: u64 = 0x0102_0408_1020_4080;

/// For each 8-bit mask, the positions of its set bits in order (then zeros): a word's edges
/// are stored without a branch per edge.
pub const POSITIONS: [[u8; 8]; 256] = positions();

const fn positions() -> [[u8; 8]; 256] {
    let mut table = [[0u8; 8]; 256];
    let mut mask = 0;
    while mask < 256 {
        let (mut bit, mut n) = (0, 0);
        while bit < 8 {
            if mask & (1 << bit) != 0 {
                table[mask][n] = bit as u8;
                n += 1;
            }
            bit += 1;
        }
        mask += 1;
    }
    table
}

/// A word's high bits per byte ([`super::digit_mask`], [`marker_bits`]) as one bit per byte, in the low byte.
#[inline(always)]
pub fn gather(high_bits: u64) -> u64 {
    (high_bits >> 7).wrapping_mul(GATHER) >> 56
}

/// What the bytes before a run of `len` digits at `start` say: its digits if it starts a
/// token, and its [`mark::THREE`], [`mark::PLUS`] and [`mark::COUNTRY`] shapes. Arithmetic in
/// place of branches: which runs have which shape is not predictable.
#[inline(always)]
pub fn shape(text: &[u8], start: usize, len: usize) -> (usize, u8) {
    let class = |at: usize| CLASS[usize::from(text.get(at).copied().unwrap_or(0))];
    // Before the text's start is as if a space (`wrapping_sub` reads past the end).
    let before = text.get(start.wrapping_sub(1)).copied().unwrap_or(b' ');
    let token = CLASS[usize::from(before)] & ALNUM == 0;
    let country = (class(start.wrapping_sub(1)) & class(start.wrapping_sub(2)) & ALPHA != 0)
        & (class(start.wrapping_sub(3)) & ALNUM == 0);
    // An SSN's area and a phone's area code are followed by their separator.
    let after = text.get(start + len).copied().unwrap_or(0);
    let separated = matches!(after, b'-' | b' ' | b'.' | b')');
    let marks = (mark::THREE * u8::from(token & (len == 3) & separated))
        | (mark::PLUS * u8::from(before == b'+'))
        | (mark::COUNTRY * u8::from(country & (len >= 2)));
    (len * usize::from(token), marks)
}

/// One in every byte.
pub const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = ONES * 127;
const HIGH: u64 = ONES * 128;

/// One high bit per byte of `x` equal to `byte` (exact per byte: no carries between bytes).
#[inline(always)]
fn equal_mask(x: u64, byte: u8) -> u64 {
    let v = x ^ (ONES * u64::from(byte));
    !(((v & LOW7) + LOW7) | v) & HIGH
}

/// Each marker's high bits, moved to a bit of its own (bits 7, 6, 5 and 4 of a byte for `@`,
/// `J`, `A` and `B`).
#[inline(always)]
pub fn marker_bits(x: u64) -> u64 {
    // The markers all lie in 0x40..=0x4a: one range test first (most words of most text have
    // none of those bytes), then the exact tests.
    let low = x & LOW7;
    let range = (ONES * (127 + 0x4b) - low) & !x & (low + ONES * (127 - 0x3f)) & HIGH;
    if range == 0 {
        return 0;
    }
    equal_mask(x, b'@')
        | (equal_mask(x, b'J') >> 1)
        | (equal_mask(x, b'A') >> 2)
        | (equal_mask(x, b'B') >> 3)
}

/// Folds the marker bits of every byte into one byte of [`mark`] bits.
pub fn fold_marks(marks: u64) -> u8 {
    let mut all = marks;
    all |= all >> 32;
    all |= all >> 16;
    all |= all >> 8;
    // Bits 4 to 7 of a byte are the [`mark`] bits 0 to 3 (`B`, `A`, `J`, `AT`).
    ((all >> 4) & 0xf) as u8
}
