//! Operator management over the REST API (admin role) and `GET /api/v1/me`.

use jiff::Timestamp;

/// One operator (never its token).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OperatorView {
    pub name: String,
    /// `viewer`, `operator`, `approver` or `admin`.
    pub role: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub revoked_at: Option<Timestamp>,
}

/// `GET /api/v1/operators`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OperatorList {
    pub operators: Vec<OperatorView>,
}

/// `POST /api/v1/operators`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateOperator {
    pub name: String,
    pub role: String,
}

/// The answer to `POST /api/v1/operators`: the token, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreatedOperator {
    pub name: String,
    pub role: String,
    pub token: String,
}

/// `GET /api/v1/me`: who the token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Me {
    pub name: String,
    pub role: String,
}
