//! The permission and ownership check of a downgrade (seed 003's post-verify "permissions",
//! docs/downgrade.md): the conffiles of the packages that change, each with its mode, owner and
//! group (`stat`) and whether `dpkg --verify` finds it modified — read before and after the
//! change and compared. Read-only; argv only.

use std::collections::BTreeSet;

use pw_inventory::dpkg_query::parse_verify;
use pw_inventory::file_stat::{FileMode, STAT_ARGS, parse_stat};
use pw_inventory::parse_dpkg_conffiles;

use crate::apt::QUERY_TIMEOUT;
use crate::runner::{Invocation, Runner};

/// One conffile's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub path: String,
    /// `None`: the file is missing.
    pub mode: Option<FileMode>,
    /// `dpkg --verify` reports it changed (or missing).
    pub modified: bool,
}

/// The conffiles of `packages` (from dpkg's status database) with their modes and owners.
pub fn file_states(runner: &dyn Runner, packages: &[String]) -> anyhow::Result<Vec<FileState>> {
    if packages.is_empty() {
        return Ok(Vec::new());
    }
    let args = ["-s".to_owned()]
        .into_iter()
        .chain(packages.iter().cloned());
    let status = runner.run_ok(&Invocation::new("dpkg-query", args).timeout(QUERY_TIMEOUT))?;
    let paths: BTreeSet<String> = parse_dpkg_conffiles(&status.stdout)
        .packages
        .values()
        .flatten()
        .filter(|c| !c.obsolete)
        .map(|c| c.path.clone())
        .collect();
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    // `dpkg --verify` exits 1 when it finds something, stat 1 when a file is missing: the
    // output is the answer either way.
    let args = ["--verify".to_owned()]
        .into_iter()
        .chain(packages.iter().cloned());
    let verify = runner.run(&Invocation::new("dpkg", args).timeout(QUERY_TIMEOUT))?;
    anyhow::ensure!(
        verify.code.is_some_and(|c| c <= 1),
        "dpkg --verify on {} exited {:?}: {}",
        runner.target(),
        verify.code,
        verify.tail(5)
    );
    let modified = parse_verify(&verify.stdout_text());
    let args = STAT_ARGS
        .iter()
        .map(|a| (*a).to_owned())
        .chain(paths.iter().cloned());
    let stat = runner.run(&Invocation::new("stat", args).timeout(QUERY_TIMEOUT))?;
    let mut modes = parse_stat(&stat.stdout_text());
    Ok(paths
        .into_iter()
        .map(|path| FileState {
            mode: modes.remove(&path),
            modified: modified.contains(&path),
            path,
        })
        .collect())
}

/// What differs between two readings of the same files, one sentence each (empty: nothing).
pub fn compare(before: &[FileState], after: &[FileState]) -> Vec<String> {
    let mut out = Vec::new();
    for old in before {
        let Some(new) = after.iter().find(|f| f.path == old.path) else {
            out.push(format!("{}: no longer a conffile", old.path));
            continue;
        };
        match (&old.mode, &new.mode) {
            (Some(_), None) => out.push(format!("{}: missing after the change", old.path)),
            (None, Some(_)) => out.push(format!("{}: present again after the change", old.path)),
            (Some(a), Some(b)) => {
                for (what, x, y) in [
                    ("mode", &a.mode, &b.mode),
                    ("owner", &a.owner, &b.owner),
                    ("group", &a.group, &b.group),
                ] {
                    if x != y {
                        out.push(format!("{}: {what} {x} → {y}", old.path));
                    }
                }
            }
            (None, None) => {}
        }
        if old.modified != new.modified {
            let now = if new.modified {
                "modified"
            } else {
                "as shipped"
            };
            out.push(format!("{}: {now} after the change", old.path));
        }
    }
    for new in after
        .iter()
        .filter(|n| before.iter().all(|o| o.path != n.path))
    {
        out.push(format!("{}: a new conffile", new.path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(path: &str, mode: Option<(&str, &str)>, modified: bool) -> FileState {
        FileState {
            path: path.into(),
            mode: mode.map(|(m, o)| FileMode {
                mode: m.into(),
                owner: o.into(),
                group: "root".into(),
            }),
            modified,
        }
    }

    #[test]
    fn names_every_difference() {
        let before = [
            state("/etc/a", Some(("644", "root")), true),
            state("/etc/b", Some(("600", "root")), false),
            state("/etc/c", Some(("644", "root")), false),
        ];
        let after = [
            state("/etc/a", Some(("644", "root")), true),
            state("/etc/b", Some(("644", "www-data")), true),
            state("/etc/d", Some(("644", "root")), false),
        ];
        assert_eq!(
            compare(&before, &after),
            [
                "/etc/b: mode 600 → 644",
                "/etc/b: owner root → www-data",
                "/etc/b: modified after the change",
                "/etc/c: no longer a conffile",
                "/etc/d: a new conffile",
            ]
        );
        assert!(compare(&before, &before).is_empty());
    }
}
