//! Integration tests of pw-calendar: shared vectors, DST edges, blackouts, specs, iCalendar,
//! and properties of window arithmetic.

mod blackouts;
mod dst;
mod ics;
mod properties;
mod specs;
mod vectors;

use jiff::Timestamp;

/// Parses an RFC 3339 instant written in a test.
pub fn at(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Formats instants the way the expectations are written.
pub fn show(instants: &[Timestamp]) -> Vec<String> {
    instants
        .iter()
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect()
}
