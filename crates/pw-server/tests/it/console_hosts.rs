//! `/hosts` and `/hosts/{id}` (issue 12): filters (group, environment, OS, tier, overdue, last
//! seen, name) and paging done by the store, a host's detail, the layout's navigation, the
//! language and time zone remembered in cookies, zh-CN pages, no page without a session.

use jiff::{SignedDuration, Timestamp};
use pw_model::Tier;

use crate::console_support::{count, finding, get, group_toml, post_form, record, session_of};
use crate::support::{
    ADMIN, TestController, browser, enrolled, form_field as field, inventory_body, set_cookie,
};

/// 50 web hosts, two db hosts, one host in no group; db-1 has an overdue T1 finding, web-07 a
/// T0 one due tomorrow. Returns db-1's id.
async fn fleet(t: &TestController) -> String {
    t.apply_fleet(
        &[
            group_toml("web", "production", "web-*"),
            group_toml("db", "staging", "db-*"),
        ]
        .concat(),
    )
    .await;
    let mut db1 = String::new();
    for i in 0..50 {
        enrolled(t, &format!("web-{i:02}")).await;
    }
    for name in ["db-1", "db-2", "other-1"] {
        let (id, _) = enrolled(t, name).await;
        if name == "db-1" {
            db1 = id;
        }
    }
    let now = Timestamp::now();
    let old = now - SignedDuration::from_hours(24 * 40);
    record(
        t,
        &db1,
        now,
        &[finding(
            "libpq5",
            "postgresql-15",
            "PW-2026-1",
            Tier::T1,
            Some(old),
        )],
    )
    .await;
    let (_, hosts) = t.get_json("/api/v1/hosts").await;
    let web07 = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hostname"] == "web-07")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let soon = now + SignedDuration::from_hours(24);
    record(
        t,
        &web07,
        now,
        &[finding(
            "libssl3",
            "openssl",
            "PW-2026-2",
            Tier::T0,
            Some(soon),
        )],
    )
    .await;
    db1
}

fn hostnames(html: &str) -> Vec<String> {
    html.split("<th scope=\"row\" class=\"hostname\"><a href=\"/hosts/")
        .skip(1)
        .map(|row| {
            row.split('>')
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_filter_and_page_in_the_store() {
    let t = TestController::start().await;
    fleet(&t).await;
    let cookie = t.session_cookie().await;

    let (status, html) = get(&t, &cookie, "/hosts").await;
    assert_eq!(status, 200);
    assert_eq!(count(&html, "class=\"host\""), 50, "50 a page");
    assert!(html.contains("page 1 of 2 · 53 matches"), "{html}");
    assert!(html.contains("href=\"/hosts?page=2\""));
    assert!(html.contains("<a href=\"/hosts\" aria-current=\"page\">Hosts</a>"));
    let (_, second) = get(&t, &cookie, "/hosts?page=2").await;
    assert_eq!(hostnames(&second), ["web-47", "web-48", "web-49"]);
    assert!(second.contains("href=\"/hosts?page=1\""));

    let cases: &[(&str, &[&str])] = &[
        ("group=db", &["db-1", "db-2"]),
        ("environment=staging", &["db-1", "db-2"]),
        ("tier=T1", &["db-1"]),
        ("tier=T0", &["web-07"]),
        ("overdue=1", &["db-1"]),
        (
            "name=web-4&group=web",
            &[
                "web-40", "web-41", "web-42", "web-43", "web-44", "web-45", "web-46", "web-47",
                "web-48", "web-49",
            ],
        ),
        ("os=debian", &[]),
        ("seen=1h", &[]),
        ("group=db&seen=silent-7d", &["db-1", "db-2"]),
    ];
    for (query, expected) in cases {
        let (status, html) = get(&t, &cookie, &format!("/hosts?{query}")).await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(hostnames(&html), *expected, "{query}");
    }
    // Filters stay in the paging links and the form.
    let (_, silent) = get(&t, &cookie, "/hosts?seen=silent-7d").await;
    assert!(
        silent.contains("href=\"/hosts?seen=silent-7d&#38;page=2\""),
        "{silent}"
    );
    assert!(silent.contains("<option value=\"silent-7d\" selected>"));
    let (_, web) = get(&t, &cookie, "/hosts?environment=production").await;
    assert!(web.contains("<option selected>production</option>"));

    for bad in ["tier=T9", "seen=yesterday", "page=0"] {
        let (status, html) = get(&t, &cookie, &format!("/hosts?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert!(html.contains("id=\"problem\""), "{bad}: {html}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_shows_inventory_pending_updates_findings_and_history() {
    let t = TestController::start().await;
    let (id, agent) = enrolled(&t, "web-1").await;
    assert_eq!(
        t.agent_post(&agent, "inventory", &inventory_body("web-1"))
            .await,
        200
    );
    let old = Timestamp::now() - SignedDuration::from_hours(24 * 3);
    record(
        &t,
        &id,
        Timestamp::now(),
        &[finding(
            "libssl3",
            "openssl",
            "PW-2026-9",
            Tier::T1,
            Some(old),
        )],
    )
    .await;
    let cookie = t.session_cookie().await;
    let (status, html) = get(&t, &cookie, &format!("/hosts/{id}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<span id=\"hostname\">web-1</span>"));
    assert!(
        html.contains("<td>bash</td><td>5.2.15-2+b2</td>"),
        "inventory"
    );
    assert!(html.contains("id=\"pending-security\""), "security class");
    assert!(html.contains("3.0.17-1~deb12u2"));
    assert!(!html.contains("id=\"pending-other\""));
    assert!(html.contains("overdue by 3 days"), "{html}");
    assert!(html.contains("CVE-2026-9"));
    assert!(html.contains("host.inventory") || html.contains("id=\"host-audit\""));

    let (status, zh) = get(&t, &cookie, &format!("/hosts/{id}?lang=zh-CN")).await;
    assert_eq!(status, 200);
    assert!(zh.contains("<html lang=\"zh-CN\">"));
    assert!(zh.contains("已逾期 3 天"));
    assert!(zh.contains("<li>缺陷修复</li>"), "the reason translated");
    assert!(zh.contains("安全更新"));

    let (status, missing) = get(&t, &cookie, "/hosts/no-such-host").await;
    assert_eq!(status, 404);
    assert!(missing.contains("No host has this id."));
}

#[tokio::test]
async fn language_and_zone_are_remembered_and_pages_need_a_session() {
    let t = TestController::start().await;
    let answer = browser()
        .get(t.http("/hosts?lang=zh-CN"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/login?lang=zh-CN");

    let session = session_of(&t, ADMIN).await;
    let answer = browser()
        .get(t.http("/hosts?lang=zh-CN&tz=Asia/Shanghai"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let lang = set_cookie(&answer, "pw_lang").unwrap();
    let zone = set_cookie(&answer, "pw_tz").unwrap();
    assert_eq!(lang, "pw_lang=zh-CN");
    assert_eq!(zone, "pw_tz=Asia/Shanghai");
    let remembered = format!("{session}; {lang}; {zone}");
    let (_, html) = get(&t, &remembered, "/hosts").await;
    assert!(html.contains("<html lang=\"zh-CN\">"));
    assert!(html.contains("时间显示时区： Asia/Shanghai"), "{html}");
    // The overview at / follows the remembered language too.
    let (_, overview) = get(&t, &remembered, "/").await;
    assert!(overview.contains("<html lang=\"zh-CN\">"));

    // The settings form: cookies, then back to a path of this site only.
    let answer = browser()
        .get(t.http("/settings?lang=en&tz=Mars/Olympus&back=//evil.example/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/hosts");
    assert_eq!(set_cookie(&answer, "pw_lang").unwrap(), "pw_lang=en");
    assert!(
        set_cookie(&answer, "pw_tz").is_none(),
        "an unknown zone is not kept"
    );
    let (_, refused) = get(&t, &session, "/hosts?tz=Mars/Olympus").await;
    assert!(refused.contains("Unknown time zone"));
}

#[tokio::test]
async fn the_layouts_sign_out_form_carries_the_sessions_csrf_token() {
    let t = TestController::start().await;
    let cookie = session_of(&t, ADMIN).await;
    let (_, html) = get(&t, &cookie, "/hosts").await;
    for label in [
        "for=\"set-lang\"",
        "for=\"set-tz\"",
        "for=\"f-name\"",
        "for=\"f-overdue\"",
    ] {
        assert!(html.contains(label), "{label}");
    }
    let forged = post_form(&t, &cookie, "/logout", &[("csrf", "pwc_forged")]).await;
    assert_eq!(forged.status(), 403);
    let csrf = field(&html, "csrf");
    let out = post_form(&t, &cookie, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), 303);
    let (status, _) = get(&t, &cookie, "/hosts").await;
    assert_eq!(status, 303, "the session ended");
}
