//! Builders shared by the integration tests.

use jiff::Timestamp;
use pw_model::PackageName;
use pw_rollout::{ExactVersion, Recorded, Target};

pub fn start() -> Timestamp {
    "2025-03-01T02:00:00Z".parse().unwrap()
}

pub fn target(package: &str, version: &str) -> Target {
    Target {
        package: PackageName::parse(package).unwrap(),
        version: ExactVersion::parse(version).unwrap(),
    }
}

/// Versions before the change: every target package at version `0` (or absent for `new*`).
pub fn before(targets: &[Target]) -> Vec<Recorded> {
    targets
        .iter()
        .map(|t| Recorded {
            package: t.package.clone(),
            version: (!t.package.as_str().starts_with("new"))
                .then(|| ExactVersion::parse("0").unwrap()),
        })
        .collect()
}

/// Versions after a successful install.
pub fn after(targets: &[Target]) -> Vec<Recorded> {
    targets
        .iter()
        .map(|t| Recorded {
            package: t.package.clone(),
            version: Some(t.version.clone()),
        })
        .collect()
}
