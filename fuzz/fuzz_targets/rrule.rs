//! Fuzz the maintenance-window parser (`pw_calendar::Window::new`: RFC 5545 RRULE in a time zone
//! with a duration). An accepted rule expands without panic, in bounded time, to ascending starts
//! no earlier than asked, and its normalized text parses back to the same starts.
#![no_main]

use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
use pw_calendar::Window;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let rule = text.lines().next().unwrap_or("");
    let Ok(window) = Window::new("w", rule, "2026-03-01T02:30:00", "Europe/Berlin", "2h") else {
        return;
    };
    let from: Timestamp = "2026-03-29T00:00:00Z".parse().unwrap();
    let starts = window.next_starts(from, 8);
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    assert!(starts.iter().all(|s| *s + window.duration() > from), "{starts:?}");
    let again = Window::new("w", &window.rrule(), "2026-03-01T02:30:00", "Europe/Berlin", "2h")
        .expect("the normalized rule parses");
    assert_eq!(again.next_starts(from, 8), starts);
});
