//! Tests of the `apt-cache` parsers against output captured on Debian 12
//! (`tests/data/apt/PROVENANCE.md`).

use super::*;

const MADISON: &str = include_str!("../../tests/data/apt/apt-cache-madison-bash-openssl.txt");
const POLICY: &str = include_str!("../../tests/data/apt/apt-cache-policy-openssl-postgresql.txt");

#[test]
fn madison_lists_downloadable_versions() {
    let mut availability = Availability::default();
    availability.add_madison(MADISON);
    assert_eq!(
        availability.can_download("bash", "5.2.15-2+b13"),
        Some(true)
    );
    assert_eq!(
        availability.can_download("bash", "5.2.15-2+b8"),
        Some(false)
    );
    assert_eq!(
        availability.can_download("openssl", "3.0.17-1~deb12u2"),
        Some(true)
    );
    assert_eq!(
        availability.can_download("openssl", "3.0.19-1~deb12u2"),
        Some(false)
    );
    assert_eq!(availability.can_download("zsh", "1"), None);
}

#[test]
fn policy_separates_installed_from_downloadable() {
    let mut availability = Availability::default();
    availability.add_policy(POLICY);
    let openssl = &availability.packages["openssl"];
    assert_eq!(openssl.installed.as_deref(), Some("3.0.19-1~deb12u2"));
    assert_eq!(openssl.candidate.as_deref(), Some("3.0.22-1~deb12u2"));
    assert_eq!(
        openssl.downloadable.iter().collect::<Vec<_>>(),
        ["3.0.17-1~deb12u2", "3.0.20-1~deb12u2", "3.0.22-1~deb12u2"]
    );
    // postgresql-15's installed version is still on the bookworm mirror: rollback possible.
    assert_eq!(
        availability.can_download("postgresql-15", "15.18-0+deb12u1"),
        Some(true)
    );
    assert_eq!(
        availability.can_download("libssl3", "3.0.19-1~deb12u2"),
        Some(false)
    );
}
