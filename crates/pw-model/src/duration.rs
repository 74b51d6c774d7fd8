//! Durations as operators write them (`90s`, `15m`, `4h`, `1h30m`, `2d`, `1w`): the one grammar
//! that window specs, planner policies, priority deadlines and the CLI all read, and its writer.
//!
//! Grammar: one or more `<digits><unit>` groups with units `w` (7 days), `d` (24 hours), `h`, `m`
//! and `s`, largest first, each at most once; no spaces, signs or fractions. The value is elapsed
//! (exact) time: a day is 24 real hours, never a calendar day, so a DST change does not stretch it.
//! Zero (`0s`) is read; a caller that needs a positive or bounded duration checks that itself, with
//! its own message. [`format_duration`] writes days as the largest unit (`14d`, not `2w`).

use jiff::SignedDuration;

/// Why a text is not a duration; positions are byte offsets into the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration (expected e.g. 15m, 4h, 1h30m, 2d)")]
    Empty,
    #[error("unexpected {found:?} at byte {position}; expected digits followed by w, d, h, m or s")]
    UnexpectedChar { found: char, position: usize },
    #[error("unit {unit:?} at byte {position} has no number before it")]
    MissingNumber { unit: char, position: usize },
    #[error(
        "unit {unit:?} at byte {position} is out of order; units appear once each, largest first"
    )]
    UnitOrder { unit: char, position: usize },
    #[error("number {digits} has no unit")]
    MissingUnit { digits: String },
    #[error("number {digits} is too large")]
    NumberTooLarge { digits: String },
    #[error("duration is too large")]
    TooLarge,
}

/// Parses a duration such as `15m` or `1h30m`. The text is taken as is: trimming is the caller's
/// choice.
pub fn parse_duration(text: &str) -> Result<SignedDuration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: i64 = 0;
    let mut next_rank = 0;
    let mut digits_start = None;
    for (position, c) in text.char_indices() {
        if c.is_ascii_digit() {
            digits_start.get_or_insert(position);
            continue;
        }
        let Some(rank) = UNITS.iter().position(|&(unit, _)| unit == c) else {
            return Err(DurationError::UnexpectedChar { found: c, position });
        };
        let Some(start) = digits_start.take() else {
            return Err(DurationError::MissingNumber { unit: c, position });
        };
        if rank < next_rank {
            return Err(DurationError::UnitOrder { unit: c, position });
        }
        next_rank = rank + 1;
        let digits = &text[start..position];
        let number: i64 = digits.parse().map_err(|_| DurationError::NumberTooLarge {
            digits: digits.to_owned(),
        })?;
        total = number
            .checked_mul(UNITS[rank].1)
            .and_then(|seconds| total.checked_add(seconds))
            .ok_or(DurationError::TooLarge)?;
    }
    if let Some(start) = digits_start {
        return Err(DurationError::MissingUnit {
            digits: text[start..].to_owned(),
        });
    }
    Ok(SignedDuration::from_secs(total))
}

/// Writes a duration in the same grammar, largest units first up to days (`5400s` -> `1h30m`,
/// `14d`, `0s`). Sub-second parts are dropped; a negative duration, which the grammar cannot
/// express, is written `0s`.
pub fn format_duration(duration: SignedDuration) -> String {
    let mut seconds = duration.as_secs().max(0);
    let mut out = String::new();
    for &(unit, size) in UNITS.iter().filter(|&&(unit, _)| unit != 'w') {
        if seconds >= size {
            out.push_str(&format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// The units, largest first, with their length in seconds.
const UNITS: [(char, i64); 5] = [
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<i64, DurationError>) {
        assert_eq!(
            parse_duration(text).map(|d| d.as_secs()),
            expected,
            "{text:?}"
        );
    }

    #[test]
    fn parses_every_unit_and_combinations() {
        check("90s", Ok(90));
        check("15m", Ok(900));
        check("4h", Ok(14_400));
        check("1h30m", Ok(5_400));
        check("2d", Ok(172_800));
        check("1w", Ok(604_800));
        check("1w2d3h4m5s", Ok(788_645));
        check("0s", Ok(0));
        check("007h", Ok(25_200));
        check("9223372036854775807s", Ok(i64::MAX));
    }

    #[test]
    fn rejects_malformed_durations() {
        use DurationError::*;
        check("", Err(Empty));
        check(
            " 4h",
            Err(UnexpectedChar {
                found: ' ',
                position: 0,
            }),
        );
        check(
            "4h ",
            Err(UnexpectedChar {
                found: ' ',
                position: 2,
            }),
        );
        check(
            "-4h",
            Err(UnexpectedChar {
                found: '-',
                position: 0,
            }),
        );
        check(
            "+4h",
            Err(UnexpectedChar {
                found: '+',
                position: 0,
            }),
        );
        check(
            "1.5d",
            Err(UnexpectedChar {
                found: '.',
                position: 1,
            }),
        );
        check(
            "1y",
            Err(UnexpectedChar {
                found: 'y',
                position: 1,
            }),
        );
        check(
            "4H",
            Err(UnexpectedChar {
                found: 'H',
                position: 1,
            }),
        );
        check(
            "PT4H",
            Err(UnexpectedChar {
                found: 'P',
                position: 0,
            }),
        );
        check(
            "h",
            Err(MissingNumber {
                unit: 'h',
                position: 0,
            }),
        );
        check(
            "1hm",
            Err(MissingNumber {
                unit: 'm',
                position: 2,
            }),
        );
        check(
            "30m1h",
            Err(UnitOrder {
                unit: 'h',
                position: 4,
            }),
        );
        check(
            "1h1h",
            Err(UnitOrder {
                unit: 'h',
                position: 3,
            }),
        );
        check(
            "1d1w",
            Err(UnitOrder {
                unit: 'w',
                position: 3,
            }),
        );
        check(
            "15",
            Err(MissingUnit {
                digits: "15".into(),
            }),
        );
        check(
            "1h30",
            Err(MissingUnit {
                digits: "30".into(),
            }),
        );
        check(
            "9223372036854775808s",
            Err(NumberTooLarge {
                digits: "9223372036854775808".into(),
            }),
        );
        check("9999999999999999w", Err(TooLarge));
        check(
            "9223372036854775807s1s",
            Err(UnitOrder {
                unit: 's',
                position: 21,
            }),
        );
        check("15250284452471w3d", Ok(i64::MAX - 315_007 + 3 * 86_400));
        check("15250284452471w4d", Err(TooLarge));
    }

    #[test]
    fn formats_largest_units_first() {
        for (seconds, text) in [
            (0, "0s"),
            (45, "45s"),
            (5_400, "1h30m"),
            (86_400, "1d"),
            (14 * 86_400, "14d"),
            (93_784, "1d2h3m4s"),
            (-3_600, "0s"),
        ] {
            assert_eq!(format_duration(SignedDuration::from_secs(seconds)), text);
        }
    }

    #[test]
    fn formats_round_trip() {
        for seconds in [0, 1, 59, 60, 3_599, 3_600, 5_400, 86_400, 90_061, 1_000_000] {
            let text = format_duration(SignedDuration::from_secs(seconds));
            assert_eq!(
                parse_duration(&text),
                Ok(SignedDuration::from_secs(seconds))
            );
        }
    }
}
