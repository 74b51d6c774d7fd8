//! Plans in the controller through the API (issue 9 item 3): built from what fake agents over
//! real mTLS reported (hosts by name or a fleet group; `security` = upgrades offered from a
//! security suite, `all`, named packages), authored by the token's operator; four eyes (the
//! author's approval is 403 `four_eyes`), roles, a reason to reject; a plan whose live versions
//! moved is stale (409 `plan_outdated`) until refreshed; a production group with a staging
//! counterpart cannot be approved before the staging run; an approved plan is scheduled and
//! handed to the rollout engine. Every refusal names what is wrong and stores nothing.

use serde_json::{Value, json};

use crate::support::{TestController, client_with_token, findings_after, tls_client};

pub(crate) use pw_testkit::fixtures::web_fleet as document;

/// An inventory offering libssl3 from the security suite (to `security`) and bash from
/// bookworm-updates.
fn inventory(hostname: &str, security: &str) -> Value {
    json!({
        "protocol_version": 1, "hostname": hostname, "os": "debian:12",
        "packages": [
            {"name": "libssl3", "version": "3.0.0-1", "arch": "amd64", "source": "openssl"},
            {"name": "bash", "version": "5.2.15-2+b2", "arch": "amd64"}
        ],
        "pending_updates": [
            {"package": "libssl3", "arch": "amd64", "from_version": "3.0.0-1",
             "to_version": security, "origin": "Debian-Security", "suite": "bookworm-security"},
            {"package": "bash", "arch": "amd64", "from_version": "5.2.15-2+b2",
             "to_version": "5.2.15-2+b7", "origin": "Debian", "suite": "bookworm-updates"}
        ],
        "reboot_required": false,
        "collected_at": "2026-11-01T00:00:00Z"
    })
}

pub(crate) struct Agent {
    client: reqwest::Client,
    hostname: String,
    pub(crate) host_id: String,
}

pub(crate) async fn enroll(t: &TestController, hostname: &str) -> Agent {
    let token = t.token().await;
    let (status, enrolled, key) = t.enroll(&token, hostname).await;
    assert_eq!(status, 200, "{enrolled}");
    let cert = enrolled["certificate_pem"].as_str().unwrap();
    let agent = Agent {
        client: tls_client(&t.ca_pem(), Some((cert, &key))),
        hostname: hostname.to_owned(),
        host_id: enrolled["host_id"].as_str().unwrap().to_owned(),
    };
    report(t, &agent, "3.0.17-1~deb12u2").await;
    agent
}

/// Reports an inventory and waits until the controller ranked it (plans read the ranking).
async fn report(t: &TestController, agent: &Agent, security: &str) {
    let path = format!("/api/v1/hosts/{}/findings", agent.host_id);
    let (_, before) = t.get_json(&path).await;
    let body = inventory(&agent.hostname, security);
    assert_eq!(t.agent_post(&agent.client, "inventory", &body).await, 200);
    findings_after(t, &agent.host_id, &before["computed_at"]).await;
}

async fn apply_fleet(t: &TestController, staging: bool) {
    t.apply_fleet(&document(staging)).await;
}

/// `POST path` with `token`: (status, body).
pub(crate) async fn post(
    t: &TestController,
    token: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let answer = client_with_token(token)
        .post(t.http(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

async fn plan_count(t: &TestController) -> usize {
    let (status, list) = t.get_json("/api/v1/plans").await;
    assert_eq!(status, 200, "{list}");
    list["plans"].as_array().unwrap().len()
}

fn changes(plan: &Value) -> Vec<(String, String, String, String)> {
    let mut out: Vec<_> = plan["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| {
            h["changes"].as_array().unwrap().iter().map(move |c| {
                (
                    h["hostname"].as_str().unwrap().to_owned(),
                    c["package"].as_str().unwrap().to_owned(),
                    c["from"].as_str().unwrap_or("-").to_owned(),
                    c["to"].as_str().unwrap().to_owned(),
                )
            })
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_group_plan_from_live_data_needs_a_second_approver_and_is_then_scheduled() {
    let t = TestController::start().await;
    apply_fleet(&t, false).await;
    for name in ["web-0", "web-1"] {
        enroll(&t, name).await;
    }
    let alice = t.operator("alice", pw_server::Role::Approver).await;
    let bob = t.operator("bob", pw_server::Role::Approver).await;
    let viewer = t.operator("vera", pw_server::Role::Viewer).await;
    let request = json!({"name": "2026-12 security", "group": "web", "updates": "security"});

    let (status, refused) = post(&t, &viewer, "/api/v1/plans", &request).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(plan_count(&t).await, 0);

    let (status, plan) = post(&t, &alice, "/api/v1/plans", &request).await;
    assert_eq!(status, 201, "{plan}");
    assert_eq!(plan["state"], "draft");
    assert_eq!(plan["author"], "alice");
    assert_eq!(plan["live"], true);
    assert_eq!(plan["production"], true);
    let id = plan["id"].as_i64().unwrap();
    assert_eq!(
        changes(&plan),
        vec![
            (
                "web-0".into(),
                "libssl3".into(),
                "3.0.0-1".into(),
                "3.0.17-1~deb12u2".into()
            ),
            (
                "web-1".into(),
                "libssl3".into(),
                "3.0.0-1".into(),
                "3.0.17-1~deb12u2".into()
            ),
        ],
        "security only: bash from bookworm-updates is not in the plan"
    );
    let change = &plan["hosts"][0]["changes"][0];
    assert_eq!(change["reason"], "security", "{change}");
    assert_eq!(change["suite"], "bookworm-security", "{change}");
    assert!(
        change["tier"].is_string(),
        "a security upgrade is ranked: {change}"
    );
    assert!(change["deadline"].is_string(), "{change}");
    assert_eq!(plan["hosts"][0]["diff"][0], "- libssl3 3.0.0-1", "{plan:#}");
    assert_eq!(plan["rollback"][0]["versions"], json!(["libssl3=3.0.0-1"]));
    assert_eq!(
        plan["evidence_requested"].as_array().unwrap().len(),
        2,
        "the agents are asked for the risk evidence of exactly these targets: {plan:#}"
    );
    let slot = &plan["slots"][0];
    assert!(
        slot["rollback_buffer_seconds"].as_u64().unwrap() * 10
            >= 3 * (slot["rollback_buffer_seconds"].as_u64().unwrap()
                + slot["usable_seconds"].as_u64().unwrap()),
        "at least 30% of a window is kept for rolling back: {slot}"
    );

    let (status, all) = post(
        &t,
        &alice,
        "/api/v1/plans",
        &json!({"name": "everything", "hosts": ["web-1"], "updates": "all"}),
    )
    .await;
    assert_eq!(status, 201, "{all}");
    assert_eq!(
        changes(&all),
        vec![
            (
                "web-1".into(),
                "bash".into(),
                "5.2.15-2+b2".into(),
                "5.2.15-2+b7".into()
            ),
            (
                "web-1".into(),
                "libssl3".into(),
                "3.0.0-1".into(),
                "3.0.17-1~deb12u2".into()
            ),
        ]
    );

    let path = |action: &str| format!("/api/v1/plans/{id}/{action}");
    let (status, submitted) = post(&t, &alice, &path("submit"), &json!({})).await;
    assert_eq!(
        (status, submitted["state"].as_str()),
        (200, Some("in_review"))
    );
    let (status, own) = post(&t, &alice, &path("approve"), &json!({})).await;
    assert_eq!(status, 403, "{own}");
    assert_eq!(own["error"]["code"], "four_eyes", "{own}");
    let (status, no_reason) = post(&t, &bob, &path("reject"), &json!({"reason": " "})).await;
    assert_eq!(status, 400, "{no_reason}");
    assert!(
        no_reason["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reason")
    );
    let (_, unchanged) = t.get_json(&format!("/api/v1/plans/{id}")).await;
    assert_eq!(unchanged["state"], "in_review");
    assert_eq!(unchanged["version"], submitted["version"]);

    let (status, approved) = post(&t, &bob, &path("approve"), &json!({"comment": "ok"})).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "scheduled", "{approved:#}");
    assert!(
        approved["problems"].as_array().unwrap().is_empty(),
        "{approved:#}"
    );
    let rollout = approved["rollout"].as_str().expect("the plan's rollout");
    let (status, view) = t.get_json(&format!("/api/v1/rollouts/{rollout}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["plan"]["id"], id, "{view:#}");
    assert_eq!(view["plan"]["author"], "alice");
    assert_eq!(view["plan"]["approver"], "bob");
    let events: Vec<&str> = approved["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["saved", "submitted", "approved", "scheduled", "rolled_out"],
        "{approved:#}"
    );
}

#[tokio::test]
async fn a_plan_whose_live_versions_moved_is_stale_until_refreshed() {
    let t = TestController::start().await;
    apply_fleet(&t, false).await;
    let agent = enroll(&t, "web-0").await;
    let alice = t.operator("alice", pw_server::Role::Operator).await;
    let bob = t.operator("bob", pw_server::Role::Approver).await;
    let request = json!({"name": "n", "hosts": ["web-0"], "updates": {"packages": ["libssl3"]}});
    let (status, plan) = post(&t, &alice, "/api/v1/plans", &request).await;
    assert_eq!(status, 201, "{plan}");
    let id = plan["id"].as_i64().unwrap();
    let path = |action: &str| format!("/api/v1/plans/{id}/{action}");
    post(&t, &alice, &path("submit"), &json!({})).await;

    report(&t, &agent, "3.0.18-1~deb12u1").await;
    let (_, shown) = t.get_json(&format!("/api/v1/plans/{id}")).await;
    let stale = shown["stale"].as_array().unwrap();
    assert_eq!(stale.len(), 1, "{shown:#}");
    assert!(
        stale[0].as_str().unwrap().contains("3.0.18-1~deb12u1"),
        "{stale:?}"
    );
    let (status, refused) = post(&t, &bob, &path("approve"), &json!({})).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "plan_outdated");
    let (status, refused) = post(&t, &bob, &path("reject"), &json!({"reason": "stale"})).await;
    assert_eq!(
        (status, refused["state"].as_str()),
        (200, Some("rejected")),
        "{refused}"
    );

    let (status, refreshed) = post(&t, &alice, &path("refresh"), &json!({})).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["state"], "draft");
    assert!(refreshed["stale"].as_array().unwrap().is_empty());
    assert!(refreshed["version"].as_i64() > refused["version"].as_i64());
    assert_eq!(
        changes(&refreshed),
        vec![(
            "web-0".into(),
            "libssl3".into(),
            "3.0.0-1".into(),
            "3.0.18-1~deb12u1".into()
        )]
    );
}

#[tokio::test]
async fn production_needs_the_staging_run_before_approval() {
    let t = TestController::start().await;
    apply_fleet(&t, true).await;
    enroll(&t, "stage-0").await;
    enroll(&t, "web-0").await;
    let alice = t.operator("alice", pw_server::Role::Operator).await;
    let bob = t.operator("bob", pw_server::Role::Approver).await;
    let request = json!({"name": "prod", "group": "web", "updates": "security"});
    let (status, plan) = post(&t, &alice, "/api/v1/plans", &request).await;
    assert_eq!(status, 201, "{plan}");
    let id = plan["id"].as_i64().unwrap();
    post(
        &t,
        &alice,
        &format!("/api/v1/plans/{id}/submit"),
        &json!({}),
    )
    .await;
    let (status, refused) =
        post(&t, &bob, &format!("/api/v1/plans/{id}/approve"), &json!({})).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "plan_refused");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("web-staging"), "{message}");
    let (_, shown) = t.get_json(&format!("/api/v1/plans/{id}")).await;
    assert_eq!(shown["state"], "in_review", "nothing changed: {shown:#}");
    let (_, rollouts) = t.get_json("/api/v1/rollouts").await;
    assert_eq!(rollouts["rollouts"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn bad_plan_requests_name_what_is_wrong_and_store_nothing() {
    let t = TestController::start().await;
    let (status, body) = t
        .post_json(
            "/api/v1/plans",
            &json!({"name": "n", "group": "web", "updates": "all"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("fleet_not_applied"))
    );
    apply_fleet(&t, false).await;
    enroll(&t, "web-0").await;
    enroll(&t, "loner").await;
    let cases = [
        (
            json!({"name": "n", "group": "nope", "updates": "all"}),
            400,
            "\"nope\"",
        ),
        (
            json!({"name": "n", "hosts": ["ghost"], "updates": "all"}),
            400,
            "hosts[0]",
        ),
        (
            json!({"name": "n", "hosts": ["loner"], "updates": "all"}),
            400,
            "in no group",
        ),
        (
            json!({"name": "n", "hosts": ["web-0", "web-0"], "updates": "all"}),
            400,
            "twice",
        ),
        (
            json!({"name": "n", "hosts": ["web-0"], "group": "web", "updates": "all"}),
            400,
            "not both",
        ),
        (
            json!({"name": "", "group": "web", "updates": "all"}),
            400,
            "name",
        ),
        (
            json!({"name": "n", "group": "web", "updates": "all", "horizon_days": 400}),
            400,
            "horizon_days",
        ),
        (
            json!({"name": "n", "group": "web", "updates": "some"}),
            422,
            "updates",
        ),
        (
            json!({"name": "n", "group": "web", "updates": "all", "extra": 1}),
            422,
            "extra",
        ),
        (
            json!({"name": "n", "group": "web", "updates": {"packages": ["zsh"]}}),
            422,
            "zsh",
        ),
        (
            json!({"name": "n", "group": "web", "updates": {"packages": ["a b"]}}),
            400,
            "a b",
        ),
        (
            json!({"name": "n", "group": "web", "updates": "all", "hooks": {"migrations": [
                {"name": "schema", "forward": ["/usr/bin/true"], "reverse": ["migrate"]}]}}),
            400,
            "hooks.migrations[0].reverse: the program \"migrate\" must be an absolute path",
        ),
        (
            json!({"name": "n", "group": "web", "updates": "all", "hooks": {"stop_units": ["a; reboot"]}}),
            400,
            "hooks.stop_units[0]",
        ),
        (
            json!({"name": "n", "group": "web", "updates": "all", "hooks": {"stop": []}}),
            422,
            "stop",
        ),
        (
            json!({"name": "n", "group": "web",
                   "updates": {"downgrade": {"zsh": "5.9-4"}, "archive": "srv/debs"}}),
            400,
            "updates.archive: \"srv/debs\" must be an absolute path to a directory other than /",
        ),
        (
            json!({"name": "n", "group": "web",
                   "updates": {"downgrade": {"zsh": "5.9-4"}, "archive": "/srv/../etc"}}),
            400,
            "updates.archive: \"/srv/../etc\" must not contain empty, . or .. components, nor components starting with .",
        ),
        (
            json!({"name": "n", "group": "web",
                   "updates": {"downgrade": {"zsh": "5.9-4"}, "archive": "/srv/debs;reboot"}}),
            400,
            "updates.archive: \"/srv/debs;reboot\": the character ';' is not allowed",
        ),
    ];
    for (body, expected, needle) in cases {
        let (status, answer) = t.post_json("/api/v1/plans", &body).await;
        assert_eq!(status, expected, "{body} → {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body} → {message}");
    }
    assert_eq!(plan_count(&t).await, 0);
    let (status, missing) = t.get_json("/api/v1/plans/42").await;
    assert_eq!(
        (status, missing["error"]["code"].as_str()),
        (404, Some("plan_not_found"))
    );
    let (status, bad) = t.get_json("/api/v1/plans/x").await;
    assert_eq!(status, 400, "{bad}");
}
