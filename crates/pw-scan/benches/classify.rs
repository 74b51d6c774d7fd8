//! A host's classification (its matches into findings) as the controller's scans make it, with
//! the intelligence's memo warm (`findings_with_history`: a fleet's hosts share most advisory
//! sets), against classifying every match afresh (`findings`), on the real Debian 12 status
//! file with every other package aged (so that most advisories match) and the feed snapshot of
//! pw-feeds. Matching is done once, outside the timing. Run: `cargo bench -p pw-scan`.

use std::io::Read;
use std::path::Path;

use jiff::Timestamp;
use pw_advisory::{parse_advisories, parse_epss_csv, parse_kev};
use pw_model::{InstalledPackage, OsRelease};
use pw_priority::PriorityPolicy;
use pw_scan::{Intelligence, ScanContext};

fn main() {
    divan::main();
}

fn gunzip(path: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

fn intelligence() -> Intelligence {
    let feed = gunzip("../pw-feeds/snapshot/osv-debian12-changelogs.jsonl.gz");
    let kev = parse_kev(&gunzip("../pw-feeds/snapshot/kev.json.gz")).expect("kev");
    let epss = parse_epss_csv(&gunzip("../pw-feeds/snapshot/epss-sample.csv.gz")).expect("epss");
    Intelligence::new(
        parse_advisories(&feed).advisories,
        Some(&kev.catalog),
        &[epss.scores],
    )
}

fn host() -> Vec<InstalledPackage> {
    let status = gunzip("../pw-inventory/tests/data/dpkg-status-debian12.txt.gz");
    let mut packages = pw_inventory::parse_dpkg_status(&status).packages;
    for package in packages.iter_mut().step_by(2) {
        package.source_version = Some("0.1-1".to_owned());
    }
    packages
}

#[divan::bench(args = ["afresh", "remembered"])]
fn a_host(bencher: divan::Bencher, how: &str) {
    let intelligence = intelligence();
    let policy = PriorityPolicy::default();
    let now: Timestamp = "2026-12-07T12:00:00Z".parse().expect("instant");
    let context = ScanContext {
        policy: &policy,
        group: None,
        first_seen: Some(now),
        now,
    };
    let os = OsRelease::parse("debian:12").expect("release");
    let packages = host();
    let matches = intelligence.matcher(&os, false).match_packages(&packages);
    let never = |_: &str, _: &str| None;
    // Warm: another host's scan classified its sets first.
    let warm = intelligence.findings_with_history(matches.iter(), &context, &never);
    assert!(warm.len() > 100, "{} findings", warm.len());
    bencher.bench(|| match how {
        "afresh" => intelligence.findings(divan::black_box(&matches), &context),
        _ => {
            intelligence.findings_with_history(divan::black_box(&matches).iter(), &context, &never)
        }
    });
}
