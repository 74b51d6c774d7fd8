//! EPSS probabilities in the per-host update summary as integer parts per billion
//! (`open_update_hosts.epss`, migration `0054_integer_epss.sql`). PostgreSQL's B-tree
//! deduplication does not apply to `DOUBLE PRECISION`, so the summary's index by update and EPSS
//! kept one entry per row; over an `INTEGER` it keeps one per distinct value and update
//! (docs/design/decisions.md, "EPSS in integer parts per billion").
//!
//! A probability is in 0–1 (`pw-advisory`'s EPSS parser refuses others), so its parts fit a
//! 4-byte integer (1.0 is 10^9 < 2^31). FIRST's feed gives five decimals: a value with up to nine
//! decimals is a whole number of parts, and `parts / 10^9` (two exact doubles divided, rounded
//! once) is the double nearest that decimal — the very float the feed's text parsed to. Parts
//! keep the floats' order; only values within half a part (5·10^-10) of each other merge.

/// Parts per probability of 1.
const PER_ONE: i64 = 1_000_000_000;

/// `probability` in parts per billion, rounded to the nearest.
pub(crate) fn parts(probability: f64) -> i64 {
    (probability * PER_ONE as f64).round() as i64
}

/// The probability of `parts` per billion: the float [`parts`] was given, for a probability
/// with up to nine decimals.
#[cfg(test)]
fn probability(parts: i64) -> f64 {
    parts as f64 / PER_ONE as f64
}

/// SQL: the probability (`DOUBLE PRECISION`) of `parts`, an SQL expression of parts per billion
/// (the same division as [`probability`] on both backends): `open_updates.epss` from an
/// update's highest parts (`update_extremes.rs`; a bound float would take its parameter's type
/// from the first statement prepared, a null's included).
pub(crate) fn probability_sql(parts: &str) -> String {
    format!("CAST({parts} AS DOUBLE PRECISION) / CAST({PER_ONE} AS DOUBLE PRECISION)")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value of FIRST's feed (five decimals, 0–1) reads back as the float its text parsed
    /// to, and distinct values keep their order.
    #[test]
    fn five_decimals_round_trip_and_keep_their_order() {
        let mut last = -1;
        for n in 0..=100_000 {
            let text = format!("{}.{:05}", n / 100_000, n % 100_000);
            let value: f64 = text.parse().unwrap();
            let p = parts(value);
            assert_eq!(probability(p).to_bits(), value.to_bits(), "{text}");
            assert!(p > last, "{text}");
            last = p;
        }
    }

    /// Nine decimals too (a sample across 0–1), and the extremes fit a 4-byte integer.
    #[test]
    fn nine_decimals_round_trip() {
        for n in (0..=1_000_000_000_i64)
            .step_by(9_973)
            .chain([1, 999_999_999])
        {
            let value: f64 = format!("{}.{:09}", n / PER_ONE, n % PER_ONE)
                .parse()
                .unwrap();
            assert_eq!(parts(value), n);
            assert_eq!(probability(n).to_bits(), value.to_bits(), "{value}");
        }
        assert!(parts(1.0) <= i64::from(i32::MAX));
        assert_eq!(parts(0.0), 0);
    }
}
