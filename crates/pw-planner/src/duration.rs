//! Human durations in policy files (`90s`, `15m`, `4h`, `1h30m`, `2d`, `1w`) and their display.
//!
//! Durations are whole seconds (`u64`) inside the planner: estimates and windows are minutes to
//! hours long, so sub-second precision would only add noise. Units: `s`, `m`, `h`, `d` (24 h, no
//! calendar days: a duration is elapsed time) and `w` (7 d). Parts are written largest first, each
//! unit at most once, without spaces: `1d12h`, `2h30m`.

/// Parses a duration such as `15m` or `1h30m` into seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration (expected e.g. 15m, 4h, 1h30m, 2d)".into());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut last_rank = usize::MAX;
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let (rank, unit) = match c {
            'w' => (4, 7 * 86_400),
            'd' => (3, 86_400),
            'h' => (2, 3_600),
            'm' => (1, 60),
            's' => (0, 1),
            other => {
                return Err(format!(
                    "unknown unit {other:?} (use s, m, h, d or w, e.g. 1h30m)"
                ));
            }
        };
        if digits.is_empty() {
            return Err(format!("unit {c:?} without a number before it"));
        }
        if rank >= last_rank {
            return Err("units must appear once each, largest first (e.g. 1h30m)".into());
        }
        last_rank = rank;
        let number: u64 = digits
            .parse()
            .map_err(|_| format!("number {digits} is too large"))?;
        total = number
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| "duration is too large".to_string())?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(format!(
            "number {digits} has no unit (write {digits}s, {digits}m, {digits}h or {digits}d)"
        ));
    }
    Ok(total)
}

/// Formats seconds the way [`parse_duration`] reads them (`1h30m`, `45s`, `0s`).
pub fn format_duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".into();
    }
    let mut rest = seconds;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        let count = rest / size;
        if count > 0 {
            out.push_str(&format!("{count}{unit}"));
            rest %= size;
        }
    }
    out
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
