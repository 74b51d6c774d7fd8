//! Raw, serde-deserializable specs of windows and blackouts, as written in TOML policy files.
//!
//! These types hold text exactly as the operator wrote it; [`crate::Window::from_spec`],
//! [`crate::Blackout::from_spec`] and [`crate::Calendar::from_spec`] validate them. Field names
//! are a stable contract: the planner embeds them in its per-group policy as `windows` and
//! `blackouts`.

use serde::{Deserialize, Serialize};

/// One maintenance window as written in a policy file.
///
/// ```toml
/// [[windows]]
/// name = "sunday-night"
/// rrule = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=1;BYMINUTE=30"   # `RRULE:` prefix optional
/// dtstart = "2026-03-01T01:30:00"                       # local wall clock in `tz`, no offset
/// tz = "Europe/Berlin"                                  # IANA zone name
/// duration = "4h"                                       # elapsed time: 4h, 90m, 1h30m, 2d
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Name shown in plans and exports; unique within a group. Defaults to `window-<n>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// RFC 5545 recurrence rule, with or without the `RRULE:` prefix.
    pub rrule: String,
    /// First occurrence as a local wall-clock time in `tz`, without offset
    /// (`2026-03-01T02:30:00`). A TOML local date-time (unquoted) is accepted too.
    #[serde(deserialize_with = "local_text::deserialize")]
    pub dtstart: String,
    /// IANA time zone name (`Europe/Berlin`, `UTC`).
    pub tz: String,
    /// Length of each occurrence, as elapsed time (`4h`, `90m`, `1h30m`, `1d` = 24h).
    pub duration: String,
}

/// One blackout: a period in which no maintenance slot may run.
///
/// Exactly one of two shapes:
/// * one-off: `start` and `end` (end exclusive). Each is either an RFC 3339 instant with an offset
///   (`2026-12-20T00:00:00Z`, `2026-12-20T00:00:00+01:00`) or a local wall-clock time
///   (`2026-12-20T00:00:00`), which then needs `tz`.
/// * recurring: `rrule` + `dtstart` + `tz` + `duration`, exactly like a window.
///
/// ```toml
/// [[blackouts]]
/// reason = "Black Friday sales freeze"
/// start = "2026-11-27T00:00:00"
/// end = "2026-11-30T00:00:00"
/// tz = "America/New_York"
///
/// [[blackouts]]
/// reason = "month-end closing"
/// rrule = "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=0;BYMINUTE=0"
/// dtstart = "2026-01-31T00:00:00"
/// tz = "Europe/Berlin"
/// duration = "24h"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackoutSpec {
    /// Why nothing may run; shown wherever a slot is cut or dropped. Required, non-empty.
    pub reason: String,
    /// Optional short name (defaults to `blackout-<n>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// One-off: first instant of the blackout (inclusive).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "local_text::deserialize_option"
    )]
    pub start: Option<String>,
    /// One-off: end of the blackout (exclusive).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "local_text::deserialize_option"
    )]
    pub end: Option<String>,
    /// Recurring: RFC 5545 recurrence rule, with or without the `RRULE:` prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrule: Option<String>,
    /// Recurring: first occurrence, local wall-clock time in `tz`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "local_text::deserialize_option"
    )]
    pub dtstart: Option<String>,
    /// Recurring: length of each occurrence (`24h`, `3d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// IANA zone for local times (required for recurring blackouts and local `start`/`end`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

/// A group's windows and blackouts, as a TOML document or table.
///
/// ```toml
/// windows = [ { name = "nightly", rrule = "FREQ=DAILY;BYHOUR=23;BYMINUTE=0",
///               dtstart = "2026-01-01T23:00:00", tz = "Asia/Shanghai", duration = "3h" } ]
/// blackouts = [ { reason = "Spring Festival freeze", start = "2026-02-14T00:00:00",
///                 end = "2026-02-24T00:00:00", tz = "Asia/Shanghai" } ]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    #[serde(default)]
    pub windows: Vec<WindowSpec>,
    #[serde(default)]
    pub blackouts: Vec<BlackoutSpec>,
}

/// Accepts a time either as a string or as a TOML date-time value (`dtstart = 2026-03-01T02:30:00`
/// unquoted), and keeps it as text.
mod local_text {
    use serde::de::{self, Deserializer, MapAccess, Visitor};
    use std::fmt;

    struct TextVisitor;

    impl<'de> Visitor<'de> for TextVisitor {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a date-time string such as \"2026-03-01T02:30:00\"")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
            Ok(value.to_owned())
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<String, A::Error> {
            // toml hands its date-time values over as a one-entry map; let toml decode it.
            let datetime: toml::value::Datetime =
                de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok(datetime.to_string())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }

    pub fn deserialize_option<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        deserializer.deserialize_any(TextVisitor).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_spec_from_toml_string_and_datetime() {
        let quoted: WindowSpec = toml::from_str(
            "rrule = \"FREQ=DAILY\"\ndtstart = \"2026-03-01T02:30:00\"\ntz = \"UTC\"\nduration = \"4h\"\n",
        )
        .unwrap();
        let bare: WindowSpec = toml::from_str(
            "rrule = \"FREQ=DAILY\"\ndtstart = 2026-03-01T02:30:00\ntz = \"UTC\"\nduration = \"4h\"\n",
        )
        .unwrap();
        assert_eq!(quoted, bare);
        assert_eq!(bare.dtstart, "2026-03-01T02:30:00");
        assert_eq!(bare.name, None);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let error = toml::from_str::<WindowSpec>(
            "rrule = \"FREQ=DAILY\"\ndtstart = \"2026-03-01T02:30:00\"\ntz = \"UTC\"\nduration = \"4h\"\nlenght = 3\n",
        )
        .unwrap_err();
        assert!(error.to_string().contains("lenght"), "{error}");
    }

    #[test]
    fn blackout_spec_both_shapes() {
        let spec: CalendarSpec = toml::from_str(
            r#"
            [[blackouts]]
            reason = "freeze"
            start = 2026-12-20T00:00:00Z
            end = "2027-01-05T00:00:00Z"

            [[blackouts]]
            reason = "month end"
            rrule = "FREQ=MONTHLY;BYMONTHDAY=-1"
            dtstart = "2026-01-31T00:00:00"
            tz = "Europe/Berlin"
            duration = "24h"
            "#,
        )
        .unwrap();
        assert_eq!(spec.windows, vec![]);
        assert_eq!(
            spec.blackouts[0].start.as_deref(),
            Some("2026-12-20T00:00:00Z")
        );
        assert_eq!(
            spec.blackouts[1].rrule.as_deref(),
            Some("FREQ=MONTHLY;BYMONTHDAY=-1")
        );
    }
}
