//! The local apt repository of FAKE packages ([`packages`]): package trees written from Rust,
//! `dpkg-deb --build` on each, `apt-ftparchive packages`/`release` per suite (argv only), cached
//! as `repo-<hash of the definitions>/` in the test bed directory.
//!
//! Three suites shaped like Debian's, so apt prints the origin of a candidate
//! (`PatchwardenTest-Security:12/security`, like `Debian-Security:12/stable-security`):
//!
//! | suite | Origin | Label | Codename |
//! |---|---|---|---|
//! | `stable` | PatchwardenTest | PatchwardenTest | pwtest |
//! | `security` | PatchwardenTest | PatchwardenTest-Security | pwtest-security |
//! | `updates` | PatchwardenTest | PatchwardenTest | pwtest-updates |
//! | `broken` | PatchwardenTest | PatchwardenTest | pwtest-broken |
//!
//! `broken` is not in [`Suite::ALL`]: a test asks for it by name.
//!
//! The repository is unsigned: hosts trust it with `Trusted: yes` in their deb822 source
//! (signing would need a gpg key and agent for no test benefit yet).

pub mod packages;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use pw_host::runner::run_command;
use sha2::{Digest, Sha256};

use crate::lock::DirLock;
use crate::rootfs::require_program;
use packages::{FakePackage, advisory_json, fake_packages};

/// Bump when the repository layout changes in a way the package definitions do not show.
const REPO_FORMAT: &str = "pw-testbed repo v1";
/// Architectures with a `binary-<arch>/Packages` index (apt wants one for its native
/// architecture even for `Architecture: all` packages).
const ARCHITECTURES: [&str; 2] = ["amd64", "arm64"];
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// A suite of the test repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    Stable,
    Security,
    Updates,
    /// Versions that break a service in ways only a health check sees (pw-demo 1.0-5, whose
    /// service never comes up); not in [`Suite::ALL`]: only a test that asks gets them.
    Broken,
}

impl Suite {
    /// The three suites shaped like Debian's that hosts usually get.
    pub const ALL: [Suite; 3] = [Suite::Stable, Suite::Security, Suite::Updates];
    /// Every suite the repository has.
    pub const EVERY: [Suite; 4] = [
        Suite::Stable,
        Suite::Security,
        Suite::Updates,
        Suite::Broken,
    ];

    /// The Release `Suite` (the archive name apt prints).
    pub fn name(self) -> &'static str {
        match self {
            Suite::Stable => "stable",
            Suite::Security => "security",
            Suite::Updates => "updates",
            Suite::Broken => "broken",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Suite::Security => "PatchwardenTest-Security",
            Suite::Stable | Suite::Updates | Suite::Broken => "PatchwardenTest",
        }
    }

    pub fn codename(self) -> &'static str {
        match self {
            Suite::Stable => "pwtest",
            Suite::Security => "pwtest-security",
            Suite::Updates => "pwtest-updates",
            Suite::Broken => "pwtest-broken",
        }
    }
}

/// A built repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRepo {
    /// The repository root (contains `dists/` and `pool/`).
    pub root: PathBuf,
    /// Whether this call built it.
    pub built: bool,
}

/// Where hosts see the repository (bind-mounted read-only).
pub const MOUNT_POINT: &str = "/repo";
/// Where hosts keep the repository's source entry.
pub const SOURCES_PATH: &str = "/etc/apt/sources.list.d/pwtest.sources";

impl TestRepo {
    /// A deb822 source for these suites of the repository mounted at [`MOUNT_POINT`].
    pub fn sources(suites: &[Suite]) -> String {
        let names: Vec<&str> = suites.iter().map(|s| s.name()).collect();
        format!(
            "# patchwarden test repository (FAKE packages), mounted read-only\nTypes: deb\nURIs: file:{MOUNT_POINT}\nSuites: {}\nComponents: main\nTrusted: yes\n",
            names.join(" ")
        )
    }
}

/// The repository for the current package definitions, built when missing.
pub fn ensure_repo(dir: &Path) -> anyhow::Result<TestRepo> {
    let packages = fake_packages();
    let key = definitions_key(&packages);
    let root = dir.join(format!("repo-{}", &key[..16]));
    if root.join("dists/stable/Release").is_file() {
        return Ok(TestRepo { root, built: false });
    }
    require_program("dpkg-deb", "apt-get install -y dpkg-dev")?;
    require_program("apt-ftparchive", "apt-get install -y apt-utils")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let _lock = DirLock::acquire(&dir.join("repo.lock"), Duration::from_secs(300))?;
    if root.join("dists/stable/Release").is_file() {
        return Ok(TestRepo { root, built: false });
    }
    let partial = dir.join(format!("repo-{}.partial", &key[..16]));
    let _ = std::fs::remove_dir_all(&partial);
    let started = std::time::Instant::now();
    build(&partial, &packages).with_context(|| format!("building {}", partial.display()))?;
    std::fs::rename(&partial, &root).with_context(|| format!("renaming to {}", root.display()))?;
    eprintln!(
        "[pw-testbed] built {} ({} packages) in {:.2} s",
        root.display(),
        packages.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(TestRepo { root, built: true })
}

/// Hash of everything that goes into the repository.
fn definitions_key(packages: &[FakePackage]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(REPO_FORMAT.as_bytes());
    hasher.update(format!("{packages:?}").as_bytes());
    for suite in Suite::EVERY {
        hasher
            .update(format!("{} {} {}", suite.name(), suite.label(), suite.codename()).as_bytes());
    }
    hasher.update(advisory_json().as_bytes());
    hex::encode(hasher.finalize())
}

fn build(root: &Path, packages: &[FakePackage]) -> anyhow::Result<()> {
    let trees = root.join("build");
    for package in packages {
        let tree = trees.join(format!("{}_{}", package.name, package.version));
        write_tree(&tree, package)?;
        let pool = root.join("pool").join(package.suite.name()).join("main");
        create_dir(&pool)?;
        let deb = pool.join(package.deb_name());
        let mut command = Command::new("dpkg-deb");
        command
            .args(["--root-owner-group", "-Zgzip", "--build"])
            .arg(&tree)
            .arg(&deb)
            .env("SOURCE_DATE_EPOCH", "1735689600");
        checked(command, "dpkg-deb --build")?;
    }
    std::fs::remove_dir_all(&trees).with_context(|| format!("removing {}", trees.display()))?;
    for suite in Suite::EVERY {
        index_suite(root, suite)?;
    }
    let advisories = root.join("advisories/osv");
    create_dir(&advisories)?;
    write_file(
        &advisories.join("PWTEST-2025-0001.json"),
        &advisory_json(),
        0o644,
    )?;
    open_directories(root)
}

/// Makes every directory world-readable whatever the umask (apt reads a `file:` source as `_apt`).
fn open_directories(dir: &Path) -> anyhow::Result<()> {
    create_dir(dir)?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        if entry.file_type()?.is_dir() {
            open_directories(&entry.path())?;
        }
    }
    Ok(())
}

fn write_tree(tree: &Path, package: &FakePackage) -> anyhow::Result<()> {
    let debian = tree.join("DEBIAN");
    create_dir(&debian)?;
    write_file(&debian.join("control"), &package.control(), 0o644)?;
    let conffiles = package.conffiles();
    if !conffiles.is_empty() {
        write_file(&debian.join("conffiles"), &conffiles, 0o644)?;
    }
    for (name, content) in &package.scripts {
        write_file(&debian.join(name), content, 0o755)?;
    }
    for file in &package.files {
        let path = tree.join(file.path.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        write_file(&path, &file.content, file.mode)?;
    }
    Ok(())
}

/// `dists/SUITE/main/binary-ARCH/Packages` for each architecture, then `dists/SUITE/Release`.
fn index_suite(root: &Path, suite: Suite) -> anyhow::Result<()> {
    let pool = format!("pool/{}", suite.name());
    let mut command = Command::new("apt-ftparchive");
    command.current_dir(root).args(["packages", &pool]);
    let packages = checked(command, "apt-ftparchive packages")?;
    let dists = root.join("dists").join(suite.name());
    for arch in ARCHITECTURES {
        let dir = dists.join("main").join(format!("binary-{arch}"));
        create_dir(&dir)?;
        write_file(&dir.join("Packages"), &packages, 0o644)?;
    }
    let option = |key: &str, value: &str| format!("APT::FTPArchive::Release::{key}={value}");
    let mut command = Command::new("apt-ftparchive");
    command.current_dir(&dists);
    for (key, value) in [
        ("Origin", "PatchwardenTest"),
        ("Label", suite.label()),
        ("Suite", suite.name()),
        ("Codename", suite.codename()),
        ("Version", "12"),
        ("Architectures", &ARCHITECTURES.join(" ")),
        ("Components", "main"),
        (
            "Description",
            &format!("patchwarden test fixtures ({})", suite.name()),
        ),
    ] {
        command.arg("-o").arg(option(key, value));
    }
    command.args(["release", "."]);
    let release = checked(command, "apt-ftparchive release")?;
    write_file(&dists.join("Release"), &release, 0o644)
}

/// Runs a tool, returning its stdout; fails with its output otherwise.
fn checked(command: Command, shown: &str) -> anyhow::Result<String> {
    let output = run_command(command, None, TOOL_TIMEOUT, shown)?;
    if !output.success() {
        bail!(
            "{shown} failed (exit {:?}):\n{}",
            output.code,
            output.tail(20)
        );
    }
    Ok(output.stdout_text())
}

/// Creates a directory (and parents) readable by apt's `_apt` sandbox user.
fn create_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", path.display()))
}

/// Writes `content`, gzipped (fixed header, reproducible) when the path ends in `.gz` — the
/// changelogs of the packages.
fn write_file(path: &Path, content: &str, mode: u32) -> anyhow::Result<()> {
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(content.as_bytes())?;
        encoder.finish()?
    } else {
        content.as_bytes().to_vec()
    };
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_entry() {
        assert_eq!(
            TestRepo::sources(&[Suite::Stable, Suite::Security]),
            "# patchwarden test repository (FAKE packages), mounted read-only\nTypes: deb\nURIs: file:/repo\nSuites: stable security\nComponents: main\nTrusted: yes\n"
        );
    }

    #[test]
    fn key_follows_the_definitions() {
        let mut packages = fake_packages();
        let key = definitions_key(&packages);
        assert_eq!(key, definitions_key(&fake_packages()));
        packages[0].files[0].content.push('\n');
        assert_ne!(key, definitions_key(&packages));
    }
}
