//! Protection providers (docs/protection.md): what a protection step does when it is more than a
//! bare argv — a file backup (tar archive + SHA-256 manifest, verified by a restore into a
//! scratch directory), a PostgreSQL backup (`pg_dump -Fc`, verified by a restore into a scratch
//! database compared table by table), a pause/resume pair of commands, a qemu-img internal
//! snapshot of a qcow2 image, or a snapshot taken and reverted by site commands (cloud or
//! hypervisor). Pure data and validation; the agent runs them through pw-host.

use jiff::Timestamp;

/// Longest retention of a backup or snapshot (ten years).
pub const MAX_RETENTION_SECS: u64 = 10 * 366 * 86_400;

/// One provider with its parameters. Backups and snapshots are kept `retention_seconds`; older
/// ones of the same provider (same `dir` or image) are pruned after a new one was verified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProtectionProvider {
    /// `tar` of `paths` (absolute files or directories) into `dir`, with a SHA-256 manifest of
    /// every regular file; verified by extracting into a scratch directory and comparing.
    FilesBackup {
        paths: Vec<String>,
        dir: String,
        retention_seconds: u64,
    },
    /// `pg_dump -Fc database` run as the OS user `os_user` (peer authentication, `runuser`),
    /// written into `dir`; verified by `pg_restore` into a scratch database and a comparison of
    /// every table's row count and checksum of its ordered rows; the scratch database is dropped.
    PostgresBackup {
        database: String,
        #[serde(default = "default_os_user")]
        os_user: String,
        dir: String,
        retention_seconds: u64,
    },
    /// `pause` runs as the step; `resume` runs when the change ends, on every path (done, failed,
    /// rolled back, and first thing after an agent restart that found it paused).
    PauseWrites {
        pause: Vec<String>,
        resume: Vec<String>,
    },
    /// `qemu-img snapshot -c` on a qcow2 image (the VM stopped or the image otherwise idle);
    /// verified by `qemu-img check` and the snapshot listed; reverted (`-a`) when the guard rolls
    /// back; pruned (`-d`) by retention.
    QemuSnapshot {
        image: String,
        retention_seconds: u64,
    },
    /// A snapshot by site commands (cloud or hypervisor API clients): `take` must exit 0 and may
    /// print the snapshot's location on its last line; `revert` runs on rollback. Both get the
    /// snapshot's name in `PW_SNAPSHOT_NAME` (and `revert` its location in
    /// `PW_SNAPSHOT_LOCATION`). Retention is recorded; pruning is the site's.
    SnapshotHook {
        take: Vec<String>,
        revert: Vec<String>,
        retention_seconds: u64,
    },
}

fn default_os_user() -> String {
    "postgres".to_owned()
}

impl ProtectionProvider {
    /// The provider's kind as the wire calls it (`files_backup`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ProtectionProvider::FilesBackup { .. } => "files_backup",
            ProtectionProvider::PostgresBackup { .. } => "postgres_backup",
            ProtectionProvider::PauseWrites { .. } => "pause_writes",
            ProtectionProvider::QemuSnapshot { .. } => "qemu_snapshot",
            ProtectionProvider::SnapshotHook { .. } => "snapshot_hook",
        }
    }

    /// Whether a rollback restores data from it (backups and snapshots; not pause writes).
    pub fn restores_data(&self) -> bool {
        !matches!(self, ProtectionProvider::PauseWrites { .. })
    }

    /// Refuses bad parameters; the message names the field (`paths[1]`, `resume`, …).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ProtectionProvider::FilesBackup {
                paths,
                dir,
                retention_seconds,
            } => {
                if paths.is_empty() {
                    return Err("paths: at least one file or directory".into());
                }
                for (i, path) in paths.iter().enumerate() {
                    absolute_path(&format!("paths[{i}]"), path)?;
                    if path == "/" {
                        return Err(format!("paths[{i}]: not the whole file system"));
                    }
                }
                absolute_path("dir", dir)?;
                retention(*retention_seconds)
            }
            ProtectionProvider::PostgresBackup {
                database,
                os_user,
                dir,
                retention_seconds,
            } => {
                identifier("database", database)?;
                identifier("os_user", os_user)?;
                absolute_path("dir", dir)?;
                retention(*retention_seconds)
            }
            ProtectionProvider::PauseWrites { pause, resume } => {
                argv("pause", pause)?;
                argv("resume", resume)
            }
            ProtectionProvider::QemuSnapshot {
                image,
                retention_seconds,
            } => {
                absolute_path("image", image)?;
                retention(*retention_seconds)
            }
            ProtectionProvider::SnapshotHook {
                take,
                revert,
                retention_seconds,
            } => {
                argv("take", take)?;
                argv("revert", revert)?;
                retention(*retention_seconds)
            }
        }
    }
}

/// An absolute path without NUL, newline or `..` components.
fn absolute_path(field: &str, path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("{field}: {path:?} is not an absolute path"));
    }
    if path.contains(['\0', '\n']) || path.split('/').any(|c| c == "..") {
        return Err(format!("{field}: {path:?} contains NUL, a newline or `..`"));
    }
    Ok(())
}

/// A database or user name: letters, digits, `_` and `-`, not starting with `-`, at most 63.
fn identifier(field: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field}: {value:?} must be 1–63 letters, digits, `_` or `-` (not starting with `-`)"
        ))
    }
}

/// A program and its arguments: not empty, no option-like program, no NUL.
pub(crate) fn argv(field: &str, argv: &[String]) -> Result<(), String> {
    match argv.first() {
        None => Err(format!("{field}: argv is empty")),
        Some(program) if program.is_empty() || program.starts_with('-') => {
            Err(format!("{field}: {program:?} is not a program"))
        }
        Some(_) if argv.iter().any(|a| a.contains('\0')) => {
            Err(format!("{field}: an argument contains NUL"))
        }
        Some(_) => Ok(()),
    }
}

fn retention(seconds: u64) -> Result<(), String> {
    if (1..=MAX_RETENTION_SECS).contains(&seconds) {
        Ok(())
    } else {
        Err(format!(
            "retention_seconds must be 1..={MAX_RETENTION_SECS}, got {seconds}"
        ))
    }
}

/// Whether a backup or snapshot was verified (restored and compared; a snapshot listed and its
/// image checked; a hook exited 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    Verified,
    Failed,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Verified => "verified",
            RecordStatus::Failed => "failed",
        }
    }
}

/// One backup or snapshot taken by a protection step (seed 003: time, size, status, retention).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProtectionRecord {
    /// The provider's kind (`files_backup`, `postgres_backup`, `qemu_snapshot`, `snapshot_hook`).
    pub kind: String,
    /// Its name (`pw-<unix>-<step>-<command>`): the directory, snapshot tag or
    /// `PW_SNAPSHOT_NAME`.
    pub name: String,
    /// When it was taken.
    pub taken_at: Timestamp,
    /// Bytes on disk (archive + manifest, dump, image after the snapshot); 0 when unknown.
    pub size_bytes: u64,
    pub status: RecordStatus,
    /// Where it is: the backup's directory, `image@snapshot`, or what the hook printed.
    pub location: String,
    /// When retention lets it be pruned.
    pub expires_at: Timestamp,
    /// Milliseconds to take it, and to verify it by a restore.
    pub take_ms: u64,
    pub verify_ms: u64,
    /// What was compared (`12 files`, `3 tables`), or the first mismatch when failed.
    pub detail: String,
    /// Older backups or snapshots of the same provider removed by retention.
    #[serde(default)]
    pub pruned: Vec<String>,
}

/// A backup or snapshot as the controller stores and shows it (`GET /api/v1/rollouts/{id}`,
/// each host's `protection`): the record, the step that took it, and whether the guard restored
/// it after a rollback.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProtectionRecordView {
    pub step: String,
    pub kind: String,
    pub name: String,
    pub taken_at: Timestamp,
    pub size_bytes: u64,
    pub status: RecordStatus,
    pub location: String,
    pub expires_at: Timestamp,
    pub take_ms: u64,
    pub verify_ms: u64,
    pub detail: String,
    /// Restored after a rollback: whether that worked (`None`: not restored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_ok: Option<bool>,
    /// What the restore said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<String>,
}

impl ProtectionRecordView {
    /// The records of a change report: each step's record, with its restore when there was one.
    pub fn from_report(report: &crate::ChangeReport) -> Vec<ProtectionRecordView> {
        report
            .protection
            .iter()
            .filter_map(|result| {
                let record = result.record.as_ref()?;
                let restore = report.restored.iter().find(|r| r.name == result.name);
                Some(ProtectionRecordView {
                    step: result.name.clone(),
                    kind: record.kind.clone(),
                    name: record.name.clone(),
                    taken_at: record.taken_at,
                    size_bytes: record.size_bytes,
                    status: record.status,
                    location: record.location.clone(),
                    expires_at: record.expires_at,
                    take_ms: record.take_ms,
                    verify_ms: record.verify_ms,
                    detail: record.detail.clone(),
                    restored_ok: restore.map(|r| r.ok),
                    restored: restore.map(|r| r.detail.clone()),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_round_trip_and_validate_with_field_names() {
        let json = r#"{"kind":"postgres_backup","database":"app","dir":"/var/backups/pw",
                       "retention_seconds":86400}"#;
        let provider: ProtectionProvider = serde_json::from_str(json).unwrap();
        let ProtectionProvider::PostgresBackup { os_user, .. } = &provider else {
            panic!("{provider:?}");
        };
        assert_eq!(os_user, "postgres");
        assert_eq!(provider.kind(), "postgres_backup");
        assert!(provider.validate().is_ok());
        let s = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
        for (bad, wanted) in [
            (
                ProtectionProvider::FilesBackup {
                    paths: s(&["etc/x"]),
                    dir: "/b".into(),
                    retention_seconds: 60,
                },
                "paths[0]",
            ),
            (
                ProtectionProvider::FilesBackup {
                    paths: s(&["/etc", "/"]),
                    dir: "/b".into(),
                    retention_seconds: 60,
                },
                "paths[1]: not the whole",
            ),
            (
                ProtectionProvider::FilesBackup {
                    paths: s(&["/etc"]),
                    dir: "/b/../c".into(),
                    retention_seconds: 60,
                },
                "dir",
            ),
            (
                ProtectionProvider::PostgresBackup {
                    database: "app; drop".into(),
                    os_user: "postgres".into(),
                    dir: "/b".into(),
                    retention_seconds: 60,
                },
                "database",
            ),
            (
                ProtectionProvider::PauseWrites {
                    pause: s(&["pause"]),
                    resume: vec![],
                },
                "resume: argv is empty",
            ),
            (
                ProtectionProvider::QemuSnapshot {
                    image: "/vm.qcow2".into(),
                    retention_seconds: 0,
                },
                "retention_seconds",
            ),
            (
                ProtectionProvider::SnapshotHook {
                    take: s(&["--x"]),
                    revert: s(&["r"]),
                    retention_seconds: 60,
                },
                "take",
            ),
        ] {
            let error = bad.validate().unwrap_err();
            assert!(error.contains(wanted), "{error} (wanted {wanted})");
        }
        let both = crate::ProtectionStep {
            name: "b".into(),
            argv: s(&["tar"]),
            timeout_seconds: 60,
            provider: Some(provider.clone()),
        };
        assert!(both.validate().unwrap_err().contains("not both"));
        let bad = crate::ProtectionStep {
            argv: vec![],
            provider: Some(ProtectionProvider::QemuSnapshot {
                image: "vm.qcow2".into(),
                retention_seconds: 60,
            }),
            ..both
        };
        let error = bad.validate().unwrap_err();
        assert!(
            error.starts_with("protection step \"b\": image:"),
            "{error}"
        );
    }
}
