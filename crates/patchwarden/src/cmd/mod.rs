//! One module per subcommand: argument struct (clap derive) and a `run` function.

pub mod vercmp;
pub mod windows;
