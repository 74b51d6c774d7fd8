//! Versioned wire types of patchwarden: the agent protocol and the REST API's JSON bodies.
//!
//! Pure data (serde), no I/O. Rules for changing them (docs/design/agent-protocol.md): add
//! optional fields freely; renaming or removing a field, or changing its meaning, needs a new
//! [`PROTOCOL_VERSION`]. Unknown fields are ignored on input so older peers keep working.

mod agent;
mod api;
mod change;
mod drill;
mod evidence;
mod findings;
mod fleet;
mod hooks;
mod inventory;
mod observe;
mod operators;
mod plans;
mod protection;
mod restart;
mod rollout;

pub use agent::*;
pub use api::*;
pub use change::*;
pub use drill::*;
pub use evidence::*;
pub use findings::*;
pub use fleet::*;
pub use hooks::*;
pub use inventory::*;
pub use observe::*;
pub use operators::*;
pub use plans::*;
pub use protection::*;
pub use restart::*;
pub use rollout::*;

/// The protocol version spoken by this build; the controller refuses other major versions.
pub const PROTOCOL_VERSION: u32 = 1;
