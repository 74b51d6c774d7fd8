//! Installed packages × advisories → matches, one per installed package per vulnerability.
//!
//! - On dpkg ecosystems the advisory names the **source** package: the installed package's
//!   `source_name()` and `source_version()` are compared (a binNMU `1.2-3+b1` binary of source
//!   `1.2-3` is compared as `1.2-3`). On rpm ecosystems the binary name and the full
//!   `[epoch:]version-release` are compared.
//! - A host sees the ecosystem of its release, and the Ubuntu Pro ecosystem of the same release
//!   only when `ubuntu_pro` is set (`OsRelease::matches_ecosystem`).
//! - Advisories affecting the same installed package are merged when they share a CVE or one
//!   names the other's id (transitively): a USN, the UBUNTU-CVE record and a DSA for one CVE
//!   give one match. Its `fixed` is the highest of the merged fixes: the lowest version fixing
//!   all of them; `None` when any of them has no fix.

use pw_model::{InstalledPackage, OsRelease};
use pw_version::Scheme;

use crate::advisory::Advisory;
use crate::index::{AdvisoryId, AdvisoryIndex, EcosystemTable};
use crate::range::{Fix, combine_fixes};
use crate::severity::{AdvisoryKind, DistroSeverity};

/// One installed package affected by one vulnerability (advisories merged).
#[derive(Debug, Clone, PartialEq)]
pub struct Match<'a> {
    /// Index of the installed package in the slice given to the matcher.
    pub package_index: usize,
    /// The installed (binary) package.
    pub installed: &'a InstalledPackage,
    /// The name the advisories were matched on: the source package on dpkg systems.
    pub package: &'a str,
    /// The version of `package` that was compared.
    pub package_version: &'a str,
    /// The merged advisories, sorted by id (at least one), each with its own fix.
    pub advisories: Vec<MatchedAdvisory<'a>>,
    /// Every CVE of the merged advisories, sorted, without duplicates.
    pub cves: Vec<&'a str>,
    /// The lowest version fixing every merged advisory; `None` when one has no fix.
    pub fixed: Option<&'a str>,
}

/// One advisory of a match and the version fixing it for this package.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedAdvisory<'a> {
    pub advisory: &'a Advisory,
    pub fixed: Option<&'a str>,
}

impl<'a> Match<'a> {
    /// The advisory representing the match: the first by id.
    pub fn advisory(&self) -> &'a Advisory {
        self.advisories[0].advisory
    }

    /// Every other id naming the problem: the CVEs, the other merged advisories' ids and the ids
    /// they refer to (USN, UBUNTU-CVE, …); sorted, without the representative's id.
    pub fn aliases(&self) -> Vec<&'a str> {
        let own = self.advisory().id.as_str();
        let mut ids: Vec<&'a str> = self.cves.clone();
        for m in &self.advisories {
            ids.push(&m.advisory.id);
            ids.extend(m.advisory.related_ids.iter().map(String::as_str));
        }
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|id| *id != own);
        ids
    }

    /// The highest CVSS base score among the merged advisories.
    pub fn cvss(&self) -> Option<f64> {
        self.advisories
            .iter()
            .filter_map(|m| m.advisory.cvss_score())
            .reduce(f64::max)
    }

    /// The most severe distro severity word among the merged advisories.
    pub fn severity(&self) -> Option<&'a DistroSeverity> {
        self.advisories
            .iter()
            .filter_map(|m| m.advisory.severity.as_ref())
            .max_by_key(|s| s.level)
    }

    /// Security if any merged advisory is; otherwise bug fix if any is; otherwise enhancement.
    pub fn kind(&self) -> AdvisoryKind {
        let kinds = || self.advisories.iter().map(|m| m.advisory.kind);
        if kinds().any(|k| k == AdvisoryKind::Security) {
            AdvisoryKind::Security
        } else if kinds().any(|k| k == AdvisoryKind::Bugfix) {
            AdvisoryKind::Bugfix
        } else {
            AdvisoryKind::Enhancement
        }
    }

    /// The earliest publication (or modification, when unpublished) among the merged advisories.
    pub fn published(&self) -> Option<jiff::Timestamp> {
        self.advisories
            .iter()
            .filter_map(|m| m.advisory.published_or_modified())
            .min()
    }
}

impl AdvisoryIndex {
    /// Matches one host's packages. For many hosts of one release, build a [`Matcher`] once.
    pub fn match_packages<'a>(
        &'a self,
        os: &OsRelease,
        ubuntu_pro: bool,
        installed: &'a [InstalledPackage],
    ) -> Vec<Match<'a>> {
        Matcher::new(self, os, ubuntu_pro).match_packages(installed)
    }
}

/// Matching for hosts of one release: the ecosystems are chosen once, and scratch buffers are
/// reused, so a package without advisories costs one hash lookup per ecosystem and no
/// allocation.
#[derive(Debug)]
pub struct Matcher<'a> {
    index: &'a AdvisoryIndex,
    tables: Vec<&'a EcosystemTable>,
    hits: Vec<(AdvisoryId, Fix<'a>)>,
    keys: Vec<(u32, u32)>,
    parents: Vec<u32>,
}

impl<'a> Matcher<'a> {
    pub fn new(index: &'a AdvisoryIndex, os: &OsRelease, ubuntu_pro: bool) -> Matcher<'a> {
        let scheme = os.scheme();
        let tables = index
            .tables
            .iter()
            .filter(|t| t.scheme == scheme && os.matches_ecosystem(&t.ecosystem, ubuntu_pro))
            .collect();
        Matcher {
            index,
            tables,
            hits: Vec::new(),
            keys: Vec::new(),
            parents: Vec::new(),
        }
    }

    /// The ecosystems this matcher looks in.
    pub fn ecosystems(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.tables.iter().map(|t| &*t.ecosystem)
    }

    /// Matches installed packages; the result is ordered by package index, then advisory id.
    pub fn match_packages<'i>(&mut self, installed: &'i [InstalledPackage]) -> Vec<Match<'i>>
    where
        'a: 'i,
    {
        let mut matches = Vec::new();
        for (package_index, package) in installed.iter().enumerate() {
            self.hits.clear();
            let mut used = None;
            for table in &self.tables {
                let (name, version) = match table.scheme {
                    Scheme::Dpkg => (package.source_name(), package.source_version()),
                    Scheme::Rpm => (package.name.as_str(), package.version.as_str()),
                };
                if let Some(claims) = table.packages.get(name) {
                    claims.collect(table.scheme, version, &mut self.hits);
                    used = Some((name, version, table.scheme));
                }
            }
            let Some((name, version, scheme)) = used else {
                continue;
            };
            if self.hits.is_empty() {
                continue;
            }
            let found = self.merge(scheme, package_index, package, name, version);
            matches.extend(found);
        }
        matches
    }

    /// Turns the hits of one package into matches, one per group of related advisories.
    fn merge<'i>(
        &mut self,
        scheme: Scheme,
        package_index: usize,
        installed: &'i InstalledPackage,
        package: &'i str,
        package_version: &'i str,
    ) -> Vec<Match<'i>>
    where
        'a: 'i,
    {
        // One hit per advisory (several entries of one advisory: OR, fixes combined).
        self.hits.sort_unstable_by_key(|(id, _)| *id);
        let mut merged: Vec<(AdvisoryId, Fix<'a>)> = Vec::with_capacity(self.hits.len());
        for &(id, fix) in &self.hits {
            match merged.last_mut() {
                Some((last, previous)) if *last == id => {
                    *previous = combine_fixes(scheme, *previous, fix)
                }
                _ => merged.push((id, fix)),
            }
        }
        let groups = self.group(&merged);
        let index = self.index;
        groups
            .into_iter()
            .map(|members| {
                let mut fixed: Option<Fix<'i>> = None;
                let mut cves: Vec<&'i str> = Vec::new();
                let advisories = members
                    .iter()
                    .map(|&i| {
                        let (id, fix) = merged[i];
                        let advisory = &index.advisories[id as usize];
                        cves.extend(advisory.cves.iter().map(String::as_str));
                        fixed = Some(match fixed {
                            None => fix,
                            Some(previous) => combine_fixes(scheme, previous, fix),
                        });
                        MatchedAdvisory {
                            advisory,
                            fixed: fix,
                        }
                    })
                    .collect();
                cves.sort_unstable();
                cves.dedup();
                Match {
                    package_index,
                    installed,
                    package,
                    package_version,
                    advisories,
                    cves,
                    fixed: fixed.flatten(),
                }
            })
            .collect()
    }

    /// Groups hit positions whose advisories share a merge key or refer to one another.
    fn group(&mut self, merged: &[(AdvisoryId, Fix<'a>)]) -> Vec<Vec<usize>> {
        let index = self.index;
        self.parents.clear();
        self.parents.extend(0..merged.len() as u32);
        self.keys.clear();
        for (i, (id, _)) in merged.iter().enumerate() {
            let keys = &index.merge_keys[*id as usize];
            self.keys.extend(keys.iter().map(|k| (*k, i as u32)));
        }
        self.keys.sort_unstable();
        for pair in self.keys.windows(2) {
            if pair[0].0 == pair[1].0 {
                union(&mut self.parents, pair[0].1, pair[1].1);
            }
        }
        for (i, (id, _)) in merged.iter().enumerate() {
            for reference in index.references[*id as usize].iter() {
                let start = self.keys.partition_point(|(k, _)| k < reference);
                if let Some(&(k, other)) = self.keys.get(start)
                    && k == *reference
                {
                    union(&mut self.parents, i as u32, other);
                }
            }
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of_root: Vec<u32> = vec![u32::MAX; merged.len()];
        for i in 0..merged.len() {
            let root = find(&mut self.parents, i as u32) as usize;
            if group_of_root[root] == u32::MAX {
                group_of_root[root] = groups.len() as u32;
                groups.push(Vec::new());
            }
            groups[group_of_root[root] as usize].push(i);
        }
        groups
    }
}

fn find(parents: &mut [u32], mut i: u32) -> u32 {
    while parents[i as usize] != i {
        let grandparent = parents[parents[i as usize] as usize];
        parents[i as usize] = grandparent;
        i = grandparent;
    }
    i
}

fn union(parents: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parents, a), find(parents, b));
    if ra != rb {
        let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parents[high as usize] = low;
    }
}
