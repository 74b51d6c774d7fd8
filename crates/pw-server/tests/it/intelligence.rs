//! The controller's loaded intelligence follows feed imports made while it runs: a host scanned
//! before an import has no finding for pw-demo; after `feeds import` of an advisory every host
//! is ranked again with it (the cache is keyed by the last import), although its agent reports
//! the same inventory — which by itself costs no scan (issue 15).

use serde_json::{Value, json};

use crate::support::{TestController, findings_after, tls_client};

const OSV: &str = r#"{"id": "PW-2026-0001", "modified": "2026-11-01T00:00:00Z",
  "published": "2026-11-01T00:00:00Z", "summary": "pw-demo security fix",
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "pw-demo"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}]}]}"#;

/// Reports an inventory and waits (bounded) for findings computed after `after`.
async fn scan(t: &TestController, agent: &reqwest::Client, host: &str, after: &Value) -> Value {
    let inventory = json!({
        "protocol_version": 1, "hostname": "web-0", "os": "debian:12",
        "packages": [{"name": "pw-demo", "version": "1.0-1", "arch": "all"}],
        "reboot_required": false, "collected_at": "2026-11-01T00:00:00Z"
    });
    assert_eq!(t.agent_post(agent, "inventory", &inventory).await, 200);
    findings_after(t, host, after).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_imported_while_the_controller_runs_are_used_for_the_next_scan() {
    let t = TestController::start_with_manual_clock().await;
    let token = t.token().await;
    let (status, enrolled, key) = t.enroll(&token, "web-0").await;
    assert_eq!(status, 200, "{enrolled}");
    let host = enrolled["host_id"].as_str().unwrap();
    let agent = tls_client(
        &t.ca_pem(),
        Some((enrolled["certificate_pem"].as_str().unwrap(), &key)),
    );
    let before = scan(&t, &agent, host, &Value::Null).await;
    let advisories = |body: &Value| -> Vec<String> {
        body["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["advisory"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        !advisories(&before).contains(&"PW-2026-0001".to_owned()),
        "{before}"
    );

    // The same report again: stored as unchanged, not scanned.
    let metric = async |name: &str| -> f64 {
        let (_, text) = t.get_text("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
    };
    let scans = "patchwarden_findings_scans_total{outcome=\"stored\"}";
    let scanned = metric(scans).await;
    let inventory = json!({
        "protocol_version": 1, "hostname": "web-0", "os": "debian:12",
        "packages": [{"name": "pw-demo", "version": "1.0-1", "arch": "all"}],
        "reboot_required": false, "collected_at": "2026-11-01T00:00:05Z"
    });
    assert_eq!(t.agent_post(&agent, "inventory", &inventory).await, 200);
    assert_eq!(
        metric("patchwarden_agent_inventory_unchanged_total").await,
        1.0
    );
    assert_eq!(metric("patchwarden_findings_scans_pending").await, 0.0);
    assert_eq!(
        metric(scans).await,
        scanned,
        "an unchanged inventory is not scanned"
    );

    let input = pw_feeds::Input::new("pw-demo.json", OSV.as_bytes().to_vec());
    pw_feeds::import(&t.controller.state.store, &[input], &pw_feeds::Silent)
        .await
        .unwrap();
    // Findings times have one-second resolution at most; the next one is a second later.
    t.advance(1);
    // No report needed: the import queues every host (the first advisories stored: anything
    // may change; checked every 250 ms).
    let after = findings_after(&t, host, &before["computed_at"]).await;
    assert_eq!(advisories(&after), ["PW-2026-0001"], "{after}");
    assert_eq!(after["source"], "controller database");
    assert_eq!(after["findings"][0]["fixed"], "1.0-2");
}
