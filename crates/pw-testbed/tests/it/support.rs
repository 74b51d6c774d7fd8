//! Helpers shared by the end-to-end tests: the demo service's health checks and package queries.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use pw_host::apt::{self, PackageTarget, RecordedVersion};
use pw_host::health::{self, Check, HttpCheck, Verdict};
use pw_model::PackageName;
use pw_testbed::Host;
use pw_testbed::repo::packages::{DEMO, DEMO_HEALTH_PATH, DEMO_PORT};

/// `GET /cgi-bin/health` on the host's demo service must answer 200.
pub fn demo_http(host: &Host, timeout: Duration) -> Check {
    Check::Http(HttpCheck::plain(
        SocketAddr::new(IpAddr::V4(host.ip().unwrap()), DEMO_PORT),
        DEMO_HEALTH_PATH,
        200,
        timeout,
    ))
}

/// The demo service's health, waiting up to 10 s for it to come up.
pub fn wait_demo_health(host: &Host) -> Verdict {
    health::wait_healthy(
        host.runner(),
        &demo_http(host, Duration::from_secs(2)),
        Duration::from_secs(10),
        Duration::from_millis(200),
    )
}

pub fn target(package: &str, version: &str) -> PackageTarget {
    PackageTarget::parse(package, version).unwrap()
}

/// Installs exact versions and insists it worked.
pub fn install(host: &Host, targets: &[(&str, &str)]) {
    let targets: Vec<_> = targets.iter().map(|(p, v)| target(p, v)).collect();
    let outcome = apt::install_exact(host.runner(), &targets).unwrap();
    assert!(outcome.succeeded(), "{}: {outcome:#?}", host.name);
}

/// `(status, version)` of a package as dpkg sees it.
pub fn state(host: &Host, package: &str) -> (String, String) {
    let states = apt::package_states(host.runner()).unwrap();
    let state = states
        .iter()
        .find(|s| s.package.as_str() == package)
        .unwrap_or_else(|| panic!("{package} unknown to dpkg on {}", host.name));
    (state.status.clone(), state.version.clone())
}

pub fn record_demo(host: &Host) -> Vec<RecordedVersion> {
    apt::record_versions(host.runner(), &[PackageName::parse(DEMO).unwrap()]).unwrap()
}
