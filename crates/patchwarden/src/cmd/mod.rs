//! One module per subcommand: argument struct (clap derive) and a `run` function.

pub mod agent;
mod agent_config;
mod agent_install;
pub mod audit;
pub mod downgrade;
pub mod feeds;
pub mod fleet;
pub mod notify;
pub mod operators;
pub mod plan;
pub mod plans;
pub mod report;
pub mod scan;
mod scan_input;
mod scan_local;
mod scan_output;
pub mod server;
pub mod up;
pub mod vercmp;
pub mod windows;
