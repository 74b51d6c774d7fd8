//! Compliance history through the API (issue 9 item 7): a fake agent over mTLS reports two
//! inventories; the finding fixed by the second keeps `fixed_at` in the host's history; an
//! accepted risk hides a finding from the open list and the counts, an expired or revoked one
//! does not; only approvers accept and revoke, and their names are recorded and audited; the
//! per-tier gauges of /metrics agree with the API (overdue from stored deadlines and `now`).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use pw_model::{Finding, Tier};
use pw_server::Role;
use serde_json::{Value, json};

use crate::console_support::{group_toml, record};
use crate::support::{TestController, client_with_token, enrolled as agent};

/// pw-demo (fixed in 1.0-2) and pw-tool (no fix yet), both critical (CVSS 9.8).
const OSV: &str = r#"[
 {"id": "PW-2026-0101", "modified": "2026-11-01T00:00:00Z", "published": "2026-11-01T00:00:00Z",
  "aliases": ["CVE-2026-0101"], "summary": "pw-demo remote code execution",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "pw-demo"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}]}]},
 {"id": "PW-2026-0202", "modified": "2026-11-01T00:00:00Z", "published": "2026-11-01T00:00:00Z",
  "aliases": ["CVE-2026-0202"], "summary": "pw-tool remote code execution",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "pw-tool"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}
]"#;

/// Reports pw-demo at `demo_version` and pw-tool, collected at `collected_at`, and waits
/// (bounded) until findings newer than `after` are computed.
async fn report(
    t: &TestController,
    agent: &reqwest::Client,
    host: &str,
    demo_version: &str,
    collected_at: &str,
    after: &Value,
) -> Value {
    let inventory = json!({
        "protocol_version": 1, "hostname": "web-1", "os": "debian:12",
        "packages": [{"name": "pw-demo", "version": demo_version, "arch": "all"},
                     {"name": "pw-tool", "version": "2.0-1", "arch": "all"}],
        "reboot_required": false, "collected_at": collected_at
    });
    assert_eq!(t.agent_post(agent, "inventory", &inventory).await, 200);
    for _ in 0..200 {
        let (_, body) = t.get_json(&format!("/api/v1/hosts/{host}/findings")).await;
        if body["computed_at"].is_string() && body["computed_at"] != *after {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no findings computed for {host}");
}

/// Advisories imported and host web-1 with pw-demo 1.0-1 scanned: its id.
async fn scanned_host(t: &TestController) -> String {
    import_advisories(t).await;
    let (host, client) = agent(t, "web-1").await;
    let collected_at = "2026-11-02T00:00:00Z";
    report(t, &client, &host, "1.0-1", collected_at, &Value::Null).await;
    host
}

async fn import_advisories(t: &TestController) {
    let input = pw_feeds::Input::new("pw-2026.json", OSV.as_bytes().to_vec());
    pw_feeds::import(&t.controller.state.store, &[input], &pw_feeds::Silent)
        .await
        .unwrap();
}

fn advisories(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| f["advisory"].as_str().unwrap())
        .collect()
}

fn in_days(days: i64) -> String {
    (Timestamp::now() + SignedDuration::from_hours(24 * days)).to_string()
}

/// A request as the operator holding `token`: (status, body).
async fn send(
    t: &TestController,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = client_with_token(token).request(method, t.http(path));
    if let Some(body) = body {
        request = request.json(body);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_finding_stays_in_the_history_with_its_fixed_at() {
    let t = TestController::start().await;
    import_advisories(&t).await;
    let (host, client) = agent(&t, "web-1").await;
    let first = report(
        &t,
        &client,
        &host,
        "1.0-1",
        "2026-11-02T00:00:00Z",
        &Value::Null,
    )
    .await;
    assert_eq!(
        advisories(&first["findings"]),
        ["PW-2026-0101", "PW-2026-0202"],
        "{first}"
    );
    let demo = &first["findings"][0];
    assert_eq!(demo["status"], "open");
    assert_eq!(demo["episode"], 1);
    let first_seen: Timestamp = demo["first_seen"].as_str().unwrap().parse().unwrap();
    // The deadline runs from first sight (later than the publication): T0, 24 hours.
    let deadline: Timestamp = demo["deadline"].as_str().unwrap().parse().unwrap();
    assert_eq!(demo["tier"], "T0");
    assert_eq!(deadline, first_seen + SignedDuration::from_hours(24));
    assert_eq!(first["summary"]["open"], json!([2, 0, 0, 0, 0]));

    let second = report(
        &t,
        &client,
        &host,
        "1.0-2",
        "2026-11-03T00:00:00Z",
        &first["computed_at"],
    )
    .await;
    assert_eq!(
        advisories(&second["findings"]),
        ["PW-2026-0202"],
        "{second}"
    );
    // The finding still open keeps its first sight and deadline.
    assert_eq!(
        second["findings"][0]["first_seen"],
        first["findings"][1]["first_seen"]
    );
    assert_eq!(
        second["findings"][0]["deadline"],
        first["findings"][1]["deadline"]
    );
    assert!(
        second.get("fixed").is_none(),
        "history only when asked: {second}"
    );
    let (status, history) = t
        .get_json(&format!("/api/v1/hosts/{host}/findings?include=history"))
        .await;
    assert_eq!(status, 200, "{history}");
    let fixed = &history["fixed"];
    assert_eq!(advisories(fixed), ["PW-2026-0101"], "{history}");
    assert_eq!(fixed[0]["status"], "fixed");
    assert_eq!(fixed[0]["first_seen"], demo["first_seen"]);
    assert_eq!(fixed[0]["fixed_at"], second["computed_at"]);
    assert_eq!(fixed[0]["installed"], "1.0-1", "the finding as it was");
    let (status, bad) = t
        .get_json(&format!("/api/v1/hosts/{host}/findings?include=everything"))
        .await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );

    // The vulnerable version comes back: a new episode, the fixed one stays.
    let third = report(
        &t,
        &client,
        &host,
        "1.0-1",
        "2026-11-04T00:00:00Z",
        &second["computed_at"],
    )
    .await;
    // Its deadline runs again from its return, so it now ranks after pw-tool's.
    assert_eq!(
        advisories(&third["findings"]),
        ["PW-2026-0202", "PW-2026-0101"]
    );
    let back = &third["findings"][1];
    assert_eq!(
        (back["episode"].as_u64(), back["status"].as_str()),
        (Some(2), Some("open"))
    );
    assert_eq!(back["first_seen"], third["computed_at"]);
    let (_, history) = t
        .get_json(&format!("/api/v1/hosts/{host}/findings?include=history"))
        .await;
    assert_eq!(advisories(&history["fixed"]), ["PW-2026-0101"]);
    assert_eq!(history["fixed"][0]["episode"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_risk_hides_a_finding_until_it_expires_or_is_revoked() {
    let t = TestController::start().await;
    let host = scanned_host(&t).await;
    let approver = t.operator("carol", Role::Approver).await;
    let operator = t.operator("olive", Role::Operator).await;
    let viewer = t.operator("victor", Role::Viewer).await;
    let accept = json!({"host": "web-1", "advisory": "CVE-2026-0202", "package": "pw-tool",
        "reason": "  no untrusted input reaches pw-tool  ", "expires": in_days(30)});
    let post = reqwest::Method::POST;
    for (token, who) in [(&viewer, "viewer"), (&operator, "operator")] {
        let (status, body) = send(
            &t,
            token,
            post.clone(),
            "/api/v1/findings/accept",
            Some(&accept),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("role_too_low")),
            "{who}"
        );
    }
    let (status, stored) = send(
        &t,
        &approver,
        post.clone(),
        "/api/v1/findings/accept",
        Some(&accept),
    )
    .await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["accepted_risks"].as_array().unwrap().len(), 1);
    let risk = &stored["accepted_risks"][0];
    assert_eq!(risk["accepted_by"], "carol");
    assert_eq!(risk["host_id"], host.as_str());
    assert_eq!(risk["reason"], "no untrusted input reaches pw-tool");
    assert_eq!(
        (risk["state"].as_str(), risk["findings_covered"].as_u64()),
        (Some("in_force"), Some(1))
    );
    let risk_id = risk["id"].as_str().unwrap().to_owned();

    let (_, view) = t.get_json(&format!("/api/v1/hosts/{host}/findings")).await;
    assert_eq!(advisories(&view["findings"]), ["PW-2026-0101"], "{view}");
    assert_eq!(advisories(&view["accepted"]), ["PW-2026-0202"]);
    let accepted = &view["accepted"][0];
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["accepted"]["by"], "carol");
    assert_eq!(accepted["accepted"]["id"], risk_id.as_str());
    assert_eq!(
        accepted["accepted"]["reason"],
        "no untrusted input reaches pw-tool"
    );
    assert_eq!(
        view["summary"],
        json!({"open": [1, 0, 0, 0, 0], "overdue": [0, 0, 0, 0, 0], "accepted": [1, 0, 0, 0, 0]})
    );
    let (_, fleet) = t.get_json("/api/v1/findings").await;
    assert_eq!(advisories(&fleet["findings"]), ["PW-2026-0101"]);
    assert_eq!(advisories(&fleet["accepted"]), ["PW-2026-0202"]);
    assert_eq!(fleet["summary"], view["summary"]);
    // The host list's count per tier is the open plus the accepted findings.
    assert_eq!(view["host"]["findings_by_tier"], json!([2, 0, 0, 0, 0]));
    assert_eq!(fleet["hosts"][0]["hostname"], "web-1");
    assert_eq!(fleet["hosts"][0]["accepted"], json!([1, 0, 0, 0, 0]));
    let audit = t.controller.state.store.audit_tail(20).await.unwrap();
    let record = audit.iter().find(|r| r.action == "risk.accepted").unwrap();
    assert_eq!(
        (record.actor.as_str(), record.subject.as_str()),
        ("carol", risk_id.as_str())
    );

    // An acceptance that has already expired (written through the store) hides nothing.
    let now = Timestamp::now();
    let expired = pw_store::NewAcceptedRisk {
        id: "risk-expired",
        host_id: None,
        advisory: "PW-2026-0101",
        package: None,
        reason: "accepted last month",
        accepted_by: "carol",
        accepted_at: now - SignedDuration::from_hours(24 * 30),
        expires_at: now - SignedDuration::from_secs(1),
    };
    t.controller
        .state
        .store
        .accept_risk(&expired)
        .await
        .unwrap();
    let (_, view) = t.get_json(&format!("/api/v1/hosts/{host}/findings")).await;
    assert_eq!(advisories(&view["findings"]), ["PW-2026-0101"], "{view}");
    assert!(view["findings"][0].get("accepted").is_none());
    let (_, listed) = t.get_json("/api/v1/accepted-risks").await;
    let states: Vec<(&str, &str)> = listed["accepted_risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("risk-expired", "expired"), (risk_id.as_str(), "in_force")]
    );

    // Revoking: approvers only; the finding is open again; a second revoke is a conflict.
    let delete = reqwest::Method::DELETE;
    let path = format!("/api/v1/accepted-risks/{risk_id}");
    let (status, _) = send(&t, &viewer, delete.clone(), &path, None).await;
    assert_eq!(status, 403);
    let (status, revoked) = send(&t, &approver, delete.clone(), &path, None).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(
        (revoked["state"].as_str(), revoked["revoked_by"].as_str()),
        (Some("revoked"), Some("carol"))
    );
    let (_, view) = t.get_json(&format!("/api/v1/hosts/{host}/findings")).await;
    assert_eq!(
        advisories(&view["findings"]),
        ["PW-2026-0101", "PW-2026-0202"]
    );
    assert_eq!(view["accepted"], json!([]));
    let (status, again) = send(&t, &approver, delete.clone(), &path, None).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("accepted_risk_revoked"))
    );
    let (status, unknown) = send(
        &t,
        &approver,
        delete,
        "/api/v1/accepted-risks/risk-nope",
        None,
    )
    .await;
    assert_eq!(
        (status, unknown["error"]["code"].as_str()),
        (404, Some("accepted_risk_not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_acceptances_are_refused_naming_the_field_and_store_nothing() {
    let t = TestController::start().await;
    for hostname in ["web-1", "web-2", "db-1"] {
        agent(&t, hostname).await;
    }
    let approver = t.operator("carol", Role::Approver).await;
    let base = json!({"host": "web-1", "advisory": "CVE-2026-0202", "reason": "r", "expires": in_days(30)});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let cases = [
        (with("reason", json!("   ")), 400, "reason"),
        (with("reason", json!("x".repeat(1001))), 400, "reason"),
        (with("expires", json!(in_days(-1))), 400, "expires"),
        (with("expires", json!(in_days(366))), 400, "expires"),
        (with("advisory", json!("CVE 1; rm")), 400, "advisory"),
        (with("package", json!("-rf")), 400, "package"),
        (with("host", json!("nope")), 404, "nope"),
        (with("all_hosts", json!(true)), 400, "all_hosts"),
        (with("group", json!("web")), 400, "group"),
        (
            json!({"advisory": "CVE-1", "reason": "r", "expires": in_days(1)}),
            400,
            "host",
        ),
        (with("expires", json!("next week")), 422, "expires"),
        (with("approver", json!("mallory")), 422, "approver"),
    ];
    for (body, expected, named) in cases {
        let (status, answer) = accept(&t, &approver, &body).await;
        assert_eq!(status, expected, "{body} -> {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{message} should name {named}");
    }
    let (_, listed) = t.get_json("/api/v1/accepted-risks").await;
    assert_eq!(listed["accepted_risks"], json!([]));
    // Every host: one acceptance without a host.
    let everywhere = json!({"all_hosts": true, "advisory": "CVE-2026-0202",
        "reason": "fleet-wide decision", "expires": in_days(365)});
    let (status, stored) = accept(&t, &approver, &everywhere).await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["accepted_risks"][0]["host_id"], Value::Null);
    // A group: one acceptance per member host now.
    let by_group = json!({"group": "web", "advisory": "CVE-2026-0202",
        "reason": "web tier reviewed", "expires": in_days(7)});
    let (status, refused) = accept(&t, &approver, &by_group).await;
    assert_eq!(status, 400, "no fleet document yet: {refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("group: unknown group"), "{message}");
    let fleet = group_toml("web", "production", "web-*");
    t.apply_fleet(&fleet).await;
    let (status, stored) = accept(&t, &approver, &by_group).await;
    assert_eq!(status, 201, "{stored}");
    let mut hosts: Vec<&str> = stored["accepted_risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["hostname"].as_str().unwrap())
        .collect();
    hosts.sort_unstable();
    assert_eq!(hosts, ["web-1", "web-2"]);
}

/// `POST /api/v1/findings/accept` as the operator holding `token`.
async fn accept(t: &TestController, token: &str, body: &Value) -> (u16, Value) {
    let path = "/api/v1/findings/accept";
    send(t, token, reqwest::Method::POST, path, Some(body)).await
}

/// A finding of `tier` with `deadline`, as the scan writes it.
fn stored_finding(binary: &str, advisory: &str, tier: Tier, deadline: Timestamp) -> Finding {
    Finding {
        binary: binary.into(),
        installed: "1.0-1".into(),
        package: binary.into(),
        package_version: "1.0-1".into(),
        advisory: advisory.into(),
        aliases: vec![],
        fixed: Some("1.0-2".into()),
        tier,
        deadline: Some(deadline),
        reasons: vec![],
        summary: String::new(),
        published: None,
        cvss: None,
        epss: None,
        kev: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gauges_per_tier_agree_with_the_api() {
    let t = TestController::start().await;
    scanned_host(&t).await;
    // A second host whose stored findings are past their deadline or accepted.
    let (old_host, _) = agent(&t, "db-1").await;
    let now = Timestamp::now();
    let long_ago = now - SignedDuration::from_hours(24 * 40);
    let findings = [
        stored_finding("libfoo", "PW-OLD-1", Tier::T1, long_ago),
        stored_finding("libbar", "PW-OLD-2", Tier::T3, long_ago),
    ];
    let store = &t.controller.state.store;
    record(&t, &old_host, long_ago, &findings).await;
    let risk = pw_store::NewAcceptedRisk {
        id: "risk-bar",
        host_id: Some(&old_host),
        advisory: "PW-OLD-2",
        package: None,
        reason: "libbar is not loaded",
        accepted_by: "carol",
        accepted_at: now,
        expires_at: now + SignedDuration::from_hours(24),
    };
    store.accept_risk(&risk).await.unwrap();

    let expected =
        json!({"open": [2, 1, 0, 0, 0], "overdue": [0, 1, 0, 0, 0], "accepted": [0, 0, 0, 1, 0]});
    let (_, fleet) = t.get_json("/api/v1/findings").await;
    assert_eq!(fleet["summary"], expected, "{fleet}");
    let (_, old) = t
        .get_json(&format!("/api/v1/hosts/{old_host}/findings"))
        .await;
    assert_eq!(old["findings"][0]["status"], "overdue");
    assert_eq!(old["summary"]["overdue"], json!([0, 1, 0, 0, 0]));
    let (status, text) = t.get_text("/metrics").await;
    assert_eq!(status, 200);
    for (family, counts) in [
        ("open", [2, 1, 0, 0, 0]),
        ("overdue", [0, 1, 0, 0, 0]),
        ("accepted", [0, 0, 0, 1, 0]),
    ] {
        for (tier, count) in counts.iter().enumerate() {
            let line = format!("patchwarden_findings_{family}{{tier=\"T{tier}\"}} {count}\n");
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
    }
}
