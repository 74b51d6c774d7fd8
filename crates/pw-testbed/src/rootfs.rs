//! The Debian 12 root filesystem of the test hosts, built with `mmdebstrap --variant=apt` from the
//! Debian sources this machine's apt uses, and cached as `rootfs-<key>.tar` (the key hashes the
//! sources, the machine's apt options and the whole mmdebstrap command line).
//!
//! Inside: apt + dpkg, `iproute2 ca-certificates tini busybox procps`; no systemd (PID 1 is
//! tini); `/etc/apt/apt.conf.d/90pw-noninteractive` makes every apt run keep local conffiles;
//! the Debian sources are moved to `/etc/apt/sources.list.d.disabled/` so hosts see only the test
//! repository; man pages, locales and docs are left out.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use pw_host::{Invocation, LocalRunner, Runner};
use sha2::{Digest, Sha256};

use crate::lock::DirLock;

/// The Debian release of the hosts.
pub const SUITE: &str = "bookworm";
/// Packages added to mmdebstrap's `apt` variant (every image variant has them).
pub const INCLUDE: &str = "iproute2,ca-certificates,tini,busybox,procps";
/// Written to `/etc/apt/apt.conf.d/90pw-noninteractive` inside the rootfs.
pub const NONINTERACTIVE_APT_CONF: &str =
    "Dpkg::Options { \"--force-confdef\"; \"--force-confold\"; };\n";
/// A cold build takes 40–90 s; a lock held longer than this is reported.
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// A built rootfs tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    pub tar: PathBuf,
    /// Hash of the build inputs (names the file).
    pub key: String,
    /// SHA-256 of the tarball (names the Docker image).
    pub sha256: String,
    /// Whether this call built it (false: it was cached).
    pub built: bool,
}

/// Returns the cached rootfs for the current inputs, building it first when needed. `extra`
/// packages are added to [`INCLUDE`]; they are part of the command line, hence of the key.
pub fn ensure_rootfs(dir: &Path, extra: &[&str]) -> anyhow::Result<Rootfs> {
    require_program("mmdebstrap", "apt-get install -y mmdebstrap")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if dir.to_string_lossy().contains(char::is_whitespace) {
        bail!(
            "the test bed directory {} contains whitespace, which mmdebstrap hooks cannot take",
            dir.display()
        );
    }
    let inputs = BuildInputs::discover(dir, extra)?;
    let tar = dir.join(format!("rootfs-{}.tar", &inputs.key[..16]));
    let sha_file = tar.with_extension("tar.sha256");
    if let Some(rootfs) = cached(&tar, &sha_file, &inputs.key)? {
        return Ok(rootfs);
    }
    let _lock = DirLock::acquire(&dir.join("rootfs.lock"), BUILD_TIMEOUT)?;
    if let Some(rootfs) = cached(&tar, &sha_file, &inputs.key)? {
        return Ok(rootfs);
    }
    let partial = tar.with_extension("tar.partial");
    let mut args = inputs.args.clone();
    args.push(SUITE.to_owned());
    args.push(partial.display().to_string());
    args.push(inputs.sources_file.display().to_string());
    eprintln!(
        "[pw-testbed] building {} with mmdebstrap from:\n{}",
        tar.display(),
        inputs.sources
    );
    let output = LocalRunner.run(&Invocation::new("mmdebstrap", args).timeout(BUILD_TIMEOUT))?;
    if !output.success() {
        let _ = std::fs::remove_file(&partial);
        bail!(
            "mmdebstrap failed (exit {:?}) building {}:\n{}",
            output.code,
            tar.display(),
            output.tail(30)
        );
    }
    std::fs::rename(&partial, &tar).with_context(|| format!("renaming to {}", tar.display()))?;
    let sha256 = sha256_file(&tar)?;
    std::fs::write(&sha_file, &sha256)
        .with_context(|| format!("writing {}", sha_file.display()))?;
    eprintln!(
        "[pw-testbed] built {} in {:.1} s",
        tar.display(),
        output.elapsed.as_secs_f64()
    );
    Ok(Rootfs {
        tar,
        key: inputs.key,
        sha256,
        built: true,
    })
}

/// Fails with an installation hint when `program` is not on `PATH`.
pub fn require_program(program: &str, install: &str) -> anyhow::Result<()> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if !found {
        bail!(
            "{program} is not installed; the end-to-end test bed needs it (run scripts/install-test-deps.sh, or: {install})"
        );
    }
    Ok(())
}

fn cached(tar: &Path, sha_file: &Path, key: &str) -> anyhow::Result<Option<Rootfs>> {
    if !tar.is_file() {
        return Ok(None);
    }
    let sha256 = match std::fs::read_to_string(sha_file) {
        Ok(sha) if sha.len() == 64 => sha,
        _ => {
            let sha = sha256_file(tar)?;
            std::fs::write(sha_file, &sha)
                .with_context(|| format!("writing {}", sha_file.display()))?;
            sha
        }
    };
    Ok(Some(Rootfs {
        tar: tar.to_owned(),
        key: key.to_owned(),
        sha256,
        built: false,
    }))
}

/// What a build depends on, and the mmdebstrap options derived from it.
struct BuildInputs {
    sources: String,
    sources_file: PathBuf,
    args: Vec<String>,
    key: String,
}

impl BuildInputs {
    fn discover(dir: &Path, extra: &[&str]) -> anyhow::Result<BuildInputs> {
        let sources = debian_sources()?;
        let apt_options = machine_apt_options()?;
        let files = dir.join("rootfs-inputs");
        std::fs::create_dir_all(&files).with_context(|| format!("creating {}", files.display()))?;
        let mut hasher = Sha256::new();
        hasher.update(sources.as_bytes());
        hasher.update(apt_options.as_bytes());
        hasher.update(NONINTERACTIVE_APT_CONF.as_bytes());
        let key_so_far = hex::encode(hasher.clone().finalize());
        // Files mmdebstrap reads, named by content so concurrent runs never see half-written ones.
        let sources_file = write_input(&files, "debian", &key_so_far, "sources", &sources)?;
        let options_file = write_input(&files, "aptopts", &key_so_far, "conf", &apt_options)?;
        let apt_conf = write_input(&files, "90pw", &key_so_far, "conf", NONINTERACTIVE_APT_CONF)?;
        let hostname = write_input(&files, "hostname", &key_so_far, "txt", "pw-host\n")?;
        let mut args: Vec<String> = [
            "--variant=apt",
            "--format=tar",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-include=/usr/share/locale/locale.alias",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            "--aptopt=Acquire::Languages \"none\"",
            // An rm in a hook, not an --aptopt: as an apt option, Dpkg::Options would break
            // mmdebstrap's own dpkg calls. No variable data reaches these hook commands.
            "--customize-hook=rm -f \"$1/etc/resolv.conf\"",
            "--customize-hook=mkdir -p \"$1/etc/apt/sources.list.d.disabled\" && for f in \"$1\"/etc/apt/sources.list.d/*.sources; do [ -e \"$f\" ] && mv \"$f\" \"$1/etc/apt/sources.list.d.disabled/\"; done; : > \"$1/etc/apt/sources.list\"",
        ]
        .map(str::to_owned)
        .to_vec();
        let include = std::iter::once(INCLUDE).chain(extra.iter().copied());
        args.push(format!(
            "--include={}",
            include.collect::<Vec<_>>().join(",")
        ));
        args.push(format!(
            "--customize-hook=upload {} /etc/apt/apt.conf.d/90pw-noninteractive",
            apt_conf.display()
        ));
        args.push(format!(
            "--customize-hook=upload {} /etc/hostname",
            hostname.display()
        ));
        if !apt_options.is_empty() {
            args.push(format!("--aptopt={}", options_file.display()));
        }
        let mut hasher = Sha256::new();
        hasher.update(key_so_far.as_bytes());
        for arg in &args {
            // Paths inside the arguments depend on the directory, not on the content: hash
            // them without it so that moving the cache keeps the key.
            hasher.update(arg.replace(&dir.display().to_string(), "$DIR").as_bytes());
            hasher.update(b"\0");
        }
        hasher.update(SUITE.as_bytes());
        Ok(BuildInputs {
            sources,
            sources_file,
            args,
            key: hex::encode(hasher.finalize()),
        })
    }
}

fn write_input(
    dir: &Path,
    stem: &str,
    key: &str,
    extension: &str,
    content: &str,
) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{stem}-{}.{extension}", &key[..16]));
    if std::fs::read_to_string(&path).ok().as_deref() != Some(content) {
        let partial = dir.join(format!("{stem}-{}.{}.tmp", &key[..16], std::process::id()));
        std::fs::write(&partial, content)
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(path)
}

/// The machine's Debian sources for [`SUITE`] as deb822 text: `apt-get indextargets` (which sees
/// `sources.list`, `*.list` and `*.sources` alike), keeping `Origin: Debian` targets of
/// `bookworm`, `bookworm-updates` and `bookworm-security`. Runs `apt-get update` once if apt has no
/// lists yet.
fn debian_sources() -> anyhow::Result<String> {
    let targets = || -> anyhow::Result<Vec<IndexTarget>> {
        let output = LocalRunner.run_ok(&Invocation::new(
            "apt-get",
            [
                "indextargets",
                "--format",
                "$(REPO_URI)\t$(RELEASE)\t$(ORIGIN)\t$(COMPONENT)",
                "Identifier: Packages",
            ],
        ))?;
        Ok(parse_index_targets(&output.stdout_text()))
    };
    let mut found = targets()?;
    if found.is_empty() {
        eprintln!("[pw-testbed] apt knows no Debian index yet; running apt-get update once");
        LocalRunner.run_ok(&Invocation::new("apt-get", ["update", "-q"]))?;
        found = targets()?;
    }
    let text = sources_for_suite(&found, SUITE);
    if text.is_empty() {
        bail!(
            "this machine's apt has no Debian source for {SUITE} (apt-get indextargets found: {found:?}); \
             the test bed takes its Debian packages from there"
        );
    }
    Ok(text)
}

/// `(uri, suite, origin, component)` of one `apt-get indextargets` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexTarget {
    uri: String,
    suite: String,
    origin: String,
    component: String,
}

fn parse_index_targets(text: &str) -> Vec<IndexTarget> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            Some(IndexTarget {
                uri: fields.next()?.to_owned(),
                suite: fields.next()?.to_owned(),
                origin: fields.next()?.to_owned(),
                component: fields.next()?.to_owned(),
            })
        })
        .collect()
}

/// One deb822 stanza per (URI, suite) of Debian's own targets for `suite` and its `-updates`,
/// `-security` companions, components merged, sorted for a stable cache key.
fn sources_for_suite(targets: &[IndexTarget], suite: &str) -> String {
    let mut stanzas: Vec<(String, String, Vec<String>)> = Vec::new();
    let prefix = format!("{suite}-");
    for target in targets {
        let wanted = target.suite == suite || target.suite.starts_with(&prefix);
        if target.origin != "Debian" || !wanted {
            continue;
        }
        match stanzas
            .iter_mut()
            .find(|(uri, s, _)| uri == &target.uri && s == &target.suite)
        {
            Some((_, _, components)) if !components.contains(&target.component) => {
                components.push(target.component.clone());
            }
            Some(_) => {}
            None => stanzas.push((
                target.uri.clone(),
                target.suite.clone(),
                vec![target.component.clone()],
            )),
        }
    }
    stanzas.sort();
    stanzas
        .iter()
        .map(|(uri, suite, components)| {
            format!(
                "Types: deb\nURIs: {uri}\nSuites: {suite}\nComponents: {}\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
                components.join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The machine's apt options that matter for reaching its mirror (proxies, date checks for
/// snapshot mirrors, retries), as `apt-config dump` lines; credentials are never copied.
fn machine_apt_options() -> anyhow::Result<String> {
    let output = LocalRunner.run_ok(&Invocation::new("apt-config", ["dump"]))?;
    Ok(filter_apt_options(&output.stdout_text()))
}

fn filter_apt_options(dump: &str) -> String {
    dump.lines()
        .filter(|line| {
            let key = line.split_whitespace().next().unwrap_or("");
            let proxy = [
                "Acquire::http::Proxy",
                "Acquire::https::Proxy",
                "Acquire::ftp::Proxy",
            ]
            .iter()
            .any(|p| key.starts_with(p));
            let dates = [
                "Acquire::Check-Valid-Until",
                "Acquire::Check-Date",
                "Acquire::http::Check-Valid-Until",
                "Acquire::https::Check-Valid-Until",
                "Acquire::Retries",
            ]
            .contains(&key);
            proxy || dates
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file
            .read(&mut buffer)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_keep_debian_targets_of_the_suite() {
        let text = "http://deb.debian.org/debian/\tbookworm\tDebian\tmain\n\
http://deb.debian.org/debian/\tbookworm\tDebian\tcontrib\n\
http://deb.debian.org/debian/\tbookworm-updates\tDebian\tmain\n\
http://deb.debian.org/debian-security/\tbookworm-security\tDebian\tmain\n\
https://packages.cloud.google.com/apt\tcloud-sdk\tcloud-sdk\tmain\n\
http://deb.debian.org/debian/\ttrixie\tDebian\tmain\n\
http://deb.debian.org/debian/\tbookworm-backportsX\tOther\tmain\n";
        let sources = sources_for_suite(&parse_index_targets(text), "bookworm");
        assert_eq!(
            sources,
            "Types: deb\nURIs: http://deb.debian.org/debian-security/\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
Types: deb\nURIs: http://deb.debian.org/debian/\nSuites: bookworm\nComponents: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
Types: deb\nURIs: http://deb.debian.org/debian/\nSuites: bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        );
    }

    #[test]
    fn apt_options_keep_proxies_and_date_checks_only() {
        let dump = "APT \"\";\nAcquire::Check-Valid-Until \"false\";\nAcquire::http::Proxy \"http://p:3128\";\n\
Acquire::https::Proxy::example.org \"DIRECT\";\nAcquire::Retries \"3\";\nDir::Etc::netrc \"auth.conf\";\n";
        assert_eq!(
            filter_apt_options(dump),
            "Acquire::Check-Valid-Until \"false\";\nAcquire::http::Proxy \"http://p:3128\";\n\
Acquire::https::Proxy::example.org \"DIRECT\";\nAcquire::Retries \"3\";\n"
        );
    }
}
