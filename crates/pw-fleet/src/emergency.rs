//! Operator emergency flags scoped to hosts and groups (`[[emergency]]`, the seeds' manual 0-day
//! advisory): while it has not expired, a fix naming the CVE on a host the flag covers is T0.
//!
//! ```toml
//! [[emergency]]
//! cve = "CVE-2024-3094"
//! groups = ["web-prod"]          # and/or
//! hosts = ["db1"]
//! reason = "xz backdoor: remote code execution through sshd"
//! expires = "2026-12-31T00:00:00Z"
//! ```
//!
//! `[[priority.emergency]]` (pw-priority) stays what it was: a flag for every host, without
//! expiry.

use std::collections::BTreeMap;

use jiff::Timestamp;
use pw_priority::EmergencyFlag;
use serde::Serialize;

use crate::FleetError;
use crate::members::names;

/// One validated `[[emergency]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopedEmergency {
    /// Upper case (`CVE-2024-3094`).
    pub cve: String,
    pub hosts: Vec<String>,
    pub groups: Vec<String>,
    pub reason: String,
    pub expires: Timestamp,
}

impl ScopedEmergency {
    /// Whether the flag counts for a host named `hostname` in `group` at `now`.
    pub fn covers(&self, hostname: &str, group: Option<&str>, now: Timestamp) -> bool {
        now < self.expires
            && (self.hosts.iter().any(|h| h.eq_ignore_ascii_case(hostname))
                || group.is_some_and(|g| self.groups.iter().any(|name| name == g)))
    }

    /// The flag as pw-priority's evidence of T0.
    pub fn flag(&self) -> EmergencyFlag {
        EmergencyFlag {
            cve: self.cve.clone(),
            reason: format!("{} (until {})", self.reason, self.expires),
        }
    }
}

const KEYS: [&str; 5] = ["cve", "hosts", "groups", "reason", "expires"];

/// Reads the top-level `emergency` list. `groups` are the document's group names; with `now`,
/// a flag that has already expired is an error (applying it would change nothing).
pub(crate) fn parse_emergency(
    value: &toml::Value,
    groups: &BTreeMap<String, toml::Value>,
    now: Option<Timestamp>,
    errors: &mut Vec<FleetError>,
) -> Vec<ScopedEmergency> {
    let Some(items) = value.as_array() else {
        errors.push(FleetError::new(
            "emergency",
            format!(
                "expected a list of tables ([[emergency]]), found {}",
                value.type_str()
            ),
        ));
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| entry(index, item, groups, now, errors))
        .collect()
}

fn entry(
    index: usize,
    item: &toml::Value,
    groups: &BTreeMap<String, toml::Value>,
    now: Option<Timestamp>,
    errors: &mut Vec<FleetError>,
) -> Option<ScopedEmergency> {
    let path = format!("emergency[{index}]");
    let before = errors.len();
    let Some(table) = item.as_table() else {
        errors.push(FleetError::new(
            &path,
            format!("expected a table, found {}", item.type_str()),
        ));
        return None;
    };
    for key in table.keys().filter(|k| !KEYS.contains(&k.as_str())) {
        errors.push(FleetError::new(
            format!("{path}.{key}"),
            format!("unknown key; expected one of {}", KEYS.join(", ")),
        ));
    }
    let cve = text(table, &path, "cve", "a CVE id like CVE-2024-6387", errors)
        .map(|cve| cve.to_ascii_uppercase());
    if let Some(cve) = &cve
        && !pw_model::is_cve_id(cve)
    {
        errors.push(FleetError::new(
            format!("{path}.cve"),
            format!("{cve:?} is not a CVE id like CVE-2024-6387"),
        ));
    }
    let reason = text(table, &path, "reason", "the reason, in plain words", errors);
    let hosts = table
        .get("hosts")
        .map(|v| names(&format!("{path}.hosts"), v, false, errors))
        .unwrap_or_default();
    let scoped_groups = table
        .get("groups")
        .map(|v| names(&format!("{path}.groups"), v, false, errors))
        .unwrap_or_default();
    for (i, group) in scoped_groups.iter().enumerate() {
        if !groups.contains_key(group) {
            errors.push(FleetError::new(
                format!("{path}.groups[{i}]"),
                format!("{group:?} is not a group of this document"),
            ));
        }
    }
    if !table.contains_key("hosts") && !table.contains_key("groups") {
        errors.push(FleetError::new(
            &path,
            "a flag names the hosts and/or groups it covers (hosts = [...], groups = [...])",
        ));
    }
    let expires = expires(table, &path, now, errors);
    if errors.len() > before {
        return None;
    }
    Some(ScopedEmergency {
        cve: cve?,
        hosts,
        groups: scoped_groups,
        reason: reason?,
        expires: expires?,
    })
}

/// A required, non-empty string at `path.key`.
pub(crate) fn text(
    table: &toml::Table,
    path: &str,
    key: &str,
    what: &str,
    errors: &mut Vec<FleetError>,
) -> Option<String> {
    let key_path = format!("{path}.{key}");
    match table.get(key) {
        None => {
            errors.push(FleetError::new(
                key_path,
                format!("missing; expected {what}"),
            ));
            None
        }
        Some(toml::Value::String(text)) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Some(other) => {
            errors.push(FleetError::new(
                key_path,
                format!("expected {what}, found {other}"),
            ));
            None
        }
    }
}

fn expires(
    table: &toml::Table,
    path: &str,
    now: Option<Timestamp>,
    errors: &mut Vec<FleetError>,
) -> Option<Timestamp> {
    let key_path = format!("{path}.expires");
    let written = match table.get("expires") {
        None => {
            errors.push(FleetError::new(
                key_path,
                "missing; every flag expires (an RFC 3339 instant such as 2026-12-31T00:00:00Z)",
            ));
            return None;
        }
        Some(toml::Value::String(text)) => text.clone(),
        Some(toml::Value::Datetime(datetime)) => datetime.to_string(),
        Some(other) => {
            errors.push(FleetError::new(
                key_path,
                format!("expected an RFC 3339 instant, found {}", other.type_str()),
            ));
            return None;
        }
    };
    let Ok(instant) = written.parse::<Timestamp>() else {
        errors.push(FleetError::new(
            key_path,
            format!("{written:?} is not an RFC 3339 instant with an offset (2026-12-31T00:00:00Z)"),
        ));
        return None;
    };
    if let Some(now) = now
        && instant <= now
    {
        errors.push(FleetError::new(
            key_path,
            format!("{written} has already passed (now is {now})"),
        ));
        return None;
    }
    Some(instant)
}
