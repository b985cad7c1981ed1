//! Event time: [`Timestamp`], UTC nanoseconds since the Unix epoch.
//!
//! Every event's `time` (and an approval's `expires_at`) is a `Timestamp`. The proxy stamps it
//! when the event happens; the archive stores it as an Arrow `Timestamp(Nanosecond, "UTC")`.
//!
//! Invariants: the value is an `i64` count of nanoseconds, so it covers 1677-09-21 to
//! 2262-04-11. On the wire it is always RFC 3339 in UTC with exactly nine fractional digits and
//! a `Z` (`2026-11-26T05:21:12.123456789Z`), and parsing accepts *only* that form: the text is
//! hashed, so two spellings of one instant must never both be valid.
//!
//! Not here: lenient parsing of user input (`--since yesterday`) belongs to the CLI, which can
//! convert a `chrono::DateTime<Utc>` with [`Timestamp::try_from`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant in UTC with nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a text or a `chrono` value is not a valid [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text is not RFC 3339 at all.
    #[error("`{text}` is not an RFC 3339 timestamp: {reason}")]
    Syntax {
        /// The rejected text.
        text: String,
        /// What the parser reported.
        reason: String,
    },
    /// The text is RFC 3339 but not the canonical `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` form.
    #[error(
        "`{text}` is not canonical: expected UTC with nine fractional digits, like `{canonical}`"
    )]
    NotCanonical {
        /// The rejected text.
        text: String,
        /// The same instant, written canonically (when it is in range).
        canonical: String,
    },
    /// The instant lies outside 1677-09-21..2262-04-11, which `i64` nanoseconds cannot hold.
    #[error("timestamp is outside the range of i64 nanoseconds since 1970")]
    OutOfRange,
}

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00.000000000Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// The current time from the system clock.
    pub fn now() -> Self {
        // `timestamp_nanos_opt` is `None` only after 2262; saturate rather than panic.
        Timestamp(Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX))
    }

    /// The instant `nanos` nanoseconds after (or, if negative, before) the Unix epoch.
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// This instant as a `chrono` value.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }

    /// The instant `duration` later, or `None` past 2262.
    pub fn checked_add(self, duration: Duration) -> Option<Self> {
        let nanos = i64::try_from(duration.as_nanos()).ok()?;
        self.0.checked_add(nanos).map(Timestamp)
    }

    /// How long after `earlier` this instant is; zero if it is not later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        let nanos = self.0.saturating_sub(earlier.0);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
    }
}

impl Timestamp {
    /// Appends the wire text (what `Display` writes: RFC 3339, UTC, nine fractional digits,
    /// `Z`) to `out`, computed directly: this runs once per event when an archive is verified.
    pub fn write_canonical(self, out: &mut String) {
        const NANOS: i64 = 1_000_000_000;
        let seconds = self.0.div_euclid(NANOS);
        let nanos = self.0.rem_euclid(NANOS);
        let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        // i64 nanoseconds span the years 1677..=2262: always four digits.
        push_digits(out, year, 4);
        out.push('-');
        push_digits(out, month, 2);
        out.push('-');
        push_digits(out, day, 2);
        out.push('T');
        push_digits(out, second_of_day / 3_600, 2);
        out.push(':');
        push_digits(out, second_of_day / 60 % 60, 2);
        out.push(':');
        push_digits(out, second_of_day % 60, 2);
        out.push('.');
        push_digits(out, nanos, 9);
        out.push('Z');
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Appends `value` (non-negative) as exactly `width` decimal digits, zero-padded.
fn push_digits(out: &mut String, value: i64, width: u32) {
    let mut divisor = 10_i64.pow(width.saturating_sub(1));
    let mut rest = value.rem_euclid(divisor * 10);
    while divisor > 0 {
        let digit = u8::try_from(rest / divisor).unwrap_or(0);
        out.push(char::from(b'0' + digit));
        rest %= divisor;
        divisor /= 10;
    }
}

impl TryFrom<DateTime<Utc>> for Timestamp {
    type Error = TimestampError;

    fn try_from(value: DateTime<Utc>) -> Result<Self, Self::Error> {
        value
            .timestamp_nanos_opt()
            .map(Timestamp)
            .ok_or(TimestampError::OutOfRange)
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(value: Timestamp) -> Self {
        value.to_datetime()
    }
}

impl From<Timestamp> for std::time::SystemTime {
    fn from(value: Timestamp) -> Self {
        let since_epoch = Duration::from_nanos(value.0.unsigned_abs());
        match value.0 >= 0 {
            true => std::time::UNIX_EPOCH + since_epoch,
            false => std::time::UNIX_EPOCH - since_epoch,
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self
            .to_datetime()
            .to_rfc3339_opts(SecondsFormat::Nanos, true);
        f.write_str(&text)
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    /// Parses the canonical form only; see the module documentation.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parsed = DateTime::parse_from_rfc3339(text).map_err(|err| TimestampError::Syntax {
            text: text.to_owned(),
            reason: err.to_string(),
        })?;
        let timestamp = Timestamp::try_from(parsed.with_timezone(&Utc))?;
        let canonical = timestamp.to_string();
        if canonical != text {
            return Err(TimestampError::NotCanonical {
                text: text.to_owned(),
                canonical,
            });
        }
        Ok(timestamp)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An instant in UTC: RFC 3339 with exactly nine fractional digits and `Z`.",
            "type": "string",
            "format": "date-time",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z$",
            "examples": ["2026-11-26T05:21:12.123456789Z"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_nine_digits_and_z() {
        let t = Timestamp::from_unix_nanos(1_795_670_472_123_456_789);
        assert_eq!(t.to_string(), "2026-11-26T05:21:12.123456789Z");
        assert_eq!(
            Timestamp::UNIX_EPOCH.to_string(),
            "1970-01-01T00:00:00.000000000Z"
        );
        assert_eq!(
            Timestamp::from_unix_nanos(-1).to_string(),
            "1969-12-31T23:59:59.999999999Z"
        );
    }

    #[test]
    fn write_canonical_is_display() {
        let mut samples = vec![
            i64::MIN,
            i64::MIN + 1,
            -86_400_000_000_001,
            -1,
            0,
            1,
            951_782_400_000_000_000,
            1_709_164_799_999_999_999,
            1_795_000_000_123_456_789,
            i64::MAX - 1,
            i64::MAX,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            samples.push(i64::from_ne_bytes(seed.to_ne_bytes()));
        }
        for nanos in samples {
            let time = Timestamp::from_unix_nanos(nanos);
            let mut text = String::new();
            time.write_canonical(&mut text);
            assert_eq!(text, time.to_string(), "{nanos}");
        }
    }

    #[test]
    fn round_trips_through_text_and_serde() {
        for nanos in [0, 1, -1, 1_795_670_472_123_456_789, i64::MAX, i64::MIN] {
            let t = Timestamp::from_unix_nanos(nanos);
            assert_eq!(t.to_string().parse::<Timestamp>(), Ok(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        }
    }

    #[test]
    fn rejects_non_canonical_spellings() {
        for text in [
            "2026-11-26T05:21:12.123456789+00:00",
            "2026-11-26T05:21:12.123456789z",
            "2026-11-26t05:21:12.123456789Z",
            "2026-11-26T05:21:12.123Z",
            "2026-11-26T05:21:12Z",
            "2026-11-26T06:21:12.123456789+01:00",
            "2026-11-26T05:21:12.1234567890Z",
            "2016-12-31T23:59:60.000000000Z",
        ] {
            assert!(
                matches!(
                    text.parse::<Timestamp>(),
                    Err(TimestampError::NotCanonical { .. })
                ),
                "{text} was accepted"
            );
        }
        assert!(matches!(
            "yesterday".parse::<Timestamp>(),
            Err(TimestampError::Syntax { .. })
        ));
        assert_eq!(
            "2262-04-12T00:00:00.000000000Z".parse::<Timestamp>(),
            Err(TimestampError::OutOfRange)
        );
    }

    #[test]
    fn duration_arithmetic() {
        let t = Timestamp::from_unix_nanos(10);
        assert_eq!(
            t.checked_add(Duration::from_nanos(5)),
            Some(Timestamp::from_unix_nanos(15))
        );
        assert_eq!(
            Timestamp::from_unix_nanos(i64::MAX).checked_add(Duration::from_nanos(1)),
            None
        );
        assert_eq!(
            Timestamp::from_unix_nanos(15).saturating_duration_since(t),
            Duration::from_nanos(5)
        );
        assert_eq!(
            t.saturating_duration_since(Timestamp::from_unix_nanos(15)),
            Duration::ZERO
        );
    }
}
