//! Maintenance windows and blackouts in local time: RFC 5545 recurrence rules in an IANA time
//! zone, converted to UTC instants, cut by blackouts, exported as iCalendar.
//!
//! Pure: no file system, no environment, no clock reads, no async, no network. Every query takes
//! the instant it is about as an argument.
//!
//! # How occurrences are computed (the quirks)
//!
//! * **Wall clock first.** A rule is expanded in local wall-clock time from the local DTSTART
//!   (python-dateutil's algorithm, see `expand.rs`), and only then is each wall time converted to
//!   a UTC instant. "Every Sunday 02:30 Europe/Berlin" stays at 02:30 local across DST changes.
//! * **DTSTART is the first occurrence** when it matches the rule (RFC 5545 wants it to) and then
//!   counts as occurrence 1 for COUNT. A DTSTART that does not match the rule is not added as an
//!   extra occurrence (as in python-dateutil); [`Window::dtstart_is_occurrence`] tells.
//! * **DST overlap** (the clock goes back, a wall time happens twice): the *earlier* instant.
//!   02:30 Europe/Berlin on 2025-10-26 is 00:30Z, not 01:30Z.
//! * **DST gap** (the clock jumps forward, a wall time does not exist): the time is read with the
//!   UTC offset in force *before* the gap (RFC 5545 §3.3.5), so it is moved forward, not skipped.
//!   02:30 Europe/Berlin on 2025-03-30 becomes 01:30Z (= 03:30 CEST).
//! * **Distinct instants.** Two wall times can meet at one instant (02:30 in a gap and 03:30 with
//!   `BYHOUR=2,3`); results list it once. COUNT still counts both wall times.
//! * **UNTIL** is an absolute instant (`…Z`; a floating UNTIL is read in the window's zone like
//!   any local time); the series ends at the first occurrence after it.
//! * **Durations are elapsed time.** A 4h window starting at 01:00 on the night the clocks go
//!   back ends at 04:00 local, four real hours later; one that starts before a gap ends at 06:00.
//!   Windows may cross midnight.
//! * **Bounded.** Rules are capped in size (1,000 characters, COUNT ≤ 100,000, INTERVAL ≤
//!   10,000, ≤ 1,440 times of day); one walk examines at most 500,000 periods and candidate
//!   times, `next_starts` returns at most 10,000 starts and `slots_between` at most 100,000
//!   slots. A rule that can never match is rejected when the window is built.
//! * **Time zone data** is the IANA database bundled into the binary by jiff
//!   (`tzdb-bundle-always`), never the host's `/usr/share/zoneinfo`, so every machine agrees.

mod blackout;
mod calendar;
mod duration;
mod error;
mod expand;
mod ics;
mod recurrence;
mod rule;
mod spec;
mod window;
mod zone;

pub use blackout::{Blackout, BlackoutPeriod, DropReason, DroppedSlot, Schedule, apply_blackouts};
pub use calendar::Calendar;
pub use duration::{MAX_DURATION_SECONDS, format_duration, parse_duration};
pub use error::Error;
pub use expand::MAX_STEPS;
pub use ics::to_ics;
pub use recurrence::{MAX_RESULTS, MAX_SLOTS};
pub use rule::{MAX_COUNT, MAX_INTERVAL, MAX_RULE_LENGTH};
pub use spec::{BlackoutSpec, CalendarSpec, WindowSpec};
pub use window::{Slot, Window};
pub use zone::{parse_instant_or_local, parse_local, time_zone};
