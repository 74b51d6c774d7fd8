//! Reading the `[priority]` TOML table in three stages: raw (every key optional, unknown keys
//! rejected) → merged with the defaults → validated. Every problem is collected, with its key path
//! and what was expected, and reported at once as [`PolicyErrors`].
//!
//! The raw stage walks `toml::Value` by hand rather than through serde so that one run reports
//! all unknown keys and all wrongly typed values, not only the first.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use pw_model::{Tier, is_cve_id};
use toml::{Table, Value};

use crate::policy::{
    CriticalFix, PriorityPolicy, T0Rules, T1Rules, T3Rules, TierRules, format_duration,
};
use crate::{EmergencyFlag, PolicyError, PolicyErrors};

/// Shortest deadline accepted ("configurable down to hours").
const MIN_DEADLINE: SignedDuration = SignedDuration::from_hours(1);
/// Longest deadline accepted.
const MAX_DEADLINE: SignedDuration = SignedDuration::from_hours(365 * 24);

impl PriorityPolicy {
    /// Reads a standalone priority policy document (the `[priority]` table's content at the top
    /// level). Key paths in errors are relative to that table.
    pub fn from_toml_str(text: &str) -> Result<Self, PolicyErrors> {
        let table = toml::from_str::<Table>(text).map_err(|e| {
            PolicyErrors(vec![PolicyError {
                path: String::new(),
                message: format!("not valid TOML: {}", e.to_string().trim_end()),
            }])
        })?;
        Self::from_toml_value(&Value::Table(table))
    }

    /// Reads the `[priority]` table of a larger policy file. Key paths in errors are relative to
    /// the table; use [`PolicyErrors::with_prefix`] to prepend `priority`.
    pub fn from_toml_value(value: &Value) -> Result<Self, PolicyErrors> {
        let mut reader = Reader::default();
        let policy = reader.policy(value);
        if reader.errors.is_empty() {
            Ok(policy)
        } else {
            Err(PolicyErrors(reader.errors))
        }
    }
}

#[derive(Default)]
struct Reader {
    errors: Vec<PolicyError>,
}

/// Raw optional tier settings (one layer: the policy's, or a group's).
#[derive(Default)]
struct RawRules {
    t0_deadline: Option<SignedDuration>,
    t0_cvss: Option<f64>,
    t0_epss: Option<f64>,
    t0_epss_cvss: Option<f64>,
    t0_kev: Option<bool>,
    t1_deadline: Option<SignedDuration>,
    t1_cvss: Option<f64>,
    t2_words: Option<Vec<String>>,
    t3_deadline: Option<SignedDuration>,
    unknown_severity: Option<Tier>,
}

impl RawRules {
    /// Whether this layer sets a value that the ordering constraints look at.
    fn sets_ordered_values(&self) -> bool {
        self.t0_deadline.is_some()
            || self.t1_deadline.is_some()
            || self.t3_deadline.is_some()
            || self.t0_cvss.is_some()
            || self.t1_cvss.is_some()
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(value: &Value) -> String {
    match value {
        Value::String(s) => format!("string {s:?}"),
        Value::Integer(i) => format!("integer {i}"),
        Value::Float(f) => format!("number {f}"),
        Value::Boolean(b) => format!("boolean {b}"),
        Value::Datetime(d) => format!("datetime {d}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}

impl Reader {
    fn error(&mut self, path: String, message: impl Into<String>) {
        self.errors.push(PolicyError {
            path,
            message: message.into(),
        });
    }

    fn table<'a>(&mut self, value: &'a Value, path: &str, allowed: &[&str]) -> Option<&'a Table> {
        let Value::Table(table) = value else {
            self.error(
                path.to_owned(),
                format!("expected a table, found {}", type_name(value)),
            );
            return None;
        };
        for key in table.keys() {
            if !allowed.contains(&key.as_str()) {
                let expected = allowed.join(", ");
                self.error(
                    join(path, key),
                    format!("unknown key; expected one of: {expected}"),
                );
            }
        }
        Some(table)
    }

    fn policy(&mut self, value: &Value) -> PriorityPolicy {
        let mut policy = PriorityPolicy::default();
        let allowed = [
            "tiers",
            "unknown_severity",
            "distro_severity",
            "emergency",
            "critical_fixes",
            "groups",
        ];
        let Some(table) = self.table(value, "", &allowed) else {
            return policy;
        };
        let base = self.raw_rules(table, "");
        policy.rules = self.merge(&TierRules::default(), &base, "");
        if let Some(words) = table.get("distro_severity") {
            self.distro_severity(words, &mut policy.distro_severity);
        }
        if let Some(list) = table.get("emergency") {
            policy.emergency = self.emergency(list);
        }
        if let Some(list) = table.get("critical_fixes") {
            policy.critical_fixes = self.critical_fixes(list);
        }
        if let Some(groups) = table.get("groups") {
            let Value::Table(groups) = groups else {
                let found = type_name(groups);
                self.error(
                    "groups".to_owned(),
                    format!("expected a table of groups, found {found}"),
                );
                return policy;
            };
            for (name, group) in groups {
                let path = join("groups", name);
                if let Some(group) = self.table(group, &path, &["tiers", "unknown_severity"]) {
                    let raw = self.raw_rules(group, &path);
                    let merged = self.merge(&policy.rules, &raw, &path);
                    policy.groups.insert(name.clone(), merged);
                }
            }
        }
        policy
    }

    /// Reads `tiers.*` and `unknown_severity` of one layer.
    fn raw_rules(&mut self, table: &Table, path: &str) -> RawRules {
        let mut raw = RawRules::default();
        if let Some(value) = table.get("unknown_severity") {
            raw.unknown_severity = self.security_tier(value, &join(path, "unknown_severity"));
        }
        let tiers_path = join(path, "tiers");
        let Some(tiers) = table.get("tiers") else {
            return raw;
        };
        let Some(tiers) = self.table(tiers, &tiers_path, &["t0", "t1", "t2", "t3"]) else {
            return raw;
        };
        let tier = |name: &str| tiers.get(name).map(|v| (v, join(&tiers_path, name)));
        if let Some((value, path)) = tier("t0") {
            let keys = ["deadline", "cvss_min", "epss_min", "epss_cvss_min", "kev"];
            if let Some(t) = self.table(value, &path, &keys) {
                raw.t0_deadline = self.deadline(t, &path);
                raw.t0_cvss = self.number(t, &path, "cvss_min", 10.0, "a CVSS score");
                raw.t0_epss = self.number(t, &path, "epss_min", 1.0, "an EPSS probability");
                raw.t0_epss_cvss = self.number(t, &path, "epss_cvss_min", 10.0, "a CVSS score");
                raw.t0_kev = self.boolean(t, &path, "kev");
            }
        }
        if let Some((value, path)) = tier("t1")
            && let Some(t) = self.table(value, &path, &["deadline", "cvss_min"])
        {
            raw.t1_deadline = self.deadline(t, &path);
            raw.t1_cvss = self.number(t, &path, "cvss_min", 10.0, "a CVSS score");
        }
        if let Some((value, path)) = tier("t2") {
            if let Value::Table(t) = value
                && t.contains_key("deadline")
            {
                self.error(
                    join(&path, "deadline"),
                    "T2 has no fixed deadline: it is planned into the next available window",
                );
            }
            if let Some(t) = self.table(value, &path, &["severity_words", "deadline"]) {
                raw.t2_words = self.words(t, &path, "severity_words");
            }
        }
        if let Some((value, path)) = tier("t3")
            && let Some(t) = self.table(value, &path, &["deadline"])
        {
            raw.t3_deadline = self.deadline(t, &path);
        }
        raw
    }

    /// Merges a raw layer over `base`, then checks the ordering constraints.
    fn merge(&mut self, base: &TierRules, raw: &RawRules, path: &str) -> TierRules {
        let deadline = |d: &Option<SignedDuration>, fallback| d.unwrap_or(fallback);
        let rules = TierRules {
            t0: T0Rules {
                deadline: deadline(&raw.t0_deadline, base.t0.deadline),
                cvss_min: raw.t0_cvss.unwrap_or(base.t0.cvss_min),
                epss_min: raw.t0_epss.unwrap_or(base.t0.epss_min),
                epss_cvss_min: raw.t0_epss_cvss.unwrap_or(base.t0.epss_cvss_min),
                kev: raw.t0_kev.unwrap_or(base.t0.kev),
            },
            t1: T1Rules {
                deadline: deadline(&raw.t1_deadline, base.t1.deadline),
                cvss_min: raw.t1_cvss.unwrap_or(base.t1.cvss_min),
            },
            t2: crate::policy::T2Rules {
                severity_words: raw
                    .t2_words
                    .clone()
                    .unwrap_or_else(|| base.t2.severity_words.clone()),
            },
            t3: T3Rules {
                deadline: deadline(&raw.t3_deadline, base.t3.deadline),
            },
            unknown_severity: raw.unknown_severity.unwrap_or(base.unknown_severity),
        };
        let tiers = join(path, "tiers");
        let base_layer = path.is_empty();
        if !base_layer && !raw.sets_ordered_values() {
            return rules;
        }
        let pairs = [
            ("t0", rules.t0.deadline, "t1", rules.t1.deadline),
            ("t1", rules.t1.deadline, "t3", rules.t3.deadline),
        ];
        for (urgent, urgent_deadline, lax, lax_deadline) in pairs {
            if urgent_deadline > lax_deadline {
                self.error(
                    join(&join(&tiers, urgent), "deadline"),
                    format!(
                        "{} is longer than the {} deadline {}; a more urgent tier needs a shorter or equal deadline",
                        format_duration(urgent_deadline),
                        lax.to_uppercase(),
                        format_duration(lax_deadline),
                    ),
                );
            }
        }
        if rules.t1.cvss_min > rules.t0.cvss_min {
            self.error(
                join(&tiers, "t1.cvss_min"),
                format!(
                    "{:.1} is above the T0 threshold {:.1}; T1 must start at or below T0",
                    rules.t1.cvss_min, rules.t0.cvss_min
                ),
            );
        }
        rules
    }

    fn deadline(&mut self, table: &Table, path: &str) -> Option<SignedDuration> {
        let value = table.get("deadline")?;
        let path = join(path, "deadline");
        let Value::String(text) = value else {
            self.error(
                path,
                format!(
                    "expected a duration string like \"24h\" or \"7d\", found {}",
                    type_name(value)
                ),
            );
            return None;
        };
        match parse_duration(text) {
            None => self.error(
                path,
                format!("{text:?} is not a positive duration like 24h or 2d"),
            ),
            Some(d) if d < MIN_DEADLINE => self.error(
                path,
                format!("{text:?} is shorter than 1h, the shortest deadline"),
            ),
            Some(d) if d > MAX_DEADLINE => self.error(
                path,
                format!("{text:?} is longer than 365d, the longest deadline"),
            ),
            Some(d) => return Some(d),
        }
        None
    }

    fn number(
        &mut self,
        table: &Table,
        path: &str,
        key: &str,
        max: f64,
        what: &str,
    ) -> Option<f64> {
        let value = table.get(key)?;
        let path = join(path, key);
        let number = match value {
            Value::Float(f) => *f,
            Value::Integer(i) => *i as f64,
            other => {
                self.error(
                    path,
                    format!(
                        "expected {what} from 0 to {max}, found {}",
                        type_name(other)
                    ),
                );
                return None;
            }
        };
        if !(0.0..=max).contains(&number) {
            self.error(path, format!("{number} is not {what} from 0 to {max}"));
            return None;
        }
        Some(number)
    }

    fn boolean(&mut self, table: &Table, path: &str, key: &str) -> Option<bool> {
        match table.get(key)? {
            Value::Boolean(b) => Some(*b),
            other => {
                self.error(
                    join(path, key),
                    format!("expected true or false, found {}", type_name(other)),
                );
                None
            }
        }
    }

    fn string(&mut self, value: &Value, path: String, what: &str) -> Option<String> {
        match value {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            other => {
                self.error(path, format!("expected {what}, found {}", type_name(other)));
                None
            }
        }
    }

    fn words(&mut self, table: &Table, path: &str, key: &str) -> Option<Vec<String>> {
        let value = table.get(key)?;
        let path = join(path, key);
        let Value::Array(items) = value else {
            self.error(
                path,
                format!("expected a list of words, found {}", type_name(value)),
            );
            return None;
        };
        let mut words = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let word = self.string(item, format!("{path}[{i}]"), "a non-empty word");
            words.extend(word.map(|w| w.to_lowercase()));
        }
        Some(words)
    }

    fn security_tier(&mut self, value: &Value, path: &str) -> Option<Tier> {
        let text = match value {
            Value::String(s) => s.as_str(),
            other => {
                self.error(
                    path.to_owned(),
                    format!(
                        "expected \"T0\", \"T1\" or \"T3\", found {}",
                        type_name(other)
                    ),
                );
                return None;
            }
        };
        match text.parse::<Tier>() {
            Ok(tier @ (Tier::T0 | Tier::T1 | Tier::T3)) => Some(tier),
            _ => {
                self.error(
                    path.to_owned(),
                    format!("{text:?} is not a security tier; expected \"T0\", \"T1\" or \"T3\""),
                );
                None
            }
        }
    }

    fn distro_severity(&mut self, value: &Value, map: &mut BTreeMap<String, Tier>) {
        let Value::Table(table) = value else {
            self.error(
                "distro_severity".to_owned(),
                format!(
                    "expected a table of word = \"T0\"|\"T1\"|\"T3\", found {}",
                    type_name(value)
                ),
            );
            return;
        };
        let mut seen = BTreeMap::new();
        for (word, tier) in table {
            let path = join("distro_severity", word);
            let lower = word.trim().to_lowercase();
            if lower.is_empty() {
                self.error(path, "the severity word is empty");
                continue;
            }
            if let Some(first) = seen.insert(lower.clone(), word.clone()) {
                self.error(
                    path,
                    format!(
                        "the same word as distro_severity.{first} (words are case-insensitive)"
                    ),
                );
                continue;
            }
            if let Some(tier) = self.security_tier(tier, &path) {
                map.insert(lower, tier);
            }
        }
    }

    fn list<'a>(&mut self, value: &'a Value, path: &str) -> &'a [Value] {
        match value {
            Value::Array(items) => items,
            other => {
                self.error(
                    path.to_owned(),
                    format!(
                        "expected a list of tables ([[{path}]]), found {}",
                        type_name(other)
                    ),
                );
                &[]
            }
        }
    }

    fn emergency(&mut self, value: &Value) -> Vec<EmergencyFlag> {
        let mut flags = Vec::new();
        for (i, item) in self.list(value, "emergency").iter().enumerate() {
            let path = format!("emergency[{i}]");
            let Some(t) = self.table(item, &path, &["cve", "reason"]) else {
                continue;
            };
            let cve = self.required(t, &path, "cve", "a CVE id like CVE-2024-6387");
            let reason = self.required(t, &path, "reason", "the reason, in plain words");
            if let Some(cve) = &cve {
                if !is_cve_id(&cve.to_ascii_uppercase()) {
                    self.error(
                        join(&path, "cve"),
                        format!("{cve:?} is not a CVE id like CVE-2024-6387"),
                    );
                    continue;
                }
                if flags
                    .iter()
                    .any(|f: &EmergencyFlag| f.cve.eq_ignore_ascii_case(cve))
                {
                    self.error(join(&path, "cve"), format!("{cve} is flagged twice"));
                    continue;
                }
            }
            if let (Some(cve), Some(reason)) = (cve, reason) {
                flags.push(EmergencyFlag {
                    cve: cve.to_uppercase(),
                    reason,
                });
            }
        }
        flags
    }

    fn critical_fixes(&mut self, value: &Value) -> Vec<CriticalFix> {
        let mut fixes = Vec::new();
        for (i, item) in self.list(value, "critical_fixes").iter().enumerate() {
            let path = format!("critical_fixes[{i}]");
            let Some(t) = self.table(item, &path, &["advisory", "reason"]) else {
                continue;
            };
            let advisory =
                self.required(t, &path, "advisory", "an advisory id like ALBA-2024:1234");
            let reason = self.required(t, &path, "reason", "the reason, in plain words");
            if let (Some(advisory), Some(reason)) = (advisory, reason) {
                fixes.push(CriticalFix { advisory, reason });
            }
        }
        fixes
    }

    fn required(&mut self, table: &Table, path: &str, key: &str, what: &str) -> Option<String> {
        match table.get(key) {
            Some(value) => self.string(value, join(path, key), what),
            None => {
                self.error(join(path, key), format!("missing; expected {what}"));
                None
            }
        }
    }
}

/// Parses a deadline such as `24h`, `7d`, `2w` or `1d12h`: pw-model's duration grammar
/// (`pw_model::parse_duration`, surrounding spaces trimmed) restricted to a positive number of
/// whole hours. `None` for anything else, including zero, signs and `30m`.
pub fn parse_duration(text: &str) -> Option<SignedDuration> {
    let duration = pw_model::parse_duration(text.trim()).ok()?;
    (duration.is_positive() && duration.as_secs() % 3600 == 0).then_some(duration)
}
