//! One module per subcommand: argument struct (clap derive) and a `run` function.

pub mod feeds;
pub mod plan;
pub mod scan;
mod scan_output;
pub mod vercmp;
pub mod windows;
