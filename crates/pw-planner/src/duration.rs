//! Human durations in policy files (`90s`, `15m`, `4h`, `1h30m`, `2d`, `1w`) and their display.
//!
//! Durations are whole seconds (`u64`) inside the planner: estimates and windows are minutes to
//! hours long, so sub-second precision would only add noise. The grammar is pw-model's
//! (`pw_model::parse_duration`): units `s`, `m`, `h`, `d` (24 h, no calendar days: a duration is
//! elapsed time) and `w` (7 d), written largest first, each unit at most once, without spaces:
//! `1d12h`, `2h30m`. This module adds the planner's leniency (surrounding spaces are trimmed, zero
//! is a duration) and its error messages.

use jiff::SignedDuration;
use pw_model::DurationError;

/// Parses a duration such as `15m` or `1h30m` into seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let duration = pw_model::parse_duration(text.trim()).map_err(|e| reason(&e))?;
    // The grammar has no sign, so the seconds are never negative.
    Ok(duration.as_secs().unsigned_abs())
}

/// Formats seconds the way [`parse_duration`] reads them (`1h30m`, `45s`, `0s`); beyond
/// `i64::MAX` seconds (292 billion years) it writes that maximum.
pub fn format_duration(seconds: u64) -> String {
    let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
    pw_model::format_duration(SignedDuration::from_secs(seconds))
}

/// The planner's wording of a grammar error.
fn reason(error: &DurationError) -> String {
    match error {
        DurationError::Empty => "empty duration (expected e.g. 15m, 4h, 1h30m, 2d)".into(),
        DurationError::UnexpectedChar { found, .. } => {
            format!("unknown unit {found:?} (use s, m, h, d or w, e.g. 1h30m)")
        }
        DurationError::MissingNumber { unit, .. } => {
            format!("unit {unit:?} without a number before it")
        }
        DurationError::UnitOrder { .. } => {
            "units must appear once each, largest first (e.g. 1h30m)".into()
        }
        DurationError::MissingUnit { digits } => format!(
            "number {digits} has no unit (write {digits}s, {digits}m, {digits}h or {digits}d)"
        ),
        DurationError::NumberTooLarge { digits } => format!("number {digits} is too large"),
        DurationError::TooLarge => "duration is too large".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<u64, &str>) {
        match (parse_duration(text), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parses_units_and_combinations() {
        check("90s", Ok(90));
        check("15m", Ok(900));
        check("4h", Ok(14_400));
        check("1h30m", Ok(5_400));
        check("2d", Ok(172_800));
        check("1w", Ok(604_800));
        check("1d12h", Ok(129_600));
        check(" 5m ", Ok(300));
        check("0s", Ok(0));
    }

    #[test]
    fn rejects_malformed_durations() {
        check("", Err("empty"));
        check("15", Err("has no unit"));
        check("m", Err("without a number"));
        check("30m1h", Err("largest first"));
        check("1h1h", Err("largest first"));
        check("1y", Err("unknown unit 'y'"));
        check("1 h", Err("unknown unit ' '"));
        check("99999999999999999999s", Err("too large"));
        check("9999999999999999w", Err("too large"));
    }

    #[test]
    fn formats_round_trip() {
        for seconds in [0, 1, 59, 60, 3_599, 3_600, 5_400, 86_400, 90_061, 1_000_000] {
            assert_eq!(parse_duration(&format_duration(seconds)), Ok(seconds));
        }
        assert_eq!(format_duration(5_400), "1h30m");
    }
}
