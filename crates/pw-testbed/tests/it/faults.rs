//! Fault injection on host containers: pause/unpause, kill/start, disconnect/connect, seen through
//! the same health checks the agent runs.

use std::time::Duration;

use pw_host::health::run_check;
use pw_testbed::repo::packages::{BASELINE, DEMO};
use pw_testbed::{Suite, Testbed};

use crate::support::{demo_http, install, wait_demo_health};

#[test]
fn a_paused_host_can_be_resumed() {
    let fleet = Testbed::shared().fleet(1, &[Suite::Stable]).unwrap();
    let host = &fleet.hosts[0];
    install(host, &[(DEMO, BASELINE)]);
    assert!(wait_demo_health(host).is_healthy());

    host.pause().unwrap();
    // The kernel still accepts the connection; the frozen server never answers.
    let verdict = run_check(host.runner(), &demo_http(host, Duration::from_secs(1)));
    assert!(verdict.is_unhealthy(), "{verdict:?}");
    let exec = host.exec("true", Vec::<String>::new()).unwrap();
    assert!(!exec.success(), "exec into a paused container must fail");

    host.unpause().unwrap();
    let verdict = wait_demo_health(host);
    assert!(verdict.is_healthy(), "{verdict:?}");
    assert!(host.exec("true", Vec::<String>::new()).unwrap().success());
}

#[test]
fn killed_and_disconnected_hosts_come_back() {
    let fleet = Testbed::shared().fleet(1, &[Suite::Stable]).unwrap();
    let host = &fleet.hosts[0];
    install(host, &[(DEMO, BASELINE)]);
    assert!(wait_demo_health(host).is_healthy());

    host.disconnect().unwrap();
    assert!(host.ip().is_err(), "no address while disconnected");
    host.connect().unwrap();
    assert!(wait_demo_health(host).is_healthy());

    host.kill().unwrap();
    host.start_again().unwrap();
    // No init system: the service stays down until something starts it; the disk survived.
    let verdict = run_check(host.runner(), &demo_http(host, Duration::from_secs(1)));
    assert!(verdict.is_unhealthy(), "{verdict:?}");
    assert_eq!(
        crate::support::state(host, DEMO),
        ("ii".into(), BASELINE.into())
    );
    host.exec("pw-demo-ctl", ["start"]).unwrap();
    assert!(wait_demo_health(host).is_healthy());
}
