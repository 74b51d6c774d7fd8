//! A downgrade from a named local archive, and the post-downgrade vulnerability re-scan
//! against the plan's prediction, end to end on a real Debian 12 container (docs/downgrade.md),
//! driven by the built `patchwarden server` and agent. The host is upgraded to pw-demo 1.0-2,
//! then its sources are cut down to the security suite: 1.0-1 is in no configured suite any
//! more, only in `/srv/pw-archive`, a root-owned directory holding its `.deb`. A T1 advisory
//! fixed in 1.0-2 is imported, so every downgrade plan to 1.0-1 predicts it back.
//!
//! 1. A plan naming the archive, whose check fails on 1.0-1: the agent finds 1.0-1 in the
//!    archive, installs it from there and rolls back to exactly 1.0-2; the change report's
//!    re-scan (after the host's next inventory) shows the prediction not seen.
//! 2. A target the archive does not hold either (1.0-0): refused before anything is touched,
//!    naming the package, the version, the host's sources and the archive.
//! 3. The same plan as 1 with the check passing: installed from the archive, drilled (back to
//!    1.0-2 from the host's sources, 1.0-1 again from the archive), done on exactly 1.0-1; the
//!    re-scan shows the predicted advisory seen, and an advisory imported after the plan was
//!    built seen and not predicted.
//!
//! The first plan's evidence (`collect_evidence` for the risk checklist) is simulated with the
//! archive offered too. Needs Docker and mmdebstrap (docs/testbed.md).

mod common;
mod downgrade_support;

use std::time::{Duration, Instant};

use common::*;
use downgrade_support::*;
use pw_testbed::Suite;
use pw_testbed::repo::packages::{BASELINE, DEMO, SECURITY_FIX};
use pw_testbed::repo::{MOUNT_POINT, SOURCES_PATH, TestRepo};
use pw_testkit::fixtures::demo_advisory;
use serde_json::{Value, json};

const ADVISORY: &str = "PWTEST-ARCHIVE-T1";
const LATE_ADVISORY: &str = "PWTEST-ARCHIVE-LATE";
const ARCHIVE: &str = "/srv/pw-archive";
/// The group's check: fails on 1.0-1 while `FAIL_FLAG` exists.
const CHECK: &str = "/usr/local/bin/pw-archive-check";
const FAIL_FLAG: &str = "/var/lib/pw-fail-on-baseline";

/// 1.0-1 only in the archive: its `.deb` copied from the test repository's stable pool, the
/// host's source cut down to the security suite.
fn archive_only_baseline(host: &pw_testbed::Host) {
    let deb = format!("{MOUNT_POINT}/pool/stable/main/{DEMO}_{BASELINE}_all.deb");
    for (program, args) in [
        ("mkdir", vec!["-p", ARCHIVE]),
        ("chmod", vec!["755", ARCHIVE]),
        ("cp", vec![deb.as_str(), ARCHIVE]),
    ] {
        let out = host.exec(program, args).unwrap();
        assert!(out.success(), "{program}: {}", out.stderr_text());
    }
    let sources = TestRepo::sources(&[Suite::Security]);
    host.write_file(SOURCES_PATH, sources.as_bytes()).unwrap();
    pw_host::apt::update(host.runner()).unwrap();
    let policy = host.exec("apt-cache", ["policy", DEMO]).unwrap();
    let policy = policy.stdout_text();
    assert!(!policy.contains(&format!(" {BASELINE} ")), "{policy}");
    let script = format!(
        "#!/bin/sh\n[ -e {FAIL_FLAG} ] && [ \"$(dpkg-query -W -f='${{Version}}' {DEMO})\" = {BASELINE} ] && exit 1\nexit 0\n"
    );
    host.write_file(CHECK, script.as_bytes()).unwrap();
    assert!(host.exec("chmod", ["755", CHECK]).unwrap().success());
}

/// A downgrade plan to `version` with the archive, submitted by `author`, approved by
/// `approver` (accepting the advisory's risk when the plan brings it back): the plan and the
/// rollout's view.
async fn archived_rollout(
    controller: &Controller,
    (author, approver): (&str, &str),
    hostname: &str,
    version: &str,
    before_approval: impl FnOnce(),
) -> (Value, Value) {
    let body = json!({
        "name": format!("back to {version} from the archive"),
        "hosts": [hostname],
        "updates": {"downgrade": {DEMO: version}, "archive": ARCHIVE},
    });
    let plan = create_plan_from(controller, author, body).await;
    assert_eq!(plan["archive"], ARCHIVE, "{plan:#}");
    // The first plan to 1.0-1 asks the agent for its evidence; the later one reuses it.
    let asked = plan["evidence_requested"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    if version == BASELINE && asked {
        planning_evidence_used_the_archive(controller, &plan).await;
    }
    let id = plan["id"].as_i64().unwrap();
    let path = |action: &str| format!("/api/v1/plans/{id}/{action}");
    let (status, _) = controller.post_as(author, &path("submit"), json!({})).await;
    assert_eq!(status, 200);
    before_approval();
    let acceptance = match plan["gates"]["reintroduced"].as_array() {
        Some(gate) if !gate.is_empty() => {
            let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
            json!({"risk_acceptance": {"reason": "1.0-2 breaks the export", "expires_at": expires.to_string()}})
        }
        _ => json!({}),
    };
    let (status, approved) = controller
        .post_as(approver, &path("approve"), acceptance)
        .await;
    assert_eq!(status, 200, "{approved}");
    let rollout = approved["rollout"].as_str().expect("a rollout").to_owned();
    let view = controller
        .wait_rollout(&rollout, Duration::from_secs(240))
        .await;
    (plan, view)
}

/// The plan's evidence (the risk checklist's `collect_evidence`, asked for when the plan was
/// built) simulates and finds 1.0-1 with the archive offered. Bounded: 60 s.
async fn planning_evidence_used_the_archive(controller: &Controller, plan: &Value) {
    let host = plan["hosts"][0]["id"].as_str().expect("the plan's host id");
    let started = Instant::now();
    let evidence = loop {
        let answer = (controller.api())
            .get(controller.url(&format!("/api/v1/hosts/{host}/evidence")))
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let latest: Value = answer.json().await.unwrap();
        if status == 200 && latest["targets"] == json!([{"name": DEMO, "version": BASELINE}]) {
            break latest["evidence"].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no evidence for the plan: {latest:#}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(evidence["simulation"]["errors"], json!([]), "{evidence:#}");
    assert!(
        evidence["simulation"].to_string().contains("local-deb"),
        "{evidence:#}"
    );
    let availability = evidence["availability"].as_array().unwrap();
    let demo = availability.iter().find(|a| a["package"] == DEMO).unwrap();
    assert!(
        demo["downloadable"].to_string().contains(BASELINE),
        "{evidence:#}"
    );
}

/// The plan's change report once the host's scan after the change is in (`compared`): the
/// first host's re-scan comparison. Bounded: 120 s.
async fn rescan_of(controller: &Controller, plan: &Value) -> Value {
    let path = format!(
        "/api/v1/reports/change/plans/{}?format=json",
        plan["id"].as_i64().unwrap()
    );
    let started = Instant::now();
    loop {
        let report = controller.get(&path).await;
        let rescan = &report["hosts"][0]["post_verify"]["vulnerabilities"];
        if rescan["status"] == "compared" {
            return rescan.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no re-scan after the change: {report:#}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn advisories(rescan: &Value, list: &str) -> Vec<String> {
    rescan[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} in {rescan:#}"))
        .iter()
        .map(|l| l["advisory"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_only_in_a_local_archive_is_installed_rolled_back_and_rescanned() {
    let (fleet, controller, hostname) = upgraded_host().await;
    let host = &fleet.hosts[0];
    archive_only_baseline(host);
    let document = document(&hostname).replace(&format!("dpkg-query -W {DEMO}"), CHECK);
    controller.apply_fleet(document).await;
    import_advisory(&controller, &demo_advisory(ADVISORY, "CVE-2099-5151"));
    let alice = add_operator(controller.dir.path(), "alice", "approver");
    let bob = add_operator(controller.dir.path(), "bob", "approver");
    let started = Instant::now();

    // 1. The check fails on 1.0-1: installed from the archive, rolled back to exactly 1.0-2.
    assert!(host.exec("touch", [FAIL_FLAG]).unwrap().success());
    let (failed_plan, view) =
        archived_rollout(&controller, (&alice, &bob), &hostname, BASELINE, || {}).await;
    assert_eq!(failed_plan["reintroduced"][0]["advisory"], ADVISORY);
    // Its evidence was asked for, and checked in `archived_rollout`.
    assert_eq!(
        failed_plan["evidence_requested"].as_array().map(Vec::len),
        Some(1)
    );
    let changed = &view["hosts"][0];
    assert_eq!(changed["state"], "rolled_back", "{view:#}");
    assert_eq!(demo_configured_version(host), SECURITY_FIX);
    let checked = &changed["downgrade"];
    let deb = format!("{ARCHIVE}/{DEMO}_{BASELINE}_all.deb");
    assert_eq!(checked["archive"], ARCHIVE, "{view:#}");
    assert_eq!(checked["archive_files"], json!([deb]), "{view:#}");
    assert_eq!(
        checked["from_archive"],
        json!([format!("{DEMO}={BASELINE}")])
    );
    let simulation = checked["simulation"].to_string();
    assert!(
        simulation.contains(&format!(
            "Inst {DEMO} [{SECURITY_FIX}] ({BASELINE} local-deb"
        )),
        "{simulation}"
    );
    let dpkg_log = host.read_file("/var/log/dpkg.log").unwrap();
    assert!(
        dpkg_log.contains(&format!("upgrade {DEMO}:all {SECURITY_FIX} {BASELINE}")),
        "{dpkg_log}"
    );
    let rescan = rescan_of(&controller, &failed_plan).await;
    assert_eq!(
        advisories(&rescan, "predicted_not_seen"),
        [ADVISORY],
        "{rescan:#}"
    );
    assert_eq!(
        advisories(&rescan, "predicted_and_seen"),
        Vec::<String>::new()
    );
    clear_blocked(&controller, BASELINE).await;

    // 2. Neither the host's sources nor the archive hold 1.0-0: refused, nothing touched.
    let (_, view) = archived_rollout(&controller, (&alice, &bob), &hostname, "1.0-0", || {}).await;
    assert_ne!(view["hosts"][0]["state"], "done", "{view:#}");
    let expected = format!(
        "{DEMO} 1.0-0 is not available: not offered by this host's sources (apt-cache policy {DEMO}), nor in the local archive {ARCHIVE} (1 .deb file)"
    );
    assert!(view.to_string().contains(&expected), "{view:#}");
    assert_eq!(demo_configured_version(host), SECURITY_FIX);

    // 3. The check passes: installed from the archive, drilled, done on exactly 1.0-1. An
    // advisory imported after the plan was built comes back unpredicted.
    assert!(host.exec("rm", ["-f", FAIL_FLAG]).unwrap().success());
    let (plan, view) = archived_rollout(&controller, (&alice, &bob), &hostname, BASELINE, || {
        import_advisory(&controller, &demo_advisory(LATE_ADVISORY, "CVE-2099-5252"))
    })
    .await;
    let done = &view["hosts"][0];
    assert_eq!(done["state"], "done", "{view:#}");
    assert_eq!(done["detail"]["drilled"], true, "{view:#}");
    assert_eq!(demo_configured_version(host), BASELINE);
    assert_eq!(
        done["downgrade"]["from_archive"],
        json!([format!("{DEMO}={BASELINE}")])
    );
    let rescan = rescan_of(&controller, &plan).await;
    assert_eq!(
        advisories(&rescan, "predicted_and_seen"),
        [ADVISORY],
        "{rescan:#}"
    );
    assert_eq!(
        advisories(&rescan, "predicted_not_seen"),
        Vec::<String>::new()
    );
    assert_eq!(advisories(&rescan, "seen_not_predicted"), [LATE_ADVISORY]);
    assert_eq!(rescan["predicted_and_seen"][0]["version"], BASELINE);
    eprintln!(
        "three downgrade plans from the archive, with re-scans, in {:?}",
        started.elapsed()
    );
    // Nothing of the archive stayed in apt's configuration.
    let sources = host.exec("grep", ["-rl", ARCHIVE, "/etc/apt"]).unwrap();
    assert!(!sources.success(), "{}", sources.stdout_text());
}
