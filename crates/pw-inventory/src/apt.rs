//! apt's output, run with `LC_ALL=C` (only the untranslated messages are understood): the
//! dependency simulation `apt-get -s install|dist-upgrade …` ([`Simulation`], and the pending
//! upgrades derived from it, [`parse_simulated_upgrade`]) and the version availability of
//! `apt-cache policy` / `apt-cache madison` ([`Availability`]). The one home of these parsers:
//! the agent (pw-host), the planner and the offline CLI all read apt through them.
//!
//! Quirks honoured here (captured output in `tests/data/apt/`, see its PROVENANCE.md):
//! - simulation lines are `Inst NAME [OLD] (NEW ORIGINS [ARCH])` (the `[OLD]` part is missing
//!   for new installs), `Remv NAME [OLD]`, `Purg NAME [OLD]` and `Conf NAME (NEW ORIGINS [ARCH])`;
//!   names may carry `:arch`; ORIGINS is a comma-separated list of `Label:Version/Suite`
//!   (`Debian-Security:12/stable-security`, `PatchwardenTest-Security:12/security`); a line may
//!   end with a broken-dependency bracket (`… [all]) [pw-demo-web:amd64 ]`, or ` []`);
//! - failures are `E: …` lines (exit status 100) and nothing is simulated then;
//! - in `apt-cache policy`, a version whose only source is `/var/lib/dpkg/status` is installed
//!   but no longer downloadable: a package-level rollback to it is impossible;
//! - `apt list --upgradable` is not used: apt warns that its CLI is not stable.

mod cache;
mod simulation;

pub use cache::{Availability, PackageAvailability};
pub use simulation::{
    Action, AptOrigin, PendingUpdate, Simulation, SimulationProblem, parse_simulated_upgrade,
};

/// `libc6:i386` → `libc6`.
fn strip_arch(name: &str) -> &str {
    name.split_once(':').map_or(name, |(base, _)| base)
}
