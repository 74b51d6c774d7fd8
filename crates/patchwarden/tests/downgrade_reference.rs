//! `patchwarden downgrade check` against an independent python3-apt reference
//! (`data/downgrade/downgrade_reference.py`: `apt_pkg.version_compare` and its own OSV range
//! walk) on real historical versions of Debian 12 packages (`data/downgrade/PROVENANCE.md`),
//! against the shared Debian feed of the repository's tests: the snapshot scan uses
//! (`crates/pw-feeds/snapshot`) and the shared data's original (`crates/pw-advisory/tests/data`).
//! Each round is one host with one downgrade per binary; the reintroduced advisories must be the
//! same sets. Plus the CLI's refusals of bad targets.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROUNDS: usize = 3;
const NOW: &str = "2026-12-01T00:00:00Z";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn data(name: &str) -> PathBuf {
    repo("crates/patchwarden/tests/data/downgrade").join(name)
}

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_patchwarden"));
    command.env("PATCHWARDEN_DATA_DIR", "/nonexistent/patchwarden-test");
    command.env_remove("PATCHWARDEN_DB");
    command
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The reference's cases and expectations for `feed`.
fn reference(feed: &Path, seed: u32) -> serde_json::Value {
    let output = Command::new("/usr/bin/python3")
        .arg(data("downgrade_reference.py"))
        .arg(feed)
        .arg(data("changelog-versions-cve-sources.tsv.gz"))
        .arg(ROUNDS.to_string())
        .arg(seed.to_string())
        .output()
        .expect("/usr/bin/python3 is needed (scripts/install-test-deps.sh)");
    assert!(
        output.status.success(),
        "the python3-apt reference failed (python3-apt installed? scripts/install-test-deps.sh)\n{}",
        text(&output)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Runs `downgrade check` on one host; the raw output.
fn check(dir: &Path, feed: &Path, round: &serde_json::Value, format: &str) -> Output {
    let status = dir.join("status");
    std::fs::write(&status, round["status"].as_str().unwrap()).unwrap();
    let mut command = bin();
    command
        .args(["downgrade", "check", "--os", "debian:12", "--now", NOW])
        .arg("--dpkg-status")
        .arg(&status)
        .arg("--advisories")
        .arg(feed)
        .args(["--format", format])
        .arg("--target");
    for target in round["targets"].as_array().unwrap() {
        command.arg(target.as_str().unwrap());
    }
    command.output().unwrap()
}

type Row = (String, String, String, Vec<String>, Option<String>);

fn expected_rows(round: &serde_json::Value) -> BTreeSet<Row> {
    round["expected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_owned();
            let ids = e["ids"].as_array().unwrap();
            (
                s("binary"),
                s("package"),
                s("package_version"),
                ids.iter().map(|i| i.as_str().unwrap().to_owned()).collect(),
                e["fixed"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// (binary, package, package_version, advisory ids, fixed) of each reintroduced entry: the
/// representative id and the merged advisories' ids among its aliases.
fn actual_rows(report: &serde_json::Value) -> BTreeSet<Row> {
    report["reintroduced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            let mut ids: Vec<String> = r["aliases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .filter(|a| !a.starts_with("CVE-"))
                .chain([s("advisory")])
                .collect();
            ids.sort();
            assert!(r["tier"].as_str().unwrap().starts_with('T'), "{r}");
            (
                s("binary"),
                s("package"),
                s("package_version"),
                ids,
                r["fixed"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn agree_on(feed: &Path, seed: u32) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let reference = reference(feed, seed);
    let (mut cases, mut reintroduced) = (0, 0);
    for (i, round) in reference["rounds"].as_array().unwrap().iter().enumerate() {
        let output = check(dir.path(), feed, round, "json");
        assert!(output.status.success(), "round {i}: {}", text(&output));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let targets = round["targets"].as_array().unwrap().len();
        assert_eq!(report["changes"].as_array().unwrap().len(), targets);
        let (expected, actual) = (expected_rows(round), actual_rows(&report));
        let missing: Vec<&Row> = expected.difference(&actual).take(10).collect();
        let extra: Vec<&Row> = actual.difference(&expected).take(10).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}, round {i}: {} expected, {} reported\nonly in the reference: {missing:#?}\nonly in patchwarden: {extra:#?}",
            feed.display(),
            expected.len(),
            actual.len()
        );
        assert_eq!(report["summary"]["reintroduced"], actual.len());
        cases += targets;
        reintroduced += actual.len();
    }
    // Targets that are not lower: each one refused by name, all at once.
    let round = &reference["not_lower"];
    let output = check(dir.path(), feed, round, "json");
    assert!(!output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let refused: BTreeSet<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("  - target "))
        .filter_map(|l| l.split_once(": not lower than the installed "))
        .map(|(target, _)| target)
        .collect();
    let wanted: BTreeSet<&str> = round["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(wanted.len() >= 20, "{}", wanted.len());
    assert_eq!(refused, wanted, "{stderr}");
    (cases, reintroduced)
}

#[test]
fn agrees_with_python3_apt_on_the_snapshot_feed() {
    let (cases, reintroduced) = agree_on(
        &repo("crates/pw-feeds/snapshot/osv-debian12-changelogs.jsonl.gz"),
        1,
    );
    assert!(
        cases >= 400 && reintroduced >= 500,
        "{cases} {reintroduced}"
    );
}

#[test]
fn agrees_with_python3_apt_on_the_shared_feed() {
    let (cases, reintroduced) = agree_on(
        &repo("crates/pw-advisory/tests/data/osv-debian12-changelogs.jsonl.gz"),
        2,
    );
    assert!(
        cases >= 400 && reintroduced >= 500,
        "{cases} {reintroduced}"
    );
}

fn real_status() -> PathBuf {
    repo("crates/pw-inventory/tests/data/dpkg-status-debian12.txt.gz")
}

fn snapshot_check(targets: &[&str], format: &str) -> Output {
    bin()
        .args(["downgrade", "check", "--os", "debian:12", "--now", NOW])
        .arg("--dpkg-status")
        .arg(real_status())
        .arg("--advisories")
        .arg(repo(
            "crates/pw-feeds/snapshot/osv-debian12-changelogs.jsonl.gz",
        ))
        .args(["--format", format, "--target"])
        .args(targets)
        .output()
        .unwrap()
}

#[test]
fn table_names_the_changes_and_the_tiers() {
    let output = snapshot_check(&["less=590-2", "libxml2=2.9.14+dfsg-1.3~deb12u1"], "table");
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "downgrade less 590-2.1~deb12u2 → 590-2 (source less 590-2.1~deb12u2 → 590-2)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("DEBCL-CVE-2024-32487"), "{stdout}");
    assert!(
        stdout.contains("approving this downgrade needs an explicit risk acceptance"),
        "{stdout}"
    );
}

#[test]
fn bad_targets_are_refused_by_name() {
    let output = snapshot_check(&["less", "no-such-pkg=1.0", "less=590-3", "x;y=1"], "json");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: 2 bad downgrade targets:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("target \"less\": expected PKG=VERSION"),
        "{stderr}"
    );
    assert!(
        stderr.contains("target \"x;y=1\": package name"),
        "{stderr}"
    );
    let output = snapshot_check(&["no-such-pkg=1.0", "less=590-3", "less=1:0"], "json");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("target no-such-pkg: the package is not installed")
            && stderr.contains("target less=590-3: not lower than the installed 590-2.1~deb12u2")
            && stderr.contains("target less: named more than once"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
