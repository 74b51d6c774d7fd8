//! The fleet document through the API: apply (versioned, audited with the operator), dry run
//! (diff, nothing stored), 422 listing every problem with its path (nothing stored), 403 for
//! roles below admin, 409 for a stale expected version; groups resolved against fake agents'
//! names and labels (conflicts included); scoped emergency flags reaching the ranking of the
//! hosts they cover only, at once (applying ranks the stored inventories again).

use serde_json::{Value, json};

use crate::labels::{agent, report_labels};
use crate::support::{TestController, client_with_token, findings_after};

const WINDOW: &str = r#"windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-11-01T01:00:00", tz = "UTC", duration = "4h" }]"#;

fn document(web_max_in_flight: &str) -> String {
    format!(
        r#"
[groups.web-staging]
environment = "staging"
owners = ["web-team@example.com"]
{WINDOW}
[groups.web-staging.members]
hostnames = ["stage-*"]

[groups.web]
environment = "production"
staging_counterpart = "web-staging"
owners = ["web-team@example.com", "noc@example.com"]
{WINDOW}
[groups.web.rollout]
max_in_flight = "{web_max_in_flight}"
[groups.web.members]
hosts = ["lb1"]
labels = {{ role = "web" }}

[groups.db]
environment = "production"
owners = ["dba@example.com"]
{WINDOW}
[groups.db.members]
labels = {{ tier = "data" }}
"#
    )
}

/// `PUT /api/v1/fleet{query}` with `token`: (status, body).
async fn put(t: &TestController, token: &str, query: &str, text: &str) -> (u16, Value) {
    let answer = client_with_token(token)
        .put(t.http(&format!("/api/v1/fleet{query}")))
        .header("content-type", "application/toml")
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

async fn version_count(t: &TestController) -> usize {
    let (status, versions) = t.get_json("/api/v1/fleet/versions").await;
    assert_eq!(status, 200);
    versions["versions"].as_array().unwrap().len()
}

#[tokio::test]
async fn dry_run_apply_versions_and_a_stale_expected_version() {
    let t = TestController::start().await;
    let admin = t.admin_token.clone();
    let (status, body) = t.get_json("/api/v1/fleet").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("fleet_not_applied"))
    );

    let first = document("10%");
    let (status, dry) = put(&t, &admin, "?dry_run=true", &first).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["version"], Value::Null);
    let added: Vec<(&str, &str)> = dry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        added,
        [
            ("added", "groups.db"),
            ("added", "groups.web"),
            ("added", "groups.web-staging")
        ]
    );
    let new = dry["changes"][0]["new"].as_str().unwrap();
    assert_eq!(dry["changes"][0]["text"], format!("+ groups.db = {new}"));
    assert_eq!(version_count(&t).await, 0, "a dry run stores nothing");

    let (status, applied) = put(&t, &admin, "?expected_version=0", &first).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(
        (
            applied["version"].as_i64(),
            applied["previous_version"].as_i64()
        ),
        (Some(1), Some(0))
    );
    let (_, current) = t.get_json("/api/v1/fleet").await;
    assert_eq!(current["version"], 1);
    assert_eq!(current["document"], first.as_str());
    assert_eq!(current["operator"], "test-admin");

    // Stale: nothing is written, with or without a dry run.
    let second = document("25%");
    for query in [
        "?expected_version=0",
        "?expected_version=0&dry_run=true",
        "?expected_version=7",
    ] {
        let (status, body) = put(&t, &admin, query, &second).await;
        assert_eq!(status, 409, "{query}: {body}");
        assert_eq!(body["error"]["code"], "fleet_stale");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("version 1"),
            "{body}"
        );
    }
    assert_eq!(version_count(&t).await, 1);

    let (status, dry) = put(&t, &admin, "?dry_run=true&expected_version=1", &second).await;
    assert_eq!(status, 200, "{dry}");
    let texts: Vec<&str> = dry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["~ groups.web.rollout.max_in_flight: \"10%\" → \"25%\""]
    );
    let (status, applied) = put(&t, &admin, "?expected_version=1", &second).await;
    assert_eq!(
        (status, applied["version"].as_i64()),
        (200, Some(2)),
        "{applied}"
    );

    let (_, versions) = t.get_json("/api/v1/fleet/versions").await;
    let listed: Vec<i64> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [2, 1]);
    assert_eq!(versions["versions"][0]["summary"][0], texts[0]);
    assert_eq!(versions["versions"][0]["operator"], "test-admin");
    let (_, audit) = t.get_json("/api/v1/audit").await;
    let applies: Vec<&Value> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "fleet.applied")
        .collect();
    assert_eq!(applies.len(), 2, "{audit}");
    assert!(applies.iter().all(|r| r["actor"] == "test-admin"));
}

#[tokio::test]
async fn an_invalid_document_is_422_with_every_problem_and_nothing_is_stored() {
    let t = TestController::start().await;
    let admin = t.admin_token.clone();
    let text = document("10%")
        .replace("max_in_flight = \"10%\"", "max_inflight = 3")
        .replace("role = \"web\"", "\"Bad Key\" = \"web\"")
        .replace(
            "hostnames = [\"stage-*\"]",
            "hostnames = [\"stage-*\", \"web!\"]",
        )
        + "[priority.tiers.t0]\ndeadline = \"30m\"\n\n[[emergency]]\ncve = \"CVE-24-1\"\ngroups = [\"nope\"]\nreason = \"x\"\n";
    for query in ["", "?dry_run=true"] {
        let (status, body) = put(&t, &admin, query, &text).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "fleet_invalid");
        let paths: Vec<&str> = body["error"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["path"].as_str().unwrap())
            .collect();
        for expected in [
            "groups.web.rollout.max_inflight",
            "priority.tiers.t0.deadline",
            "groups.web.members.labels.Bad Key",
            "groups.web-staging.members.hostnames[1]",
            "emergency[0].cve",
            "emergency[0].groups[0]",
            "emergency[0].expires",
        ] {
            assert!(paths.contains(&expected), "{expected} missing: {body}");
        }
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{} problems", paths.len())),
            "{body}"
        );
    }
    assert_eq!(version_count(&t).await, 0);
    let (_, audit) = t.get_json("/api/v1/audit").await;
    assert!(!audit.to_string().contains("fleet.applied"));

    let answer = t
        .api()
        .put(t.http("/api/v1/fleet"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 415);
}

#[tokio::test]
async fn only_admins_apply_and_viewers_read() {
    let t = TestController::start().await;
    let viewer = t.operator("vera", pw_server::Role::Viewer).await;
    let approver = t.operator("abe", pw_server::Role::Approver).await;
    for token in [&viewer, &approver] {
        let (status, body) = put(&t, token, "?dry_run=true", &document("10%")).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "role_too_low");
    }
    assert_eq!(version_count(&t).await, 0);
    let (status, _) = put(&t, &t.admin_token.clone(), "", &document("10%")).await;
    assert_eq!(status, 200);
    for path in ["/api/v1/fleet", "/api/v1/fleet/versions", "/api/v1/groups"] {
        let answer = client_with_token(&viewer)
            .get(t.http(path))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn groups_resolve_known_hosts_by_name_pattern_and_labels_with_conflicts() {
    let t = TestController::start().await;
    let mut hosts = Vec::new();
    for (name, labels) in [
        ("lb1", json!({"role": "db", "tier": "data"})),
        ("web-1", json!({"role": "web"})),
        ("stage-web-1", json!({"role": "web"})),
        ("db-1", json!({"tier": "data"})),
        ("both-1", json!({"role": "web", "tier": "data"})),
        ("other-1", json!({"role": "cache"})),
    ] {
        let (id, client) = agent(&t, name).await;
        let (status, _) = report_labels(&t, &client, name, labels).await;
        assert_eq!(status, 200);
        hosts.push(id);
    }
    let (_, before) = t.get_json("/api/v1/groups").await;
    assert_eq!(before["fleet_version"], Value::Null);
    assert_eq!(before["groups"], json!([]));
    assert_eq!(before["ungrouped"].as_array().unwrap().len(), 6);

    let (status, _) = put(&t, &t.admin_token.clone(), "", &document("10%")).await;
    assert_eq!(status, 200);
    let (status, groups) = t.get_json("/api/v1/groups").await;
    assert_eq!(status, 200, "{groups}");
    assert_eq!(groups["fleet_version"], 1);
    let group = |name: &str| -> Value {
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .cloned()
            .unwrap()
    };
    let members = |name: &str| -> Vec<(String, String)> {
        group(name)["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["hostname"].as_str().unwrap().to_owned(),
                    m["matched_by"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        members("web"),
        pairs(&[("lb1", "hosts"), ("web-1", "labels")])
    );
    assert_eq!(
        members("web-staging"),
        pairs(&[("stage-web-1", "hostnames")])
    );
    assert_eq!(members("db"), pairs(&[("db-1", "labels")]));
    assert_eq!(group("web")["environment"], "production");
    assert_eq!(group("web")["staging_counterpart"], "web-staging");
    assert_eq!(
        group("web")["owners"],
        json!(["web-team@example.com", "noc@example.com"])
    );
    let conflict = json!({"host_id": hosts[4], "hostname": "both-1", "level": "labels", "groups": ["db", "web"]});
    assert_eq!(groups["conflicts"], json!([conflict]));
    assert_eq!(group("web")["conflicts"], json!([conflict]));
    assert_eq!(group("db")["conflicts"], json!([conflict]));
    let ungrouped: Vec<&str> = groups["ungrouped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(ungrouped, ["both-1", "other-1"]);
}

const OSV: &str = r#"{"id": "PW-2026-0002", "modified": "2026-11-01T00:00:00Z",
  "published": "2026-11-01T00:00:00Z", "summary": "pw-demo security fix", "aliases": ["CVE-2026-40001"],
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "pw-demo"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}]}]}"#;

/// Reports pw-demo 1.0-1 for `hostname` and waits for findings newer than `after`.
async fn ranked(
    t: &TestController,
    client: &reqwest::Client,
    host: &str,
    hostname: &str,
    after: &Value,
) -> Value {
    let inventory = json!({
        "protocol_version": 1, "hostname": hostname, "os": "debian:12",
        "packages": [{"name": "pw-demo", "version": "1.0-1", "arch": "all"}],
        "reboot_required": false, "collected_at": "2026-11-01T00:00:00Z", "labels": {}
    });
    assert_eq!(t.agent_post(client, "inventory", &inventory).await, 200);
    findings_after(t, host, after).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_emergency_flag_makes_the_fix_t0_on_the_hosts_it_covers_only() {
    let t = TestController::start_with_manual_clock().await;
    let input = pw_feeds::Input::new("pw-demo.json", OSV.as_bytes().to_vec());
    pw_feeds::import(&t.controller.state.store, &[input], &pw_feeds::Silent)
        .await
        .unwrap();
    let (web, web_client) = agent(&t, "web-1").await;
    let (other, other_client) = agent(&t, "other-1").await;
    let tier = |body: &Value| body["findings"][0]["tier"].as_str().unwrap().to_owned();
    let web_before = ranked(&t, &web_client, &web, "web-1", &Value::Null).await;
    let other_before = ranked(&t, &other_client, &other, "other-1", &Value::Null).await;
    assert_ne!(tier(&web_before), "T0", "{web_before}");

    let flagged = document("10%")
        + "\n[[emergency]]\ncve = \"cve-2026-40001\"\nhosts = [\"web-1\"]\nreason = \"exploit seen in our honeypot\"\nexpires = \"2099-01-01T00:00:00Z\"\n";
    // The ranking after the flag is computed a second later (findings times are whole seconds).
    t.advance(1);
    let (status, body) = put(&t, &t.admin_token.clone(), "", &flagged).await;
    assert_eq!(status, 200, "{body}");
    // Applying ranks the stored inventories again: no new report is needed.
    let web_after = findings_after(&t, &web, &web_before["computed_at"]).await;
    let other_after = findings_after(&t, &other, &other_before["computed_at"]).await;
    assert_eq!(tier(&web_after), "T0", "{web_after}");
    let reason = web_after["findings"][0]["reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("operator emergency flag on CVE-2026-40001: exploit seen in our honeypot"),
        "{reason}"
    );
    assert_eq!(tier(&other_after), tier(&other_before), "{other_after}");
}

#[tokio::test]
async fn production_hosts_take_no_ad_hoc_change_staging_hosts_do() {
    let t = TestController::start().await;
    let (prod, _) = agent(&t, "lb1").await;
    let (stage, _) = agent(&t, "stage-web-1").await;
    let targets = json!([{"name": "pw-demo", "version": "1.0-2"}]);
    let rollout = |host: &str| json!({"hosts": [host], "targets": targets, "canary_size": 1});
    let install = json!({"command": {"kind": "install_packages", "packages": targets}});
    // Before any fleet document, no host is known to be production.
    let (status, body) = t
        .post_json(&format!("/api/v1/hosts/{prod}/commands"), &install)
        .await;
    assert_eq!(status, 201, "{body}");

    let (status, _) = put(&t, &t.admin_token.clone(), "", &document("10%")).await;
    assert_eq!(status, 200);
    let (status, body) = t.post_json("/api/v1/rollouts", &rollout(&prod)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "production_needs_plan");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("lb1") && message.contains("group web"),
        "{message}"
    );
    let (_, list) = t.get_json("/api/v1/rollouts").await;
    assert_eq!(list["rollouts"], json!([]), "nothing stored");
    let (status, body) = t
        .post_json(&format!("/api/v1/hosts/{prod}/commands"), &install)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "production_needs_plan");

    let (status, body) = t.post_json("/api/v1/rollouts", &rollout(&stage)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = t
        .post_json(&format!("/api/v1/hosts/{stage}/commands"), &install)
        .await;
    assert_eq!(status, 201, "{body}");
}
