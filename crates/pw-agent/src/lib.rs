//! The patchwarden agent (edge crate): enrolls once with a single-use token, then talks to the
//! controller over mutual TLS only, outbound only: heartbeats, inventory reports, and commands
//! by long-poll, each finished at most once thanks to a local journal (JSON lines, fsync).

mod argv;
mod checks;
mod client;
mod downgrade;
mod evidence;
pub mod guard;
mod identity;
mod inventory;
mod journal;
mod late;
mod protect;
mod report;
pub mod restart;
mod runner;
mod unprotect;

pub use client::{Refused, enrollment_client, mtls_client, mtls_config, send_json};
pub use evidence::collect_evidence;
pub use identity::{
    Identity, enroll_in_memory, enroll_this_host, load_identity, remove_identity, save_identity,
    stored_servers,
};
pub use inventory::{Acknowledged, InventoryForm, send_inventory};
pub use journal::{GuardStep, Journal, JournalAppender, JournalEntry, LogMarkSeen};
pub use report::{collect_inventory, hostname};
pub use runner::{AgentSettings, Secret, run};
