//! The shipped Debian snapshot against real data: it is exactly what the builder
//! (`pw_feeds::backports`, `examples/rebuild_debian_snapshot.rs`) makes of the shared data, and a
//! fix backported to bookworm is dated by bookworm's own history.
//!
//! Data: `crates/pw-advisory/tests/data/` (PROVENANCE.md there) holds, byte-identical to
//! `shared/data/`, the builder's inputs — `osv-debian12-changelogs.jsonl.gz` as the shared script
//! wrote it (before re-dating) and `debian12-changelog-versions.tsv.gz` — and the real Debian 12
//! machine's `dpkg-status-debian12.txt.gz`.

use std::io::Read;
use std::path::Path;

use pw_advisory::{AdvisoryIndex, OsvRecord, parse_advisories, parse_osv_jsonl};
use pw_feeds::backports::{Histories, redate_backports};
use pw_model::OsRelease;

fn gunzip(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn advisory_data(name: &str) -> Vec<u8> {
    gunzip(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../pw-advisory/tests/data")
            .join(name),
    )
}

fn shipped() -> Vec<u8> {
    gunzip(&Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshot/osv-debian12-changelogs.jsonl.gz"))
}

fn records(bytes: &[u8]) -> Vec<OsvRecord> {
    let batch = parse_osv_jsonl(bytes);
    assert!(batch.problems.is_empty(), "{:?}", batch.problems);
    batch.records.into_iter().map(|l| l.record).collect()
}

fn histories() -> Histories {
    Histories::parse(
        &String::from_utf8(advisory_data("debian12-changelog-versions.tsv.gz")).unwrap(),
    )
    .unwrap()
}

#[test]
fn the_shipped_snapshot_is_the_builders_output() {
    let mut built = records(&advisory_data("osv-debian12-changelogs.jsonl.gz"));
    let report = redate_backports(&mut built, &histories(), "bookworm").unwrap();
    assert_eq!((report.pairs, report.not_in_history), (3641, 0));
    assert_eq!(report.redated.len(), 9);
    assert_eq!(records(&shipped()), built);

    // Re-dating the shipped file changes nothing (it was not left at the unstable versions).
    let mut again = records(&shipped());
    let report = redate_backports(&mut again, &histories(), "bookworm").unwrap();
    assert_eq!(report.redated, vec![]);
}

#[test]
fn backported_fixes_carry_the_release_version() {
    let shipped = records(&shipped());
    let fixed = |id: &str, package: &str| -> String {
        let record = shipped.iter().find(|r| r.id == id).unwrap();
        let entry = record
            .affected
            .iter()
            .find(|e| e.package.as_ref().unwrap().name == package)
            .unwrap();
        entry.ranges[0].events[1].fixed.clone().unwrap()
    };
    // (record, source, the unstable version that names the CVE, bookworm's backport of it):
    // real rows of debian12-changelog-versions.tsv.gz.
    for (id, package, release_fix) in [
        ("DEBCL-CVE-2024-32487", "less", "590-2.1~deb12u1"),
        ("DEBCL-CVE-2022-48624", "less", "590-2.1~deb12u1"),
        ("DEBCL-CVE-2023-38633", "librsvg", "2.54.7+dfsg-1~deb12u1"),
        ("DEBCL-CVE-2022-2309", "libxml2", "2.9.14+dfsg-1.3~deb12u1"),
        ("DEBCL-CVE-2025-21587", "openjdk-17", "17.0.15+6-1~deb12u1"),
        (
            "DEBCL-CVE-2025-54566",
            "qemu",
            "1:10.0.2+ds-2+deb13u1~bpo12+1",
        ),
    ] {
        assert_eq!(fixed(id, package), release_fix, "{id} {package}");
    }
    // A fix that reached bookworm through unstable keeps the unstable version.
    assert_eq!(fixed("DEBCL-CVE-2022-46663", "less"), "590-1.2");
}

#[test]
fn the_real_machine_has_no_backported_fix_reported() {
    let status = advisory_data("dpkg-status-debian12.txt.gz");
    let inventory = pw_inventory::parse_dpkg_status(&status);
    assert_eq!(inventory.packages.len(), 747);
    let bookworm = OsRelease::parse("debian:12").unwrap();
    let count = |bytes: &[u8]| {
        let batch = parse_advisories(bytes);
        let index = AdvisoryIndex::new(batch.advisories);
        index
            .match_packages(&bookworm, false, &inventory.packages)
            .len()
    };
    // The builder's input reports the 20 backports of the reference
    // (crates/pw-advisory/tests/data/expected-debian12-matches.tsv); the shipped file none:
    // every one of them is a fix the installed version already has.
    assert_eq!(
        count(&advisory_data("osv-debian12-changelogs.jsonl.gz")),
        20
    );
    assert_eq!(count(&shipped()), 0);
}
