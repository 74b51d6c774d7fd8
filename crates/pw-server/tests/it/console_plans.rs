//! The plan workflow in the console (issue 12): a plan built from an update selected on
//! `/findings` (the same `pw_controller::plans::create` as the API), its review, submit, four
//! eyes on approval, a reason to reject; every form refused without the session's CSRF token or
//! below the API route's role, and nothing changed then.

use jiff::{SignedDuration, Timestamp};
use pw_model::Tier;
use pw_server::Role;

use crate::console_support::{finding, get, group_toml, outcome, post_form, record, session_of};
use crate::support::{ADMIN, TestController, enrolled, findings_after, form_field, inventory_body};

const UPDATE: &str = "openssl 3.0.17-1~deb12u2";

/// web-1 and web-2 (production, a window all day) offering libssl3 3.0.17-1~deb12u2, with an
/// overdue T1 finding fixed by it.
async fn fleet(t: &TestController) {
    let always = group_toml("web", "production", "web-*").replace(
        r#"rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-11-01T01:00:00", tz = "UTC", duration = "4h""#,
        r#"rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "23h""#,
    );
    t.apply_fleet(&always).await;
    for name in ["web-1", "web-2"] {
        let (id, agent) = enrolled(t, name).await;
        assert_eq!(
            t.agent_post(&agent, "inventory", &inventory_body(name))
                .await,
            200
        );
        findings_after(t, &id, &serde_json::Value::Null).await;
        let overdue = Timestamp::now() - SignedDuration::from_hours(24 * 2);
        let mut f = finding("libssl3", "openssl", "PW-2026-31", Tier::T1, Some(overdue));
        f.installed = "3.0.0-1".into();
        f.fixed = Some("3.0.17-1~deb12u2".into());
        record(t, &id, Timestamp::now(), &[f]).await;
    }
}

async fn plan_count(t: &TestController) -> usize {
    let (_, list) = t.get_json("/api/v1/plans").await;
    list["plans"].as_array().unwrap().len()
}

/// Posts a plan form from the plan's page as `cookie`: (status, location or page).
async fn act(t: &TestController, cookie: &str, id: i64, action: &str, text: &str) -> (u16, String) {
    let (_, page) = get(t, cookie, &format!("/plans/{id}")).await;
    let csrf = form_field(&page, "csrf");
    // Without the form on its page (a viewer), the plan as the API shows it.
    let version = if page.contains("name=\"expected_version\"") {
        form_field(&page, "expected_version")
    } else {
        t.get_json(&format!("/api/v1/plans/{id}")).await.1["version"].to_string()
    };
    let fields = [
        ("csrf", csrf.as_str()),
        ("expected_version", &version),
        ("text", text),
    ];
    let answer = post_form(t, cookie, &format!("/plans/{id}/{action}"), &fields).await;
    outcome(answer).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_from_a_finding_is_reviewed_and_approved_by_a_second_operator() {
    let t = TestController::start().await;
    fleet(&t).await;
    t.operator("apollo", Role::Approver).await;
    t.operator("vic", Role::Viewer).await;
    let admin = session_of(&t, ADMIN).await;
    let (_, findings) = get(&t, &admin, "/findings?tier=T1").await;
    assert!(
        findings.contains(&format!("value=\"{UPDATE}\"")),
        "{findings}"
    );
    let csrf = form_field(&findings, "csrf");

    // CSRF and role refusals change nothing.
    let forged = [("csrf", "pwc_forged"), ("name", "x"), ("update", UPDATE)];
    let answer = post_form(&t, &admin, "/plans", &forged).await;
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("security token"));
    let viewer = session_of(&t, "vic").await;
    let (_, viewer_page) = get(&t, &viewer, "/findings").await;
    assert!(
        viewer_page.contains("disabled"),
        "the viewer's selection is disabled"
    );
    let viewer_csrf = form_field(&viewer_page, "csrf");
    let fields = [
        ("csrf", viewer_csrf.as_str()),
        ("name", "x"),
        ("update", UPDATE),
    ];
    let answer = post_form(&t, &viewer, "/plans", &fields).await;
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("needs operator"));
    assert_eq!(plan_count(&t).await, 0);

    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "December openssl"),
        ("update", UPDATE),
    ];
    let answer = post_form(&t, &admin, "/plans", &fields).await;
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
    assert_eq!(answer.headers()["location"], "/plans/1");
    let (status, review) = get(&t, &admin, "/plans/1").await;
    assert_eq!(status, 200);
    assert!(review.contains("December openssl"));
    assert!(
        review.contains("<td>libssl3</td><td>3.0.0-1</td><td>3.0.17-1~deb12u2</td>"),
        "{review}"
    );
    assert!(review.contains("id=\"risks\"") && review.contains("id=\"batches\""));
    assert!(review.contains("id=\"rollback\""));
    assert!(review.contains("id=\"submit-plan\""));

    assert_eq!(
        act(&t, &admin, 1, "submit", "").await,
        (303, "/plans/1".into())
    );
    let (status, page) = act(&t, &admin, 1, "approve", "").await;
    assert_eq!(status, 403, "four eyes: {page}");
    assert!(page.contains("id=\"problem\""));
    let (_, viewer_review) = get(&t, &viewer, "/plans/1").await;
    assert!(!viewer_review.contains("id=\"approve-plan\""));
    let (status, page) = act(&t, &viewer, 1, "approve", "").await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("needs approver"), "{page}");

    let approver = session_of(&t, "apollo").await;
    let (_, zh) = get(&t, &approver, "/plans/1?lang=zh-CN").await;
    assert!(zh.contains("审批中"), "zh-CN state");
    assert!(zh.contains("批准"));
    assert_eq!(
        act(&t, &approver, 1, "approve", "looks right").await,
        (303, "/plans/1".into())
    );
    let (_, plan) = t.get_json("/api/v1/plans/1").await;
    assert!(
        ["approved", "scheduled"].contains(&plan["state"].as_str().unwrap()),
        "{plan}"
    );
    assert_eq!(
        plan["history"].as_array().unwrap().last().unwrap()["actor"],
        "apollo"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejecting_needs_a_reason() {
    let t = TestController::start().await;
    fleet(&t).await;
    t.operator("apollo", Role::Approver).await;
    let admin = session_of(&t, ADMIN).await;
    let (_, findings) = get(&t, &admin, "/findings").await;
    let csrf = form_field(&findings, "csrf");
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "to reject"),
        ("update", UPDATE),
    ];
    assert_eq!(post_form(&t, &admin, "/plans", &fields).await.status(), 303);
    assert_eq!(act(&t, &admin, 1, "submit", "").await.0, 303);
    let approver = session_of(&t, "apollo").await;
    let (status, page) = act(&t, &approver, 1, "reject", "").await;
    assert!(status >= 400, "{status} {page}");
    assert_eq!(
        act(&t, &approver, 1, "reject", "wait for the freeze")
            .await
            .0,
        303
    );
    let (_, plan) = t.get_json("/api/v1/plans/1").await;
    assert_eq!(plan["state"], "rejected");
    let (_, review) = get(&t, &approver, "/plans/1").await;
    assert!(review.contains("wait for the freeze"));
    let (status, _) = get(&t, &approver, "/plans/999").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_review_shows_the_hooks_the_approver_approves_in_both_languages() {
    let t = TestController::start().await;
    fleet(&t).await;
    let body = serde_json::json!({
        "name": "with hooks",
        "group": "web",
        "updates": "security",
        "hooks": {
            "conffiles": "replace",
            "stop_units": ["billing.service"],
            "migrations": [{"name": "schema", "forward": ["/usr/local/bin/migrate", "down"],
                            "reverse": ["/usr/local/bin/migrate", "up"]}],
            "benchmark": {"argv": ["/usr/local/bin/bench"], "max_regression_percent": 15},
        },
    });
    let (status, plan) = t.post_json("/api/v1/plans", &body).await;
    assert_eq!(status, 201, "{plan}");
    assert_eq!(plan["hooks"]["stop_units"][0], "billing.service", "{plan}");
    let id = plan["id"].as_i64().unwrap();
    let admin = session_of(&t, ADMIN).await;
    let (_, review) = get(&t, &admin, &format!("/plans/{id}?lang=en")).await;
    for expected in [
        "Hooks run on every host with the change",
        "take the package&#39;s version",
        "billing.service",
        "<code>/usr/local/bin/migrate down</code>",
        "<code>/usr/local/bin/migrate up</code>",
        "<code>/usr/local/bin/bench</code> (at most worse by 15 %)",
    ] {
        assert!(review.contains(expected), "{expected}: {review}");
    }
    let (_, zh) = get(&t, &admin, &format!("/plans/{id}?lang=zh-CN")).await;
    assert!(zh.contains("随变更在每台主机上运行的钩子"), "{zh}");
    assert!(zh.contains("采用软件包中的版本"), "{zh}");
    // A plan without hooks has no such section.
    let plain = serde_json::json!({"name": "plain", "group": "web", "updates": "security"});
    let (status, plan) = t.post_json("/api/v1/plans", &plain).await;
    assert_eq!(status, 201, "{plan}");
    let (_, review) = get(&t, &admin, &format!("/plans/{}", plan["id"])).await;
    assert!(!review.contains("id=\"hooks\""), "{review}");
}
