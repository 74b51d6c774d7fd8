//! Host-side changelog evidence through the real controller (issue 11): an agent's inventory
//! with `backport_history` and pending updates with candidate `cves`. A finding whose CVEs the
//! installed changelog names leaves the ranked list and is kept in the history with
//! `fixed_by`; a security-suite upgrade not covered by an advisory is ranked with the CVEs its
//! candidate changelog names (KEV → T0); an upgrade whose fix an advisory finding ranks adds
//! nothing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{TestController, inventory_body, tls_client};

async fn findings_after(t: &TestController, host_id: &str, computed_after: Option<&str>) -> Value {
    for _ in 0..200 {
        let (status, body) = t
            .get_json(&format!("/api/v1/hosts/{host_id}/findings?include=history"))
            .await;
        assert_eq!(status, 200, "{body}");
        if let Some(at) = body["computed_at"].as_str()
            && computed_after.is_none_or(|after| at > after)
        {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("findings of {host_id} were not computed");
}

fn cves(finding: &Value) -> Vec<String> {
    std::iter::once(&finding["advisory"])
        .chain(finding["aliases"].as_array().unwrap())
        .filter_map(Value::as_str)
        .filter(|id| pw_model::is_cve_id(id))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backports_leave_the_list_and_security_upgrades_are_ranked() {
    let t = TestController::start().await;
    let token = t.token().await;
    let (_, enrolled, key) = t.enroll(&token, "web-1").await;
    let host_id = enrolled["host_id"].as_str().unwrap().to_owned();
    let agent = tls_client(
        &t.ca_pem(),
        Some((enrolled["certificate_pem"].as_str().unwrap(), &key)),
    );
    let first = inventory_body("web-1");
    assert_eq!(t.agent_post(&agent, "inventory", &first).await, 200);
    let before = findings_after(&t, &host_id, None).await;
    let all = before["findings"].as_array().unwrap();
    let chosen = all
        .iter()
        .find(|f| f["binary"] == "libssl3" && !cves(f).is_empty())
        .expect("the snapshot has openssl findings for 3.0.0-1")
        .clone();
    // The libssl3 upgrade is covered by its advisory findings: no upgrade finding for it.
    assert!(
        all.iter()
            .all(|f| f["advisory"] != "bookworm-security/3.0.17-1~deb12u2")
    );

    let mut second = inventory_body("web-1");
    second["collected_at"] = json!("2026-11-01T01:00:00Z");
    second["backport_history"] = json!({"libssl3": cves(&chosen)});
    second["pending_updates"].as_array_mut().unwrap().extend([
        json!({"package": "bash", "arch": "amd64", "from_version": "5.2.15-2+b2",
                "to_version": "5.2.15-2+b9", "origin": "Debian-Security",
                "suite": "bookworm-security", "cves": ["CVE-2021-44228"]}),
    ]);
    assert_eq!(t.agent_post(&agent, "inventory", &second).await, 200);
    let after = findings_after(&t, &host_id, before["computed_at"].as_str()).await;
    let now = after["findings"].as_array().unwrap();
    assert!(
        now.iter()
            .all(|f| f["advisory"] != chosen["advisory"] || f["binary"] != "libssl3"),
        "the backported finding is still ranked"
    );
    assert_eq!(now.len(), all.len(), "one finding less, one upgrade more");
    let bash = now
        .iter()
        .find(|f| f["binary"] == "bash")
        .expect("the bash security upgrade is ranked");
    assert_eq!(bash["advisory"], "bookworm-security/5.2.15-2+b9");
    assert_eq!(bash["aliases"], json!(["CVE-2021-44228"]));
    assert_eq!(bash["tier"], "T0");
    assert_eq!(bash["fixed"], "5.2.15-2+b9");
    let fixed = after["fixed"].as_array().unwrap();
    let closed = fixed
        .iter()
        .find(|f| f["binary"] == "libssl3" && f["advisory"] == chosen["advisory"])
        .expect("kept in the history");
    assert!(
        closed["fixed_by"]
            .as_str()
            .unwrap()
            .starts_with("fixed by a backport: the changelog of libssl3 3.0.0-1 names CVE-"),
        "{closed}"
    );
    assert_eq!(
        after["pending_updates"][0]["cves"],
        json!(["CVE-2021-44228"]),
        "{}",
        after["pending_updates"]
    );
}
