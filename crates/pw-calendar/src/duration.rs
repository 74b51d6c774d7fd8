//! Durations as operators write them: `4h`, `90m`, `1h30m`, `2d` (a day is 24 elapsed hours).
//!
//! The grammar is pw-model's (`pw_model::parse_duration`): one or more `<digits><unit>` groups,
//! units `w`, `d`, `h`, `m`, `s` in that order, each at most once, no spaces or signs. This module
//! adds the calendar's range (longer than zero, at most 366 days) and its error messages. The value
//! is elapsed (exact) time, like an RFC 5545 `DURATION` of hours and minutes: a 4h window that
//! starts at 01:00 on a night the clocks go back ends at 04:00 local time, four real hours later.

use jiff::SignedDuration;
use pw_model::DurationError;
pub use pw_model::format_duration;

use crate::Error;

/// Longest accepted duration: 366 days (long freezes are one-off or yearly blackouts).
pub const MAX_DURATION_SECONDS: i64 = 366 * 86_400;

/// Parses a duration such as `4h` or `1h30m`; `field` names the spec field for errors.
pub fn parse_duration(field: &'static str, text: &str) -> Result<SignedDuration, Error> {
    let fail = |reason: String| Error::Duration {
        field,
        value: text.to_owned(),
        reason,
    };
    if text.len() > 32 {
        return Err(fail("too long".to_owned()));
    }
    let duration = pw_model::parse_duration(text).map_err(|e| fail(reason(&e)))?;
    if duration.as_secs() > MAX_DURATION_SECONDS {
        return Err(fail("longer than the maximum of 366 days".to_owned()));
    }
    if duration.is_zero() {
        return Err(fail("must be longer than zero".to_owned()));
    }
    Ok(duration)
}

/// The calendar's wording of a grammar error.
fn reason(error: &DurationError) -> String {
    match error {
        DurationError::Empty => {
            "empty; expected e.g. \"4h\", \"90m\", \"1h30m\" or \"2d\"".to_owned()
        }
        DurationError::UnexpectedChar { found, .. } => format!(
            "unexpected {found:?}; expected digits followed by w, d, h, m or s (e.g. \"1h30m\")"
        ),
        DurationError::MissingNumber { unit, .. } => {
            format!("unit {unit:?} has no number before it")
        }
        DurationError::UnitOrder { .. } => {
            "units must appear once each, in the order w, d, h, m, s".to_owned()
        }
        DurationError::MissingUnit { .. } => {
            "number without a unit; write e.g. \"90m\" or \"4h\"".to_owned()
        }
        DurationError::NumberTooLarge { .. } => "number too large".to_owned(),
        DurationError::TooLarge => "longer than the maximum of 366 days".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<i64, &str>) {
        let got = parse_duration("duration", text).map(|d| d.as_secs());
        match expected {
            Ok(seconds) => assert_eq!(got, Ok(seconds), "{text}"),
            Err(part) => {
                let message = got.unwrap_err().to_string();
                assert!(message.contains(part), "{text}: {message}");
            }
        }
    }

    #[test]
    fn parses_operator_durations() {
        check("4h", Ok(14_400));
        check("90m", Ok(5_400));
        check("1h30m", Ok(5_400));
        check("2d", Ok(172_800));
        check("1d2h3m4s", Ok(93_784));
        check("366d", Ok(MAX_DURATION_SECONDS));
        check("1w", Ok(604_800));
        check("52w2d", Ok(MAX_DURATION_SECONDS));
    }

    #[test]
    fn rejects_bad_durations() {
        check("", Err("empty"));
        check("4", Err("without a unit"));
        check("h", Err("no number"));
        check("4 h", Err("unexpected ' '"));
        check("-4h", Err("unexpected '-'"));
        check("30m1h", Err("in the order"));
        check("1h1h", Err("in the order"));
        check("0h", Err("longer than zero"));
        check("367d", Err("maximum"));
        check("53w", Err("maximum"));
        check("1d1w", Err("in the order"));
        check("99999999999999999w", Err("maximum"));
        check(&"1".repeat(33), Err("too long"));
        check("99999999999999999999h", Err("too large"));
        check("PT4H", Err("unexpected 'P'"));
    }

    #[test]
    fn formats_round_trip() {
        for text in ["4h", "1h30m", "2d", "1d2h3m4s", "45s"] {
            let duration = parse_duration("duration", text).unwrap();
            assert_eq!(format_duration(duration), text);
        }
    }
}
