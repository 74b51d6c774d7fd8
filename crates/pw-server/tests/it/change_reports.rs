//! Change reports (issue 13 item 5) over a real controller: a stored plan for three hosts,
//! approved with four eyes and rolled out to fake agents over real mTLS — web-0 done, web-1
//! rolled back by a failed health check, web-2 failed to roll back — then reported per plan and
//! per rollout as JSON (plan vs actual, exact versions before and after, the failures, the
//! operation log), HTML in both languages and a PDF printed by the real Chromium, read back with
//! `pdftotext`. Refusals name what is wrong; viewers may read; the console links to the reports.

use std::time::Duration;

use jiff::Timestamp;
use pw_server::Role;
use serde_json::{Value, json};

use crate::plan_rollouts::{Agent, approve, enroll, stored_plan_with};
use crate::support::{TestController, browser, client_with_token};

const POLICY: &str = r#"
[rollout]
verification = "1s"
canary_percent = 34
max_in_flight = 1
canary_max_failures = 1
max_failures = 2
continue_after_failed_batch = true

[estimates]
apply = "0s"
rollback = "0s"
host_overhead = "0s"

[health_checks.demo-http]
kind = "http"
target = "http://localhost:18080/cgi-bin/health"

[groups.web]
environment = "production"
owners = ["web-team@example.com"]
windows = [{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "23h" }]
health_checks = ["demo-http"]
"#;

/// Each host its own target (a rollback blocks its version fleet-wide; the others go on).
const TARGETS: [(&str, &str); 3] = [("web-0", "1.0-2"), ("web-1", "1.0-3"), ("web-2", "1.0-4")];

/// The plan over web-0…2, stored by alice and approved by bob; its number.
async fn approved_plan(t: &TestController, agents: &[Agent]) -> i64 {
    let hosts: Vec<(&str, &str, &str)> = agents
        .iter()
        .zip(TARGETS)
        .map(|(agent, (_, fixed))| (agent.host_id.as_str(), agent.hostname.as_str(), fixed))
        .collect();
    let (id, plan) = stored_plan_with(t, &hosts, POLICY).await;
    approve(t, id, &plan).await;
    id
}

/// What each host's guard reports: web-0 done, web-1 rolled back (health), web-2 failed.
fn guard_report(hostname: &str, target: &Value) -> Value {
    let recorded = json!([{"name": "pw-demo", "version": "1.0-1"}]);
    let targets = json!([{"name": "pw-demo", "version": target}]);
    let at = Timestamp::now().to_string();
    match hostname {
        "web-0" => json!({"outcome": "done", "recorded": recorded, "final_versions": targets,
            "installed_at": at, "passed_checks": ["demo-http"], "failed_check": null}),
        "web-1" => json!({"outcome": "rolled_back", "reason": "health_check_failed",
            "detail": "demo-http answered 500", "recorded": recorded,
            "final_versions": recorded, "installed_at": at, "passed_checks": [],
            "failed_check": "demo-http"}),
        _ => json!({"outcome": "failed", "detail": "apt-get could not reinstall pw-demo 1.0-1",
            "recorded": recorded, "final_versions": targets, "installed_at": at,
            "passed_checks": [], "failed_check": "demo-http"}),
    }
}

async fn serve(t: &TestController, agent: &Agent) {
    let batch = t.agent_poll(&agent.client).await;
    for envelope in batch["commands"].as_array().unwrap() {
        let id = envelope["id"].as_str().unwrap();
        let target = &envelope["command"]["targets"][0]["version"];
        let change = guard_report(&agent.hostname, target);
        let result = json!({"status": "succeeded", "message": "guard", "change": change,
            "finished_at": Timestamp::now().to_string()});
        let path = format!("commands/{id}/result");
        assert_eq!(t.agent_post(&agent.client, &path, &result).await, 200);
    }
}

/// Enrolls, plans, approves and rolls out until the rollout ends; (plan, rollout).
async fn finished_rollout(t: &TestController) -> (i64, String) {
    let agents = enroll(t, 3, false).await;
    let plan = approved_plan(t, &agents).await;
    let (status, view) = t
        .post_json("/api/v1/rollouts", &json!({"plan": plan}))
        .await;
    assert_eq!(status, 201, "{view}");
    let rollout = view["id"].as_str().unwrap().to_owned();
    let mut view = Value::Null;
    for _ in 0..150 {
        for agent in &agents {
            serve(t, agent).await;
        }
        view = t.get_json(&format!("/api/v1/rollouts/{rollout}")).await.1;
        if view["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(view["status"], "running", "{view:#}");
    (plan, rollout)
}

fn host<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hostname"] == name)
        .unwrap_or_else(|| panic!("{name} not in {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_rollout_is_reported_plan_vs_actual_in_json_html_and_pdf() {
    let t = TestController::start().await;
    let (plan, rollout) = finished_rollout(&t).await;
    let (status, report) = t
        .get_json(&format!("/api/v1/reports/change/plans/{plan}"))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["subject"], json!({"kind": "plan", "id": plan}));
    assert_eq!(report["plan"]["approved_by"], "bob");
    let summary = &report["summary"];
    let counts: Vec<&Value> = [
        "hosts_planned",
        "host_changes",
        "done",
        "rolled_back",
        "failed",
    ]
    .iter()
    .map(|k| &summary[*k])
    .collect();
    assert_eq!(counts, [3, 3, 1, 1, 1], "{summary:#}");
    assert_eq!(summary["not_reached"], 0);
    assert!(summary["started_at"].is_string() && summary["finished_at"].is_string());
    for (name, target) in TARGETS {
        let row = host(&report, name);
        let versions = &row["versions"][0];
        assert_eq!(versions["package"], "pw-demo");
        assert_eq!(
            (&versions["planned_from"], &versions["planned_to"]),
            (&json!("1.0-1"), &json!(target))
        );
        assert_eq!(versions["before"], "1.0-1", "{name}");
        let after = if name == "web-1" { "1.0-1" } else { target };
        assert_eq!(versions["after"], after, "{name}");
        assert_eq!(versions["as_planned"], name != "web-1", "{name}");
        assert!(
            row["started_at"].is_string() && row["finished_at"].is_string(),
            "{row:#}"
        );
        assert_eq!(row["rollout_id"], rollout.as_str());
    }
    assert_eq!(host(&report, "web-0")["result"], "done");
    assert_eq!(host(&report, "web-1")["cause_kind"], "health_check_failed");
    assert_eq!(host(&report, "web-1")["check_failed"], "demo-http");
    assert_eq!(host(&report, "web-2")["result"], "failed");
    let failures = report["postmortem"]["failures"].as_array().unwrap();
    let backs: Vec<(&Value, &Value)> = failures
        .iter()
        .map(|f| (&f["hostname"], &f["back_on_recorded"]))
        .collect();
    assert_eq!(
        backs,
        [
            (&json!("web-1"), &json!(true)),
            (&json!("web-2"), &json!(false))
        ]
    );
    // Batches: the canary and the waves (one host each: max_in_flight 1), each started and
    // finished, carrying out the plan's batches.
    let batches = report["batches"].as_array().unwrap();
    assert_eq!(batches.len(), report["plan"]["batches"], "{batches:#?}");
    let hosts: u64 = batches.iter().map(|b| b["hosts"].as_u64().unwrap()).sum();
    assert_eq!((batches[0]["kind"].as_str(), hosts), (Some("canary"), 3));
    assert!(batches.iter().all(|b| b["planned_number"].is_u64()));
    assert!(
        batches
            .iter()
            .all(|b| b["finished_at"].is_string() && b["planned_start"].is_string())
    );
    // The timeline runs from the plan's approval through the rollout; the log is the audit's.
    let events: Vec<&str> = report["postmortem"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for event in [
        "plan.approved",
        "rollout.created",
        "host.done",
        "host.rolled_back",
        "host.failed",
    ] {
        assert!(events.contains(&event), "{event} not in {events:?}");
    }
    let (_, log) = t.get_json(&format!("/api/v1/rollouts/{rollout}/log")).await;
    assert_eq!(
        report["log"].as_array().unwrap().len(),
        log["entries"].as_array().unwrap().len()
    );
    // The rollout's own report says the same about its hosts.
    let (status, own) = t
        .get_json(&format!("/api/v1/reports/change/rollouts/{rollout}"))
        .await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["subject"], json!({"kind": "rollout", "id": rollout}));
    assert_eq!(own["hosts"], report["hosts"]);

    let (status, html) = t
        .get_text(&format!("/api/v1/reports/change/plans/{plan}?format=html"))
        .await;
    assert_eq!(status, 200);
    for needle in [
        &format!("Change report — Plan {plan} (plan-web)"),
        "rolled back",
        "How did execution depart from the plan?",
    ] {
        assert!(html.contains(needle), "{needle:?} not in {html}");
    }
    let (_, zh) = t
        .get_text(&format!(
            "/api/v1/reports/change/rollouts/{rollout}?format=html&lang=zh-CN"
        ))
        .await;
    assert!(zh.contains("变更报告") && zh.contains("复盘草稿"), "{zh}");
    let words = fetch_pdf_words(
        &t,
        &format!("/api/v1/reports/change/plans/{plan}?format=pdf"),
    )
    .await;
    for needle in [
        "Change report",
        "web-0",
        "web-1",
        "web-2",
        "rolled back",
        "demo-http answered 500",
        "Postmortem draft",
        "1.0-1 → 1.0-4 (1.0-1 → 1.0-4)",
    ] {
        // pdftotext drops a hyphen where a table cell breaks a line (`web0`): compared without.
        let (words, needle) = (words.replace('-', ""), needle.replace('-', ""));
        assert!(words.contains(&needle), "{needle:?} missing in {words}");
    }
}

/// The PDF at `path` as `pdftotext` reads it, whitespace collapsed. Fails when Chromium or
/// pdftotext is missing: scripts/install-test-deps.sh installs both.
async fn fetch_pdf_words(t: &TestController, path: &str) -> String {
    let answer = t.api().get(t.http(path)).send().await.unwrap();
    assert_eq!(
        answer.status(),
        200,
        "is Chromium installed? scripts/install-test-deps.sh"
    );
    assert_eq!(answer.headers()["content-type"], "application/pdf");
    let disposition = answer.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.contains("patchwarden-change-plan-"),
        "{disposition}"
    );
    let pdf = answer.bytes().await.unwrap();
    crate::support::pdf_words(&pdf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_what_is_wrong_and_viewers_may_read() {
    let t = TestController::start().await;
    for (path, status, code, words) in [
        (
            "/api/v1/reports/change/plans/999",
            404,
            "plan_not_found",
            "999",
        ),
        (
            "/api/v1/reports/change/plans/web",
            400,
            "invalid_request",
            "\"web\" is not a plan number",
        ),
        (
            "/api/v1/reports/change/rollouts/ro-nope",
            404,
            "rollout_not_found",
            "ro-nope",
        ),
        (
            "/api/v1/reports/change/plans/1?format=csv",
            400,
            "invalid_request",
            "format: unknown format \"csv\"",
        ),
        (
            "/api/v1/reports/change/plans/1?group=web",
            400,
            "invalid_request",
            "group",
        ),
    ] {
        let (got, body) = t.get_json(path).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{path}: {message}");
    }
    let viewer = t.operator("vera", Role::Viewer).await;
    let answer = client_with_token(&viewer)
        .get(t.http("/api/v1/reports/change/plans/999"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404, "a viewer gets past the access rule");
    let answer = browser()
        .get(t.http("/api/v1/reports/change/plans/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_links_the_reports_and_serves_them_to_a_session() {
    let t = TestController::start().await;
    let (plan, rollout) = finished_rollout(&t).await;
    let page = t.page(&format!("/plans/{plan}?lang=zh-CN")).await;
    assert!(
        page.contains(&format!(
            r#"id="plan-change-report" href="/reports/change/plans/{plan}?format=html&amp;lang=zh-CN">HTML</a>"#
        )),
        "{page}"
    );
    let page = t.page(&format!("/rollouts/{rollout}")).await;
    assert!(
        page.contains(&format!(
            r#"id="rollout-change-report" href="/reports/change/rollouts/{rollout}?format=html&amp;lang=en">HTML</a>"#
        )),
        "{page}"
    );
    let html = t
        .page(&format!("/reports/change/rollouts/{rollout}?format=html"))
        .await;
    assert!(
        html.contains("Change report") && html.contains("web-2"),
        "{html}"
    );
    let answer = browser()
        .get(t.http(&format!("/reports/change/plans/{plan}")))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/login?lang=en");
}
