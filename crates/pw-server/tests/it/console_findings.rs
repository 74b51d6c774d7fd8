//! `/findings` (issue 12): one row per update to apply — every advisory it fixes and every host
//! needing it, not one per binary × advisory — most urgent first, "overdue by N days", CVE
//! search, tier/overdue/KEV filters and paging done by the store, accepted risks, zh-CN.

use jiff::{SignedDuration, Timestamp};
use pw_model::{Finding, Tier};

use crate::console_support::{count, finding, get, record};
use crate::support::{TestController, enrolled};

/// openssl's upgrade fixes two advisories in two binaries (four findings per host).
fn openssl(deadline: Timestamp) -> Vec<Finding> {
    let mut out = Vec::new();
    for binary in ["libssl3", "openssl"] {
        for advisory in ["PW-2026-11", "PW-2026-12"] {
            let mut f = finding(binary, "openssl", advisory, Tier::T1, Some(deadline));
            f.kev = advisory == "PW-2026-12";
            f.reasons = vec!["CVE-2026-12 is in CISA KEV since 2026-01-02".into()];
            out.push(f);
        }
    }
    out
}

fn packages(html: &str) -> Vec<String> {
    html.split("<th scope=\"row\" class=\"package\">")
        .skip(1)
        .map(|row| row.split(" → ").next().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_row_per_update_with_its_advisories_and_hosts() {
    let t = TestController::start().await;
    let now = Timestamp::now();
    let overdue = now - SignedDuration::from_hours(24 * 40 + 1);
    let (a, _) = enrolled(&t, "web-1").await;
    let (b, _) = enrolled(&t, "web-2").await;
    let mut on_a = openssl(overdue);
    on_a.push(finding(
        "libpq5",
        "postgresql-15",
        "PW-2026-20",
        Tier::T3,
        None,
    ));
    record(&t, &a, now, &on_a).await;
    record(&t, &b, now, &openssl(overdue)).await;
    let risk = pw_store::NewAcceptedRisk {
        id: "risk-pg",
        host_id: None,
        advisory: "CVE-2026-20",
        package: None,
        reason: "libpq5 is not used",
        accepted_by: "carol",
        accepted_at: now,
        expires_at: now + SignedDuration::from_hours(24),
    };
    t.controller.state.store.accept_risk(&risk).await.unwrap();
    let cookie = t.session_cookie().await;

    let (status, html) = get(&t, &cookie, "/findings").await;
    assert_eq!(status, 200);
    assert_eq!(packages(&html), ["openssl", "postgresql-15"], "{html}");
    assert_eq!(count(&html, "class=\"update\""), 2, "8 findings, 2 updates");
    assert!(html.contains("openssl → 1.0-2"));
    assert!(html.contains("overdue by 40 days"), "{html}");
    assert!(html.contains("<strong>PW-2026-11</strong>"));
    assert!(html.contains("<strong>PW-2026-12</strong> <span class=\"kev\">KEV</span>"));
    assert!(
        html.contains("<td>2: <a href=\"/hosts/"),
        "two hosts need openssl"
    );
    assert!(html.contains("accepted: all hosts — libpq5 is not used"));
    assert!(html.contains("id=\"accepted\""));

    let cases: &[(&str, &[&str])] = &[
        ("cve=cve-2026-12", &["openssl"]),
        ("cve=PW-2026-20", &["postgresql-15"]),
        ("cve=CVE-2099-1", &[]),
        ("tier=T3", &["postgresql-15"]),
        ("overdue=1", &["openssl"]),
        ("kev=1", &["openssl"]),
        ("package=postgres", &["postgresql-15"]),
    ];
    for (query, expected) in cases {
        let (status, html) = get(&t, &cookie, &format!("/findings?{query}")).await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(packages(&html), *expected, "{query}");
    }
    let (status, _) = get(&t, &cookie, "/findings?tier=T7").await;
    assert_eq!(status, 400);

    let (_, zh) = get(&t, &cookie, "/findings?lang=zh-CN").await;
    assert!(zh.contains("已逾期 40 天"));
    assert!(
        zh.contains("CVE-2026-12 自 2026-01-02 起列入 CISA KEV"),
        "reasons translated"
    );
    assert!(zh.contains("待应用的更新"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_are_paged_by_the_store() {
    let t = TestController::start().await;
    let (host, _) = enrolled(&t, "web-1").await;
    let findings: Vec<Finding> = (0..53)
        .map(|i| {
            let package = format!("pkg-{i:02}");
            let mut f = finding(&package, &package, &format!("PW-2026-{i}"), Tier::T3, None);
            // A round EPSS reads back from SQLite as an integer unless cast.
            f.epss = Some(0.0);
            f
        })
        .collect();
    record(&t, &host, Timestamp::now(), &findings).await;
    let cookie = t.session_cookie().await;
    let (_, first) = get(&t, &cookie, "/findings").await;
    assert_eq!(count(&first, "class=\"update\""), 50);
    assert!(first.contains("page 1 of 2 · 53 matches"));
    let (_, second) = get(&t, &cookie, "/findings?page=2").await;
    assert_eq!(packages(&second), ["pkg-50", "pkg-51", "pkg-52"]);
}
