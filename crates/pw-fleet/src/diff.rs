//! What changes between two fleet documents, as a readable list (the dry run's answer and each
//! stored version's summary): one line per key path added, removed or changed. Tables present on
//! both sides are compared key by key, and so are top-level tables present on one side only
//! (`[groups]`, `[rollout]`: a first apply lists each group); anything else (values, lists, a
//! deeper table on one side only) is one change at its path, so a new group is one line, not one
//! per key.

use serde::Serialize;

/// One change at one key path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Dotted key path (`groups.web.rollout.max_in_flight`, `emergency`).
    pub path: String,
    pub kind: ChangeKind,
    /// The value before, as TOML (absent when added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The value after, as TOML (absent when removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |value: &Option<String>| value.clone().unwrap_or_default();
        match self.kind {
            ChangeKind::Added => write!(f, "+ {} = {}", self.path, shown(&self.new)),
            ChangeKind::Removed => write!(f, "- {} (was {})", self.path, shown(&self.old)),
            ChangeKind::Changed => write!(
                f,
                "~ {}: {} → {}",
                self.path,
                shown(&self.old),
                shown(&self.new)
            ),
        }
    }
}

/// The changes from `old` (none: nothing applied yet) to `new`, in key order.
pub fn diff(old: Option<&toml::Table>, new: &toml::Table) -> Vec<Change> {
    let empty = toml::Table::new();
    let mut out = Vec::new();
    tables("", old.unwrap_or(&empty), new, &mut out);
    out
}

fn tables(prefix: &str, old: &toml::Table, new: &toml::Table, out: &mut Vec<Change>) {
    let empty = toml::Table::new();
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let path = if prefix.is_empty() {
            quoted(key)
        } else {
            format!("{prefix}.{}", quoted(key))
        };
        match (old.get(key), new.get(key)) {
            (Some(toml::Value::Table(a)), Some(toml::Value::Table(b))) => tables(&path, a, b, out),
            (None, Some(toml::Value::Table(b))) if prefix.is_empty() => {
                tables(&path, &empty, b, out)
            }
            (Some(toml::Value::Table(a)), None) if prefix.is_empty() => {
                tables(&path, a, &empty, out)
            }
            (Some(a), Some(b)) if a == b => {}
            (a, b) => out.push(Change {
                kind: match (a, b) {
                    (None, _) => ChangeKind::Added,
                    (_, None) => ChangeKind::Removed,
                    _ => ChangeKind::Changed,
                },
                old: a.map(inline),
                new: b.map(inline),
                path,
            }),
        }
    }
}

/// A key as TOML writes it in a dotted path (quoted when it is not a bare key).
fn quoted(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// A value on one line, as TOML (tables inline).
fn inline(value: &toml::Value) -> String {
    match value {
        toml::Value::Table(table) => {
            let items: Vec<String> = table
                .iter()
                .map(|(k, v)| format!("{} = {}", quoted(k), inline(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        toml::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}
