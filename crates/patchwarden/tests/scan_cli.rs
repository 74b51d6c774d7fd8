//! `patchwarden scan` and `patchwarden feeds` end to end: the built binary on the real Debian 12
//! status file, the embedded snapshot, imported feeds in a real SQLite file, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_patchwarden"));
    // Never touch the developer's own data directory.
    command.env("PATCHWARDEN_DATA_DIR", "/nonexistent/patchwarden-test");
    command.env_remove("PATCHWARDEN_DB");
    command
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn status_file() -> PathBuf {
    repo("crates/pw-inventory/tests/data/dpkg-status-debian12.txt.gz")
}

/// The real status file with `less` and `librsvg2-2` put back to bookworm's release versions
/// (`590-2`, `2.54.5+dfsg-1`: real versions of their changelog histories), i.e. before the
/// security updates the real machine has. Written into `dir`; the test keeps `dir` alive.
fn release_status_file(dir: &Path) -> PathBuf {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(status_file()).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    for (package, installed, release) in [
        ("less", "590-2.1~deb12u2", "590-2"),
        ("librsvg2-2", "2.54.7+dfsg-1~deb12u1", "2.54.5+dfsg-1"),
    ] {
        let start = text.find(&format!("Package: {package}\n")).unwrap();
        let end = start + text[start..].find("\n\n").unwrap();
        let stanza = text[start..end].replace(
            &format!("Version: {installed}\n"),
            &format!("Version: {release}\n"),
        );
        assert_ne!(stanza, text[start..end], "{package} {installed}");
        text.replace_range(start..end, &stanza);
    }
    let path = dir.join("status");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("running patchwarden");
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn scan_json(status: &Path, extra: &[&str]) -> serde_json::Value {
    let mut command = bin();
    command.args([
        "scan",
        "--os",
        "debian:12",
        "--format",
        "json",
        "--now",
        "2026-11-23T00:00:00Z",
    ]);
    command.arg("--dpkg-status").arg(status);
    command.args(extra);
    serde_json::from_slice(&run(&mut command).stdout).expect("scan prints JSON")
}

fn finding<'a>(
    report: &'a serde_json::Value,
    binary: &str,
    advisory: &str,
) -> &'a serde_json::Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["binary"] == binary && f["advisory"] == advisory)
        .unwrap_or_else(|| panic!("no finding {binary} {advisory}"))
}

#[test]
fn scans_the_real_status_file_with_the_snapshot() {
    // The 20 matches python3-apt computes against the changelog records as the shared script
    // wrote them (crates/pw-advisory/tests/data/expected_debian12_matches.py) are all fixes the
    // installed bookworm backports already have; the shipped snapshot dates them by bookworm's
    // own versions (crates/pw-feeds/snapshot/PROVENANCE.md), so the real machine has none.
    let real = scan_json(&status_file(), &[]);
    assert_eq!(real["host"]["packages"], 747);
    assert_eq!(real["summary"]["findings"], 0);

    let dir = tempfile::tempdir().unwrap();
    let report = scan_json(&release_status_file(dir.path()), &[]);
    assert_eq!(report["schema"], "patchwarden-scan/1");
    assert_eq!(report["host"]["packages"], 747);
    assert_eq!(report["summary"]["findings"], 3);
    let f = finding(&report, "librsvg2-2", "DEBCL-CVE-2023-38633");
    // Matched on the source package, as Debian advisories name sources.
    assert_eq!(f["package"], "librsvg");
    assert_eq!(f["installed"], "2.54.5+dfsg-1");
    // Bookworm's backport, not the unstable upload that named the CVE (2.54.7+dfsg-1).
    assert_eq!(f["fixed"], "2.54.7+dfsg-1~deb12u1");
    assert_eq!(f["aliases"], serde_json::json!(["CVE-2023-38633"]));
    for key in ["tier", "deadline", "reasons", "package_version"] {
        assert!(!f[key].is_null(), "{key} is set");
    }
    // Ordered most urgent first.
    let tiers: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["tier"].as_str().unwrap())
        .collect();
    let mut sorted = tiers.clone();
    sorted.sort();
    assert_eq!(tiers, sorted);
}

#[test]
fn kev_and_emergency_flags_raise_the_tier_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let kev = dir.path().join("kev.json");
    std::fs::write(
        &kev,
        r#"{"title":"t","catalogVersion":"2026.11.01","dateReleased":"2026-11-01T00:00:00.000Z","count":1,
           "vulnerabilities":[{"cveID":"CVE-2023-38633","vendorProject":"GNOME","product":"librsvg",
           "vulnerabilityName":"x","dateAdded":"2026-10-30","shortDescription":"x","requiredAction":"x",
           "dueDate":"2026-11-20","knownRansomwareCampaignUse":"Unknown","notes":"","cwes":[]}]}"#,
    )
    .unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[priority]\n[[priority.emergency]]\ncve = \"CVE-2024-32487\"\nreason = \"exploit seen in our honeypot\"\n",
    )
    .unwrap();
    let report = scan_json(
        &release_status_file(dir.path()),
        &[
            "--kev",
            kev.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    let f = finding(&report, "librsvg2-2", "DEBCL-CVE-2023-38633");
    assert_eq!(f["tier"], "T0");
    assert_eq!(f["kev"], true);
    assert!(
        f["reasons"][0].as_str().unwrap().contains("KEV"),
        "{}",
        f["reasons"]
    );
    let less = finding(&report, "less", "DEBCL-CVE-2024-32487");
    assert_eq!(less["tier"], "T0");
    assert!(
        less["reasons"][0].as_str().unwrap().contains("honeypot"),
        "{}",
        less["reasons"]
    );
    // The other less finding stays where it was.
    assert_eq!(
        finding(&report, "less", "DEBCL-CVE-2022-48624")["tier"],
        "T3"
    );
}

#[test]
fn table_output_groups_by_tier_with_a_summary() {
    let mut command = bin();
    command.args([
        "scan",
        "--os",
        "debian:12",
        "--now",
        "2026-11-23T00:00:00Z",
        "--dpkg-status",
    ]);
    let dir = tempfile::tempdir().unwrap();
    command.arg(release_status_file(dir.path()));
    let text = String::from_utf8(run(&mut command).stdout).unwrap();
    // The whole table as a snapshot (tests/snapshots/): deterministic with --now, but for the
    // temporary status file's path and the size of the shipped snapshot.
    insta::with_settings!({filters => vec![
        (r"(?m)^\S+/status \(", "[status file] ("),
        (r"\(\d+ records\)", "([n] records)"),
    ]}, {
        insta::assert_snapshot!("scan_table", text);
    });
    let t1 = text
        .find("T1 important security update — 1 finding")
        .expect(&text);
    let t3 = text
        .find("T3 recommended update — 2 findings")
        .expect(&text);
    assert!(t1 < t3);
    assert!(text.contains("OVERDUE"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("3 findings on 2 packages (T0 0, T1 1, T2 0, T3 2, T4 0); 3 overdue"),
        "{text}"
    );
}

#[test]
fn imported_feeds_are_used_instead_of_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pw.db");
    // Only the Ubuntu sample is imported: a Debian host then has no findings.
    let mut import = bin();
    import
        .arg("feeds")
        .arg("import")
        .arg(repo("crates/pw-feeds/snapshot/osv-ubuntu-sample.jsonl.gz"))
        .arg("--db")
        .arg(&db);
    let out = String::from_utf8(run(&mut import).stdout).unwrap();
    assert!(
        out.contains("OSV 6 records (6 new, 0 updated, 0 unchanged)"),
        "{out}"
    );
    let status = release_status_file(dir.path());
    let report = scan_json(&status, &["--db", db.to_str().unwrap()]);
    assert_eq!(report["summary"]["findings"], 0);
    assert!(
        report["intelligence"]["source"]
            .as_str()
            .unwrap()
            .starts_with("database")
    );
}

#[test]
fn feeds_import_reads_the_debian_tracker_and_scans_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pw.db");
    // Written by hand from the format's documentation (crates/pw-advisory/tests/data/PROVENANCE.md).
    let tracker = repo("crates/pw-advisory/tests/data/debian-tracker-sample.json");
    let mut import = bin();
    import.args(["feeds", "import", "--format", "debian-tracker"]);
    import.arg(&tracker).arg("--db").arg(&db);
    let out = String::from_utf8(run(&mut import).stdout).unwrap();
    assert!(
        out.contains("OSV 6 records (6 new, 0 updated, 0 unchanged)"),
        "{out}"
    );
    let status = release_status_file(dir.path());
    let report = scan_json(&status, &["--db", db.to_str().unwrap()]);
    for advisory in [
        "DEBTRACKER-CVE-2022-48624:less",
        "DEBTRACKER-CVE-2024-32487:less",
    ] {
        let f = finding(&report, "less", advisory);
        assert_eq!(f["installed"], "590-2");
        assert_eq!(f["fixed"], "590-2.1~deb12u1");
    }
    // The real machine's less (590-2.1~deb12u2) has the tracker's bookworm fix.
    let real = scan_json(&status_file(), &["--db", db.to_str().unwrap()]);
    assert!(
        !real["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["binary"] == "less"),
        "{real}"
    );
}

fn failure(args: &[&str]) -> String {
    let output = bin().args(args).output().unwrap();
    assert!(!output.status.success(), "should fail: {args:?}");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn bad_input_gets_a_clear_error() {
    let status = status_file();
    let status = status.to_str().unwrap();
    assert!(failure(&["scan", "--dpkg-status", status]).contains("--os is required"));
    assert!(
        failure(&["scan", "--dpkg-status", status, "--os", "windows:11"])
            .contains("invalid OS release \"windows:11\"")
    );
    assert!(
        failure(&["scan", "--dpkg-status", status, "--os", "almalinux:9"])
            .contains("does not use the package format")
    );
    assert!(
        failure(&[
            "scan",
            "--dpkg-status",
            "/nonexistent/status",
            "--os",
            "debian:12"
        ])
        .contains("/nonexistent/status")
    );
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "[priority.tiers.t0]\ndeadline = \"-3h\"\ncvss_mni = 9\n",
    )
    .unwrap();
    let error = failure(&[
        "scan",
        "--dpkg-status",
        status,
        "--os",
        "debian:12",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert!(error.contains("priority.tiers.t0.deadline"), "{error}");
    assert!(
        error.contains("cvss_mni"),
        "both problems are reported: {error}"
    );
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"id\":\"X\",\"modified\":\"2024-01-01T00:00:00Z\"}\n{\"id\": \n",
    )
    .unwrap();
    let db = dir.path().join("pw.db");
    let error = failure(&[
        "feeds",
        "import",
        bad.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(
        error.contains(&format!("{}: line 2", bad.display())),
        "{error}"
    );
}

/// No silent zero: `scan --dpkg-status /etc/hostname` (or an empty file) fails with the file and
/// the reason instead of "0 findings on 0 packages" and exit status 0.
#[test]
fn an_inventory_without_packages_is_an_error_not_zero_findings() {
    let dir = tempfile::tempdir().unwrap();
    let hostname = dir.path().join("hostname");
    std::fs::write(&hostname, "myhost\n").unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    for (file, flag, os, reason) in [
        (
            &hostname,
            "--dpkg-status",
            "debian:12",
            "expected \"Field: value\"",
        ),
        (&empty, "--dpkg-status", "debian:12", "it is empty"),
        (&hostname, "--rpm-qa", "almalinux:9", "problem(s)"),
    ] {
        let error = failure(&["scan", flag, file.to_str().unwrap(), "--os", os]);
        assert!(
            error.contains(&format!("no package could be read from {}", file.display())),
            "{error}"
        );
        assert!(error.contains(reason), "{error}");
        assert!(!error.contains("0 findings"), "{error}");
    }
}

/// This machine (Debian 12 in CI and development): every upgrade `apt list --upgradable` offers
/// is ranked, and no finding names a CVE that the package's installed changelog names (those are
/// listed under `backported`). `--no-download`: candidate .debs are not fetched here.
#[test]
fn local_scan_ranks_every_upgrade_and_no_backported_cve() {
    let output = Command::new("apt")
        .args(["list", "--upgradable"])
        .env("LC_ALL", "C")
        .output()
        .expect("apt is needed for this test");
    let offered: std::collections::BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.contains(" [upgradable from: "))
        .map(|l| l.split('/').next().unwrap().to_owned())
        .collect();
    let mut command = bin();
    command.args(["scan", "--local", "--no-download", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&run(&mut command).stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let ranked: std::collections::BTreeSet<String> = findings
        .iter()
        .map(|f| f["binary"].as_str().unwrap().to_owned())
        .collect();
    let missing: Vec<_> = offered.difference(&ranked).collect();
    assert!(
        missing.is_empty(),
        "offered by apt but not ranked: {missing:?}"
    );
    for f in findings {
        let binary = f["binary"].as_str().unwrap();
        let path = format!("/usr/share/doc/{binary}/changelog.Debian.gz");
        let Ok(log) = std::fs::read(&path) else {
            continue;
        };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&log[..]), &mut text)
            .unwrap_or_default();
        // Only the part from the installed version down is its history.
        let installed = f["installed"].as_str().unwrap();
        let Some(at) = text.find(&format!("({installed})")) else {
            continue;
        };
        let history = &text[at..];
        for id in f["aliases"].as_array().unwrap() {
            let id = id.as_str().unwrap();
            assert!(
                !id.starts_with("CVE-") || !history.contains(id),
                "{binary} {installed}: {id} is named in its installed changelog but reported pending"
            );
        }
    }
}

/// `scan --local` says what this machine still needs after its changes (docs/restarts.md): the
/// running kernel as `uname -r` says, the reboot flag as `/run/reboot-required` says, and the
/// table's closing lines.
#[test]
fn local_scan_reports_the_restart_and_reboot_state() {
    let mut command = bin();
    command.args(["scan", "--local", "--no-download", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&run(&mut command).stdout).unwrap();
    let restart = &report["restart"];
    let uname = Command::new("uname").arg("-r").output().unwrap();
    let running = String::from_utf8_lossy(&uname.stdout).trim().to_owned();
    assert_eq!(
        restart["facts"]["running_kernel"],
        running.as_str(),
        "{restart:#}"
    );
    let flag = std::path::Path::new("/run/reboot-required").exists();
    assert_eq!(restart["facts"]["reboot_flag"], flag, "{restart:#}");
    assert!(
        restart["facts"]["boot"]["boot_id"].is_string(),
        "{restart:#}"
    );
    let reboot = restart["state"]["reboot"].as_str().unwrap();
    assert!(
        ["required", "not_required"].contains(&reboot),
        "{restart:#}"
    );
    let mut command = bin();
    command.args(["scan", "--local", "--no-download"]);
    let table = String::from_utf8(run(&mut command).stdout).unwrap();
    assert!(table.contains(&format!("\nreboot: {reboot}")), "{table}");
    assert!(table.contains("\nrestart: "), "{table}");
    assert!(table.contains("\ndpkg --audit: "), "{table}");
}
