//! The page's sessions: no page without one, login with a token (login CSRF by double
//! submit) or a single-use link, HttpOnly + SameSite=Strict cookies, CSRF-protected logout,
//! expiry, revocation.

use pw_server::Role;

use crate::support::{ADMIN, TestController, browser, form_field, set_cookie, tls_client};

async fn post_form(
    t: &TestController,
    path: &str,
    cookie: &str,
    body: String,
) -> reqwest::Response {
    browser()
        .post(t.http(path))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn get_page(t: &TestController, cookie: &str) -> reqwest::Response {
    browser()
        .get(t.http("/"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_page_needs_a_session_and_the_token_form_gives_one() {
    let t = TestController::start().await;
    let token = t.operator("vera", Role::Viewer).await;
    let answer = browser().get(t.http("/?lang=zh-CN")).send().await.unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/login?lang=zh-CN");

    let form = browser().get(t.http("/login")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert_eq!(form.headers()["cache-control"], "no-store");
    assert_eq!(form.headers()["referrer-policy"], "no-referrer");
    let raw = form.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Strict"),
        "{raw}"
    );
    let login_cookie = set_cookie(&form, "pw_login_csrf").unwrap();
    let html = form.text().await.unwrap();
    let csrf = form_field(&html, "csrf");
    assert!(html.contains("Operator token"));

    // Login CSRF: the form's value must equal its cookie.
    let forged = post_form(&t, "/login", "", format!("csrf={csrf}&token={token}")).await;
    assert_eq!(forged.status(), 403);
    assert!(forged.text().await.unwrap().contains("security token"));
    let wrong = post_form(
        &t,
        "/login",
        &login_cookie,
        format!("csrf=pwc_x&token={token}"),
    );
    assert_eq!(wrong.await.status(), 403);
    let bad_token = post_form(
        &t,
        "/login",
        &login_cookie,
        format!("csrf={csrf}&token=pwo_nope"),
    );
    let bad_token = bad_token.await;
    assert_eq!(bad_token.status(), 401);
    assert!(
        bad_token
            .text()
            .await
            .unwrap()
            .contains("not an operator token")
    );

    let body = format!("csrf={csrf}&token={token}&lang=zh-CN");
    let signed_in = post_form(&t, "/login", &login_cookie, body).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/?lang=zh-CN");
    let raw: Vec<&str> = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session_raw = raw.iter().find(|c| c.starts_with("pw_session=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(session_raw.contains(attribute), "{session_raw}");
    }
    assert!(
        !session_raw.contains("Secure"),
        "plain HTTP on loopback: {session_raw}"
    );
    let session = set_cookie(&signed_in, "pw_session").unwrap();
    assert!(
        !session.contains(&token),
        "the session cookie is not the API token"
    );
    let page = get_page(&t, &session).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(html.contains("vera (viewer)"), "{html}");
    // The session is for the page only: the API still wants a bearer token.
    let api = browser()
        .get(t.http("/api/v1/hosts"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
}

#[tokio::test]
async fn logout_needs_the_sessions_csrf_token_and_ends_the_session() {
    let t = TestController::start().await;
    let session = t.session_cookie().await;
    let html = get_page(&t, &session).await.text().await.unwrap();
    assert!(html.contains(&format!("{ADMIN} (admin)")));
    let csrf = form_field(&html, "csrf");

    for body in [String::new(), "csrf=pwc_forged".to_owned()] {
        let refused = post_form(&t, "/logout", &session, body).await;
        assert_eq!(refused.status(), 403);
        assert_eq!(
            get_page(&t, &session).await.status(),
            200,
            "still signed in"
        );
    }
    // Another session's CSRF token does not work for this one.
    let other = t.session_cookie().await;
    let other_html = get_page(&t, &other).await.text().await.unwrap();
    let other_csrf = form_field(&other_html, "csrf");
    assert_ne!(other_csrf, csrf);
    let crossed = post_form(&t, "/logout", &session, format!("csrf={other_csrf}")).await;
    assert_eq!(crossed.status(), 403);

    let out = post_form(&t, "/logout", &session, format!("csrf={csrf}&lang=en")).await;
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], "/login?lang=en");
    let cleared = out.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("pw_session=;") && cleared.contains("Max-Age=0"));
    assert_eq!(get_page(&t, &session).await.status(), 303);
    assert_eq!(get_page(&t, &other).await.status(), 200);
    let audit = t.controller.state.store.audit_tail(20).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.action == "session.ended" && r.actor == ADMIN)
    );
}

#[tokio::test]
async fn sessions_expire_and_end_when_the_operator_is_revoked() {
    let t = TestController::start().await;
    let session = t.session_cookie().await;
    assert_eq!(get_page(&t, &session).await.status(), 200);
    sqlx::query("UPDATE operator_sessions SET expires_at = '2020-01-01T00:00:00Z'")
        .execute(t.controller.state.store.pool())
        .await
        .unwrap();
    let expired = get_page(&t, &session).await;
    assert_eq!(expired.status(), 303, "an expired session is refused");

    t.operator("otto", Role::Operator).await;
    let store = &t.controller.state.store;
    let ticket = pw_server::issue_login_ticket(store, "otto").await.unwrap();
    let link = t.http(&format!("/login?ticket={ticket}&lang=zh-CN"));
    let first = browser().get(&link).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let otto = set_cookie(&first, "pw_session").unwrap();
    let html = first.text().await.unwrap();
    assert!(
        html.contains("http-equiv=\"refresh\"") && html.contains("已登录"),
        "{html}"
    );
    let again = browser().get(&link).send().await.unwrap();
    assert_eq!(again.status(), 401, "a login link works once");
    assert!(again.text().await.unwrap().contains("已被使用"));
    assert_eq!(get_page(&t, &otto).await.status(), 200);
    store.revoke_operator("otto", ADMIN).await.unwrap().unwrap();
    assert_eq!(get_page(&t, &otto).await.status(), 303);
}

#[tokio::test]
async fn over_tls_the_session_cookie_is_also_secure() {
    let t = TestController::start().await;
    let store = &t.controller.state.store;
    let ticket = pw_server::issue_login_ticket(store, ADMIN).await.unwrap();
    let answer = tls_client(&t.ca_pem(), None)
        .get(t.https(&format!("/login?ticket={ticket}")))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let session = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("pw_session="))
        .unwrap()
        .to_owned();
    assert!(session.ends_with("; Secure"), "{session}");
}
