//! The patchwarden controller's edge: HTTP API under `/api/v1`, mTLS agent endpoints, the
//! controller CA, the server-rendered page at `/`, Prometheus `/metrics`. Routing,
//! authentication, rendering and TLS only: the use-cases behind the routes (rollouts, the
//! scheduler, plan rollouts, findings) live in pw-controller.
//!
//! One listener serves both plain HTTP (page, operator API, metrics) and TLS: the first byte of
//! a connection tells them apart. Enrollment needs TLS; agent endpoints need a client certificate
//! signed by the controller CA and known to the database (see docs/design/agent-protocol.md).

mod auth;
mod ca;
mod deliveries;
mod error;
mod heartbeats;
mod identities;
mod idle;
mod listener;
mod metrics;
pub mod pdf;
mod routes;
mod secrets;
mod settings;
mod state;
mod tls;

pub use auth::{
    Access, Actor, LOGIN_TICKET_TTL, SESSION_COOKIE, SESSION_TTL, access, create_operator,
    issue_login_ticket,
};
pub use ca::{Ca, fingerprint, new_secret, new_token, token_sha256, write_private};
pub use error::ApiError;
pub use pw_controller::scheduler;
pub use pw_store::Role;
pub use routes::{ROUTES, app};
pub use settings::{RawServerSettings, ServerSettings};
pub use state::AppState;
pub use tls::{Controller, start, start_with_clock};

/// The OpenAPI document served at `/api/v1/openapi.json` (kept in the repository).
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");
