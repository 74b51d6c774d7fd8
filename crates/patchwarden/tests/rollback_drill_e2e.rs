//! The rollback drill on a real Debian 12 container (pw-testbed), driven by the built
//! `patchwarden server` and agent: an ad-hoc rollout with `drill: "canaries"` on a host of a
//! staging group installs the security fix, rolls back to the exact old version (dpkg-query on
//! the container, run by a health check at each verification), re-applies and ends on the
//! target; the host is `done` with `drilled`, and the controller's store reports the drill as
//! passed — the staging gate's evidence (`Store::change_results` → `staging_runs` →
//! `staging_gate`). Needs Docker and mmdebstrap.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use pw_testbed::repo::packages::{BASELINE, DEMO, SECURITY_FIX};
use serde_json::json;

/// Every verification appends the installed version, as dpkg-query reports it, to this file.
const SEEN: &str = "/var/tmp/pw-drill-seen";

/// pw-demo's version changes in the host's /var/log/dpkg.log (dpkg logs a downgrade as an
/// `upgrade` line too): (from, to), oldest first.
fn version_changes(host: &pw_testbed::Host) -> Vec<(String, String)> {
    let dpkg_log = host.read_file("/var/log/dpkg.log").unwrap();
    let marker = format!(" upgrade {DEMO}:");
    dpkg_log
        .lines()
        .filter(|l| l.contains(&marker))
        .filter_map(|l| {
            let mut words = l.split_whitespace().rev();
            let to = words.next()?.to_owned();
            let from = words.next()?.to_owned();
            Some((from, to))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_on_a_staging_host_rolls_back_to_the_exact_old_version_and_re_applies() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (fleet, gateway, controller) = fleet_with_controller(1);
    let hosts = fleet_with_agents(&controller, &fleet, &gateway).await;
    let host = &fleet.hosts[0];
    assert_eq!(demo_version(host), BASELINE);
    let changes_before = version_changes(host).len();

    // The host belongs to a staging group (ad-hoc changes stay allowed there).
    let document = format!(
        r#"
[groups.web-staging]
environment = "staging"
owners = ["web-team@example.com"]
windows = [{{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-11-01T01:00:00", tz = "UTC", duration = "4h" }}]
[groups.web-staging.members]
hosts = ["{}"]
"#,
        hosts[0]
    );
    controller.apply_fleet(document).await;

    let record = format!("dpkg-query -W -f '${{Version}}\\n' {DEMO} >> {SEEN}");
    let body = json!({
        "hosts": hosts, "targets": [{"name": DEMO, "version": SECURITY_FIX}],
        "canary_size": 1, "batch_size": 1, "verification_seconds": 5, "drill": "canaries",
        "checks": [{"kind": "command", "name": "version-seen", "argv": ["sh", "-c", record]}],
    });
    let started = Instant::now();
    let (status, created) = controller.post("/api/v1/rollouts", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let view = controller.wait_rollout(&id, Duration::from_secs(180)).await;
    eprintln!("drilled rollout: {:?}", started.elapsed());
    assert_eq!(view["status"], "completed", "{view:#}");
    assert_eq!(view["hosts"][0]["state"], "done", "{view:#}");
    assert_eq!(view["hosts"][0]["detail"]["drilled"], true, "{view:#}");

    // Installed, rolled back to exactly the old version, re-applied: dpkg-query on the host at
    // each verification, and the target at the end.
    let seen = host.read_file(SEEN).unwrap();
    let seen: Vec<&str> = seen.lines().collect();
    assert_eq!(seen, [SECURITY_FIX, BASELINE, SECURITY_FIX]);
    assert_eq!(demo_version(host), SECURITY_FIX);
    let changes = version_changes(host)[changes_before..].to_vec();
    let (old, new) = (BASELINE.to_owned(), SECURITY_FIX.to_owned());
    assert_eq!(
        changes,
        [
            (old.clone(), new.clone()),
            (new.clone(), old.clone()),
            (old, new)
        ],
        "dpkg: installed, rolled back, re-applied"
    );
    let journal = agent_journal(host);
    for step in ["drill_rolled_back", "drill_reapplying", "drill_verified"] {
        assert!(
            journal.contains(&format!("\"step\":\"{step}\"")),
            "{journal}"
        );
    }

    // The store's evidence: the host passed with a drill, on the exact target.
    let store = pw_store::Store::open(&controller.dir.path().join("patchwarden.db"))
        .await
        .unwrap();
    let results = store.change_results().await.unwrap();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].host_id, hosts[0]);
    assert_eq!(results[0].packages[DEMO], SECURITY_FIX);
    assert!(results[0].passed && results[0].drill, "{results:?}");
    let staging = hosts[0].clone();
    let runs = pw_planner::staging::staging_runs(&results, |host| {
        (host == staging).then(|| "web-staging".to_owned())
    });
    assert!(runs[0].passed && runs[0].rollback_drill, "{runs:?}");
    let wanted = BTreeSet::from([(DEMO.to_owned(), SECURITY_FIX.to_owned())]);
    let gate = pw_planner::staging::staging_gate("web", "web-staging", &wanted, &runs);
    assert!(gate.is_empty(), "{gate:?}");
}
