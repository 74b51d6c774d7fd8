//! `[[groups.<name>.providers.<protection>]]`: which provider carries out a group's protection
//! steps on its hosts, with its parameters (docs/protection.md, docs/fleet.md). Each table
//! becomes one agent [`ProtectionStep`] (pw-protocol), validated here with its key path:
//!
//! - `backup`: `kind = "files"` (`paths`, `dir`) or `kind = "postgres"` (`database`,
//!   `os_user` = `"postgres"`, `dir`);
//! - `snapshot`: `kind = "qemu"` (`image`) or `kind = "hook"` (`take`, `revert` argv);
//! - `pause-writes`: `pause` and `resume` argv;
//!
//! and for every one `retention` (default 7d; not for pause-writes) and `timeout` (default 10m,
//! at most 24h).

use std::collections::BTreeMap;

use pw_protocol::{MAX_PROTECTION_TIMEOUT_SECS, ProtectionProvider, ProtectionStep};
use serde::{Deserialize, Serialize};

use super::Protection;
use super::validate::{Errors, positive_duration};

/// Default retention of a backup or snapshot.
pub const DEFAULT_RETENTION_SECS: u64 = 7 * 86_400;
/// Default timeout of one provider step.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// One provider table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub kind: Option<String>,
    pub paths: Option<Vec<String>>,
    pub dir: Option<String>,
    pub database: Option<String>,
    pub os_user: Option<String>,
    pub image: Option<String>,
    pub take: Option<Vec<String>>,
    pub revert: Option<Vec<String>>,
    pub pause: Option<Vec<String>>,
    pub resume: Option<Vec<String>>,
    pub retention: Option<String>,
    pub timeout: Option<String>,
}

/// A validated provider: the protection it carries out and the agent's step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvidedStep {
    pub protection: Protection,
    pub step: ProtectionStep,
}

/// Validates a group's provider tables against its `protection` list.
pub(super) fn providers(
    base: &str,
    raw: Option<&BTreeMap<String, Vec<RawProvider>>>,
    protection: &[Protection],
    errors: &mut Errors,
) -> Vec<ProvidedStep> {
    let mut out = Vec::new();
    // Pause writes first (seed 003: before the backup), then the snapshot, then the backup.
    let order = [
        Protection::PauseWrites,
        Protection::Snapshot,
        Protection::Backup,
    ];
    for key in raw.into_iter().flat_map(BTreeMap::keys) {
        let path = format!("{base}.{key}");
        let Some(kind) = order.into_iter().find(|p| p.as_str() == key.as_str()) else {
            errors.push(
                &path,
                format!("{key:?}"),
                "unknown protection; one of snapshot, backup, pause-writes",
            );
            continue;
        };
        if !protection.contains(&kind) {
            errors.push(
                &path,
                format!("{key:?}"),
                "a provider for a protection the group's `protection` list does not name",
            );
        }
    }
    for kind in order {
        let tables = raw.and_then(|r| r.get(kind.as_str())).into_iter().flatten();
        for (index, table) in tables.enumerate() {
            let path = format!("{base}.{}[{index}]", kind.as_str());
            let name = if index == 0 {
                kind.as_str().to_owned()
            } else {
                format!("{}-{}", kind.as_str(), index + 1)
            };
            if let Some(step) = step(&path, name, kind, table, errors) {
                out.push(ProvidedStep {
                    protection: kind,
                    step,
                });
            }
        }
    }
    out
}

fn step(
    path: &str,
    name: String,
    kind: Protection,
    raw: &RawProvider,
    errors: &mut Errors,
) -> Option<ProtectionStep> {
    let at = |key: &str| format!("{path}.{key}");
    let retention = positive_duration(&at("retention"), raw.retention.as_deref(), errors)
        .unwrap_or(DEFAULT_RETENTION_SECS);
    let timeout = positive_duration(&at("timeout"), raw.timeout.as_deref(), errors)
        .unwrap_or(DEFAULT_TIMEOUT_SECS);
    if timeout > MAX_PROTECTION_TIMEOUT_SECS {
        errors.push(&at("timeout"), format!("{timeout} s"), "at most 24h");
    }
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
    let provider = match (kind, raw.kind.as_deref()) {
        (Protection::Backup, Some("files")) => ProtectionProvider::FilesBackup {
            paths: list(&raw.paths),
            dir: text(&raw.dir),
            retention_seconds: retention,
        },
        (Protection::Backup, Some("postgres")) => ProtectionProvider::PostgresBackup {
            database: text(&raw.database),
            os_user: raw.os_user.clone().unwrap_or_else(|| "postgres".into()),
            dir: text(&raw.dir),
            retention_seconds: retention,
        },
        (Protection::Snapshot, Some("qemu")) => ProtectionProvider::QemuSnapshot {
            image: text(&raw.image),
            retention_seconds: retention,
        },
        (Protection::Snapshot, Some("hook")) => ProtectionProvider::SnapshotHook {
            take: list(&raw.take),
            revert: list(&raw.revert),
            retention_seconds: retention,
        },
        (Protection::PauseWrites, None | Some("hook")) => ProtectionProvider::PauseWrites {
            pause: list(&raw.pause),
            resume: list(&raw.resume),
        },
        (_, other) => {
            let allowed = match kind {
                Protection::Backup => "\"files\" or \"postgres\"",
                Protection::Snapshot => "\"qemu\" or \"hook\"",
                Protection::PauseWrites => "\"hook\" (or nothing)",
            };
            errors.push(
                &at("kind"),
                other.map_or("nothing".into(), |k| format!("{k:?}")),
                format!("expected {allowed}"),
            );
            return None;
        }
    };
    unused_keys(path, &provider, raw, errors);
    if let Err(problem) = provider.validate() {
        let (key, reason) = if problem.starts_with("retention_seconds") {
            ("retention", problem.as_str())
        } else {
            problem.split_once(": ").unwrap_or(("", problem.as_str()))
        };
        let key = key.split('[').next().unwrap_or(key);
        errors.push(&at(key), value_of(raw, key), reason);
        return None;
    }
    Some(ProtectionStep {
        name,
        argv: Vec::new(),
        timeout_seconds: timeout.min(MAX_PROTECTION_TIMEOUT_SECS),
        provider: Some(provider),
    })
}

/// Keys given that this provider kind does not read: a mistake worth naming.
fn unused_keys(path: &str, provider: &ProtectionProvider, raw: &RawProvider, errors: &mut Errors) {
    let used: &[&str] = match provider {
        ProtectionProvider::FilesBackup { .. } => &["paths", "dir", "retention"],
        ProtectionProvider::PostgresBackup { .. } => &["database", "os_user", "dir", "retention"],
        ProtectionProvider::QemuSnapshot { .. } => &["image", "retention"],
        ProtectionProvider::SnapshotHook { .. } => &["take", "revert", "retention"],
        ProtectionProvider::PauseWrites { .. } => &["pause", "resume"],
    };
    let given = [
        ("paths", raw.paths.is_some()),
        ("dir", raw.dir.is_some()),
        ("database", raw.database.is_some()),
        ("os_user", raw.os_user.is_some()),
        ("image", raw.image.is_some()),
        ("take", raw.take.is_some()),
        ("revert", raw.revert.is_some()),
        ("pause", raw.pause.is_some()),
        ("resume", raw.resume.is_some()),
        ("retention", raw.retention.is_some()),
    ];
    for (key, _) in given.iter().filter(|(k, g)| *g && !used.contains(k)) {
        errors.push(
            &format!("{path}.{key}"),
            "set",
            format!("not used by a {} provider", provider.kind()),
        );
    }
}

/// The value of a key for an error message.
fn value_of(raw: &RawProvider, key: &str) -> String {
    let shown = match key {
        "paths" => raw.paths.as_ref().map(|v| format!("{v:?}")),
        "dir" => raw.dir.as_ref().map(|v| format!("{v:?}")),
        "database" => raw.database.as_ref().map(|v| format!("{v:?}")),
        "os_user" => raw.os_user.as_ref().map(|v| format!("{v:?}")),
        "image" => raw.image.as_ref().map(|v| format!("{v:?}")),
        "take" => raw.take.as_ref().map(|v| format!("{v:?}")),
        "revert" => raw.revert.as_ref().map(|v| format!("{v:?}")),
        "pause" => raw.pause.as_ref().map(|v| format!("{v:?}")),
        "resume" => raw.resume.as_ref().map(|v| format!("{v:?}")),
        "retention" => raw.retention.as_ref().map(|v| format!("{v:?}")),
        _ => None,
    };
    shown.unwrap_or_else(|| "nothing".into())
}
