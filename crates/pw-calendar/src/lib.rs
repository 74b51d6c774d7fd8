//! Maintenance windows and blackouts in local time: RFC 5545 recurrence rules in an IANA time
//! zone, converted to UTC instants, cut by blackouts, exported as iCalendar.
//!
//! Pure: no file system, no environment, no clock reads, no async, no network. Every query takes
//! the instant it is about as an argument.

mod spec;

pub use spec::{BlackoutSpec, CalendarSpec, WindowSpec};
