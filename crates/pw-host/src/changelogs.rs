//! Changelog evidence on Debian/Ubuntu hosts (issue 11), parsed by
//! `pw_inventory::changelog`:
//!
//! - [`installed_history`]: per installed package, the CVE ids its installed changelog
//!   (`/usr/share/doc/<pkg>/changelog.Debian.gz`, doc-directory symlinks followed) names in the
//!   installed version's history — a finding on those CVEs was fixed by a backport.
//! - [`candidate_news`]: per pending upgrade, the CVE ids the candidate's new changelog entries
//!   name, read from the `.deb` apt would install: `apt-get download PKG=VERSION` (the host's own
//!   sources, argv only) into a temporary directory, `dpkg-deb -x` there, the changelog read, the
//!   directory removed — never installed. The answer is cached per source and version in a
//!   bounded cache directory (one small file each, oldest removed beyond [`CACHE_ENTRIES`]).
//!
//! Reads are bounded: [`MAX_COMPRESSED`] bytes of a changelog file, [`MAX_CHANGELOG`] bytes
//! decompressed, downloads stop after a time budget.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pw_inventory::changelog::{Changelog, parse_debian_changelog};
use pw_model::{InstalledPackage, PackageName};

/// Where dpkg installs documentation.
pub const DOC_ROOT: &str = "/usr/share/doc";
/// At most this many compressed bytes are read from one changelog file.
pub const MAX_COMPRESSED: u64 = 4 << 20;
/// At most this many decompressed bytes are parsed from one changelog.
pub const MAX_CHANGELOG: u64 = 16 << 20;
/// Entries kept in the candidate cache directory.
pub const CACHE_ENTRIES: usize = 4096;
/// Time limit of one `apt-get download` or `dpkg-deb -x`.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// The installed history of every package whose changelog could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstalledHistory {
    /// Binary package name → CVE ids named in its installed version's history.
    pub cves: HashMap<String, BTreeSet<String>>,
    /// Packages with a changelog read whose entries name no version they have (reported, not
    /// fatal: a stale or foreign changelog proves nothing).
    pub mismatched: Vec<String>,
    /// Packages without a readable changelog (no doc directory, docs filtered out).
    pub unreadable: usize,
}

/// Reads the installed changelogs of `packages` under `doc_root` (normally [`DOC_ROOT`]). Files
/// shared through doc-directory symlinks are parsed once.
pub fn installed_history(doc_root: &Path, packages: &[InstalledPackage]) -> InstalledHistory {
    let mut parsed: HashMap<PathBuf, Option<Changelog>> = HashMap::new();
    let mut history = InstalledHistory::default();
    for package in packages {
        let Some(log) = doc_changelog(doc_root, &package.name, &mut parsed) else {
            history.unreadable += 1;
            continue;
        };
        let found = log
            .history_of(package.source_version())
            .or_else(|| log.history_of(&package.version));
        match found {
            Some(cves) => {
                history
                    .cves
                    .insert(package.name.clone(), cves.into_iter().collect());
            }
            None => history.mismatched.push(package.name.clone()),
        }
    }
    history
}

/// The parsed changelog of `name`'s doc directory, from `cache` by canonical path.
fn doc_changelog<'c>(
    doc_root: &Path,
    name: &str,
    cache: &'c mut HashMap<PathBuf, Option<Changelog>>,
) -> Option<&'c Changelog> {
    let path = doc_root.join(name).join("changelog.Debian.gz");
    let real = std::fs::canonicalize(&path).ok()?;
    cache
        .entry(real)
        .or_insert_with_key(|real| read_changelog(real).ok())
        .as_ref()
}

/// Reads and parses one gzip changelog, bounded.
pub fn read_changelog(path: &Path) -> anyhow::Result<Changelog> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(file.take(MAX_COMPRESSED))
        .take(MAX_CHANGELOG)
        .read_to_end(&mut text)
        .with_context(|| format!("decompressing {}", path.display()))?;
    Ok(parse_debian_changelog(&text))
}

/// One upgrade whose candidate changelog is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateQuery {
    pub binary: PackageName,
    /// The source package (cache key: binaries of one source share a changelog).
    pub source: String,
    pub installed: String,
    pub candidate: String,
}

impl CandidateQuery {
    /// The queries for apt's pending upgrades (the source name from the installed package).
    pub fn for_pending(
        pending: &[pw_inventory::apt::PendingUpdate],
        packages: &[InstalledPackage],
    ) -> Vec<CandidateQuery> {
        pending
            .iter()
            .map(|u| CandidateQuery {
                binary: u.package.clone(),
                source: packages
                    .iter()
                    .find(|p| p.name == u.package.as_str())
                    .map_or(u.package.to_string(), |p| p.source_name().to_owned()),
                installed: u.installed.clone(),
                candidate: u.candidate.clone(),
            })
            .collect()
    }
}

/// The CVE ids each candidate's new entries name, keyed by (binary, candidate); a query missing
/// from the answer could not be read (download failed, no changelog in the .deb: remembered as
/// unknown in the cache, not retried) or was not reached because `budget` ran out — then
/// [`CandidateNews::complete`] is false and a later call carries on.
pub fn candidate_news(
    cache_dir: &Path,
    queries: &[CandidateQuery],
    budget: Duration,
) -> anyhow::Result<CandidateNews> {
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    let started = Instant::now();
    let mut news = CandidateNews {
        cves: HashMap::new(),
        complete: true,
    };
    for query in queries {
        let key = cache_dir.join(cache_name(
            &query.source,
            &query.installed,
            &query.candidate,
        ));
        let cached = match std::fs::read_to_string(&key) {
            Ok(text) => text,
            Err(_) if started.elapsed() < budget => {
                let text = match download_news(cache_dir, query) {
                    Ok(cves) => cves.join("\n"),
                    Err(error) => format!("{UNKNOWN}{error:#}"),
                };
                std::fs::write(&key, &text)
                    .with_context(|| format!("writing {}", key.display()))?;
                text
            }
            Err(_) => {
                news.complete = false;
                continue;
            }
        };
        if !cached.starts_with(UNKNOWN) {
            let cves = cached.lines().map(str::to_owned).collect();
            news.cves
                .insert((query.binary.to_string(), query.candidate.clone()), cves);
        }
    }
    trim_cache(cache_dir, CACHE_ENTRIES);
    Ok(news)
}

/// What [`candidate_news`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CandidateNews {
    pub cves: HashMap<(String, String), Vec<String>>,
    /// False when the time budget ran out before every query was tried.
    pub complete: bool,
}

/// First line of a cache file for a candidate whose changelog could not be read (the reason
/// follows).
const UNKNOWN: &str = "# unknown: ";

/// The cache file name for (source, installed, candidate): characters outside `[A-Za-z0-9.+-]`
/// become `_` (`:` of epochs, `~`).
pub fn cache_name(source: &str, installed: &str, candidate: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "+.-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "{}_{}_{}.cves",
        clean(source),
        clean(installed),
        clean(candidate)
    )
}

/// Downloads the candidate .deb into a temporary directory, extracts it there and reads the
/// changelog of its doc directory; everything is removed afterwards.
fn download_news(cache_dir: &Path, query: &CandidateQuery) -> anyhow::Result<Vec<String>> {
    let work = WorkDir::create(cache_dir)?;
    let target = format!("{}={}", query.binary, query.candidate);
    let mut download = Command::new("apt-get");
    download
        .args(["download", "-q", &target])
        .current_dir(work.path())
        .env("LC_ALL", "C");
    let shown = format!("apt-get download {target}");
    let output = crate::runner::run_command(download, None, COMMAND_TIMEOUT, &shown)?;
    if !output.success() {
        bail!("{shown} failed: {}", output.tail(5));
    }
    let deb = std::fs::read_dir(work.path())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("{shown} left no .deb"))?;
    let root = work.path().join("root");
    let mut extract = Command::new("dpkg-deb");
    extract.arg("-x").arg(&deb).arg(&root).env("LC_ALL", "C");
    let output = crate::runner::run_command(extract, None, COMMAND_TIMEOUT, "dpkg-deb -x")?;
    if !output.success() {
        bail!("dpkg-deb -x {} failed: {}", deb.display(), output.tail(5));
    }
    let path = root
        .join("usr/share/doc")
        .join(query.binary.as_str())
        .join("changelog.Debian.gz");
    let log = read_changelog(&path)?;
    Ok(log.news_since(&query.installed))
}

/// A download directory inside the cache, removed with everything in it when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create(cache_dir: &Path) -> anyhow::Result<WorkDir> {
        let path = cache_dir.join(format!("deb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes the oldest cache files beyond `keep` (and leftover download directories).
fn trim_cache(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .filter(|(_, p)| p.extension().is_some_and(|e| e == "cves"))
        .collect();
    if files.len() <= keep {
        return;
    }
    files.sort();
    for (_, path) in &files[..files.len() - keep] {
        let _ = std::fs::remove_file(path);
    }
}
