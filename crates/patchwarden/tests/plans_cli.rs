//! Stored plans and their approval workflow with the built binary and a temp database:
//! `plan --save` → `plans submit` → four-eyes refusal → approval → `plans schedule`; rejection,
//! reopening and revision making an earlier review stale; the staging-first gate; an expired
//! review; unknown plan ids. Uses the fixtures of plan_cli.rs (scan file, real apt evidence).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const POLICY: &str = r#"
[rollout]
anti_affinity = ["rack"]

[groups.web]
environment = "production"
owners = ["web-team@example.com"]
rto = "1h"
rpo = "2h"
protection = ["snapshot"]
windows = [{ name = "sunday-night", rrule = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=1;BYMINUTE=0", dtstart = "2026-11-01T01:00:00", tz = "Europe/Berlin", duration = "4h" }]

[groups.web.rollout]
max_in_flight = "50%"
"#;

/// `web` becomes the production side of a staging counterpart.
const STAGED_POLICY: &str = r#"
[groups.web-staging]
environment = "staging"
owners = ["web-team@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=20", dtstart = "2026-11-01T20:00:00", tz = "Europe/Berlin", duration = "2h" }]
"#;

const SCAN: &str = r#"{"host": "web-01", "findings": [{
  "binary": "libssl3", "installed": "3.0.19-1~deb12u2", "package": "openssl",
  "package_version": "3.0.19-1~deb12u2", "advisory": "DSA-6000-1", "aliases": ["CVE-2026-1111"],
  "fixed": "3.0.22-1~deb12u2", "tier": "T0", "deadline": "2026-11-25T00:00:00Z",
  "reasons": ["in CISA KEV"], "summary": "openssl: security update",
  "published": "2026-11-20T00:00:00Z", "cvss": 9.8, "epss": 0.7, "kev": true }]}"#;

const STAGING_PASSED: &str = r#"
[[staging]]
group = "web-staging"
packages = { libssl3 = "3.0.22-1~deb12u2" }
passed = true
rollback_drill = true
finished_at = "2026-11-20T22:00:00Z"
"#;

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

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new(policy: &str, fleet: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pw-inventory/tests/data/apt");
        std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
        std::fs::write(dir.path().join("fleet.toml"), fleet).unwrap();
        std::fs::write(dir.path().join("scan.json"), SCAN).unwrap();
        std::fs::copy(
            data.join("apt-s-openssl-upgrade.txt"),
            dir.path().join("apt-s.txt"),
        )
        .unwrap();
        std::fs::copy(
            data.join("apt-cache-policy-openssl-postgresql.txt"),
            dir.path().join("policy.txt"),
        )
        .unwrap();
        Env { dir }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("data/patchwarden.db")
    }

    /// `patchwarden plan … --save --author AUTHOR` from now on (the workflow refuses the past).
    fn save(&self, author: &str, extra: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_patchwarden"))
            .arg("plan")
            .arg("--fleet")
            .arg(self.dir.path().join("fleet.toml"))
            .arg("--policy")
            .arg(self.dir.path().join("policy.toml"))
            .args(["--horizon", "60d", "--save", "--author", author])
            .arg("--db")
            .arg(self.db())
            .args(extra)
            .env_remove("PATCHWARDEN_DB")
            .output()
            .unwrap()
    }

    fn plans(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_patchwarden"))
            .arg("plans")
            .args(args)
            .arg("--db")
            .arg(self.db())
            .env_remove("PATCHWARDEN_DB")
            .output()
            .unwrap()
    }

    /// Runs `plans ARGS`, asserts success and returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.plans(args);
        assert!(
            out.status.success(),
            "plans {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `plans ARGS`, asserts failure and returns stderr.
    fn refused(&self, args: &[&str]) -> String {
        let out = self.plans(args);
        assert!(
            !out.status.success(),
            "plans {args:?} should fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn json(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["show", id, "--format", "json"])).unwrap()
    }
}

fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn events(plan: &serde_json::Value) -> Vec<String> {
    plan["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} v{}",
                e["actor"].as_str().unwrap(),
                e["event"].as_str().unwrap(),
                e["version"]
            )
        })
        .collect()
}

#[test]
fn save_submit_four_eyes_approve_schedule() {
    let env = Env::new(POLICY, &fleet(4));
    let out = env.save("alice", &[]);
    assert_eq!(stdout_ok(&out), "1\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("saved plan 1 (draft, version 1)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = env.ok(&["list"]);
    assert!(list.starts_with("ID "), "{list}");
    assert!(list.contains("\n1     draft            1  alice"), "{list}");

    let stderr = env.refused(&["submit", "1", "--actor", "bob"]);
    assert!(
        stderr.contains("only the author \"alice\" submits"),
        "{stderr}"
    );
    let stdout = env.ok(&["submit", "1", "--actor", "alice"]);
    assert!(stdout.starts_with("plan 1 is in_review until "), "{stdout}");

    let stderr = env.refused(&["approve", "1", "--actor", "alice"]);
    assert!(
        stderr.contains("four-eyes: alice authored plan 1 and cannot approve it"),
        "{stderr}"
    );
    let stdout = env.ok(&[
        "approve",
        "1",
        "--actor",
        "bob",
        "--comment",
        "canary first, ok",
    ]);
    assert!(stdout.starts_with("plan 1 is approved by bob"), "{stdout}");
    assert!(stdout.ends_with("(version 3)\n"), "{stdout}");

    let stdout = env.ok(&["schedule", "1", "--actor", "carol"]);
    assert!(
        stdout.starts_with("plan 1 is scheduled to start "),
        "{stdout}"
    );
    let stderr = env.refused(&["approve", "1", "--actor", "dave"]);
    assert!(
        stderr.contains("plan 1 is scheduled: cannot approve"),
        "{stderr}"
    );

    let plan = env.json("1");
    assert_eq!(plan["state"], "scheduled");
    assert_eq!(plan["version"], 4);
    assert_eq!(plan["approval"]["approver"], "bob");
    // The schedule starts with the plan's first batch.
    assert_eq!(
        plan["approval"]["start"],
        plan["plan"]["batches"][0]["start"]
    );
    assert_eq!(plan["plan"]["approval"]["state"], "scheduled");
    assert_eq!(
        events(&plan),
        [
            "alice saved v1",
            "alice submitted v2",
            "bob approved v3",
            "carol scheduled v4"
        ]
    );
    assert_eq!(plan["history"][2]["comment"], "canary first, ok");

    let markdown = env.ok(&["show", "1"]);
    assert!(markdown.starts_with("# Change plan plan-"), "{markdown}");
    assert!(
        markdown.contains("| Status | scheduled to start "),
        "{markdown}"
    );
    assert!(
        markdown.contains("(stored plan 1, version 4) |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| 3 | ")
            && markdown
                .contains(" | bob | approved | in_review | approved | 3 | canary first, ok |"),
        "{markdown}"
    );

    // Every change is in the hash-chained audit log too.
    let out = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["audit", "verify", "--db"])
        .arg(env.db())
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&out), "audit chain intact: 4 records\n");
}

#[test]
fn reject_reopen_revise_makes_the_earlier_review_stale() {
    let env = Env::new(POLICY, &fleet(2));
    stdout_ok(&env.save("alice", &[]));
    env.ok(&["submit", "1", "--actor", "alice"]);
    // Bob reads version 2 and takes his time.
    assert_eq!(env.json("1")["version"], 2);

    let out = env.plans(&["reject", "1", "--actor", "dave"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--reason"));
    let stdout = env.ok(&["reject", "1", "--actor", "dave", "--reason", "wrong window"]);
    assert_eq!(
        stdout,
        "plan 1 is rejected by dave: wrong window (version 3)\n"
    );
    let stderr = env.refused(&["submit", "1", "--actor", "alice"]);
    assert!(
        stderr.contains("plan 1 is rejected: cannot submit"),
        "{stderr}"
    );
    let stderr = env.refused(&["reopen", "1", "--actor", "bob"]);
    assert!(
        stderr.contains("only the author \"alice\" reopens"),
        "{stderr}"
    );
    env.ok(&["reopen", "1", "--actor", "alice"]);

    // Alice re-saves the plan as a new revision of plan 1 and submits it again.
    std::fs::write(env.dir.path().join("fleet.toml"), fleet(4)).unwrap();
    let out = env.save("mallory", &["--revise", "1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("plan 1 was authored by alice; mallory cannot revise it"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.save("alice", &["--revise", "1", "--expect-version", "4"]);
    assert_eq!(stdout_ok(&out), "1\n");
    env.ok(&["submit", "1", "--actor", "alice"]);
    assert_eq!(env.json("1")["plan"]["hosts"].as_array().unwrap().len(), 4);

    // Bob's approval of version 2 is stale; nothing changes.
    let stderr = env.refused(&["approve", "1", "--actor", "bob", "--expect-version", "2"]);
    assert!(
        stderr.contains("stale: plan 1 changed since version 2 was reviewed; it is at version 6 now (last change: submitted by alice"),
        "{stderr}"
    );
    let plan = env.json("1");
    assert_eq!(
        (plan["state"].as_str(), &plan["version"]),
        (Some("in_review"), &6.into())
    );
    assert_eq!(
        events(&plan),
        [
            "alice saved v1",
            "alice submitted v2",
            "dave declined v3",
            "alice reopened v4",
            "alice revised v5",
            "alice submitted v6"
        ]
    );
    // Having read version 6, bob approves it.
    let stdout = env.ok(&["approve", "1", "--actor", "bob", "--expect-version", "6"]);
    assert!(stdout.starts_with("plan 1 is approved by bob"), "{stdout}");
    // A plan under review or approved cannot be revised underneath its reviewers.
    let out = env.save("alice", &["--revise", "1"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("plan 1 is approved; only a draft, rejected or expired plan can be revised"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn staging_gate_blocks_production_approval_until_staging_passed() {
    let policy = format!(
        "{}{STAGED_POLICY}",
        POLICY.replace(
            "environment = \"production\"",
            "environment = \"production\"\nstaging_counterpart = \"web-staging\""
        )
    );
    let env = Env::new(&policy, &fleet(2));
    stdout_ok(&env.save("alice", &[]));
    env.ok(&["submit", "1", "--actor", "alice"]);
    let stderr = env.refused(&["approve", "1", "--actor", "bob"]);
    assert!(
        stderr.contains("plan 1 is in_review: cannot approve: staging-first gate not met: web: not yet passed on staging counterpart web-staging: libssl3 3.0.22-1~deb12u2"),
        "{stderr}"
    );
    assert!(stderr.contains("no passed rollback drill"), "{stderr}");
    assert_eq!(env.json("1")["state"], "in_review");

    // The staging run (with its rollback drill) is evidence in the fleet file: a new plan has it.
    std::fs::write(
        env.dir.path().join("fleet.toml"),
        format!("{}{STAGING_PASSED}", fleet(2)),
    )
    .unwrap();
    assert_eq!(stdout_ok(&env.save("alice", &[])), "2\n");
    env.ok(&["submit", "2", "--actor", "alice"]);
    let stdout = env.ok(&["approve", "2", "--actor", "bob"]);
    assert!(stdout.starts_with("plan 2 is approved by bob"), "{stdout}");
}

#[test]
fn an_expired_review_is_recorded_and_cannot_be_approved() {
    let env = Env::new(POLICY, &fleet(1));
    stdout_ok(&env.save("alice", &[]));
    env.ok(&["submit", "1", "--actor", "alice", "--review-for", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let stderr = env.refused(&["approve", "1", "--actor", "bob"]);
    assert!(
        stderr.contains("plan 1: the review expired at "),
        "{stderr}"
    );
    assert!(
        stderr.contains("patchwarden plans reopen 1 --actor alice"),
        "{stderr}"
    );
    let plan = env.json("1");
    assert_eq!(plan["state"], "expired");
    assert_eq!(
        events(&plan),
        [
            "alice saved v1",
            "alice submitted v2",
            "patchwarden expired v3"
        ]
    );
    env.ok(&["reopen", "1", "--actor", "alice"]);
    assert_eq!(env.json("1")["state"], "draft");
}

#[test]
fn unknown_plans_and_missing_databases_are_clear_errors() {
    let env = Env::new(POLICY, &fleet(1));
    let stderr = env.refused(&["list"]);
    assert!(stderr.contains("no database at "), "{stderr}");

    stdout_ok(&env.save("alice", &[]));
    for args in [
        &["show", "42"][..],
        &["submit", "42", "--actor", "alice"],
        &["approve", "42", "--actor", "bob"],
        &["schedule", "42", "--actor", "bob"],
    ] {
        assert_eq!(
            env.refused(args),
            "error: there is no plan 42\n",
            "{args:?}"
        );
    }
    let out = env.save("alice", &["--revise", "42"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: there is no plan 42\n"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .arg("plan")
        .arg("--fleet")
        .arg(env.dir.path().join("fleet.toml"))
        .arg("--policy")
        .arg(env.dir.path().join("policy.toml"))
        .arg("--save")
        .env_remove("PATCHWARDEN_DB")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--save needs --author NAME"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.json("1")["version"], 1);
}
