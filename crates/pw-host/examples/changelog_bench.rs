//! Benchmark (issue 11): the time the changelog evidence adds to an agent's inventory report on a
//! 1,500-package host. Baseline: what the agent's report does on this machine — read and parse
//! the dpkg status file, `apt-get -s dist-upgrade` (real apt), the reboot flag. Added: reading
//! 1,500 installed changelogs (this machine's real `/usr/share/doc/*/changelog.Debian.gz`, copied
//! round-robin into a temporary doc tree of 1,500 package directories, no symlinks: the
//! worst case) and the candidate lookups from a warm cache (steady state; the first download of
//! candidates is measured by `scan --local`, docs/scan.md).
//!
//! `cargo run --release -p pw-host --example changelog_bench [ROUNDS]`

use std::path::Path;
use std::time::{Duration, Instant};

use pw_host::changelogs::{CandidateQuery, cache_name, candidate_news, installed_history};
use pw_host::{LocalRunner, apt};
use pw_model::InstalledPackage;

const HOST_PACKAGES: usize = 1_500;

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args().nth(1).map_or(Ok(5), |a| a.parse())?;
    let real = pw_host::read_dpkg_status_file(Path::new(pw_host::DPKG_STATUS_PATH))?.packages;
    let with_docs: Vec<&InstalledPackage> = real
        .iter()
        .filter(|p| {
            Path::new("/usr/share/doc")
                .join(&p.name)
                .join("changelog.Debian.gz")
                .exists()
        })
        .collect();
    anyhow::ensure!(
        !with_docs.is_empty(),
        "no installed changelogs on this machine"
    );
    let root = std::env::temp_dir().join(format!("pw-changelog-bench-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let mut host = Vec::with_capacity(HOST_PACKAGES);
    for i in 0..HOST_PACKAGES {
        let original = with_docs[i % with_docs.len()];
        let mut package = original.clone();
        if i >= with_docs.len() {
            package.name = format!("{}-copy{i}", original.name);
        }
        let dir = root.join(&package.name);
        std::fs::create_dir_all(&dir)?;
        std::fs::copy(
            Path::new("/usr/share/doc")
                .join(&original.name)
                .join("changelog.Debian.gz"),
            dir.join("changelog.Debian.gz"),
        )?;
        host.push(package);
    }
    let pending = apt::pending_updates(&LocalRunner)?;
    let queries = CandidateQuery::for_pending(&pending, &real);
    let cache = root.join("cache");
    std::fs::create_dir_all(&cache)?;
    // Warm cache: one answer per candidate (what a steady-state agent finds).
    for q in &queries {
        let name = cache_name(&q.source, &q.installed, &q.candidate);
        std::fs::write(cache.join(name), "CVE-2026-0001\nCVE-2026-0002")?;
    }
    let (mut base, mut added) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        let inventory = pw_host::read_dpkg_status_file(Path::new(pw_host::DPKG_STATUS_PATH))?;
        let pending = apt::pending_updates(&LocalRunner)?;
        let _ = apt::reboot_required(&LocalRunner)?;
        base.push(started.elapsed());
        let started = Instant::now();
        let history = installed_history(&root, &host);
        let news = candidate_news(&cache, &queries, Duration::ZERO)?;
        added.push(started.elapsed());
        assert_eq!(history.cves.len() + history.mismatched.len(), HOST_PACKAGES);
        assert!(news.complete, "every candidate answered from the cache");
        assert_eq!(inventory.packages.len(), real.len());
        assert_eq!(pending.len(), queries.len());
    }
    std::fs::remove_dir_all(&root)?;
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (b, a) = (median(&mut base), median(&mut added));
    println!(
        "{rounds} rounds, medians: inventory report work {:.0} ms ({} packages, {} pending); changelog evidence for {HOST_PACKAGES} packages + {} candidates (warm cache) {:.0} ms; added {:.1}%",
        b.as_secs_f64() * 1e3,
        real.len(),
        queries.len(),
        queries.len(),
        a.as_secs_f64() * 1e3,
        a.as_secs_f64() / b.as_secs_f64() * 100.0
    );
    Ok(())
}
