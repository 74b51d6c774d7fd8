//! `ApiError`: every failure of the HTTP API, mapped once to status + stable code + message.
//! Internal causes are logged in the request span, never returned.

use axum::extract::Request;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pw_protocol::{ErrorBody, ErrorDetail};

/// nginx's status for a request its client closed before the answer: not a 4xx of the HTTP
/// standard, so that the answers counted for what a request said stay apart.
pub const CLIENT_CLOSED_REQUEST: StatusCode = match StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => StatusCode::BAD_REQUEST,
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedBody(String),
    #[error("the request body does not have the expected shape: {0}")]
    InvalidBody(String),
    #[error("expected a JSON body with `Content-Type: application/json`")]
    NotJson,
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidLabel(String),
    #[error(
        "the fleet document has {} problem{}; nothing was stored",
        .0.len(),
        if .0.len() == 1 { "" } else { "s" }
    )]
    FleetInvalid(Vec<pw_fleet::FleetError>),
    #[error("{0}")]
    FleetStale(String),
    #[error("no fleet document has been applied yet (patchwarden fleet apply FILE)")]
    FleetNotApplied,
    #[error(
        "unknown notification channel {0:?}: the current fleet document has no [[channels]] entry with that name"
    )]
    ChannelNotFound(String),
    #[error("unknown notification {0}")]
    NotificationNotFound(i64),
    #[error("{0}")]
    NotificationNotRetryable(String),
    #[error("send the fleet document as `Content-Type: application/toml` or `text/plain`")]
    NotToml,
    #[error("unknown host {0:?}")]
    HostNotFound(String),
    #[error("unknown command {0:?}")]
    CommandNotFound(String),
    #[error("host {0:?} has no evidence yet: ask its agent with POST /api/v1/hosts/{0}/evidence")]
    EvidenceNotFound(String),
    #[error("unknown rollout {0:?}")]
    RolloutNotFound(String),
    #[error(
        "unknown plan {0}: there is no stored plan with that number (see `patchwarden plans list`)"
    )]
    PlanNotFound(i64),
    #[error("{0}")]
    PlanRefused(String),
    #[error("{0}")]
    PlanStale(String),
    #[error("{0}")]
    FourEyes(String),
    #[error("{0}")]
    PlanOutdated(String),
    #[error("{0}")]
    NothingToPlan(String),
    #[error("the plan cannot be rolled out: {0}")]
    PlanNotExecutable(String),
    #[error("{0}")]
    HostReadOnly(String),
    #[error(
        "production hosts change only through an approved plan ({{\"plan\": N}}): {0}; \
         staging and other environments may take ad-hoc changes"
    )]
    ProductionNeedsPlan(String),
    #[error("no route for {0}")]
    RouteNotFound(String),
    #[error("method not allowed: {0} (the Allow header lists the methods this path takes)")]
    MethodNotAllowed(String),
    #[error("the request body is too large: {0}")]
    BodyTooLarge(String),
    /// The body stopped before its end: the client reset the request or closed its connection
    /// (an agent's request abandoned mid-body); its answer reaches no one, and is counted apart
    /// from the requests refused for what they said (issue 15: counted as 400 before).
    #[error("the request body did not arrive whole: {0}")]
    BodyNotReceived(String),
    #[error("{0}")]
    RolloutConflict(String),
    #[error("{0} is not blocked")]
    BlockNotFound(String),
    #[error("unknown accepted risk {0:?}")]
    AcceptedRiskNotFound(String),
    #[error("{0}")]
    AcceptedRiskRevoked(String),
    #[error("unknown enrollment token (it was never issued by this controller)")]
    TokenUnknown,
    #[error("this enrollment token was already used; ask an operator for a new one")]
    TokenAlreadyUsed,
    #[error("this enrollment token has expired; ask an operator for a new one")]
    TokenExpired,
    #[error(
        "this enrollment token was revoked with the operator who issued it; ask an operator for a new one"
    )]
    TokenRevoked,
    #[error("the certificate signing request is invalid: {0}")]
    InvalidCsr(String),
    #[error("this endpoint requires TLS (connect with https://)")]
    TlsRequired,
    #[error("this endpoint requires a client certificate issued at enrollment")]
    ClientCertificateRequired,
    #[error("this client certificate does not belong to an enrolled host (revoked or unknown)")]
    UnknownAgent,
    #[error("protocol version {0} is not supported by this controller (it speaks {1})")]
    UnsupportedProtocol(u32, u32),
    #[error(
        "this endpoint requires an operator token: send `Authorization: Bearer <token>` (create one with `patchwarden operators add`)"
    )]
    AuthRequired,
    #[error("the Authorization header must be `Bearer <operator token>`")]
    AuthMalformed,
    #[error("this operator token is not valid for this controller")]
    OperatorTokenInvalid,
    #[error("this operator token was revoked; ask an admin for a new operator")]
    OperatorRevoked,
    #[error("operator {operator:?} has the {role} role; this needs {needed} or higher")]
    RoleTooLow {
        operator: String,
        role: pw_store::Role,
        needed: pw_store::Role,
    },
    #[error("unknown operator {0:?}")]
    OperatorNotFound(String),
    #[error("{0}")]
    OperatorConflict(String),
    #[error("{0}")]
    PdfUnavailable(String),
    #[error("internal error; see the controller's log")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// The HTTP status and the stable machine code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::MalformedBody(_) => (StatusCode::BAD_REQUEST, "malformed_body"),
            ApiError::InvalidBody(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            ApiError::NotJson => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_json"),
            ApiError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::InvalidLabel(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_label"),
            ApiError::FleetInvalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "fleet_invalid"),
            ApiError::FleetStale(_) => (StatusCode::CONFLICT, "fleet_stale"),
            ApiError::FleetNotApplied => (StatusCode::NOT_FOUND, "fleet_not_applied"),
            ApiError::ChannelNotFound(_) => (StatusCode::NOT_FOUND, "channel_not_found"),
            ApiError::NotificationNotFound(_) => (StatusCode::NOT_FOUND, "notification_not_found"),
            ApiError::NotificationNotRetryable(_) => {
                (StatusCode::CONFLICT, "notification_not_retryable")
            }
            ApiError::NotToml => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_toml"),
            ApiError::HostNotFound(_) => (StatusCode::NOT_FOUND, "host_not_found"),
            ApiError::CommandNotFound(_) => (StatusCode::NOT_FOUND, "command_not_found"),
            ApiError::EvidenceNotFound(_) => (StatusCode::NOT_FOUND, "evidence_not_found"),
            ApiError::RolloutNotFound(_) => (StatusCode::NOT_FOUND, "rollout_not_found"),
            ApiError::PlanNotFound(_) => (StatusCode::NOT_FOUND, "plan_not_found"),
            ApiError::PlanRefused(_) => (StatusCode::CONFLICT, "plan_refused"),
            ApiError::PlanStale(_) => (StatusCode::CONFLICT, "plan_stale"),
            ApiError::FourEyes(_) => (StatusCode::FORBIDDEN, "four_eyes"),
            ApiError::PlanOutdated(_) => (StatusCode::CONFLICT, "plan_outdated"),
            ApiError::NothingToPlan(_) => (StatusCode::UNPROCESSABLE_ENTITY, "nothing_to_plan"),
            ApiError::PlanNotExecutable(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "plan_not_executable")
            }
            ApiError::HostReadOnly(_) => (StatusCode::CONFLICT, "host_read_only"),
            ApiError::ProductionNeedsPlan(_) => (StatusCode::FORBIDDEN, "production_needs_plan"),
            ApiError::RouteNotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::BodyTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::BodyNotReceived(_) => (CLIENT_CLOSED_REQUEST, "body_not_received"),
            ApiError::RolloutConflict(_) => (StatusCode::CONFLICT, "rollout_conflict"),
            ApiError::BlockNotFound(_) => (StatusCode::NOT_FOUND, "blocked_version_not_found"),
            ApiError::AcceptedRiskNotFound(_) => (StatusCode::NOT_FOUND, "accepted_risk_not_found"),
            ApiError::AcceptedRiskRevoked(_) => (StatusCode::CONFLICT, "accepted_risk_revoked"),
            ApiError::TokenUnknown => (StatusCode::UNAUTHORIZED, "token_invalid"),
            ApiError::TokenAlreadyUsed => (StatusCode::CONFLICT, "token_already_used"),
            ApiError::TokenExpired => (StatusCode::GONE, "token_expired"),
            ApiError::TokenRevoked => (StatusCode::GONE, "token_revoked"),
            ApiError::InvalidCsr(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_csr"),
            ApiError::TlsRequired => (StatusCode::FORBIDDEN, "tls_required"),
            ApiError::ClientCertificateRequired => {
                (StatusCode::UNAUTHORIZED, "client_certificate_required")
            }
            ApiError::UnknownAgent => (StatusCode::UNAUTHORIZED, "agent_unknown"),
            ApiError::UnsupportedProtocol(..) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unsupported_protocol")
            }
            ApiError::AuthRequired => (StatusCode::UNAUTHORIZED, "auth_required"),
            ApiError::AuthMalformed => (StatusCode::UNAUTHORIZED, "auth_malformed"),
            ApiError::OperatorTokenInvalid => (StatusCode::UNAUTHORIZED, "operator_token_invalid"),
            ApiError::OperatorRevoked => (StatusCode::UNAUTHORIZED, "operator_revoked"),
            ApiError::RoleTooLow { .. } => (StatusCode::FORBIDDEN, "role_too_low"),
            ApiError::OperatorNotFound(_) => (StatusCode::NOT_FOUND, "operator_not_found"),
            ApiError::OperatorConflict(_) => (StatusCode::CONFLICT, "operator_conflict"),
            ApiError::PdfUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "pdf_renderer_unavailable")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl ApiError {
    /// The problems listed with the message (an invalid document's, each with its path).
    fn problems(&self) -> Vec<pw_protocol::Problem> {
        match self {
            ApiError::FleetInvalid(errors) => errors
                .iter()
                .map(|e| pw_protocol::Problem {
                    path: e.path.clone(),
                    message: e.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        } else {
            tracing::info!(code, message = %self, "request refused");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: self.to_string(),
                problems: self.problems(),
            },
        };
        (status, axum::Json(body)).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        ApiError::Internal(error)
    }
}

impl From<pw_controller::Refusal> for ApiError {
    fn from(refusal: pw_controller::Refusal) -> Self {
        use pw_controller::Refusal as R;
        match refusal {
            R::InvalidRequest(m) => ApiError::InvalidRequest(m),
            R::InvalidBody(m) => ApiError::InvalidBody(m),
            R::HostNotFound(m) => ApiError::HostNotFound(m),
            R::RolloutNotFound(m) => ApiError::RolloutNotFound(m),
            R::PlanNotFound(id) => ApiError::PlanNotFound(id),
            R::PlanRefused(m) => ApiError::PlanRefused(m),
            R::PlanStale(m) => ApiError::PlanStale(m),
            R::FourEyes(m) => ApiError::FourEyes(m),
            R::PlanOutdated(m) => ApiError::PlanOutdated(m),
            R::NothingToPlan(m) => ApiError::NothingToPlan(m),
            R::PlanNotExecutable(m) => ApiError::PlanNotExecutable(m),
            R::HostReadOnly(m) => ApiError::HostReadOnly(m),
            R::RolloutConflict(m) => ApiError::RolloutConflict(m),
            R::BlockNotFound(m) => ApiError::BlockNotFound(m),
            R::AcceptedRiskNotFound(id) => ApiError::AcceptedRiskNotFound(id),
            R::AcceptedRiskRevoked(m) => ApiError::AcceptedRiskRevoked(m),
            R::FleetInvalid(problems) => ApiError::FleetInvalid(problems),
            R::FleetStale(m) => ApiError::FleetStale(m),
            R::FleetNotApplied => ApiError::FleetNotApplied,
            R::ChannelNotFound(name) => ApiError::ChannelNotFound(name),
            R::NotificationNotFound(id) => ApiError::NotificationNotFound(id),
            R::NotificationNotRetryable(why) => ApiError::NotificationNotRetryable(why),
            R::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => ApiError::InvalidBody(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::MalformedBody(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::NotJson,
            JsonRejection::BytesRejection(rejection) => body_unread(rejection),
            other => ApiError::InvalidRequest(other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::InvalidRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::InvalidRequest(rejection.body_text())
    }
}

/// Middleware around the whole router: every refusal is the JSON error with a code. Answers
/// that are already JSON or HTML (the page) pass unchanged; anything else with an error status
/// (axum's plain-text rejections, an empty 405) becomes [`ErrorBody`] with a code from its
/// status and its text as the message.
pub async fn uniform_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let media = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if media.starts_with("application/json") || media.starts_with("text/html") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        s if s.is_server_error() => "internal",
        _ => "refused",
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase()
    } else {
        text
    };
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message,
            problems: Vec::new(),
        },
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    let json = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(json))
}

/// Why a body was not read: over the route's cap, or cut off by its client.
fn body_unread(rejection: BytesRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge(
            "longer than this route accepts (docs/server.md lists the limits)".into(),
        ),
        _ => ApiError::BodyNotReceived(rejection.body_text()),
    }
}

/// A JSON request body whose refusals are [`ApiError`]s: `Content-Type: application/json`
/// (or `…+json`), a JSON object (`[]` or `1` is refused, though serde would read `[]` as a
/// struct without required fields), then the type's shape.
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let media = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !(media == "application/json"
            || (media.starts_with("application/") && media.ends_with("+json")))
        {
            return Err(ApiError::NotJson);
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(body_unread)?;
        let object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        // Tracking the path to a refused value costs every value read (~40 % of the parse of
        // an agent's 1,500-package inventory report): a body that reads is read without it,
        // one that does not is read again with it for its error (the same acceptance: both
        // are serde_json's reader to the end of the body).
        let parsed = serde_json::from_slice::<T>(&bytes)
            .map(axum::Json)
            .or_else(|_| axum::Json::<T>::from_bytes(&bytes));
        match parsed {
            Ok(axum::Json(value)) if object => Ok(ApiJson(value)),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::MalformedBody(e.body_text())),
            _ if !object => Err(ApiError::InvalidBody(
                "the body must be a JSON object ({…})".into(),
            )),
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_have_distinct_statuses_and_codes() {
        let used = ApiError::TokenAlreadyUsed.status_and_code();
        let expired = ApiError::TokenExpired.status_and_code();
        let unknown = ApiError::TokenUnknown.status_and_code();
        assert_eq!(used, (StatusCode::CONFLICT, "token_already_used"));
        assert_eq!(expired, (StatusCode::GONE, "token_expired"));
        assert_eq!(unknown, (StatusCode::UNAUTHORIZED, "token_invalid"));
    }
}
