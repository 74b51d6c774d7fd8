//! Parsing and rendering of RFC 5545 `RRULE` values (the subset maintenance windows need).
//!
//! Supported parts: FREQ (DAILY, WEEKLY, MONTHLY, YEARLY), INTERVAL, COUNT, UNTIL, BYMONTH,
//! BYMONTHDAY (negative counts from the month's end), BYDAY (with ordinals such as `2SA` or
//! `-1SU` for MONTHLY and YEARLY only, as RFC 5545 requires), BYHOUR, BYMINUTE, BYSECOND,
//! BYSETPOS and WKST. BYYEARDAY, BYWEEKNO and the sub-daily frequencies are refused with a
//! message rather than silently misread. Sizes are capped (see the `MAX_*` constants).

use jiff::Timestamp;
use jiff::civil::{DateTime, Weekday};

use crate::Error;

/// Longest accepted rule text.
pub const MAX_RULE_LENGTH: usize = 1_000;
/// Largest accepted COUNT.
pub const MAX_COUNT: u32 = 100_000;
/// Largest accepted INTERVAL.
pub const MAX_INTERVAL: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// UNTIL, compared with each occurrence as an absolute instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// `20261224T050000Z`
    Utc(Timestamp),
    /// `20261224T050000` (floating): read in the window's zone like any local time.
    Local(DateTime),
}

/// A parsed recurrence rule. Lists are deduplicated and keep the order they were written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub freq: Freq,
    pub interval: u32,
    pub count: Option<u32>,
    pub until: Option<Until>,
    pub by_month: Vec<i8>,
    pub by_month_day: Vec<i8>,
    /// (ordinal, weekday); ordinal `None` means every such weekday of the period.
    pub by_day: Vec<(Option<i8>, Weekday)>,
    pub by_hour: Vec<i8>,
    pub by_minute: Vec<i8>,
    pub by_second: Vec<i8>,
    pub by_set_pos: Vec<i16>,
    /// WKST as written, if it was; Monday is the default.
    pub wkst: Option<Weekday>,
}

impl Rule {
    pub fn week_start(&self) -> Weekday {
        self.wkst.unwrap_or(Weekday::Monday)
    }

    /// Parses `text`, with or without the `RRULE:` prefix (case-insensitive).
    pub fn parse(text: &str) -> Result<Rule, Error> {
        let fail = |reason: String| Error::rule(text, reason);
        if text.len() > MAX_RULE_LENGTH {
            return Err(fail(format!("longer than {MAX_RULE_LENGTH} characters")));
        }
        let body = text.trim();
        let body = match body.get(..6) {
            Some(prefix) if prefix.eq_ignore_ascii_case("RRULE:") => &body[6..],
            _ => body,
        };
        if body.is_empty() {
            return Err(fail(
                "empty rule; expected e.g. \"FREQ=WEEKLY;BYDAY=SU\"".into(),
            ));
        }
        let mut parts: Vec<(String, &str)> = Vec::new();
        for part in body.split(';') {
            let Some((name, value)) = part.split_once('=') else {
                return Err(fail(format!("part {part:?} is not NAME=VALUE")));
            };
            let name = name.trim().to_ascii_uppercase();
            if parts.iter().any(|(seen, _)| *seen == name) {
                return Err(fail(format!("{name} appears more than once")));
            }
            parts.push((name, value.trim()));
        }
        let mut rule = Rule {
            freq: Freq::Daily,
            interval: 1,
            count: None,
            until: None,
            by_month: Vec::new(),
            by_month_day: Vec::new(),
            by_day: Vec::new(),
            by_hour: Vec::new(),
            by_minute: Vec::new(),
            by_second: Vec::new(),
            by_set_pos: Vec::new(),
            wkst: None,
        };
        let mut freq = None;
        for (name, value) in &parts {
            let in_part = |reason: String| fail(format!("{name}={value}: {reason}"));
            match name.as_str() {
                "FREQ" => freq = Some(parse_freq(value).map_err(in_part)?),
                "INTERVAL" => {
                    rule.interval =
                        parse_number(value, 1, MAX_INTERVAL as i64).map_err(in_part)? as u32
                }
                "COUNT" => {
                    rule.count =
                        Some(parse_number(value, 1, MAX_COUNT as i64).map_err(in_part)? as u32)
                }
                "UNTIL" => rule.until = Some(parse_until(value).map_err(in_part)?),
                "BYMONTH" => rule.by_month = parse_list(value, 1, 12, false).map_err(in_part)?,
                "BYMONTHDAY" => {
                    rule.by_month_day = parse_list(value, -31, 31, true).map_err(in_part)?
                }
                "BYDAY" => rule.by_day = parse_by_day(value).map_err(in_part)?,
                "BYHOUR" => rule.by_hour = parse_list(value, 0, 23, false).map_err(in_part)?,
                "BYMINUTE" => rule.by_minute = parse_list(value, 0, 59, false).map_err(in_part)?,
                "BYSECOND" => rule.by_second = parse_list(value, 0, 59, false).map_err(in_part)?,
                "BYSETPOS" => {
                    rule.by_set_pos = parse_list::<i16>(value, -366, 366, true).map_err(in_part)?
                }
                "WKST" => rule.wkst = Some(parse_weekday(value).map_err(in_part)?),
                "BYYEARDAY" | "BYWEEKNO" => {
                    return Err(in_part(
                        "not supported; express the window with BYMONTH/BYMONTHDAY/BYDAY".into(),
                    ));
                }
                _ => {
                    return Err(fail(format!(
                        "unknown part {name:?}; supported: FREQ, INTERVAL, COUNT, UNTIL, BYMONTH, \
                         BYMONTHDAY, BYDAY, BYHOUR, BYMINUTE, BYSECOND, BYSETPOS, WKST"
                    )));
                }
            }
        }
        rule.freq = freq.ok_or_else(|| fail("FREQ is missing (RFC 5545 requires it)".into()))?;
        rule.check_combinations().map_err(fail)?;
        Ok(rule)
    }

    fn check_combinations(&self) -> Result<(), String> {
        if self.count.is_some() && self.until.is_some() {
            return Err("COUNT and UNTIL must not both be given (RFC 5545 §3.3.10)".into());
        }
        let ordinals = self.by_day.iter().filter_map(|(n, _)| *n);
        match self.freq {
            Freq::Daily | Freq::Weekly => {
                if let Some(n) = ordinals.clone().next() {
                    return Err(format!(
                        "BYDAY ordinal {n} is only allowed with FREQ=MONTHLY or FREQ=YEARLY \
                         (RFC 5545 §3.3.10)"
                    ));
                }
            }
            Freq::Monthly => {
                if let Some(n) = ordinals.clone().find(|n| n.abs() > 5) {
                    return Err(format!(
                        "BYDAY ordinal {n}: a month has at most 5 of a weekday"
                    ));
                }
            }
            Freq::Yearly => {
                let limit = if self.by_month.is_empty() { 53 } else { 5 };
                if let Some(n) = ordinals.clone().find(|n| n.abs() > limit) {
                    return Err(format!(
                        "BYDAY ordinal {n}: at most {limit} of a weekday in the period"
                    ));
                }
            }
        }
        if self.freq == Freq::Weekly && !self.by_month_day.is_empty() {
            return Err("BYMONTHDAY must not be used with FREQ=WEEKLY (RFC 5545 §3.3.10)".into());
        }
        let times = self.by_hour.len().max(1) * self.by_minute.len().max(1);
        if times * self.by_second.len().max(1) > 1_440 {
            return Err("more than 1440 times of day (BYHOUR x BYMINUTE x BYSECOND)".into());
        }
        Ok(())
    }

    /// Renders the rule in canonical order without the `RRULE:` prefix. `until_utc` is the UNTIL
    /// instant (a floating UNTIL must be resolved by the caller; RFC 5545 wants UTC beside a
    /// DTSTART with TZID).
    pub fn render(&self, until_utc: Option<Timestamp>) -> String {
        let mut parts = vec![format!(
            "FREQ={}",
            match self.freq {
                Freq::Daily => "DAILY",
                Freq::Weekly => "WEEKLY",
                Freq::Monthly => "MONTHLY",
                Freq::Yearly => "YEARLY",
            }
        )];
        if self.interval != 1 {
            parts.push(format!("INTERVAL={}", self.interval));
        }
        if let Some(count) = self.count {
            parts.push(format!("COUNT={count}"));
        }
        if let Some(until) = until_utc {
            parts.push(format!("UNTIL={}", until.strftime("%Y%m%dT%H%M%SZ")));
        }
        push_list(&mut parts, "BYMONTH", &self.by_month);
        push_list(&mut parts, "BYMONTHDAY", &self.by_month_day);
        if !self.by_day.is_empty() {
            let days: Vec<String> = self
                .by_day
                .iter()
                .map(|(n, day)| {
                    let n = n.map(|n| n.to_string()).unwrap_or_default();
                    format!("{n}{}", weekday_code(*day))
                })
                .collect();
            parts.push(format!("BYDAY={}", days.join(",")));
        }
        push_list(&mut parts, "BYHOUR", &self.by_hour);
        push_list(&mut parts, "BYMINUTE", &self.by_minute);
        push_list(&mut parts, "BYSECOND", &self.by_second);
        push_list(&mut parts, "BYSETPOS", &self.by_set_pos);
        if let Some(wkst) = self.wkst {
            parts.push(format!("WKST={}", weekday_code(wkst)));
        }
        parts.join(";")
    }
}

pub(crate) fn weekday_code(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "MO",
        Weekday::Tuesday => "TU",
        Weekday::Wednesday => "WE",
        Weekday::Thursday => "TH",
        Weekday::Friday => "FR",
        Weekday::Saturday => "SA",
        Weekday::Sunday => "SU",
    }
}

fn push_list<T: ToString>(parts: &mut Vec<String>, name: &str, values: &[T]) {
    if !values.is_empty() {
        let values: Vec<String> = values.iter().map(T::to_string).collect();
        parts.push(format!("{name}={}", values.join(",")));
    }
}

fn parse_freq(value: &str) -> Result<Freq, String> {
    match value.to_ascii_uppercase().as_str() {
        "DAILY" => Ok(Freq::Daily),
        "WEEKLY" => Ok(Freq::Weekly),
        "MONTHLY" => Ok(Freq::Monthly),
        "YEARLY" => Ok(Freq::Yearly),
        "HOURLY" | "MINUTELY" | "SECONDLY" => {
            Err("sub-daily frequencies are not supported for maintenance windows".into())
        }
        _ => Err("expected DAILY, WEEKLY, MONTHLY or YEARLY".into()),
    }
}

fn parse_number(value: &str, min: i64, max: i64) -> Result<i64, String> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    let ok = !digits.is_empty()
        && digits.len() <= 7
        && digits
            .strip_prefix('-')
            .unwrap_or(digits)
            .bytes()
            .all(|b| b.is_ascii_digit());
    let number: i64 = if ok { digits.parse().ok() } else { None }
        .ok_or_else(|| format!("{value:?} is not an integer"))?;
    if number < min || number > max {
        return Err(format!("{number} is outside {min}..={max}"));
    }
    Ok(number)
}

fn parse_list<T: TryFrom<i64> + PartialEq>(
    value: &str,
    min: i64,
    max: i64,
    nonzero: bool,
) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for item in value.split(',') {
        let number = parse_number(item.trim(), min, max)?;
        if nonzero && number == 0 {
            return Err("0 is not allowed here".into());
        }
        let number = T::try_from(number).map_err(|_| format!("{number} is out of range"))?;
        if !out.contains(&number) {
            out.push(number);
        }
    }
    Ok(out)
}

fn parse_weekday(value: &str) -> Result<Weekday, String> {
    match value.to_ascii_uppercase().as_str() {
        "MO" => Ok(Weekday::Monday),
        "TU" => Ok(Weekday::Tuesday),
        "WE" => Ok(Weekday::Wednesday),
        "TH" => Ok(Weekday::Thursday),
        "FR" => Ok(Weekday::Friday),
        "SA" => Ok(Weekday::Saturday),
        "SU" => Ok(Weekday::Sunday),
        _ => Err(format!(
            "{value:?} is not a weekday (MO, TU, WE, TH, FR, SA, SU)"
        )),
    }
}

fn parse_by_day(value: &str) -> Result<Vec<(Option<i8>, Weekday)>, String> {
    let mut out = Vec::new();
    for item in value.split(',') {
        let item = item.trim();
        let split = item.len().saturating_sub(2);
        let (ordinal, day) = item
            .is_char_boundary(split)
            .then(|| item.split_at(split))
            .ok_or_else(|| format!("{item:?} is not a weekday such as SU, 2SA or -1SU"))?;
        let day = parse_weekday(day)?;
        let ordinal = if ordinal.is_empty() {
            None
        } else {
            let n = parse_number(ordinal, -53, 53)
                .map_err(|reason| format!("ordinal of {item:?}: {reason}"))?;
            if n == 0 {
                return Err(format!("ordinal of {item:?} must not be 0"));
            }
            Some(n as i8)
        };
        if !out.contains(&(ordinal, day)) {
            out.push((ordinal, day));
        }
    }
    Ok(out)
}

fn parse_until(value: &str) -> Result<Until, String> {
    let expected = "expected a UTC date-time such as 20261224T050000Z";
    let (local, utc) = match value.strip_suffix(['Z', 'z']) {
        Some(local) => (local, true),
        None => (value, false),
    };
    if local.len() != 15 || local.as_bytes()[8] != b'T' {
        return Err(if local.len() == 8 {
            format!("a date-only UNTIL does not fit a date-time DTSTART; {expected}")
        } else {
            expected.into()
        });
    }
    let datetime: DateTime = jiff::fmt::strtime::parse("%Y%m%dT%H%M%S", local)
        .and_then(|parsed| parsed.to_datetime())
        .map_err(|error| format!("{expected}: {error}"))?;
    if utc {
        let instant = datetime
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|error| error.to_string())?
            .timestamp();
        Ok(Until::Utc(instant))
    } else {
        Ok(Until::Local(datetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_ok(text: &str, rendered: &str) {
        let rule = Rule::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let until = rule.until.map(|until| match until {
            Until::Utc(t) => t,
            Until::Local(_) => Timestamp::UNIX_EPOCH,
        });
        assert_eq!(rule.render(until), rendered, "{text}");
    }

    fn check_err(text: &str, part: &str) {
        let message = Rule::parse(text).unwrap_err().to_string();
        assert!(message.contains(part), "{text}: {message}");
    }

    #[test]
    fn parses_and_renders_canonically() {
        check_ok("RRULE:FREQ=WEEKLY;BYDAY=SU", "FREQ=WEEKLY;BYDAY=SU");
        check_ok("rrule:freq=weekly;byday=su", "FREQ=WEEKLY;BYDAY=SU");
        check_ok(
            "FREQ=MONTHLY;BYDAY=2SA,-1SU;BYHOUR=22,10;BYMINUTE=0;INTERVAL=2",
            "FREQ=MONTHLY;INTERVAL=2;BYDAY=2SA,-1SU;BYHOUR=22,10;BYMINUTE=0",
        );
        check_ok(
            "FREQ=YEARLY;BYMONTH=10;BYDAY=1SU;UNTIL=20261224T050000Z",
            "FREQ=YEARLY;UNTIL=20261224T050000Z;BYMONTH=10;BYDAY=1SU",
        );
        check_ok(
            "FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=-1;WKST=SU;COUNT=3",
            "FREQ=MONTHLY;COUNT=3;BYDAY=MO,TU;BYSETPOS=-1;WKST=SU",
        );
        check_ok("FREQ=DAILY;BYHOUR=1,1,2", "FREQ=DAILY;BYHOUR=1,2");
    }

    #[test]
    fn rejects_bad_rules_precisely() {
        check_err("", "empty rule");
        check_err("BYDAY=SU", "FREQ is missing");
        check_err("FREQ=WEEKY", "FREQ=WEEKY: expected DAILY");
        check_err("FREQ=HOURLY", "sub-daily");
        check_err("FREQ=DAILY;FREQ=DAILY", "more than once");
        check_err("FREQ=DAILY;BYHOUR=24", "BYHOUR=24: 24 is outside 0..=23");
        check_err("FREQ=DAILY;BYMINUTE=x", "\"x\" is not an integer");
        check_err("FREQ=MONTHLY;BYMONTHDAY=0", "0 is not allowed");
        check_err("FREQ=MONTHLY;BYMONTHDAY=32", "outside -31..=31");
        check_err("FREQ=WEEKLY;BYDAY=XX", "\"XX\" is not a weekday");
        check_err("FREQ=WEEKLY;BYDAY=2SU", "only allowed with FREQ=MONTHLY");
        check_err("FREQ=MONTHLY;BYDAY=6SU", "at most 5");
        check_err("FREQ=MONTHLY;BYDAY=0SU", "must not be 0");
        check_err(
            "FREQ=DAILY;COUNT=2;UNTIL=20260101T000000Z",
            "COUNT and UNTIL",
        );
        check_err("FREQ=DAILY;UNTIL=20260101", "date-only UNTIL");
        check_err("FREQ=DAILY;UNTIL=2026-01-01", "expected a UTC date-time");
        check_err(
            "FREQ=DAILY;UNTIL=20261301T000000Z",
            "expected a UTC date-time",
        );
        check_err("FREQ=DAILY;COUNT=0", "outside 1..=100000");
        check_err("FREQ=DAILY;INTERVAL=-1", "outside 1..=10000");
        check_err("FREQ=DAILY;BYWEEKNO=1", "not supported");
        check_err("FREQ=DAILY;FOO=1", "unknown part \"FOO\"");
        check_err("FREQ=DAILY;BYHOUR", "is not NAME=VALUE");
        check_err("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY must not be used");
        check_err(&"FREQ=DAILY;".repeat(100), "longer than 1000");
        check_err("FREQ=DAILY;BYDAY=é", "not a weekday");
    }
}
