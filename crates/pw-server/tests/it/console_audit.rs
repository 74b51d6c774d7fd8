//! `/audit` in the console (issue 12): newest first, filters by actor, action prefix and
//! subject done by the store, paging by record number, the hash chain's state; zh-CN.

use crate::console_support::{count, get};
use crate::support::{ADMIN, TestController, enrolled};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_filters_pages_and_shows_the_chain() {
    let t = TestController::start().await;
    let (web, _) = enrolled(&t, "web-1").await;
    for i in 0..3 {
        enrolled(&t, &format!("db-{i}")).await;
    }
    let cookie = t.session_cookie().await;
    let (status, html) = get(&t, &cookie, "/audit").await;
    assert_eq!(status, 200);
    assert!(html.contains("The hash chain is intact"), "{html}");
    let all = count(&html, "class=\"record\"");
    assert!(all >= 8, "tokens and enrollments: {all}");

    let (_, one) = get(&t, &cookie, &format!("/audit?subject={web}")).await;
    assert!(count(&one, "class=\"record\"") >= 1);
    assert!(!one.contains("db-0"), "{one}");
    let (_, tokens) = get(&t, &cookie, "/audit?action=enrollment").await;
    let token_rows = count(&tokens, "class=\"record\"");
    assert!(token_rows >= 4 && token_rows < all, "{tokens}");
    let (_, by_admin) = get(&t, &cookie, &format!("/audit?actor={ADMIN}")).await;
    assert!(count(&by_admin, "class=\"record\"") >= 4);
    let (_, nobody) = get(&t, &cookie, "/audit?actor=nobody").await;
    assert_eq!(count(&nobody, "class=\"record\""), 0);
    let (_, older) = get(&t, &cookie, "/audit?before=3").await;
    assert_eq!(count(&older, "class=\"record\""), 2);
    let (status, _) = get(&t, &cookie, "/audit?before=0").await;
    assert_eq!(status, 400);
    let (_, zh) = get(&t, &cookie, "/audit?lang=zh-CN").await;
    assert!(zh.contains("哈希链完整"));
}
