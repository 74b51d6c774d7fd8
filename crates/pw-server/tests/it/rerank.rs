//! A feed import re-ranks only the hosts it can change (issue 15: feed import → every host
//! re-ranked in ≤ 30 s): after a first import (unbounded: scans leave the built-in snapshot),
//! an advisory for pw-demo reaches the host with pw-demo at once, while the host without it
//! is not scanned — and a full scan of that host gives exactly its stored ranking.

use serde_json::{Value, json};

use crate::support::{TestController, findings_after, tls_client};

fn osv(id: &str, package: &str) -> String {
    format!(
        r#"{{"id": "{id}", "modified": "2026-11-01T00:00:00Z",
  "published": "2026-11-01T00:00:00Z", "summary": "{package} security fix",
  "affected": [{{"package": {{"ecosystem": "Debian:12", "name": "{package}"}},
    "ranges": [{{"type": "ECOSYSTEM", "events": [{{"introduced": "0"}}, {{"fixed": "1.0-2"}}]}}]}}]}}"#
    )
}

async fn import(t: &TestController, name: &str, text: String) {
    let input = pw_feeds::Input::new(name, text.into_bytes());
    pw_feeds::import(&t.controller.state.store, &[input], &pw_feeds::Silent)
        .await
        .unwrap();
}

fn advisories(body: &Value) -> Vec<String> {
    (body["findings"].as_array().unwrap().iter())
        .map(|f| f["advisory"].as_str().unwrap().to_owned())
        .collect()
}

async fn metric(t: &TestController, name: &str) -> f64 {
    let (_, text) = t.get_text("/metrics").await;
    (text.lines())
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Waits (bounded) until the controller queued the last import's hosts and scanned them.
async fn settled(t: &TestController) {
    let last = t.controller.state.store.last_feed_import().await.unwrap();
    pw_testkit::wait_until(
        "the import's scans",
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(50),
        async || {
            let queued = metric(t, "patchwarden_feed_import_queued").await;
            let pending = metric(t, "patchwarden_findings_scans_pending").await;
            if Some(queued as i64) == last && pending == 0.0 {
                Ok(())
            } else {
                Err(format!("import {queued} queued, {pending} scans pending"))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_ranks_again_only_the_hosts_it_can_change() {
    let t = TestController::start_with_manual_clock().await;
    import(&t, "other.json", osv("PW-2026-0002", "pw-other")).await;
    // The start's ranking of every host done before the hosts enroll (else it may still hold
    // them, queued for anything, when the next import comes).
    settled(&t).await;
    let mut hosts = Vec::new();
    for (name, package) in [("web-0", "pw-demo"), ("web-1", "pw-other")] {
        let token = t.token().await;
        let (status, enrolled, key) = t.enroll(&token, name).await;
        assert_eq!(status, 200, "{enrolled}");
        let host = enrolled["host_id"].as_str().unwrap().to_owned();
        let agent = tls_client(
            &t.ca_pem(),
            Some((enrolled["certificate_pem"].as_str().unwrap(), &key)),
        );
        let inventory = json!({
            "protocol_version": 1, "hostname": name, "os": "debian:12",
            "packages": [{"name": package, "version": "1.0-1", "arch": "all"}],
            "reboot_required": false, "collected_at": "2026-11-01T00:00:00Z"
        });
        assert_eq!(t.agent_post(&agent, "inventory", &inventory).await, 200);
        let first = findings_after(&t, &host, &Value::Null).await;
        hosts.push((host, first));
    }
    let (demo, demo_before) = &hosts[0];
    let (other, other_before) = &hosts[1];
    assert_eq!(advisories(demo_before), Vec::<String>::new());
    assert_eq!(advisories(other_before), ["PW-2026-0002"]);
    let metric = async |name: &str| metric(&t, name).await;
    let untouched = "patchwarden_findings_scans_total{outcome=\"untouched\"}";
    let untouched_before = metric(untouched).await;

    t.advance(1);
    import(&t, "demo.json", osv("PW-2026-0001", "pw-demo")).await;
    let demo_after = findings_after(&t, demo, &demo_before["computed_at"]).await;
    assert_eq!(advisories(&demo_after), ["PW-2026-0001"], "{demo_after}");
    settled(&t).await;
    // web-1 has no pw-demo: not scanned, its ranking as it was.
    assert_eq!(metric(untouched).await, untouched_before + 1.0);
    let (_, other_after) = t.get_json(&format!("/api/v1/hosts/{other}/findings")).await;
    assert_eq!(other_after, *other_before);
    // ... and exactly what a full scan of it gives now (equal: not written).
    let state = &t.controller.state;
    let full = pw_controller::findings::scan_stored(
        &state.intelligence,
        &state.store,
        other,
        t.controller.state.controller.now(),
        pw_controller::findings::Why::Import(None),
    )
    .await
    .unwrap();
    assert!(
        matches!(full, pw_controller::findings::Scanned::Unchanged(1)),
        "{full:?}"
    );
}
