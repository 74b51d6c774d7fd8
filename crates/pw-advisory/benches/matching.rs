//! Matching speed on the real Debian 12 inventory (747 packages) against every advisory in
//! `tests/data/` (Debian changelog records, AlmaLinux, Ubuntu), compared with the floor of merely
//! parsing the dpkg status text with pw-inventory. Run: `cargo bench -p pw-advisory`.

use std::io::Read;
use std::path::PathBuf;

use pw_advisory::{AdvisoryIndex, Matcher, parse_advisories};
use pw_model::{InstalledPackage, OsRelease};

fn main() {
    divan::main();
}

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn all_advisories_index() -> AdvisoryIndex {
    let mut advisories = Vec::new();
    for name in [
        "osv-debian12-changelogs.jsonl.gz",
        "osv-almalinux.jsonl.gz",
        "osv-ubuntu-sample.jsonl.gz",
    ] {
        advisories.extend(parse_advisories(&data(name)).advisories);
    }
    AdvisoryIndex::new(advisories)
}

fn status_text() -> Vec<u8> {
    data("dpkg-status-debian12.txt.gz")
}

fn installed() -> Vec<InstalledPackage> {
    pw_inventory::parse_dpkg_status(&status_text()).packages
}

/// The floor: parsing one host's dpkg status text.
#[divan::bench]
fn parse_status(bencher: divan::Bencher) {
    let text = status_text();
    bencher.bench(|| {
        pw_inventory::parse_dpkg_status(divan::black_box(&text))
            .packages
            .len()
    });
}

/// Matching one host's 747 packages with a matcher reused across hosts.
#[divan::bench]
fn match_host(bencher: divan::Bencher) {
    let index = all_advisories_index();
    let packages = installed();
    let os = OsRelease::parse("debian:12").unwrap();
    let mut matcher = Matcher::new(&index, &os, false);
    bencher.bench_local(|| matcher.match_packages(divan::black_box(&packages)).len());
}

/// Matching with a new matcher per host (`AdvisoryIndex::match_packages`).
#[divan::bench]
fn match_host_one_shot(bencher: divan::Bencher) {
    let index = all_advisories_index();
    let packages = installed();
    let os = OsRelease::parse("debian:12").unwrap();
    bencher.bench(|| {
        index
            .match_packages(&os, false, divan::black_box(&packages))
            .len()
    });
}

/// The worst realistic case: every package at its oldest changelog version (10,307 historical
/// versions, 501,246 matches).
#[divan::bench(sample_count = 10)]
fn match_oldest_versions(bencher: divan::Bencher) {
    let index = all_advisories_index();
    let text = String::from_utf8(data("debian12-changelog-versions.tsv.gz")).unwrap();
    let packages: Vec<InstalledPackage> = text
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            InstalledPackage {
                name: fields[0].to_owned(),
                version: fields[2].to_owned(),
                arch: String::new(),
                source: Some(fields[1].to_owned()),
                source_version: None,
            }
        })
        .collect();
    let os = OsRelease::parse("debian:12").unwrap();
    let mut matcher = Matcher::new(&index, &os, false);
    bencher.bench_local(|| matcher.match_packages(divan::black_box(&packages)).len());
}

/// Building the index from parsed advisories (once per feed import).
#[divan::bench(sample_count = 5)]
fn build_index(bencher: divan::Bencher) {
    let mut advisories = Vec::new();
    for name in ["osv-debian12-changelogs.jsonl.gz", "osv-almalinux.jsonl.gz"] {
        advisories.extend(parse_advisories(&data(name)).advisories);
    }
    bencher.bench(|| AdvisoryIndex::new(advisories.clone()).stats().advisories);
}

/// Parsing the AlmaLinux feed (5,680 records) from bytes into advisories.
#[divan::bench(sample_count = 5)]
fn parse_almalinux(bencher: divan::Bencher) {
    let bytes = data("osv-almalinux.jsonl.gz");
    bencher.bench(|| parse_advisories(divan::black_box(&bytes)).advisories.len());
}
