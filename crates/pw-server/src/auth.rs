//! Operator authentication and roles.
//!
//! Every `/api/v1` route except the OpenAPI document and the agent endpoints (mTLS) needs
//! `Authorization: Bearer <operator token>` and a role at least as high as [`access`] says; the
//! middleware [`authenticate`] checks it once for all routes and hands the [`Actor`] to the
//! handler. The page uses sessions instead (routes/login.rs). Tokens, session ids and login
//! tickets are random 256-bit secrets stored only as SHA-256, never logged or audited.

use std::time::Duration;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use pw_store::{NewSession, OperatorRefusal, Role, SessionRow, Store};

use crate::ca::{new_secret, token_sha256};
use crate::error::ApiError;
use crate::state::AppState;

/// How long a page session lasts (absolute; signing in again starts a new one).
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long a login link of `patchwarden up` stays usable (once).
pub const LOGIN_TICKET_TTL: Duration = Duration::from_secs(12 * 3600);
/// The page session cookie.
pub const SESSION_COOKIE: &str = "pw_session";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the OpenAPI document, `/metrics`).
    Public,
    /// Agents: mutual TLS, checked by the handlers.
    Agent,
    /// The page: a session cookie, checked by the page's handlers.
    Page,
    /// An operator with at least this role.
    Operator(Role),
}

/// The access rule of a route (method, path as routed). Secure by default: any `/api/v1` route
/// not named here needs `viewer` to read and `operator` to change.
pub fn access(method: &Method, route: &str) -> Access {
    match route {
        "/metrics" | "/api/v1/openapi.json" => Access::Public,
        // The page and the console (`/plans/{id}/approve` too): sessions, checked by their
        // handlers against the rule of the API route doing the same.
        r if !r.starts_with("/api/") => Access::Page,
        "/api/v1/enroll" => Access::Agent,
        r if r.starts_with("/api/v1/agent/") => Access::Agent,
        r if r.starts_with("/api/v1/operators") => Access::Operator(Role::Admin),
        "/api/v1/fleet" if method == Method::PUT => Access::Operator(Role::Admin),
        "/api/v1/notification-channels/{name}/secret" => Access::Operator(Role::Admin),
        // T0: starting a rollout outside its windows is an admin's decision.
        "/api/v1/rollouts/{id}/emergency" => Access::Operator(Role::Admin),
        r if r.ends_with("/approve") || r.ends_with("/reject") => Access::Operator(Role::Approver),
        "/api/v1/findings/accept" => Access::Operator(Role::Approver),
        "/api/v1/accepted-risks/{id}" if method == Method::DELETE => {
            Access::Operator(Role::Approver)
        }
        // Reports (`/api/v1/reports/*`, change reports too) are reads: viewer, like every other
        // GET.
        _ if method == Method::GET || method == Method::HEAD => Access::Operator(Role::Viewer),
        _ => Access::Operator(Role::Operator),
    }
}

/// The authenticated operator of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub role: Role,
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Actor>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "{} {} wants an operator but its access rule authenticates none",
                parts.method,
                parts.uri.path()
            ))
        })
    }
}

/// Middleware (a route layer, so the matched route is known): applies [`access`].
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let needed = match access(request.method(), &route) {
        Access::Operator(needed) => needed,
        Access::Agent => {
            // The transport first: a plain-HTTP request to an agent route is refused before
            // its body is read or parsed.
            let tls = matches!(
                request.extensions().get::<crate::tls::Transport>(),
                Some(crate::tls::Transport::Tls { .. })
            );
            if !tls {
                if route == "/api/v1/enroll" {
                    state.metrics.enrollment("refused_plain_http");
                }
                return ApiError::TlsRequired.into_response();
            }
            return next.run(request).await;
        }
        Access::Public | Access::Page => return next.run(request).await,
    };
    match actor_from_bearer(&state.store, request.headers(), needed).await {
        Ok(actor) => {
            request.extensions_mut().insert(actor);
            next.run(request).await
        }
        Err(error) => {
            let unauthenticated = error.status_and_code().0 == axum::http::StatusCode::UNAUTHORIZED;
            let mut response = error.into_response();
            if unauthenticated {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer realm=\"patchwarden\""),
                );
            }
            response
        }
    }
}

async fn actor_from_bearer(
    store: &Store,
    headers: &HeaderMap,
    needed: Role,
) -> Result<Actor, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::AuthRequired)?;
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::AuthMalformed)?;
    let actor = operator_for_token(store, token).await?;
    if actor.role < needed {
        return Err(ApiError::RoleTooLow {
            operator: actor.name,
            role: actor.role,
            needed,
        });
    }
    Ok(actor)
}

/// The active operator holding `token` (401 errors otherwise).
pub async fn operator_for_token(store: &Store, token: &str) -> Result<Actor, ApiError> {
    match store.operator_by_token(&token_sha256(token)).await? {
        None => Err(ApiError::OperatorTokenInvalid),
        Some(row) if row.revoked_at.is_some() => Err(ApiError::OperatorRevoked),
        Some(row) => Ok(Actor {
            name: row.name,
            role: row.role,
        }),
    }
}

/// Creates an operator and returns its API token (shown once; only its SHA-256 is stored).
pub async fn create_operator(
    store: &Store,
    name: &str,
    role: Role,
    actor: &str,
) -> anyhow::Result<String> {
    pw_store::validate_operator_name(name).map_err(anyhow::Error::msg)?;
    let token = new_secret("pwo_")?;
    match store
        .create_operator(name, role, &token_sha256(&token), actor)
        .await?
    {
        Ok(()) => Ok(token),
        Err(OperatorRefusal::NameTaken { revoked: false }) => {
            anyhow::bail!("an operator named {name:?} already exists")
        }
        Err(OperatorRefusal::NameTaken { revoked: true }) => anyhow::bail!(
            "an operator named {name:?} existed and was revoked; names are never reused \
             (audit records name them), choose another"
        ),
        Err(other) => anyhow::bail!("operator {name:?} not created: {other:?}"),
    }
}

/// Issues a single-use login link secret for `operator`, valid for [`LOGIN_TICKET_TTL`].
pub async fn issue_login_ticket(store: &Store, operator: &str) -> anyhow::Result<String> {
    let ticket = new_secret("pwl_")?;
    let expires_at = Timestamp::now().checked_add(SignedDuration::try_from(LOGIN_TICKET_TTL)?)?;
    store
        .create_login_ticket(&token_sha256(&ticket), operator, expires_at)
        .await?;
    Ok(ticket)
}

/// A new session's secrets: the cookie value and what the store keeps.
pub struct SessionSecrets {
    pub cookie: String,
    pub id_sha256: String,
    pub csrf_token: String,
    pub expires_at: Timestamp,
}

impl SessionSecrets {
    pub fn new(now: Timestamp) -> anyhow::Result<SessionSecrets> {
        let cookie = new_secret("pws_")?;
        Ok(SessionSecrets {
            id_sha256: token_sha256(&cookie),
            csrf_token: new_secret("pwc_")?,
            expires_at: now.checked_add(SignedDuration::try_from(SESSION_TTL)?)?,
            cookie,
        })
    }

    pub fn new_session<'a>(&'a self, via: &'a str) -> NewSession<'a> {
        NewSession {
            id_sha256: &self.id_sha256,
            csrf_token: &self.csrf_token,
            expires_at: self.expires_at,
            via,
        }
    }

    /// `Set-Cookie` for this session: HttpOnly, SameSite=Strict, `Secure` over TLS.
    pub fn set_cookie(&self, secure: bool) -> String {
        cookie_header(SESSION_COOKIE, &self.cookie, SESSION_TTL.as_secs(), secure)
    }
}

/// A `Set-Cookie` value; `max_age` 0 removes the cookie.
pub fn cookie_header(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The live session of the request's cookie, if any.
pub async fn page_session(
    store: &Store,
    headers: &HeaderMap,
) -> anyhow::Result<Option<SessionRow>> {
    match cookie(headers, SESSION_COOKIE) {
        Some(value) => store.session(&token_sha256(value), Timestamp::now()).await,
        None => Ok(None),
    }
}

/// The login form's CSRF values, bound to a secret of the controller:
/// `pwc_<random>.<expiry, Unix seconds>.<HMAC-SHA256 of the first two parts, hex>`. A value
/// the client made up, or one older than an hour, fails [`LoginCsrf::check`]. Without a secret
/// key file the key lives in memory only (a restart invalidates login forms already served;
/// the page serves a new one); with one it is shared through the database by every replica
/// (`secrets.rs`).
pub struct LoginCsrf {
    key: ring::hmac::Key,
}

/// How long a login form's CSRF value is accepted.
const LOGIN_CSRF_TTL_SECS: i64 = 3600;

impl LoginCsrf {
    pub fn new() -> anyhow::Result<LoginCsrf> {
        let key =
            ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
                .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
        Ok(LoginCsrf { key })
    }

    /// With a key shared by every controller on one database (a login form served by one is
    /// accepted by another).
    pub fn from_key(bytes: &[u8]) -> LoginCsrf {
        LoginCsrf {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes),
        }
    }

    /// A new value for a login form served at `now`.
    pub fn issue(&self, now: Timestamp) -> anyhow::Result<String> {
        let body = format!(
            "{}.{}",
            new_secret("pwc_")?,
            now.as_second() + LOGIN_CSRF_TTL_SECS
        );
        let tag = ring::hmac::sign(&self.key, body.as_bytes());
        Ok(format!("{body}.{}", hex::encode(tag.as_ref())))
    }

    /// Whether `value` was issued by [`LoginCsrf::issue`] of this key and has not expired.
    pub fn check(&self, value: &str, now: Timestamp) -> bool {
        let Some((body, tag)) = value.rsplit_once('.') else {
            return false;
        };
        let Some(expiry) = body
            .rsplit_once('.')
            .and_then(|(_, e)| e.parse::<i64>().ok())
        else {
            return false;
        };
        let Ok(tag) = hex::decode(tag) else {
            return false;
        };
        expiry > now.as_second() && ring::hmac::verify(&self.key, body.as_bytes(), &tag).is_ok()
    }
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_get_the_intended_access_and_new_routes_are_closed() {
        let cases = [
            (Method::GET, "/metrics", Access::Public),
            (Method::GET, "/api/v1/openapi.json", Access::Public),
            (Method::GET, "/", Access::Page),
            (Method::POST, "/logout", Access::Page),
            (Method::POST, "/api/v1/enroll", Access::Agent),
            (Method::GET, "/api/v1/agent/commands", Access::Agent),
            (Method::POST, "/api/v1/agent/inventory/delta", Access::Agent),
            (Method::GET, "/api/v1/hosts", Access::Operator(Role::Viewer)),
            (Method::GET, "/api/v1/audit", Access::Operator(Role::Viewer)),
            (
                Method::GET,
                "/api/v1/reports/compliance",
                Access::Operator(Role::Viewer),
            ),
            (
                Method::GET,
                "/api/v1/reports/risk",
                Access::Operator(Role::Viewer),
            ),
            (
                Method::GET,
                "/api/v1/reports/change/plans/{id}",
                Access::Operator(Role::Viewer),
            ),
            (
                Method::GET,
                "/api/v1/reports/change/rollouts/{id}",
                Access::Operator(Role::Viewer),
            ),
            (Method::GET, "/reports/change/plans/{id}", Access::Page),
            (
                Method::POST,
                "/api/v1/rollouts",
                Access::Operator(Role::Operator),
            ),
            (
                Method::POST,
                "/api/v1/enrollment-tokens",
                Access::Operator(Role::Operator),
            ),
            (
                Method::POST,
                "/api/v1/plans/{id}/approve",
                Access::Operator(Role::Approver),
            ),
            (
                Method::GET,
                "/api/v1/operators",
                Access::Operator(Role::Admin),
            ),
            (
                Method::POST,
                "/api/v1/rollouts/{id}/emergency",
                Access::Operator(Role::Admin),
            ),
            (
                Method::POST,
                "/api/v1/rollouts/{id}/retry",
                Access::Operator(Role::Operator),
            ),
            (
                Method::POST,
                "/api/v1/rollouts/{id}/hosts/{host}/skip",
                Access::Operator(Role::Operator),
            ),
            (
                Method::POST,
                "/api/v1/rollouts/{id}/hosts/{host}/defer",
                Access::Operator(Role::Operator),
            ),
            (
                Method::POST,
                "/api/v1/rollouts/{id}/hosts/{host}/late-rollback",
                Access::Operator(Role::Operator),
            ),
            (
                Method::POST,
                "/api/v1/rollouts/{id}/hosts/{host}/dismiss-alert",
                Access::Operator(Role::Operator),
            ),
            (
                Method::POST,
                "/api/v1/operators/{name}/revoke",
                Access::Operator(Role::Admin),
            ),
            (
                Method::DELETE,
                "/api/v1/something-new",
                Access::Operator(Role::Operator),
            ),
            (
                Method::GET,
                "/api/v2/something-new",
                Access::Operator(Role::Viewer),
            ),
        ];
        for (method, route, want) in cases {
            assert_eq!(access(&method, route), want, "{method} {route}");
        }
    }

    #[test]
    fn cookies_are_read_and_written_strictly() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; pw_session=pws_x; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("pws_x"));
        assert_eq!(cookie(&headers, "c"), None);
        let set = cookie_header(SESSION_COOKIE, "v", 60, false);
        assert_eq!(
            set,
            "pw_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        assert!(cookie_header("x", "", 0, true).ends_with("; Secure"));
    }

    #[test]
    fn login_csrf_values_are_bound_to_the_key_and_expire() {
        let keys = LoginCsrf::new().unwrap();
        let now = Timestamp::now();
        let value = keys.issue(now).unwrap();
        assert!(keys.check(&value, now));
        assert!(!keys.check(&value, now + SignedDuration::from_hours(2)));
        assert!(!LoginCsrf::new().unwrap().check(&value, now), "another key");
        assert!(!keys.check("pwc_chosen", now));
        let forged = format!("{}0", &value[..value.len() - 1]);
        assert!(!keys.check(&forged, now) || value.ends_with('0'));
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
