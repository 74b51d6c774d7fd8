//! A synthetic fleet from real package lists: every host has the 747 packages of a real Debian 12
//! machine plus a random selection of real `main` packages, with versions perturbed down (to real
//! historical versions from the packages' changelogs, or with a `~` suffix) and up, written as
//! dpkg status files with the packages' real fields.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use anyhow::Context;

/// The real inputs the generator draws from.
pub struct Corpus {
    /// Stanzas of the real status file (without their `Version:` line), with name and version.
    base: Vec<Stanza>,
    /// Stanzas of Debian 12 `main` that are not in the base, as candidates for extra packages.
    extra: Vec<Stanza>,
    /// Historical versions per source package, from the changelogs.
    history: HashMap<String, Vec<String>>,
}

struct Stanza {
    /// The stanza's text without its `Version:`, `Status:` and `Source:` lines.
    fields: String,
    version: String,
    source: String,
    /// The `Source:` line's version when it differs from `version` (binNMUs).
    source_version: Option<String>,
}

/// Knobs of the generator.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Packages per host (base packages first, then extras).
    pub packages: usize,
    /// Probability that a package is moved to an older version: one of the `max_lag` previous
    /// versions in its changelog, or the current one with a `~` suffix.
    pub downgrade: f64,
    pub max_lag: usize,
    /// Probability that a package is moved to a newer version.
    pub upgrade: f64,
    pub seed: u64,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            packages: 1500,
            downgrade: 0.2,
            max_lag: 3,
            upgrade: 0.05,
            seed: 20261123,
        }
    }
}

impl Corpus {
    /// Reads the shared data files from `data_dir` (the `shared/data` folder).
    pub fn load(data_dir: &Path) -> anyhow::Result<Corpus> {
        let status = gunzip(&data_dir.join("dpkg-status-debian12.txt.gz"))?;
        let packages = gunzip(&data_dir.join("debian12-bookworm-main-amd64-Packages.gz"))?;
        let changelog = gunzip(&data_dir.join("debian12-changelog-versions.tsv.gz"))?;
        let base: Vec<Stanza> = stanzas(&status).collect();
        let installed: std::collections::HashSet<&str> = base
            .iter()
            .filter_map(|s| field(&s.fields, "Package"))
            .collect();
        let extra: Vec<Stanza> = stanzas(&packages)
            .filter(|s| field(&s.fields, "Package").is_some_and(|p| !installed.contains(p)))
            .map(|mut s| {
                s.fields = s
                    .fields
                    .lines()
                    .filter(|l| {
                        ![
                            "Filename:",
                            "Size:",
                            "MD5sum:",
                            "SHA256:",
                            "Description-md5:",
                        ]
                        .iter()
                        .any(|f| l.starts_with(f))
                    })
                    .flat_map(|l| [l, "\n"])
                    .collect();
                s
            })
            .collect();
        let mut history: HashMap<String, Vec<String>> = HashMap::new();
        for line in changelog.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            if let [_, source, version, ..] = cols[..] {
                history
                    .entry(source.to_owned())
                    .or_default()
                    .push(version.to_owned());
            }
        }
        for versions in history.values_mut() {
            versions.sort_by(|a, b| pw_version::compare_dpkg(b, a));
            versions.dedup_by(|a, b| pw_version::compare_dpkg(a, b).is_eq());
        }
        Ok(Corpus {
            base,
            extra,
            history,
        })
    }

    /// The status file of host number `host`; deterministic for a given shape.
    pub fn host_status(&self, shape: &Shape, host: u64) -> String {
        let mut rng =
            fastrand::Rng::with_seed(shape.seed ^ host.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut out = String::with_capacity(shape.packages * 700);
        let extras = shape.packages.saturating_sub(self.base.len());
        let picks: Vec<&Stanza> = (0..extras)
            .map(|_| &self.extra[rng.usize(..self.extra.len())])
            .collect();
        for stanza in self.base.iter().take(shape.packages).chain(picks) {
            let version = self.perturb(stanza, shape, &mut rng);
            out.push_str("Status: install ok installed\n");
            out.push_str(&stanza.fields);
            out.push_str("Source: ");
            out.push_str(&stanza.source);
            if let Some(source_version) = stanza
                .source_version
                .as_ref()
                .filter(|_| version == stanza.version)
            {
                out.push_str(" (");
                out.push_str(source_version);
                out.push(')');
            }
            out.push('\n');
            out.push_str("Version: ");
            out.push_str(&version);
            out.push_str("\n\n");
        }
        out
    }

    fn perturb(&self, stanza: &Stanza, shape: &Shape, rng: &mut fastrand::Rng) -> String {
        let roll = rng.f64();
        if roll < shape.downgrade {
            // One to `max_lag` releases behind, as hosts that missed a few updates are.
            let history = self
                .history
                .get(&stanza.source)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let older: Vec<&String> = history
                .iter()
                .filter(|v| pw_version::compare_dpkg(v, &stanza.version).is_lt())
                .take(shape.max_lag)
                .collect();
            if !older.is_empty() {
                return older[rng.usize(..older.len())].clone();
            }
            return format!("{}~old{}", stanza.version, rng.u8(1..9));
        }
        if roll < shape.downgrade + shape.upgrade {
            return format!("{}+pw{}", stanza.version, rng.u8(1..9));
        }
        stanza.version.clone()
    }
}

fn gunzip(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .with_context(|| format!("decompressing {}", path.display()))?;
    Ok(text)
}

fn stanzas(text: &str) -> impl Iterator<Item = Stanza> + '_ {
    text.split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .filter_map(|raw| {
            let version = field(raw, "Version")?.to_owned();
            let package = field(raw, "Package")?;
            let source_field = field(raw, "Source").unwrap_or(package);
            let (source, source_version) = match source_field.split_once(" (") {
                Some((name, rest)) => (name, Some(rest.trim_end_matches(')').to_owned())),
                None => (source_field, None),
            };
            let mut fields = String::with_capacity(raw.len());
            for line in raw.lines() {
                if !["Version:", "Status:", "Source:"]
                    .iter()
                    .any(|f| line.starts_with(f))
                {
                    fields.push_str(line);
                    fields.push('\n');
                }
            }
            Some(Stanza {
                fields,
                version,
                source: source.to_owned(),
                source_version,
            })
        })
}

fn field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}
