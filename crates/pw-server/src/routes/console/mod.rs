//! The operator console: server-rendered askama pages under one layout
//! (`templates/console/base.html`: navigation, language and time zone, sign-out), each behind
//! the page session (routes/login.rs), in English and Simplified Chinese (`text.rs`).
//!
//! The console holds no logic of its own: its reads are pw-store's and pw-controller's (the
//! same as the API's), its forms call the same pw-controller use-cases as the API and are
//! authorized by the API route's rule (`auth::access`) and the session's CSRF token.
//!
//! - `audit.rs`: `/audit`, filtered, with the chain's verification state.
//! - `chrome.rs`: what every page's layout shows, times in the operator's zone.
//! - `findings.rs`: `/findings`, one row per update to apply.
//! - `generated.rs`: generated English text (reasons, summaries) in Chinese.
//! - `plans.rs`: `/plans`, a plan's review and its forms (create, submit, approve, reject).
//! - `rollouts.rs`: `/rollouts`, a rollout's progress, controls and operation log.
//! - `hosts.rs`: `/hosts` (filters, paging in SQL) and `/hosts/{id}`.
//! - `notifications.rs`: `/notifications`, the outbox with retry.
//! - `windows.rs`: `/windows`, four weeks of slots per group with capacity and blackouts.
//! - `text.rs`, `text_en.rs`, `text_zh.rs`: the strings.

pub mod audit;
pub mod chrome;
pub mod findings;
pub mod generated;
pub mod hosts;
pub mod notifications;
pub mod plans;
pub mod rollouts;
pub mod text;
mod text_en;
mod text_zh;
pub mod windows;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

pub use chrome::{Chrome, TZ_COOKIE};
use text::{LANG_COOKIE, Text};

use super::login::html_response;
use crate::auth::{Access, cookie_header, page_session, same_secret};
use crate::error::ApiError;
use crate::state::AppState;

/// Rows per page of `/hosts` and `/findings`.
pub const PAGE_SIZE: u32 = 50;
/// The highest page number accepted (a deeper page is refused, not scanned).
pub const MAX_PAGE: u32 = 100_000;

/// The language and zone a page was asked for (`?lang=`, `?tz=`), remembered in cookies.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Display {
    pub lang: Option<String>,
    pub tz: Option<String>,
}

/// A signed-in page request: the layout, or the redirect to `/login` without a session.
pub async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    display: &Display,
    section: &'static str,
    path: &str,
) -> Result<Result<Chrome, Response>, ApiError> {
    let t = text::language(display.lang.as_deref(), headers);
    let Some(session) = page_session(&state.store, headers).await? else {
        return Ok(Err(
            Redirect::to(&format!("/login?lang={}", t.lang)).into_response()
        ));
    };
    Ok(Ok(Chrome::new(t, headers, display, section, path, session)))
}

/// Renders a page with the security headers, remembering `?lang=`/`?tz=` in cookies.
pub fn render(chrome: &Chrome, page: &impl Template) -> Result<Response, ApiError> {
    render_status(chrome, StatusCode::OK, page)
}

pub fn render_status(
    chrome: &Chrome,
    status: StatusCode,
    page: &impl Template,
) -> Result<Response, ApiError> {
    let html = page
        .render()
        .map_err(|e| anyhow::anyhow!("rendering {}: {e}", chrome.path))?;
    let mut response = html_response(status, html);
    for set in chrome.remember() {
        response.headers_mut().append(
            header::SET_COOKIE,
            set.parse().map_err(anyhow::Error::from)?,
        );
    }
    Ok(response)
}

/// Why a form was refused, shown on the console's problem page with its status.
pub struct Problem {
    pub status: StatusCode,
    pub message: String,
}

impl Problem {
    /// An API refusal as the console shows it; an internal error stays one (500, logged).
    pub fn from_api(error: ApiError) -> Result<Problem, ApiError> {
        match error {
            ApiError::Internal(_) => Err(error),
            other => Ok(Problem {
                status: other.status_and_code().0,
                message: other.to_string(),
            }),
        }
    }
}

/// A state-changing form: the session's CSRF token must be sent back, and the operator's role
/// must be what the API route doing the same change requires (`auth::access`).
pub fn authorize(
    chrome: &Chrome,
    csrf: Option<&str>,
    method: Method,
    api_route: &str,
) -> Result<(), Problem> {
    if !same_secret(&chrome.csrf, csrf.unwrap_or("")) {
        return Err(Problem {
            status: StatusCode::FORBIDDEN,
            message: chrome.t.csrf_failed.to_owned(),
        });
    }
    if let Access::Operator(needed) = crate::auth::access(&method, api_route)
        && chrome.role < needed
    {
        let error = ApiError::RoleTooLow {
            operator: chrome.operator.clone(),
            role: chrome.role,
            needed,
        };
        return Err(Problem {
            status: error.status_and_code().0,
            message: error.to_string(),
        });
    }
    Ok(())
}

/// A signed-in form post allowed by [`authorize`]: the layout, or the answer to send instead
/// (the redirect to `/login`, the problem page of a refused token or role).
pub async fn signed_in_form(
    state: &AppState,
    headers: &HeaderMap,
    section: &'static str,
    csrf: Option<&str>,
    method: Method,
    api_route: &str,
) -> Result<Result<Chrome, Response>, ApiError> {
    let c = match signed_in(state, headers, &Display::default(), section, section).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(Err(redirect)),
    };
    match authorize(&c, csrf, method, api_route) {
        Ok(()) => Ok(Ok(c)),
        Err(refusal) => Ok(Err(problem(&c, &refusal)?)),
    }
}

/// An API refusal as the problem page; an internal error as itself.
pub fn refused(chrome: &Chrome, error: ApiError) -> Result<Response, ApiError> {
    problem(chrome, &Problem::from_api(error)?)
}

/// Whether the operator's role may do what the API route does (forms are shown disabled
/// otherwise, with the role needed).
pub fn allowed(chrome: &Chrome, method: Method, api_route: &str) -> bool {
    match crate::auth::access(&method, api_route) {
        Access::Operator(needed) => chrome.role >= needed,
        _ => true,
    }
}

#[derive(Template)]
#[template(path = "console/problem.html")]
struct ProblemPage<'a> {
    c: &'a Chrome,
    problem: &'a Problem,
}

/// The problem page: what was refused and why, with its status.
pub fn problem(chrome: &Chrome, problem: &Problem) -> Result<Response, ApiError> {
    render_status(chrome, problem.status, &ProblemPage { c: chrome, problem })
}

/// One page of a listing: which page, how many in all, and the links to its neighbours.
pub struct Paging {
    pub page: u32,
    pub pages: u64,
    pub total: u64,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Paging {
    /// `query` is the listing's query string without `page`.
    pub fn new(path: &str, query: &str, page: u32, total: u64) -> Paging {
        let pages = total.div_ceil(u64::from(PAGE_SIZE)).max(1);
        let link = |p: u32| {
            let sep = if query.is_empty() { "" } else { "&" };
            format!("{path}?{query}{sep}page={p}")
        };
        Paging {
            page,
            pages,
            total,
            previous: (page > 1).then(|| link(page - 1)),
            next: (u64::from(page) < pages).then(|| link(page + 1)),
        }
    }

    pub fn request(page: u32) -> pw_store::PageRequest {
        pw_store::PageRequest {
            offset: (page.max(1) - 1) * PAGE_SIZE,
            limit: PAGE_SIZE,
        }
    }
}

/// A page number from the query: 1 when absent, refused past [`MAX_PAGE`].
pub fn page_number(page: Option<u32>) -> Result<u32, ApiError> {
    match page {
        None => Ok(1),
        Some(p) if (1..=MAX_PAGE).contains(&p) => Ok(p),
        Some(p) => Err(ApiError::InvalidRequest(format!(
            "page: {p} is outside 1–{MAX_PAGE}"
        ))),
    }
}

/// Where `GET /settings` may send the browser back to: a path of this site.
fn local_path(back: Option<&str>) -> &str {
    match back {
        Some(b) if b.starts_with('/') && !b.starts_with("//") && !b.contains('\\') => b,
        _ => "/hosts",
    }
}

#[derive(serde::Deserialize)]
pub struct SettingsQuery {
    lang: Option<String>,
    tz: Option<String>,
    back: Option<String>,
}

/// `GET /settings?lang=&tz=&back=`: remembers the language and time zone (cookies only; the
/// zone must be one of the time zone database) and returns to `back`.
pub async fn settings(
    State(state): State<AppState>,
    Query(query): Query<SettingsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let t: &Text = text::language(query.lang.as_deref(), &headers);
    if page_session(&state.store, &headers).await?.is_none() {
        return Ok(Redirect::to(&format!("/login?lang={}", t.lang)).into_response());
    }
    let mut response = Redirect::to(local_path(query.back.as_deref())).into_response();
    let mut cookies = vec![cookie_header(
        LANG_COOKIE,
        t.lang,
        chrome::REMEMBER_SECS,
        false,
    )];
    if let Some(zone) = query.tz.as_deref().and_then(chrome::known_zone) {
        cookies.push(cookie_header(
            TZ_COOKIE,
            &zone,
            chrome::REMEMBER_SECS,
            false,
        ));
    }
    for set in cookies {
        response.headers_mut().append(
            header::SET_COOKIE,
            set.parse().map_err(anyhow::Error::from)?,
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_links_keep_the_filters() {
        let paging = Paging::new("/hosts", "os=debian", 2, 120);
        assert_eq!(paging.pages, 3);
        assert_eq!(paging.previous.as_deref(), Some("/hosts?os=debian&page=1"));
        assert_eq!(paging.next.as_deref(), Some("/hosts?os=debian&page=3"));
        let last = Paging::new("/hosts", "", 3, 120);
        assert_eq!(last.next, None);
        assert_eq!(Paging::new("/hosts", "", 1, 0).pages, 1);
        assert_eq!(Paging::request(3).offset, 100);
    }

    #[test]
    fn settings_return_only_to_this_site() {
        assert_eq!(local_path(Some("/findings?tier=1")), "/findings?tier=1");
        assert_eq!(local_path(Some("//evil.example/")), "/hosts");
        assert_eq!(local_path(Some("https://evil.example/")), "/hosts");
        assert_eq!(local_path(None), "/hosts");
    }
}
