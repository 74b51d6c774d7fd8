//! A downgrade plan's local archive on this host (docs/downgrade.md "A local archive"): a
//! directory of `.deb` files offered to apt for one change only, beside the host's configured
//! sources, as `apt-get --with-source FILE` / `apt-cache --with-source FILE` arguments — no
//! sources.list entry is written, so nothing stays behind. apt trusts a file given this way by
//! its path, so the archive must be as trustworthy as the packages themselves: the directory
//! and every `.deb` in it owned by root and writable by root only, regular files (no symbolic
//! links), plain names. The path follows pw-model's rule ([`archive_path_problem`]); the
//! listing is one `find` (argv, never a shell) read by pw-inventory.

use anyhow::bail;
use pw_inventory::file_stat::{FIND_ARGS, ListedEntry, parse_listing};
use pw_model::{MAX_ARCHIVE_DEBS, archive_path_problem, is_archive_deb_name};

use crate::apt::QUERY_TIMEOUT;
use crate::runner::{Invocation, Runner};

/// A checked local archive: its directory and the `.deb` files apt is offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalArchive {
    pub dir: String,
    /// Absolute paths of the `.deb` files, sorted.
    pub debs: Vec<String>,
}

impl LocalArchive {
    /// Lists and checks the archive `dir` on the host behind `runner`.
    pub fn open(runner: &dyn Runner, dir: &str) -> anyhow::Result<LocalArchive> {
        if let Some(problem) = archive_path_problem(dir) {
            bail!("local archive {problem}");
        }
        let args = [dir].into_iter().chain(FIND_ARGS);
        let output = runner.run(&Invocation::new("find", args).timeout(QUERY_TIMEOUT))?;
        if !output.success() {
            bail!(
                "local archive {dir} on {} cannot be listed (find exited {:?}): {}",
                runner.target(),
                output.code,
                output.tail(3)
            );
        }
        let (root, entries): (Vec<ListedEntry>, Vec<ListedEntry>) = parse_listing(&output.stdout)
            .into_iter()
            .partition(|e| e.depth == 0);
        Self::checked(dir, root.first(), &entries)
    }

    /// The archive from its listing (the directory's own entry and its entries), or why it
    /// cannot be trusted.
    fn checked(
        dir: &str,
        root: Option<&ListedEntry>,
        entries: &[ListedEntry],
    ) -> anyhow::Result<LocalArchive> {
        let Some(root) = root.filter(|r| r.kind == 'd') else {
            bail!("local archive {dir} is not a directory");
        };
        if let Some(why) = untrusted(root) {
            bail!("local archive {dir}: the directory {why}");
        }
        let mut debs = Vec::new();
        for entry in entries.iter().filter(|e| e.name.ends_with(".deb")) {
            let path = format!("{dir}/{}", entry.name);
            if !is_archive_deb_name(&entry.name) {
                bail!("local archive {dir}: {path:?} is not a plain .deb file name");
            }
            if entry.kind != 'f' {
                bail!("local archive {dir}: {path} is not a regular file");
            }
            if let Some(why) = untrusted(entry) {
                bail!("local archive {dir}: {path} {why}");
            }
            debs.push(path);
        }
        if debs.is_empty() {
            bail!("local archive {dir} holds no .deb file");
        }
        if debs.len() > MAX_ARCHIVE_DEBS {
            bail!(
                "local archive {dir} holds {} .deb files (at most {MAX_ARCHIVE_DEBS})",
                debs.len()
            );
        }
        debs.sort();
        Ok(LocalArchive {
            dir: dir.to_owned(),
            debs,
        })
    }

    /// `--with-source FILE` for every `.deb`: apt-get's and apt-cache's arguments that offer
    /// the archive for one run.
    pub fn apt_args(&self) -> Vec<String> {
        self.debs
            .iter()
            .flat_map(|deb| ["--with-source".to_owned(), deb.clone()])
            .collect()
    }

    /// Whether an `apt-cache policy` source (`/srv/pw-archive/pw-demo_1.0-1_all.deb`) is one
    /// of this archive's files.
    pub fn offers(&self, source: &str) -> bool {
        self.debs.iter().any(|deb| deb == source)
    }

    /// `/srv/pw-archive (2 .deb files)`, for messages.
    pub fn describe(&self) -> String {
        let n = self.debs.len();
        format!(
            "{} ({n} .deb file{})",
            self.dir,
            if n == 1 { "" } else { "s" }
        )
    }
}

/// Why an entry cannot be trusted by path: not owned by root, or writable by others than its
/// owner (`None`: it can).
fn untrusted(entry: &ListedEntry) -> Option<String> {
    let writable_by_others = u32::from_str_radix(&entry.mode, 8).map_or(true, |m| m & 0o022 != 0);
    if entry.owner != "root" {
        Some(format!("is owned by {}, not root", entry.owner))
    } else if writable_by_others {
        Some(format!(
            "is writable by others than root (mode {})",
            entry.mode
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(depth: u8, kind: char, mode: &str, owner: &str, name: &str) -> ListedEntry {
        ListedEntry {
            depth,
            kind,
            mode: mode.into(),
            owner: owner.into(),
            name: name.into(),
        }
    }

    #[test]
    fn a_root_owned_directory_of_debs_is_offered_file_by_file() {
        let root = entry(0, 'd', "755", "root", "pw-archive");
        let entries = [
            entry(1, 'f', "644", "root", "pw-demo_1.0-1_all.deb"),
            entry(1, 'f', "644", "root", "README"),
            entry(1, 'f', "600", "root", "libx_2_amd64.deb"),
        ];
        let archive = LocalArchive::checked("/srv/pw-archive", Some(&root), &entries).unwrap();
        assert_eq!(
            archive.apt_args(),
            [
                "--with-source",
                "/srv/pw-archive/libx_2_amd64.deb",
                "--with-source",
                "/srv/pw-archive/pw-demo_1.0-1_all.deb"
            ]
        );
        assert!(archive.offers("/srv/pw-archive/pw-demo_1.0-1_all.deb"));
        assert!(!archive.offers("file:/repo security/main amd64 Packages"));
        assert_eq!(archive.describe(), "/srv/pw-archive (2 .deb files)");
    }

    #[test]
    fn an_archive_others_could_write_is_refused_by_name() {
        let dir = "/srv/a";
        let good_root = entry(0, 'd', "755", "root", "a");
        let deb = |kind, mode, owner, name| [entry(1, kind, mode, owner, name)];
        let cases: [(ListedEntry, [ListedEntry; 1], &str); 7] = [
            (
                entry(0, 'd', "775", "root", "a"),
                deb('f', "644", "root", "x.deb"),
                "the directory is writable by others than root (mode 775)",
            ),
            (
                entry(0, 'd', "755", "alice", "a"),
                deb('f', "644", "root", "x.deb"),
                "the directory is owned by alice, not root",
            ),
            (
                entry(0, 'f', "644", "root", "a"),
                deb('f', "644", "root", "x.deb"),
                "/srv/a is not a directory",
            ),
            (
                good_root.clone(),
                deb('l', "777", "root", "x.deb"),
                "/srv/a/x.deb is not a regular file",
            ),
            (
                good_root.clone(),
                deb('f', "666", "root", "x.deb"),
                "/srv/a/x.deb is writable by others than root (mode 666)",
            ),
            (
                good_root.clone(),
                deb('f', "644", "root", "a b.deb"),
                "\"/srv/a/a b.deb\" is not a plain .deb file name",
            ),
            (
                good_root.clone(),
                deb('f', "644", "root", "notes.txt"),
                "/srv/a holds no .deb file",
            ),
        ];
        for (root, entries, expected) in cases {
            let error = LocalArchive::checked(dir, Some(&root), &entries).unwrap_err();
            assert!(
                error.to_string().contains(expected),
                "{error} vs {expected}"
            );
        }
        let error = LocalArchive::checked(dir, None, &[]).unwrap_err();
        assert!(error.to_string().contains("is not a directory"), "{error}");
    }
}
