//! Persisted documents carry a schema version: `{"version": 1, ...fields}`. Reading checks the
//! version and upgrades older documents explicitly; writing always uses [`SCHEMA_VERSION`].
//!
//! Version history: 1 — first release (host changes, rollout controls, plans, block lists).
//! A new version adds an arm to [`upgrade`] that rewrites the older JSON into the newer shape, and
//! keeps the older fixture under `tests/data/` deserializing.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The schema version this crate writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a persisted document could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("schema version {found} is newer than {supported}, the newest this build reads")]
    TooNew { found: u32, supported: u32 },
    #[error("schema version {0} is unknown")]
    Unknown(u32),
    #[error("invalid document: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Serialize)]
struct Outgoing<'a, T> {
    version: u32,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Deserialize)]
struct Incoming {
    version: u32,
    #[serde(flatten)]
    body: Map<String, Value>,
}

/// Writes `value` as a versioned JSON document.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, SchemaError> {
    Ok(serde_json::to_string(&Outgoing {
        version: SCHEMA_VERSION,
        body: value,
    })?)
}

/// Reads a versioned JSON document of any version this build knows, upgrading it first.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, SchemaError> {
    let incoming: Incoming = serde_json::from_str(text)?;
    let body = upgrade(incoming.version, incoming.body)?;
    Ok(serde_json::from_value(Value::Object(body))?)
}

/// Rewrites a document of `version` into the current shape.
fn upgrade(version: u32, body: Map<String, Value>) -> Result<Map<String, Value>, SchemaError> {
    match version {
        1 => Ok(body),
        found if found > SCHEMA_VERSION => Err(SchemaError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        }),
        found => Err(SchemaError::Unknown(found)),
    }
}
