//! Durations as operators write them: `4h`, `90m`, `1h30m`, `2d` (a day is 24 elapsed hours).
//!
//! Grammar: one or more `<digits><unit>` groups, units `d`, `h`, `m`, `s` in that order, each at
//! most once, no spaces or signs. The value is elapsed (exact) time, like an RFC 5545 `DURATION`
//! of hours and minutes: a 4h window that starts at 01:00 on a night the clocks go back ends at
//! 04:00 local time, four real hours later.

use jiff::SignedDuration;

use crate::Error;

/// Longest accepted duration: 366 days (long freezes are one-off or yearly blackouts).
pub const MAX_DURATION_SECONDS: i64 = 366 * 86_400;

/// Parses a duration such as `4h` or `1h30m`; `field` names the spec field for errors.
pub fn parse_duration(field: &'static str, text: &str) -> Result<SignedDuration, Error> {
    let fail = |reason: &str| Error::Duration {
        field,
        value: text.to_owned(),
        reason: reason.to_owned(),
    };
    if text.is_empty() {
        return Err(fail(
            "empty; expected e.g. \"4h\", \"90m\", \"1h30m\" or \"2d\"",
        ));
    }
    if text.len() > 32 {
        return Err(fail("too long"));
    }
    let units = [('d', 86_400i64), ('h', 3_600), ('m', 60), ('s', 1)];
    let mut next_unit = 0;
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let Some(position) = units.iter().position(|&(unit, _)| unit == c) else {
            return Err(fail(&format!(
                "unexpected {c:?}; expected digits followed by d, h, m or s (e.g. \"1h30m\")"
            )));
        };
        if digits.is_empty() {
            return Err(fail(&format!("unit {c:?} has no number before it")));
        }
        if position < next_unit {
            return Err(fail("units must appear once each, in the order d, h, m, s"));
        }
        next_unit = position + 1;
        let value: i64 = digits.parse().map_err(|_| fail("number too large"))?;
        digits.clear();
        total = value
            .checked_mul(units[position].1)
            .and_then(|seconds| total.checked_add(seconds))
            .filter(|&seconds| seconds <= MAX_DURATION_SECONDS)
            .ok_or_else(|| fail("longer than the maximum of 366 days"))?;
    }
    if !digits.is_empty() {
        return Err(fail("number without a unit; write e.g. \"90m\" or \"4h\""));
    }
    if total == 0 {
        return Err(fail("must be longer than zero"));
    }
    Ok(SignedDuration::from_secs(total))
}

/// Formats a duration in the same grammar, largest units first (`5400s` -> `1h30m`).
pub fn format_duration(duration: SignedDuration) -> String {
    let mut seconds = duration.as_secs().max(0);
    let mut out = String::new();
    for (unit, size) in [('d', 86_400i64), ('h', 3_600), ('m', 60), ('s', 1)] {
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
