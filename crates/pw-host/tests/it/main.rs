//! pw-host against the real machine (this development machine is Debian 12) and real files.

mod changelogs;
mod files;
mod live;
mod rpm_command;
