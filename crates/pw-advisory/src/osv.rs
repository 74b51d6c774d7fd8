//! The OSV record as it appears on the wire (schema 1.6.x and 1.7.x), tolerant of unknown
//! fields and of `null` where a list is expected.
//!
//! Quirks of the real feeds kept in mind here (see `tests/data/PROVENANCE.md`):
//! - Ubuntu puts CVE ids in `upstream` (schema 1.7) or `related` (1.6.3) and leaves `aliases`
//!   empty; USN records name `UBUNTU-CVE-…` ids in `upstream`.
//! - Ubuntu `ecosystem_specific.binaries` comes in two shapes: a list of
//!   `{"binary_name","binary_version"}` objects, or (older) a list holding one object that maps
//!   binary names to versions.
//! - AlmaLinux puts CVE ids in `related` and has no `severity`.
//! - Version strings are kept verbatim; they are validated when an [`crate::Advisory`] is built.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One OSV record, field for field. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsvRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aliases: Vec<String>,
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub upstream: Vec<String>,
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub related: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub severity: Vec<OsvSeverity>,
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub affected: Vec<OsvAffected>,
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub references: Vec<OsvReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

/// A `severity[]` item: `type` is `CVSS_V2`, `CVSS_V3`, `CVSS_V4` or `Ubuntu` (a priority word).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsvSeverity {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub score: String,
}

/// A `references[]` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsvReference {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub url: String,
}

/// An `affected[]` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsvAffected {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<OsvPackage>,
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub severity: Vec<OsvSeverity>,
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ranges: Vec<OsvRange>,
    /// `None` when the field is absent, `Some([])` when it is an empty list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

/// `affected[].package`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsvPackage {
    #[serde(default)]
    pub ecosystem: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

/// `affected[].ranges[]`: `type` is `ECOSYSTEM`, `SEMVER` or `GIT`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsvRange {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub events: Vec<OsvEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

/// One range event; a well-formed event sets exactly one field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsvEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

/// A binary package built from an affected source package (Ubuntu `ecosystem_specific.binaries`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Binary {
    pub name: String,
    pub version: String,
}

impl OsvAffected {
    /// Ubuntu's `ecosystem_specific.binaries` in either shape: a list of
    /// `{"binary_name": …, "binary_version": …}` objects, or a list of objects mapping binary
    /// names to versions (`[{"nginx": "1.24.0-2ubuntu7.1", …}]`). Items of another shape are
    /// skipped. Empty when the field is absent.
    pub fn binaries(&self) -> Vec<Binary> {
        let Some(items) = self.specific("binaries").and_then(Value::as_array) else {
            return Vec::new();
        };
        let mut binaries = Vec::new();
        for item in items {
            let Some(object) = item.as_object() else {
                continue;
            };
            if let Some(name) = object.get("binary_name").and_then(Value::as_str) {
                let version = object.get("binary_version").and_then(Value::as_str);
                binaries.push(Binary {
                    name: name.to_owned(),
                    version: version.unwrap_or_default().to_owned(),
                });
            } else {
                binaries.extend(object.iter().filter_map(|(name, version)| {
                    Some(Binary {
                        name: name.clone(),
                        version: version.as_str()?.to_owned(),
                    })
                }));
            }
        }
        binaries
    }

    /// A string field of `ecosystem_specific`.
    pub fn ecosystem_specific_str(&self, key: &str) -> Option<&str> {
        self.specific(key).and_then(Value::as_str)
    }

    /// A string field of `database_specific`.
    pub fn database_specific_str(&self, key: &str) -> Option<&str> {
        self.database_specific
            .as_ref()
            .and_then(|v| v.get(key))
            .and_then(Value::as_str)
    }

    fn specific(&self, key: &str) -> Option<&Value> {
        self.ecosystem_specific.as_ref().and_then(|v| v.get(key))
    }
}

/// Accepts a list or `null` (some feeds write `"aliases": null`).
fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affected(json: &str) -> OsvAffected {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn binaries_in_the_list_of_pairs_shape() {
        let a = affected(
            r#"{"ecosystem_specific":{"binaries":[
                {"binary_name":"sudo","binary_version":"1.9.9-1ubuntu2.5"},
                {"binary_name":"sudo-ldap","binary_version":"1.9.9-1ubuntu2.5"}]}}"#,
        );
        let names: Vec<_> = a.binaries().into_iter().map(|b| b.name).collect();
        assert_eq!(names, ["sudo", "sudo-ldap"]);
    }

    #[test]
    fn binaries_in_the_older_map_shape() {
        let a = affected(
            r#"{"ecosystem_specific":{"binaries":[{"nginx":"1.24.0-2ubuntu7.1","nginx-doc":"1.24.0-2ubuntu7.1"}]}}"#,
        );
        assert_eq!(
            a.binaries(),
            vec![
                Binary {
                    name: "nginx".into(),
                    version: "1.24.0-2ubuntu7.1".into()
                },
                Binary {
                    name: "nginx-doc".into(),
                    version: "1.24.0-2ubuntu7.1".into()
                },
            ]
        );
    }

    #[test]
    fn tolerates_nulls_unknown_fields_and_missing_lists() {
        let r: OsvRecord = serde_json::from_str(
            r#"{"id":"X-1","aliases":null,"affected":[{"package":{"ecosystem":"Debian:12","name":"a"},"ranges":null,"whatever":1}],"credits":[{"name":"n"}]}"#,
        )
        .unwrap();
        assert!(r.aliases.is_empty());
        assert!(r.affected[0].ranges.is_empty());
        assert_eq!(r.affected[0].versions, None);
        assert!(r.affected[0].binaries().is_empty());
    }
}
