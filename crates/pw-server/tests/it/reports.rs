//! Compliance and risk reports through the API (issue 11 item 6): three enrolled hosts in two
//! groups with stored findings and history — one finding fixed 48 h after it was first seen,
//! two overdue, one accepted — reported as JSON (its counts equal `GET /api/v1/findings`'s),
//! CSV, HTML (en, zh-CN) and PDF printed by the real Chromium and read back with `pdftotext`.
//! Viewers may read reports; nobody without a token. The page links to them and serves them to
//! a signed-in browser.

use jiff::{SignedDuration, Timestamp};
use pw_model::{Finding, Tier};
use pw_server::Role;
use serde_json::{Value, json};

use crate::console_support::{group_toml, record};
use crate::support::{TestController, browser, client_with_token};

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// A finding of `package` fixed by 1.0-2 with `tier`, `deadline` and scores.
fn finding(package: &str, advisory: &str, tier: Tier, deadline: Timestamp, kev: bool) -> Finding {
    Finding {
        binary: package.into(),
        installed: "1.0-1".into(),
        package: package.into(),
        package_version: "1.0-1".into(),
        advisory: advisory.into(),
        aliases: vec![],
        fixed: Some("1.0-2".into()),
        tier,
        deadline: Some(deadline),
        reasons: vec![],
        summary: String::new(),
        published: None,
        cvss: Some(if kev { 9.8 } else { 7.5 }),
        epss: Some(if kev { 0.8 } else { 0.02 }),
        kev,
    }
}

/// web-1 and web-2 (group web) with the KEV-listed pw-demo overdue by 2 days; web-1 also had
/// pw-old, fixed 48 h after first seen; db-1 (group db) with pw-lib (T1) accepted until next
/// week. Returns the host ids by name.
async fn fleet(t: &TestController) -> Vec<(String, String)> {
    let now = Timestamp::now();
    let mut hosts = Vec::new();
    for name in ["web-1", "web-2", "db-1"] {
        let token = t.token().await;
        let (status, enrolled, _) = t.enroll(&token, name).await;
        assert_eq!(status, 200, "{enrolled}");
        hosts.push((
            name.to_owned(),
            enrolled["host_id"].as_str().unwrap().to_owned(),
        ));
    }
    let demo = finding("pw-demo", "CVE-2026-0101", Tier::T0, now - days(2), true);
    let old = finding("pw-old", "CVE-2026-0099", Tier::T1, now - days(1), false);
    let (first, second) = (now - days(10), now - days(8));
    record(t, &hosts[0].1, first, &[demo.clone(), old]).await;
    record(t, &hosts[0].1, second, std::slice::from_ref(&demo)).await;
    record(t, &hosts[1].1, second, std::slice::from_ref(&demo)).await;
    let lib = finding("pw-lib", "CVE-2026-0303", Tier::T1, now + days(3), false);
    record(t, &hosts[2].1, second, &[lib]).await;
    let risk = pw_store::NewAcceptedRisk {
        id: "risk-lib",
        host_id: Some(&hosts[2].1),
        advisory: "CVE-2026-0303",
        package: None,
        reason: "pw-lib is not loaded by any service",
        accepted_by: "carol",
        accepted_at: now,
        expires_at: now + days(7),
    };
    t.controller.state.store.accept_risk(&risk).await.unwrap();
    let document = [
        group_toml("web", "production", "web-*"),
        group_toml("db", "production", "db-*"),
    ]
    .concat();
    t.apply_fleet(&document).await;
    hosts
}

/// `GET path` as the admin: (status, content type, body bytes).
async fn fetch(t: &TestController, path: &str) -> (u16, String, Vec<u8>) {
    let answer = t.api().get(t.http(path)).send().await.unwrap();
    let status = answer.status().as_u16();
    let media = answer
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, media, answer.bytes().await.unwrap().to_vec())
}

fn text(body: &[u8]) -> String {
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compliance_report_in_json_agrees_with_the_findings_api() {
    let t = TestController::start().await;
    fleet(&t).await;
    let (status, report) = t.get_json("/api/v1/reports/compliance").await;
    assert_eq!(status, 200, "{report}");
    let (_, findings) = t.get_json("/api/v1/findings").await;
    assert_eq!(report["summary"]["counts"], findings["summary"]);
    let summary = &report["summary"];
    assert_eq!(summary["counts"]["overdue"], json!([2, 0, 0, 0, 0]));
    assert_eq!(summary["counts"]["accepted"], json!([0, 1, 0, 0, 0]));
    assert_eq!(
        (summary["hosts"].as_u64(), summary["hosts_overdue"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(summary["remediation"]["fixed"], 1);
    assert_eq!(summary["remediation"]["median_hours"], 48.0);
    assert_eq!(summary["oldest_overdue"]["days_overdue"], 2);
    let groups: Vec<&str> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["db", "web"]);
    assert_eq!(report["fleet_version"], 1);
    let risk = &report["accepted_risks"][0];
    assert_eq!(
        (risk["id"].as_str(), risk["accepted_by"].as_str()),
        (Some("risk-lib"), Some("carol"))
    );
    assert_eq!(
        (risk["state"].as_str(), risk["findings_covered"].as_u64()),
        (Some("in_force"), Some(1))
    );
    assert_eq!(report["controls"][0]["clause"], "8.1.4.4 e)");
    // A group's report keeps its members; an unknown group names the known ones.
    let (_, web) = t.get_json("/api/v1/reports/compliance?group=web").await;
    let hosts: Vec<&str> = web["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["web-1", "web-2"]);
    assert_eq!(web["accepted_risks"], json!([]));
    let (status, refused) = t.get_json("/api/v1/reports/compliance?group=mail").await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("unknown group \"mail\" (the fleet document has: db, web)"),
        "{message}"
    );
    for bad in [
        "format=docx",
        "period=800d",
        "top=0",
        "table=updates&format=csv",
        "colour=red",
    ] {
        let (status, refused) = t
            .get_json(&format!("/api/v1/reports/compliance?{bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {refused}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_render_as_csv_and_html_in_both_languages() {
    let t = TestController::start().await;
    fleet(&t).await;
    let (status, media, body) = fetch(&t, "/api/v1/reports/compliance?format=csv").await;
    assert_eq!((status, media.as_str()), (200, "text/csv; charset=utf-8"));
    let csv = text(&body);
    let lines: Vec<&str> = csv.lines().collect();
    // Header, total, 2 groups, 3 hosts.
    assert_eq!(lines.len(), 7, "{csv}");
    assert!(
        lines[1].starts_with("total,,,,3,,2,0,0,0,0,2,0,0,0,0,0,1,0,0,0,2,2,1,1,0,48,48,0"),
        "{csv}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("host,web,web-1,")),
        "{csv}"
    );
    let (_, _, overdue) = fetch(&t, "/api/v1/reports/compliance?format=csv&table=overdue").await;
    assert_eq!(text(&overdue).lines().count(), 3);
    let (status, _, updates) = fetch(&t, "/api/v1/reports/risk?format=csv").await;
    assert_eq!(status, 200);
    let updates = text(&updates);
    assert!(
        updates
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("1,pw-demo,1.0-2,T0,true,9.8,0.8,2,2,2,"),
        "{updates}"
    );
    let (status, media, html) = fetch(&t, "/api/v1/reports/compliance?format=html").await;
    assert_eq!((status, media.as_str()), (200, "text/html; charset=utf-8"));
    let html = text(&html);
    for expected in [
        "web-1",
        "web-2",
        "db-1",
        "Open: 2 · Overdue: 2 · Accepted: 1",
        "pw-lib is not loaded",
    ] {
        assert!(html.contains(expected), "{expected} missing");
    }
    let (_, _, zh) = fetch(&t, "/api/v1/reports/risk?format=html&lang=zh-CN").await;
    let zh = text(&zh);
    assert!(
        zh.contains("漏洞风险摘要") && zh.contains("pw-demo → 1.0-2"),
        "{zh}"
    );
    let (_, risk) = t.get_json("/api/v1/reports/risk").await;
    assert_eq!(
        (risk["hosts_exposed"].as_u64(), risk["findings"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(
        risk["signals"][0],
        json!({"key": "kev", "findings": 2, "advisories": 1, "hosts": 2, "overdue": 2})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_read_reports_and_nobody_without_a_token() {
    let t = TestController::start().await;
    let viewer = t.operator("vera", Role::Viewer).await;
    for path in [
        "/api/v1/reports/compliance",
        "/api/v1/reports/risk?format=csv",
    ] {
        let answer = client_with_token(&viewer)
            .get(t.http(path))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        let answer = reqwest::Client::new()
            .get(t.http(path))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{path}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "auth_required");
    }
}

/// The PDF printed by the real Chromium names the hosts and the counts (`pdftotext`). Fails
/// when Chromium or pdftotext is missing: scripts/install-test-deps.sh installs both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pdf_names_the_hosts_and_the_counts() {
    let t = TestController::start().await;
    fleet(&t).await;
    let dir = tempfile::tempdir().unwrap();
    for (kind, expected) in [
        (
            "compliance",
            [
                "Patch compliance report",
                "Open: 2 · Overdue: 2 · Accepted: 1",
                "Fixed in period: 1",
            ],
        ),
        (
            "risk",
            [
                "Vulnerability risk summary",
                "Findings: 3 · Overdue: 2 · Accepted: 1",
                "removes 3 of the 3 findings",
            ],
        ),
    ] {
        let (status, media, pdf) = fetch(&t, &format!("/api/v1/reports/{kind}?format=pdf")).await;
        assert_eq!(
            status,
            200,
            "{kind}: {} (is Chromium installed? scripts/install-test-deps.sh)",
            text(&pdf)
        );
        assert_eq!(media, "application/pdf");
        assert!(pdf.starts_with(b"%PDF-"));
        let file = dir.path().join(format!("{kind}.pdf"));
        std::fs::write(&file, &pdf).unwrap();
        let output = std::process::Command::new("pdftotext")
            .arg(&file)
            .arg("-")
            .output()
            .expect("pdftotext (Debian package poppler-utils; scripts/install-test-deps.sh) must be installed");
        assert!(output.status.success(), "pdftotext failed: {output:?}");
        // pdftotext breaks long lines; compare with whitespace collapsed.
        let words = String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for name in ["web-1", "web-2", "db-1"] {
            assert!(words.contains(name), "{kind}: {name} missing in {words}");
        }
        for line in expected {
            assert!(words.contains(line), "{kind}: {line:?} missing in {words}");
        }
    }
    // Chinese prints with the system's CJK font.
    let (status, _, pdf) = fetch(&t, "/api/v1/reports/compliance?format=pdf&lang=zh-CN").await;
    assert_eq!(status, 200);
    let file = dir.path().join("zh.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let output = std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        words.contains("补丁合规报告") && words.contains("web-1"),
        "{words}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_links_to_the_reports_and_serves_them_to_a_session() {
    let t = TestController::start().await;
    fleet(&t).await;
    let index = t.page("/?lang=zh-CN").await;
    assert!(
        index.contains(r#"id="report-compliance" href="/reports/compliance?format=html&amp;lang=zh-CN">合规报告</a>"#),
        "{index}"
    );
    let html = t.page("/reports/compliance?format=html").await;
    assert!(
        html.contains("Patch compliance report") && html.contains("web-2"),
        "{html}"
    );
    let risk = t.page("/reports/risk?format=html&lang=zh-CN").await;
    assert!(risk.contains("漏洞风险摘要"), "{risk}");
    // No session: to the login form; a token is no session; a bad query is refused first.
    for path in ["/reports/compliance", "/reports/risk?lang=zh-CN"] {
        let answer = browser().get(t.http(path)).send().await.unwrap();
        assert_eq!(answer.status(), 303, "{path}");
        let to = if path.ends_with("zh-CN") {
            "/login?lang=zh-CN"
        } else {
            "/login?lang=en"
        };
        assert_eq!(answer.headers()["location"], to);
    }
    let answer = browser()
        .get(t.http("/reports/risk"))
        .bearer_auth(&t.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let answer = browser()
        .get(t.http("/reports/risk?format=bogus"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
}
