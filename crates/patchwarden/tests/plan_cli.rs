//! `patchwarden plan` end to end with the built binary: a fleet with a scan file and real apt
//! evidence, Markdown and JSON output, and precise errors for invalid policies.

use std::path::Path;
use std::process::Command;

const POLICY: &str = r#"
[priority]
anything = "belongs to pw-priority"

[rollout]
anti_affinity = ["rack"]

[groups.web]
environment = "production"
owners = ["web-team@example.com"]
rto = "1h"
rpo = "2h"
protection = ["snapshot"]
windows = [{ name = "sunday-night", rrule = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=1;BYMINUTE=0", dtstart = "2026-11-01T01:00:00", tz = "Europe/Berlin", duration = "4h" }]
blackouts = [{ reason = "year-end freeze", start = "2026-12-20T00:00:00Z", end = "2027-01-05T00:00:00Z" }]

[groups.web.rollout]
max_in_flight = "50%"
"#;

const SCAN: &str = r#"{"host": "web-01", "findings": [{
  "binary": "libssl3", "installed": "3.0.19-1~deb12u2", "package": "openssl",
  "package_version": "3.0.19-1~deb12u2", "advisory": "DSA-6000-1", "aliases": ["CVE-2026-1111"],
  "fixed": "3.0.22-1~deb12u2", "tier": "T0", "deadline": "2026-11-25T00:00:00Z",
  "reasons": ["in CISA KEV"], "summary": "openssl: security update",
  "published": "2026-11-20T00:00:00Z", "cvss": 9.8, "epss": 0.7, "kev": true }]}"#;

fn fleet(hosts: usize) -> String {
    let mut text = String::from(
        "[evidence.web]\napt_simulation = \"apt-s.txt\"\napt_cache_policy = \"policy.txt\"\n\n",
    );
    for i in 1..=hosts {
        text.push_str(&format!(
            "[[hosts]]\nid = \"web-{i:02}\"\nhostname = \"web-{i:02}.example.net\"\ngroup = \"web\"\nos = \"debian:12\"\nlabels = {{ rack = \"r{}\" }}\nscan = \"scan.json\"\n\n",
            i % 2
        ));
    }
    text
}

fn setup(dir: &Path, policy: &str) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pw-inventory/tests/data/apt");
    std::fs::write(dir.join("policy.toml"), policy).unwrap();
    std::fs::write(dir.join("fleet.toml"), fleet(4)).unwrap();
    std::fs::write(dir.join("scan.json"), SCAN).unwrap();
    std::fs::copy(
        data.join("apt-s-openssl-upgrade.txt"),
        dir.join("apt-s.txt"),
    )
    .unwrap();
    std::fs::copy(
        data.join("apt-cache-policy-openssl-postgresql.txt"),
        dir.join("policy.txt"),
    )
    .unwrap();
}

fn plan(dir: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .arg("plan")
        .arg("--fleet")
        .arg(dir.join("fleet.toml"))
        .arg("--policy")
        .arg(dir.join("policy.toml"))
        .args([
            "--from",
            "2026-11-23T00:00:00Z",
            "--author",
            "alice",
            "--id",
            "plan-1",
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// The instant the plans are judged at (`--now`).
const NOW: &str = "2026-11-22T12:00:00Z";

#[test]
fn plans_a_fleet_as_markdown_and_json() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), POLICY);
    let out = plan(dir.path(), &["--horizon", "60d", "--now", NOW]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("# Change plan plan-1\n"), "{stdout}");
    assert!(
        stdout.contains("| T0 | emergency security patch | 4 | 1 | 4 |"),
        "{stdout}"
    );
    // Sunday 01:00 Europe/Berlin is 00:00Z in winter.
    assert!(
        stdout.contains("| 1 | web | Canary | web-01 | sunday-night | 2026-11-29T00:00:00Z |"),
        "{stdout}"
    );

    let json_at = |now: &str| {
        plan(
            dir.path(),
            &["--horizon", "60d", "--format", "json", "--now", now],
        )
    };
    let out = json_at(NOW);
    // --now makes the plan reproducible: the same instant, the same plan; a later one judges
    // exposure later.
    assert_eq!(json_at(NOW).stdout, out.stdout);
    assert_ne!(json_at("2026-11-29T12:00:00Z").stdout, out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let batches = json["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 3, "{batches:#?}");
    assert_eq!(batches[1]["hosts"], serde_json::json!(["web-02", "web-03"]));
    assert_eq!(json["approval"]["state"], "draft");
    let rollback = json["risks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["risk"] == "rollback_failure")
        .unwrap();
    // The installed 3.0.19 is gone from the mirrors (real apt-cache policy output); the group's
    // snapshot makes that a warning instead of a block.
    assert_eq!(rollback["level"], "warn", "{rollback:#}");
    assert!(
        rollback
            .to_string()
            .contains("rollback relies on the snapshot"),
        "{rollback:#}"
    );
}

#[test]
fn reports_every_policy_problem_with_key_value_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = POLICY
        .replace(
            "max_in_flight = \"50%\"",
            "max_in_flight = \"50%\"\nrollback_buffer_percent = 20\ncanary_pct = 3",
        )
        .replace("rpo = \"2h\"", "rpo = \"2 hours\"");
    setup(dir.path(), &bad);
    let out = plan(dir.path(), &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid policy"), "{stderr}");
    assert!(stderr.contains("the policy has 3 problems"), "{stderr}");
    assert!(
        stderr.contains("groups.web.rollout.rollback_buffer_percent"),
        "{stderr}"
    );
    assert!(stderr.contains("canary_pct"), "{stderr}");
    assert!(
        stderr.contains("groups.web.rpo: unknown unit ' '"),
        "{stderr}"
    );

    let bad = POLICY.replace("max_in_flight = \"50%\"", "rollback_buffer_percent = 20");
    setup(dir.path(), &bad);
    let stderr = String::from_utf8_lossy(&plan(dir.path(), &[]).stderr).to_string();
    assert!(
        stderr.contains("groups.web.rollout.rollback_buffer_percent: the rollback buffer must be at least 30% of the window"),
        "{stderr}"
    );
    assert!(stderr.contains("(found 20)"), "{stderr}");

    let bad = POLICY.replace("FREQ=WEEKLY;BYDAY=SU", "FREQ=FORTNIGHTLY;BYDAY=SU");
    setup(dir.path(), &bad);
    let stderr = String::from_utf8_lossy(&plan(dir.path(), &[]).stderr).to_string();
    assert!(stderr.contains("groups.web"), "{stderr}");
    assert!(stderr.contains("FORTNIGHTLY"), "{stderr}");
}

#[test]
fn rejects_bad_arguments_precisely() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), POLICY);
    let stderr =
        String::from_utf8_lossy(&plan(dir.path(), &["--horizon", "30"]).stderr).to_string();
    assert!(stderr.contains("--horizon \"30\""), "{stderr}");
    let stderr =
        String::from_utf8_lossy(&plan(dir.path(), &["--label", "rack"]).stderr).to_string();
    assert!(stderr.contains("KEY=VALUE"), "{stderr}");
    let stderr =
        String::from_utf8_lossy(&plan(dir.path(), &["--now", "yesterday"]).stderr).to_string();
    assert!(
        stderr.contains("--now \"yesterday\": expected an RFC 3339 instant"),
        "{stderr}"
    );
}
