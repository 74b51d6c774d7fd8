//! The named default check `core-service-up` in the guard: the group's core services (here a
//! real TCP port on loopback) must be up within their time after the install, or the guard
//! rolls back at once — long before a longer verification period ends (the SOP "core service
//! not up within 5 minutes → roll back", with seconds for the test).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use pw_protocol::{ChangeOutcome, HealthCheckSpec, RollbackReason};

use super::run_change;
use super::tests::{host, spec};
use crate::journal::Journal;

fn core_check(port: u16) -> HealthCheckSpec {
    HealthCheckSpec::ServiceUp {
        name: "core-service-up".into(),
        units: vec![],
        ports: vec![format!("127.0.0.1:{port}")],
        within_seconds: 1,
    }
}

#[test]
fn core_services_up_pass_and_down_roll_back_within_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("journal.jsonl")).unwrap();

    // Up: a listening port.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut up = spec("1.0-2");
    up.checks = vec![core_check(listener.local_addr().unwrap().port())];
    let report = run_change(&host("1.0-1"), &mut journal.appender().unwrap(), &up, &[])
        .change
        .unwrap();
    assert_eq!(report.outcome, ChangeOutcome::Done, "{report:?}");
    assert_eq!(report.passed_checks, ["core-service-up"]);

    // Down: the port's listener is gone. The verification period is a minute; the core
    // services had one second.
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut down = spec("1.0-2");
    down.id = "r1:h1:record_versions:2".into();
    down.verification = Duration::from_secs(60);
    down.checks = vec![core_check(port)];
    let host = host("1.0-1");
    let started = Instant::now();
    let report = run_change(&host, &mut journal.appender().unwrap(), &down, &[])
        .change
        .unwrap();
    let took = started.elapsed();
    assert!(
        matches!(&report.outcome, ChangeOutcome::RolledBack { reason: RollbackReason::HealthCheckFailed, detail }
            if detail.contains("check core-service-up") && detail.contains("down: connecting to 127.0.0.1:")),
        "{report:?}"
    );
    assert_eq!(report.failed_check.as_deref(), Some("core-service-up"));
    assert_eq!(
        *host.version.lock().unwrap(),
        "1.0-1",
        "back on the recorded version"
    );
    // Failed after ~1 s (checked every 2 s), and once more after the rollback: far below the
    // 60 s period.
    assert!(took < Duration::from_secs(15), "{took:?}");
}
