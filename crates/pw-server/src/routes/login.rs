//! Signing in to the page and out again.
//!
//! - `GET /login?ticket=…`: a single-use login link (printed by `patchwarden up`) becomes a
//!   session at once; the answer sets the cookie and continues to `/` (a same-site navigation,
//!   so the SameSite=Strict cookie is sent even when the link was opened from elsewhere).
//! - `GET /login`: the form (operator token). Login CSRF: the form carries a random value that
//!   must equal the `pw_login_csrf` cookie set with it (double submit).
//! - `POST /login`: token → session (`pw_session` cookie: HttpOnly, SameSite=Strict, Max-Age of
//!   the session, `Secure` over TLS); the store keeps its SHA-256 and a CSRF token.
//! - `POST /logout`: needs the session's CSRF token in the form; ends the session.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use pw_store::TicketProblem;

use super::page::{Text, language};
use crate::auth::{
    LoginCsrf, SESSION_COOKIE, SessionSecrets, cookie, cookie_header, operator_for_token,
    page_session, same_secret,
};
use crate::ca::token_sha256;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tls::Transport;

/// The login form's double-submit cookie.
const LOGIN_CSRF_COOKIE: &str = "pw_login_csrf";

/// Strings of the login page in one language.
pub struct LoginText {
    pub lang: &'static str,
    pub title: &'static str,
    pub token_label: &'static str,
    pub sign_in: &'static str,
    pub help: &'static str,
    pub signed_in: &'static str,
    pub continue_: &'static str,
    pub bad_token: &'static str,
    pub revoked: &'static str,
    pub ticket_unknown: &'static str,
    pub ticket_used: &'static str,
    pub ticket_expired: &'static str,
    pub csrf_failed: &'static str,
}

const EN: LoginText = LoginText {
    lang: "en",
    title: "patchwarden — sign in",
    token_label: "Operator token",
    sign_in: "Sign in",
    help: "Open the link printed by “patchwarden up”, or paste an operator token \
           (“patchwarden operators add NAME --role viewer”; the local admin's is in the data \
           directory's admin.token).",
    signed_in: "Signed in.",
    continue_: "Continue to the fleet",
    bad_token: "This token is not an operator token of this controller.",
    revoked: "This operator was revoked.",
    ticket_unknown: "This login link is not valid here. Restart “patchwarden up” for a new one, \
                     or sign in with a token.",
    ticket_used: "This login link was already used (it works once). Restart “patchwarden up” \
                  for a new one, or sign in with the token in admin.token.",
    ticket_expired: "This login link has expired. Restart “patchwarden up” for a new one, or \
                     sign in with a token.",
    csrf_failed: "The form's security token does not match; reload the page and try again.",
};

const ZH_CN: LoginText = LoginText {
    lang: "zh-CN",
    title: "patchwarden 补丁管理 — 登录",
    token_label: "操作员令牌",
    sign_in: "登录",
    help: "打开 “patchwarden up” 打印的链接，或粘贴操作员令牌\
           （“patchwarden operators add 名称 --role viewer”；本机管理员的令牌在数据目录的 admin.token 中）。",
    signed_in: "已登录。",
    continue_: "进入主机总览",
    bad_token: "此令牌不是本控制器的操作员令牌。",
    revoked: "此操作员已被吊销。",
    ticket_unknown: "此登录链接在这里无效。请重新运行 “patchwarden up” 获取新链接，或使用令牌登录。",
    ticket_used: "此登录链接已被使用（只能使用一次）。请重新运行 “patchwarden up” 获取新链接，\
                  或使用 admin.token 中的令牌登录。",
    ticket_expired: "此登录链接已过期。请重新运行 “patchwarden up” 获取新链接，或使用令牌登录。",
    csrf_failed: "表单安全令牌不匹配；请重新加载页面后再试。",
};

fn login_text(t: &Text) -> &'static LoginText {
    if t.lang == ZH_CN.lang { &ZH_CN } else { &EN }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: &'static LoginText,
    signed_in: bool,
    next: String,
    error: Option<&'static str>,
    csrf: String,
}

#[derive(serde::Deserialize)]
pub struct LoginQuery {
    ticket: Option<String>,
    lang: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    token: Option<String>,
    csrf: Option<String>,
    lang: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct LogoutForm {
    csrf: Option<String>,
    lang: Option<String>,
}

/// An HTML answer with the page's security headers (no caching, no referrer, no framing).
pub fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, axum::response::Html(html)).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn over_tls(transport: Option<&Transport>) -> bool {
    matches!(transport, Some(Transport::Tls { .. }))
}

fn home(lang: &str) -> String {
    format!("/?lang={lang}")
}

/// The login form with a fresh double-submit CSRF value (and its cookie).
fn form(
    keys: &LoginCsrf,
    t: &'static LoginText,
    status: StatusCode,
    error: Option<&'static str>,
    secure: bool,
) -> Result<Response, ApiError> {
    let csrf = keys.issue(Timestamp::now())?;
    let page = LoginPage {
        t,
        signed_in: false,
        next: home(t.lang),
        error,
        csrf: csrf.clone(),
    };
    let html = page
        .render()
        .map_err(|e| anyhow::anyhow!("rendering the login page: {e}"))?;
    let mut response = html_response(status, html);
    let set = cookie_header(LOGIN_CSRF_COOKIE, &csrf, 3600, secure);
    response.headers_mut().append(
        header::SET_COOKIE,
        set.parse().map_err(anyhow::Error::from)?,
    );
    Ok(response)
}

/// Sets the session cookie and clears the login form's cookie.
fn with_session(mut response: Response, secrets: &SessionSecrets, secure: bool) -> Response {
    let headers = response.headers_mut();
    for value in [
        secrets.set_cookie(secure),
        cookie_header(LOGIN_CSRF_COOKIE, "", 0, secure),
    ] {
        if let Ok(value) = value.parse() {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

pub async fn login_form(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
    transport: Option<axum::Extension<Transport>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let t = login_text(language(query.lang.as_deref(), &headers));
    let secure = over_tls(transport.as_deref());
    let Some(ticket) = query.ticket else {
        return form(&state.login_csrf, t, StatusCode::OK, None, secure);
    };
    let now = Timestamp::now();
    let secrets = SessionSecrets::new(now)?;
    let redeemed = state
        .store
        .redeem_login_ticket(&token_sha256(&ticket), &secrets.new_session("ticket"), now)
        .await?;
    let problem = match redeemed {
        Ok(session) => {
            tracing::info!(operator = %session.operator, "signed in with a login link");
            let page = LoginPage {
                t,
                signed_in: true,
                next: home(t.lang),
                error: None,
                csrf: String::new(),
            };
            let html = page
                .render()
                .map_err(|e| anyhow::anyhow!("rendering the login page: {e}"))?;
            return Ok(with_session(
                html_response(StatusCode::OK, html),
                &secrets,
                secure,
            ));
        }
        Err(TicketProblem::Unknown) => t.ticket_unknown,
        Err(TicketProblem::AlreadyUsed) => t.ticket_used,
        Err(TicketProblem::Expired) => t.ticket_expired,
        Err(TicketProblem::OperatorRevoked) => t.revoked,
    };
    tracing::info!("a login link was refused");
    form(
        &state.login_csrf,
        t,
        StatusCode::UNAUTHORIZED,
        Some(problem),
        secure,
    )
}

pub async fn login(
    State(state): State<AppState>,
    transport: Option<axum::Extension<Transport>>,
    headers: HeaderMap,
    Form(submitted): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let t = login_text(language(submitted.lang.as_deref(), &headers));
    let secure = over_tls(transport.as_deref());
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    let sent = submitted.csrf.as_deref().unwrap_or("");
    // Double submit, and the value must be one this controller issued (not any pair the
    // client picked).
    let issued = state.login_csrf.check(sent, Timestamp::now());
    if expected.is_empty() || !same_secret(expected, sent) || !issued {
        tracing::info!("login refused: the form's CSRF value does not match its cookie");
        return form(
            &state.login_csrf,
            t,
            StatusCode::FORBIDDEN,
            Some(t.csrf_failed),
            secure,
        );
    }
    let token = submitted.token.as_deref().unwrap_or("").trim();
    let actor = match operator_for_token(&state.store, token).await {
        Ok(actor) => actor,
        Err(ApiError::OperatorRevoked) => {
            return form(
                &state.login_csrf,
                t,
                StatusCode::UNAUTHORIZED,
                Some(t.revoked),
                secure,
            );
        }
        Err(ApiError::OperatorTokenInvalid) => {
            tracing::info!("login refused: unknown token");
            return form(
                &state.login_csrf,
                t,
                StatusCode::UNAUTHORIZED,
                Some(t.bad_token),
                secure,
            );
        }
        Err(other) => return Err(other),
    };
    let now = Timestamp::now();
    let secrets = SessionSecrets::new(now)?;
    state
        .store
        .create_session(&actor.name, &secrets.new_session("token"), now)
        .await?;
    tracing::info!(operator = %actor.name, "signed in");
    let response = Redirect::to(&home(t.lang)).into_response();
    Ok(with_session(response, &secrets, secure))
}

pub async fn logout(
    State(state): State<AppState>,
    transport: Option<axum::Extension<Transport>>,
    headers: HeaderMap,
    Form(submitted): Form<LogoutForm>,
) -> Result<Response, ApiError> {
    let t = login_text(language(submitted.lang.as_deref(), &headers));
    let secure = over_tls(transport.as_deref());
    let session = page_session(&state.store, &headers).await?;
    let sent = submitted.csrf.as_deref().unwrap_or("");
    let Some(session) = session.filter(|s| same_secret(&s.csrf_token, sent)) else {
        tracing::info!("logout refused: no session or a CSRF token that does not match it");
        return form(
            &state.login_csrf,
            t,
            StatusCode::FORBIDDEN,
            Some(t.csrf_failed),
            secure,
        );
    };
    if let Some(value) = cookie(&headers, SESSION_COOKIE) {
        state.store.end_session(&token_sha256(value)).await?;
    }
    tracing::info!(operator = %session.operator, "signed out");
    let mut response = Redirect::to(&format!("/login?lang={}", t.lang)).into_response();
    let clear = cookie_header(SESSION_COOKIE, "", 0, secure);
    response.headers_mut().append(
        header::SET_COOKIE,
        clear.parse().map_err(anyhow::Error::from)?,
    );
    Ok(response)
}
