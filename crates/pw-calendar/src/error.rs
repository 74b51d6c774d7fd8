//! The crate's error type: every variant names the field, the offending value and the reason.

/// A window, blackout or calendar spec that cannot be used, with the field and value at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The recurrence rule is malformed, breaks RFC 5545, or uses a part this crate does not do.
    #[error("rrule {value:?}: {reason}")]
    Rule { value: String, reason: String },
    /// A local wall-clock time or instant (`dtstart`, `start`, `end`) cannot be read.
    #[error("{field} {value:?}: {reason}")]
    Time {
        field: &'static str,
        value: String,
        reason: String,
    },
    /// The time zone name is unknown to the bundled IANA database.
    #[error("tz {value:?}: {reason}")]
    TimeZone { value: String, reason: String },
    /// A duration is malformed, zero, or too long.
    #[error("{field} {value:?}: {reason}")]
    Duration {
        field: &'static str,
        value: String,
        reason: String,
    },
    /// A field that must be present is missing, or fields that exclude each other are combined.
    #[error("{reason}")]
    Shape { reason: String },
    /// Several problems, reported together (from [`crate::Calendar::from_spec`]).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<Error>),
    /// An error inside one element of a calendar, e.g. `windows[2] "sunday"`.
    #[error("{path}: {source}")]
    At { path: String, source: Box<Error> },
}

impl Error {
    /// Wraps `self` with the position of the spec it came from.
    pub fn at(self, path: impl Into<String>) -> Error {
        Error::At {
            path: path.into(),
            source: Box::new(self),
        }
    }

    pub(crate) fn rule(value: &str, reason: impl Into<String>) -> Error {
        Error::Rule {
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn time(field: &'static str, value: &str, reason: impl Into<String>) -> Error {
        Error::Time {
            field,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn shape(reason: impl Into<String>) -> Error {
        Error::Shape {
            reason: reason.into(),
        }
    }
}
