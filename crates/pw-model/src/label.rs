//! Host labels (`role=web`, `rack=r1`): what an agent reports about its machine from its own
//! configuration (`patchwarden agent --label role=web`), matched by the fleet document's label
//! selectors and used by anti-affinity and `batch_by`.
//!
//! Syntax (docs/fleet.md): a key is 1–63 characters, letters, digits, `-`, `_`, `.` and `/`,
//! starting with a letter or digit (`role`, `topology.example.com/rack`); a value is 1–63
//! characters, letters, digits, `-`, `_` and `.`. Both are case-sensitive. A host carries at most
//! [`MAX_LABELS`] labels. Nothing here ever reaches a shell.

use std::collections::BTreeMap;

/// The most labels one host may carry.
pub const MAX_LABELS: usize = 64;
/// The longest key or value.
pub const MAX_LABEL_LENGTH: usize = 63;

/// Why a label is refused, in words that name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error(
        "label key {0:?} is invalid: 1–63 letters, digits, '-', '_', '.' or '/', starting with a letter or digit"
    )]
    Key(String),
    #[error("label value {value:?} of {key:?} is invalid: 1–63 letters, digits, '-', '_' or '.'")]
    Value { key: String, value: String },
    #[error("label {0:?} is not KEY=VALUE")]
    NotPair(String),
    #[error("label {0:?} is given twice")]
    Duplicate(String),
    #[error("{0} labels is too many (at most 64)")]
    TooMany(usize),
}

/// Checks a key.
pub fn check_label_key(key: &str) -> Result<(), LabelError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_LABEL_LENGTH
        && key.starts_with(|c: char| c.is_ascii_alphanumeric())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(())
    } else {
        Err(LabelError::Key(key.to_owned()))
    }
}

/// Checks a key and its value.
pub fn check_label(key: &str, value: &str) -> Result<(), LabelError> {
    check_label_key(key)?;
    let ok = !value.is_empty()
        && value.len() <= MAX_LABEL_LENGTH
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(LabelError::Value {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// Checks a whole label set (each label, and the count).
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), LabelError> {
    if labels.len() > MAX_LABELS {
        return Err(LabelError::TooMany(labels.len()));
    }
    labels.iter().try_for_each(|(k, v)| check_label(k, v))
}

/// Parses `KEY=VALUE` pairs (as given to `--label`), refusing bad and repeated keys.
pub fn parse_labels<'a>(
    pairs: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, LabelError> {
    let mut labels = BTreeMap::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| LabelError::NotPair(pair.to_owned()))?;
        check_label(key, value)?;
        if labels.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(LabelError::Duplicate(key.to_owned()));
        }
    }
    check_labels(&labels)?;
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values() {
        for (key, value) in [("role", "web"), ("topology.example.com/rack", "r-1_a.2")] {
            assert_eq!(check_label(key, value), Ok(()), "{key}={value}");
        }
        for key in ["", "-role", "ro le", "rôle", &"k".repeat(64)] {
            assert!(
                matches!(check_label(key, "x"), Err(LabelError::Key(_))),
                "{key:?}"
            );
        }
        for value in ["", "a b", "a/b", "a=b", &"v".repeat(64)] {
            assert!(
                matches!(check_label("role", value), Err(LabelError::Value { .. })),
                "{value:?}"
            );
        }
    }

    #[test]
    fn pairs() {
        let labels = parse_labels(["role=web", "rack=r1"]).unwrap();
        assert_eq!(labels["role"], "web");
        assert_eq!(labels["rack"], "r1");
        assert_eq!(
            parse_labels(["role"]),
            Err(LabelError::NotPair("role".into()))
        );
        assert_eq!(
            parse_labels(["role=web", "role=db"]),
            Err(LabelError::Duplicate("role".into()))
        );
        assert_eq!(
            parse_labels(["Bad Key=x"]).unwrap_err().to_string(),
            "label key \"Bad Key\" is invalid: 1–63 letters, digits, '-', '_', '.' or '/', starting with a letter or digit"
        );
    }
}
