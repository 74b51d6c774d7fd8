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

/// `apt-cache policy --with-source /srv/arch/pw-demo_1.0-1_all.deb pw-demo` on a Debian 12
/// test-bed host (2026-12-04): the file given on the command line is a source of its own.
#[test]
fn policy_names_each_versions_sources_including_a_deb_given_with_source() {
    let text = "pw-demo:\n  Installed: 1.0-2\n  Candidate: 1.0-2\n  Version table:\n \
                *** 1.0-2 500\n        500 file:/repo security/main amd64 Packages\n        \
                100 /var/lib/dpkg/status\n     1.0-1 500\n        \
                500 /srv/arch/pw-demo_1.0-1_all.deb\n";
    let mut availability = Availability::default();
    availability.add_policy(text);
    assert_eq!(availability.can_download("pw-demo", "1.0-1"), Some(true));
    assert_eq!(
        availability.sources_of("pw-demo", "1.0-1"),
        ["/srv/arch/pw-demo_1.0-1_all.deb"]
    );
    assert_eq!(
        availability.sources_of("pw-demo", "1.0-2"),
        ["file:/repo security/main amd64 Packages"]
    );
    assert!(availability.sources_of("pw-demo", "1.0-0").is_empty());
}
