//! Instants stored as integers (migration `0038_integer_instants.sql`): the first sight and
//! deadline of the open findings and the deadlines of the console's summaries are nanoseconds
//! since the Unix epoch (UTC), so that they take 8 bytes instead of ~30 of RFC 3339 text and
//! compare exactly. Nanoseconds are jiff's own resolution: an instant read back is the one
//! written, and its text (`Timestamp::to_string`) the same as before. An `i64` of nanoseconds
//! spans 1677-09-21 … 2262-04-11; instants outside are stored as the nearest end (a deadline
//! past any real one stays past them all).

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;

/// `at` in nanoseconds since the epoch, clamped to what an `i64` holds.
pub(crate) fn nanos(at: Timestamp) -> i64 {
    let n = at.as_nanosecond();
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// The instant of a stored integer.
pub(crate) fn from_nanos(n: i64) -> anyhow::Result<Timestamp> {
    Timestamp::from_nanosecond(i128::from(n))
        .with_context(|| format!("stored instant {n} is out of range"))
}

/// The RFC 3339 text of a stored integer (as the instant's `to_string`).
pub(crate) fn nanos_text(n: i64) -> anyhow::Result<String> {
    Ok(from_nanos(n)?.to_string())
}

/// A nullable integer instant column.
pub(crate) fn optional_instant(
    row: &sqlx::any::AnyRow,
    column: &str,
) -> anyhow::Result<Option<Timestamp>> {
    row.try_get::<Option<i64>, _>(column)?
        .map(from_nanos)
        .transpose()
}

/// An integer instant column.
pub(crate) fn instant(row: &sqlx::any::AnyRow, column: &str) -> anyhow::Result<Timestamp> {
    from_nanos(row.try_get::<i64, _>(column)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_to_the_nanosecond_and_clamp_outside_the_range() {
        for text in [
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.25Z",
            "2026-12-05T06:51:00.123456789Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999999Z",
        ] {
            let at: Timestamp = text.parse().unwrap();
            assert_eq!(nanos_text(nanos(at)).unwrap(), text);
        }
        let earlier: Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let later: Timestamp = "2026-01-02T03:04:05.5Z".parse().unwrap();
        assert!(nanos(earlier) < nanos(later), "exact, not to the second");
        assert_eq!(nanos(Timestamp::MAX), i64::MAX);
        assert_eq!(nanos(Timestamp::MIN), i64::MIN);
        assert_eq!(
            nanos_text(i64::MAX).unwrap(),
            "2262-04-11T23:47:16.854775807Z"
        );
    }
}
