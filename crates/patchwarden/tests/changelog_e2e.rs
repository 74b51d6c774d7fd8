//! Issue 11 on a real Debian 12 container (pw-testbed): `patchwarden scan --local` on a host
//! whose packages are older than the test repository's security suite ranks exactly those
//! upgrades, with the CVE the candidate's changelog names (read from the .deb apt downloads, not
//! installed), and does not report the fix the installed changelog names (a backport), listing it
//! under `backported` instead. The image filters `/usr/share/doc` out (docs/testbed.md): the test
//! removes that dpkg filter in its host before installing, as a normal Debian host has no such
//! filter.

use std::collections::BTreeSet;

use pw_testbed::repo::packages::{
    BACKPORTED_CVE, BASELINE, CANDIDATE_CVE, CVE_BASELINE, CVE_PACKAGE, CVE_UPDATE, DEMO,
    DEMO_KERNEL, SECURITY_FIX,
};
use pw_testbed::{Mount, Suite, Testbed};
use serde_json::Value;

const BIN: &str = "/usr/local/bin/patchwarden";

/// An OSV record: pw-cve is affected by CVE-2099-1001 below 1.0-2 (unstable's fix), so the
/// matcher reports 1.0-1~deb12u1 — whose changelog names the backported fix.
fn advisory() -> String {
    format!(
        r#"{{"id":"DEBIAN-{BACKPORTED_CVE}","modified":"2026-06-01T00:00:00Z","published":"2026-05-01T00:00:00Z","aliases":["{BACKPORTED_CVE}"],"summary":"test fixture","affected":[{{"package":{{"ecosystem":"Debian:12","name":"{CVE_PACKAGE}"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"1.0-2"}}]}}]}}]}}"#
    )
}

#[test]
fn security_upgrades_ranked_and_backports_not_reported_on_a_real_host() {
    let mount = Mount {
        source: env!("CARGO_BIN_EXE_patchwarden").into(),
        target: BIN.into(),
    };
    let fleet = Testbed::shared()
        .fleet_with_mounts(1, &[Suite::Stable, Suite::Security], &[mount])
        .unwrap();
    let host = &fleet.hosts[0];
    let filters = host.exec("ls", ["/etc/dpkg/dpkg.cfg.d"]).unwrap();
    for name in filters.stdout_text().split_whitespace() {
        let path = format!("/etc/dpkg/dpkg.cfg.d/{name}");
        if host
            .read_file(&path)
            .unwrap()
            .contains("path-exclude=/usr/share/doc")
        {
            host.exec("rm", ["-f", path.as_str()]).unwrap();
        }
    }
    let install = host
        .exec(
            "apt-get",
            [
                "install",
                "-y",
                "-q",
                &format!("{DEMO}={BASELINE}"),
                &format!("{DEMO_KERNEL}={BASELINE}"),
                &format!("{CVE_PACKAGE}={CVE_BASELINE}"),
            ],
        )
        .unwrap();
    assert!(install.success(), "{}", install.tail(20));
    host.write_file("/tmp/osv.json", advisory().as_bytes())
        .unwrap();
    let scan = host
        .exec(
            BIN,
            [
                "scan",
                "--local",
                "--format",
                "json",
                "--advisories",
                "/tmp/osv.json",
            ],
        )
        .unwrap();
    assert!(scan.success(), "{}\n{}", scan.stdout_text(), scan.tail(20));
    let report: Value = serde_json::from_str(&scan.stdout_text()).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let ranked: BTreeSet<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["binary"].as_str().unwrap().to_owned(),
                f["advisory"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        (DEMO, format!("security/{SECURITY_FIX}")),
        (DEMO_KERNEL, format!("security/{SECURITY_FIX}")),
        (CVE_PACKAGE, format!("security/{CVE_UPDATE}")),
    ]
    .into_iter()
    .map(|(b, a)| (b.to_owned(), a))
    .collect();
    assert_eq!(ranked, expected, "{report:#}");
    let cve = findings
        .iter()
        .find(|f| f["binary"] == CVE_PACKAGE)
        .unwrap();
    assert_eq!(
        cve["aliases"],
        serde_json::json!([CANDIDATE_CVE]),
        "{cve:#}"
    );
    let demo = findings.iter().find(|f| f["binary"] == DEMO).unwrap();
    assert_eq!(
        demo["tier"], "T3",
        "security suite, no CVE known: unknown_severity"
    );
    assert!(
        demo["reasons"][0]
            .as_str()
            .unwrap()
            .contains("unknown severity"),
        "{demo:#}"
    );
    let text = scan.stdout_text();
    assert!(
        !findings
            .iter()
            .any(|f| f.to_string().contains(BACKPORTED_CVE)),
        "the backported fix is reported: {text}"
    );
    let backported = report["backported"].as_array().unwrap();
    assert_eq!(backported.len(), 1, "{text}");
    assert_eq!(backported[0]["binary"], CVE_PACKAGE);
    assert_eq!(
        backported[0]["advisory"],
        format!("DEBIAN-{BACKPORTED_CVE}")
    );
    // Nothing was installed by reading the candidate's changelog.
    let version = host
        .exec("dpkg-query", ["-W", "-f", "${Version}", CVE_PACKAGE])
        .unwrap();
    assert_eq!(version.stdout_text(), CVE_BASELINE);
}
