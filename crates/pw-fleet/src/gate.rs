//! A group's window gate at an instant, from its live calendar (windows cut by blackouts), for
//! the rollout engine ([`pw_rollout::gate`]): open with the slot's end and rollback buffer
//! (pw-planner's capacity formula), or closed until the next usable slot, naming the blackout
//! in force. A group without windows is not gated.

use jiff::{SignedDuration, Timestamp};
use pw_planner::WindowSlot;
use pw_planner::schedule::capacity;
use pw_rollout::{BlackoutNote, NextSlot, WindowGate};

use crate::{FleetDocument, group_calendar};

/// How far ahead the next slot is searched (a yearly window is found).
const HORIZON: SignedDuration = SignedDuration::from_hours(24 * 400);

impl FleetDocument {
    /// The window gate of `group` at `now`, with the group's `verification_seconds` (the engine's
    /// for that group). `None` when the document has no such group.
    pub fn window_gate(
        &self,
        group: &str,
        now: Timestamp,
        verification_seconds: u64,
    ) -> Option<WindowGate> {
        let policy = self.policy.groups.get(group)?;
        if policy.windows.is_empty() {
            return Some(WindowGate::NoWindows);
        }
        // Validated when the document was parsed; a calendar that no longer builds holds the
        // group (closed, nothing next) rather than letting it change unguarded.
        let Ok(calendar) = group_calendar(group, &policy.windows, &policy.blackouts) else {
            return Some(WindowGate::Closed {
                next: None,
                blackout: None,
            });
        };
        let minimum = SignedDuration::from_secs(1);
        let slot = calendar.next_slot(now, minimum, HORIZON);
        let next_of = |slot: &pw_calendar::Slot| NextSlot {
            window: slot.window.clone(),
            start: slot.start,
            end: slot.end,
        };
        match slot {
            Some(slot) if slot.start <= now => {
                let planned = WindowSlot {
                    start: slot.start,
                    end: slot.end,
                    window: slot.window.clone(),
                };
                let buffer = policy.rollout.rollback_buffer_percent;
                let cap = capacity(&planned, verification_seconds, buffer);
                let next = calendar
                    .next_slot(slot.end, minimum, HORIZON)
                    .filter(|next| next.start >= slot.end)
                    .map(|next| next_of(&next));
                Some(WindowGate::Open {
                    window: slot.window,
                    end: slot.end,
                    rollback_buffer_seconds: cap.rollback_buffer_seconds,
                    verification_seconds,
                    next,
                })
            }
            next => {
                let second = now.checked_add(minimum).unwrap_or(Timestamp::MAX);
                let blackout = calendar
                    .blackouts()
                    .iter()
                    .flat_map(|b| b.periods_between(now, second))
                    .find(|p| p.start <= now && now < p.end)
                    .map(|p| BlackoutNote {
                        name: p.blackout,
                        until: p.end,
                    });
                Some(WindowGate::Closed {
                    next: next.as_ref().map(next_of),
                    blackout,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_fleet;

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    const DOC: &str = r#"
[groups.web]
environment = "staging"
owners = ["web@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1;BYMINUTE=0", dtstart = "2026-12-01T01:00:00", tz = "UTC", duration = "1h" }]
blackouts = [{ name = "freeze", start = "2026-12-04T00:00:00Z", end = "2026-12-05T00:00:00Z", reason = "release" }]
"#;

    fn next(day: &str) -> Option<NextSlot> {
        Some(NextSlot {
            window: "nightly".into(),
            start: t(&format!("2026-12-{day}T01:00:00Z")),
            end: t(&format!("2026-12-{day}T02:00:00Z")),
        })
    }

    #[test]
    fn gates_follow_the_live_calendar() {
        let doc = parse_fleet(DOC).unwrap();
        let open = |end: &str, next_day: &str| {
            Some(WindowGate::Open {
                window: "nightly".into(),
                end: t(end),
                // 30 % of one hour.
                rollback_buffer_seconds: 1080,
                verification_seconds: 300,
                next: next(next_day),
            })
        };
        let table = [
            // A minute before the window: closed until it.
            (
                "web",
                "2026-12-02T00:59:00Z",
                WindowGate::Closed {
                    next: next("02"),
                    blackout: None,
                },
            ),
            (
                "web",
                "2026-12-02T01:00:00Z",
                open("2026-12-02T02:00:00Z", "03").unwrap(),
            ),
            (
                "web",
                "2026-12-02T01:59:59Z",
                open("2026-12-02T02:00:00Z", "03").unwrap(),
            ),
            // Past the end: closed until the next night.
            (
                "web",
                "2026-12-02T02:00:00Z",
                WindowGate::Closed {
                    next: next("03"),
                    blackout: None,
                },
            ),
            // The night of the 4th is blacked out: closed, naming the blackout; the slot after
            // the current one skips it too.
            (
                "web",
                "2026-12-04T01:30:00Z",
                WindowGate::Closed {
                    next: next("05"),
                    blackout: Some(BlackoutNote {
                        name: "freeze".into(),
                        until: t("2026-12-05T00:00:00Z"),
                    }),
                },
            ),
            (
                "web",
                "2026-12-03T01:30:00Z",
                open("2026-12-03T02:00:00Z", "05").unwrap(),
            ),
        ];
        for (group, now, expected) in table {
            assert_eq!(
                doc.window_gate(group, t(now), 300),
                Some(expected),
                "{group} at {now}"
            );
        }
        assert_eq!(
            doc.window_gate("nope", t("2026-12-04T01:30:00Z"), 300),
            None
        );
    }
}
