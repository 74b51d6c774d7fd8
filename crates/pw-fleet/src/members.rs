//! Group membership (`[groups.<name>.members]`) and the resolution of a host's group.
//!
//! ```toml
//! [groups.web-prod.members]
//! hosts = ["lb1"]                      # explicit host names
//! hostnames = ["web-*", "www?.example.com"]   # glob patterns (`*`, `?`)
//! labels = { role = "web", env = "prod" }     # a selector: every label must match
//! ```
//!
//! Resolution: the first level at which any group matches decides — explicit `hosts`, then
//! `hostnames`, then `labels`. One group there: the host is in it. Two or more: a conflict, and
//! the host is in no group until the document is fixed.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{FleetError, glob_matches};

/// One group's membership rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Membership {
    /// Every label must be present with this value.
    pub labels: BTreeMap<String, String>,
    /// Glob patterns over the host name.
    pub hostnames: Vec<String>,
    /// Explicit host names.
    pub hosts: Vec<String>,
}

/// How a host was matched, most specific first (the order of resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Named in `hosts`.
    Host,
    /// Matched a `hostnames` pattern.
    Hostname,
    /// Carries every label of `labels`.
    Labels,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Host => "hosts",
            Level::Hostname => "hostnames",
            Level::Labels => "labels",
        }
    }
}

/// What the controller knows of a host, for resolution.
#[derive(Debug, Clone, Copy)]
pub struct HostFacts<'a> {
    pub hostname: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// A host's group under a fleet document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Resolution {
    /// In exactly one group.
    Member { group: String, level: Level },
    /// Two or more groups match at the deciding level: in no group until fixed.
    Conflict { level: Level, groups: Vec<String> },
    /// No group matches.
    Ungrouped,
}

impl Resolution {
    /// The group, when the host is in exactly one.
    pub fn group(&self) -> Option<&str> {
        match self {
            Resolution::Member { group, .. } => Some(group),
            _ => None,
        }
    }
}

impl Membership {
    /// The most specific level at which this group matches the host, if any.
    pub fn matches(&self, host: HostFacts<'_>) -> Option<Level> {
        if self
            .hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host.hostname))
        {
            return Some(Level::Host);
        }
        if self
            .hostnames
            .iter()
            .any(|p| glob_matches(p, host.hostname))
        {
            return Some(Level::Hostname);
        }
        let selected = !self.labels.is_empty()
            && self
                .labels
                .iter()
                .all(|(k, v)| host.labels.get(k) == Some(v));
        selected.then_some(Level::Labels)
    }
}

/// Resolves one host against every group's membership (see the module doc).
pub(crate) fn resolve(members: &BTreeMap<String, Membership>, host: HostFacts<'_>) -> Resolution {
    let matched: Vec<(Level, &String)> = members
        .iter()
        .filter_map(|(name, m)| m.matches(host).map(|level| (level, name)))
        .collect();
    let Some(level) = matched.iter().map(|(level, _)| *level).min() else {
        return Resolution::Ungrouped;
    };
    let mut groups: Vec<String> = matched
        .into_iter()
        .filter(|(l, _)| *l == level)
        .map(|(_, name)| name.clone())
        .collect();
    if groups.len() == 1 {
        Resolution::Member {
            group: groups.remove(0),
            level,
        }
    } else {
        Resolution::Conflict { level, groups }
    }
}

const KEYS: [&str; 3] = ["labels", "hostnames", "hosts"];

/// Reads and checks `[groups.<group>.members]`; every problem goes to `errors`.
pub(crate) fn parse_membership(
    group: &str,
    value: &toml::Value,
    errors: &mut Vec<FleetError>,
) -> Membership {
    let path = format!("groups.{group}.members");
    let mut out = Membership::default();
    let Some(table) = value.as_table() else {
        errors.push(FleetError::new(
            &path,
            format!(
                "expected a table with {}, found {}",
                KEYS.join(", "),
                value.type_str()
            ),
        ));
        return out;
    };
    for key in table.keys().filter(|k| !KEYS.contains(&k.as_str())) {
        errors.push(FleetError::new(
            format!("{path}.{key}"),
            format!("unknown key; expected one of {}", KEYS.join(", ")),
        ));
    }
    if let Some(labels) = table.get("labels") {
        out.labels = parse_labels(&format!("{path}.labels"), labels, errors);
    }
    if let Some(list) = table.get("hostnames") {
        out.hostnames = names(&format!("{path}.hostnames"), list, true, errors);
    }
    if let Some(list) = table.get("hosts") {
        out.hosts = names(&format!("{path}.hosts"), list, false, errors);
    }
    // Judged on what is written: a selector whose entries were all refused above is not also
    // reported as empty.
    let written = KEYS.iter().any(|key| match table.get(*key) {
        Some(toml::Value::Table(t)) => !t.is_empty(),
        Some(toml::Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
        None => false,
    });
    if !written {
        errors.push(FleetError::new(
            &path,
            "selects no host: give labels, hostnames or hosts (or leave the table out)",
        ));
    }
    out
}

fn parse_labels(
    path: &str,
    value: &toml::Value,
    errors: &mut Vec<FleetError>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(table) = value.as_table() else {
        errors.push(FleetError::new(
            path,
            format!(
                "expected a table of label = \"value\" (e.g. {{ role = \"web\" }}), found {}",
                value.type_str()
            ),
        ));
        return out;
    };
    for (key, value) in table {
        let key_path = format!("{path}.{key}");
        let Some(text) = value.as_str() else {
            errors.push(FleetError::new(
                key_path,
                format!("expected a string value, found {}", value.type_str()),
            ));
            continue;
        };
        match pw_model::check_label(key, text) {
            Ok(()) => {
                out.insert(key.clone(), text.to_owned());
            }
            Err(error) => errors.push(FleetError::new(key_path, error.to_string())),
        }
    }
    out
}

/// A list of host names (`glob`: patterns with `*` and `?` too), each checked, none twice.
pub(crate) fn names(
    path: &str,
    value: &toml::Value,
    glob: bool,
    errors: &mut Vec<FleetError>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Some(items) = value.as_array() else {
        errors.push(FleetError::new(
            path,
            format!("expected a list of host names, found {}", value.type_str()),
        ));
        return out;
    };
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let Some(text) = item.as_str() else {
            errors.push(FleetError::new(
                item_path,
                format!("expected a string, found {}", item.type_str()),
            ));
            continue;
        };
        if !valid_host_name(text, glob) {
            let what = if glob {
                "a host name pattern: 1–253 letters, digits, '-', '.', '_', '*' or '?'"
            } else {
                "a host name: 1–253 letters, digits, '-', '.' or '_'"
            };
            errors.push(FleetError::new(
                item_path,
                format!("{text:?} is not {what}"),
            ));
        } else if out.iter().any(|seen| seen.eq_ignore_ascii_case(text)) {
            errors.push(FleetError::new(
                item_path,
                format!("{text:?} is listed twice"),
            ));
        } else {
            out.push(text.to_owned());
        }
    }
    out
}

fn valid_host_name(text: &str, glob: bool) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '.' | '_')
                || (glob && matches!(c, '*' | '?'))
        })
}
