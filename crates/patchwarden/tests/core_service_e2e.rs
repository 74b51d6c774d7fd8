//! The seeds' "core service not up within 5 minutes → roll back" (the named default check
//! `core-service-up`, built by the planner from a group's `core_services`) and a plan's
//! `hooks.stop_units`, end to end on real Debian 12 containers with the built `patchwarden
//! server` and agents (docs/testbed.md):
//!
//! - on a test-bed host (tini as PID 1): a plan moves pw-demo to 1.0-5, which installs cleanly
//!   but whose service never comes up; `core-service-up` (its port, `core_up_within = "6s"`,
//!   shortened for the test — the default stays 5 min) fails once the 6 s have passed and the
//!   agent's guard rolls the host back to exactly 1.0-1 (dpkg), where the service is up again;
//! - on a host booted with systemd (the systemd image variant, systemd as PID 1): a plan with
//!   `hooks.stop_units = ["pw-watch.service"]` — a unit the test installs that notes the pw-demo
//!   version dpkg shows each time it starts and stops — is stopped on 1.0-1 before the install
//!   and started on 1.0-2 after it; `core-service-up` checks that unit with `systemctl
//!   is-active` for real, and its port.
//!
//! Needs Docker and mmdebstrap.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pw_testbed::repo::packages::{BASELINE, DEMO, SECURITY_FIX, SERVICE_DOWN};
use pw_testbed::{Fleet, ImageVariant, Init, Mount, Suite, Testbed};
use serde_json::json;

/// A group `lab` of every host with `core_services` up within `within`, and `extra` lines.
fn document(core_services: &[&str], within: &str) -> String {
    format!(
        r#"
[rollout]
verification = "20s"

[estimates]
apply = "1s"
rollback = "1s"
host_overhead = "1s"

[groups.lab]
environment = "test"
owners = ["lab@example.com"]
windows = [{{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "25h" }}]
core_services = {core_services:?}
core_up_within = "{within}"
[groups.lab.members]
hostnames = ["*"]
"#
    )
}

/// One host with this binary mounted as the agent, `init` as PID 1, a controller, the agent
/// enrolled (pw-demo 1.0-1 installed and running first).
async fn one_host(testbed: &Testbed, suites: &[Suite], init: Init) -> (Fleet, Controller) {
    let mount = Mount {
        source: env!("CARGO_BIN_EXE_patchwarden").into(),
        target: AGENT_BIN.into(),
    };
    let fleet = testbed.fleet_with_init(1, suites, &[mount], init).unwrap();
    let gateway = fleet.network.gateway().unwrap().to_string();
    let controller = start_controller(&gateway);
    fleet_with_agents(&controller, &fleet, &gateway).await;
    (fleet, controller)
}

fn exec_ok(host: &pw_testbed::Host, program: &str, args: &[&str]) -> String {
    let out = host.exec(program, args.iter().copied()).unwrap();
    assert!(out.success(), "{program} {args:?}: {}", out.tail(10));
    out.stdout_text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_service_not_up_in_time_is_rolled_back_to_the_exact_version() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Only stable and broken: apt's candidate for pw-demo is 1.0-5.
    let (fleet, controller) = one_host(
        Testbed::shared(),
        &[Suite::Stable, Suite::Broken],
        Init::Tini,
    )
    .await;
    let host = &fleet.hosts[0];
    controller
        .apply_fleet(document(&["127.0.0.1:18080"], "6s"))
        .await;
    let body = json!({"name": "lab demo", "group": "lab", "updates": {"packages": [DEMO]}});
    let started = Instant::now();
    let (plan, rollout) = controller.plan_approved(body).await;
    let checks = plan.to_string();
    assert!(checks.contains("core-service-up"), "{plan:#}");
    let view = controller
        .wait_rollout(&rollout, Duration::from_secs(180))
        .await;
    eprintln!(
        "core service down: rollout {} after {:?}",
        view["status"],
        started.elapsed()
    );
    let state = &view["hosts"][0];
    assert_eq!(state["state"], "rolled_back", "{view:#}");
    let cause = &state["detail"]["cause"];
    assert_eq!(cause["kind"], "health_check_failed", "{view:#}");
    assert_eq!(cause["check"], "core-service-up", "{view:#}");
    assert!(
        cause["detail"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:18080"),
        "{view:#}"
    );
    // dpkg: 1.0-5 was installed, then exactly 1.0-1 again; the service is up there.
    assert_eq!(demo_configured_version(host), BASELINE);
    let dpkg_log = host.read_file("/var/log/dpkg.log").unwrap();
    assert!(
        dpkg_log.contains(&format!("upgrade {DEMO}:all {BASELINE} {SERVICE_DOWN}")),
        "{dpkg_log}"
    );
    exec_ok(host, "pw-demo-ctl", &["status"]);
    let log = host
        .read_file(pw_testbed::repo::packages::DEMO_LOG)
        .unwrap();
    assert!(log.contains("1.0-5: unknown key"), "{log}");
}

/// The unit the plan stops around the install: it notes pw-demo's version at each start and
/// stop, and serves on port 18091.
const WATCH_UNIT: &str = "[Unit]\nDescription=pw-watch (a service using pw-demo; test)\n\n\
[Service]\nExecStartPre=/usr/local/bin/pw-watch-note started\n\
ExecStart=/bin/busybox httpd -f -p 18091 -h /tmp\n\
ExecStopPost=/usr/local/bin/pw-watch-note stopped\n\n[Install]\nWantedBy=multi-user.target\n";
const WATCH_NOTE: &str = "#!/bin/sh\necho \"$1 with pw-demo $(dpkg-query -W -f='${Version}' pw-demo)\" >> /var/log/pw-watch.log\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_units_are_stopped_before_the_install_and_started_after_under_systemd() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let testbed = Testbed::prepare_variant(ImageVariant::Systemd).unwrap();
    let (fleet, controller) =
        one_host(&testbed, &[Suite::Stable, Suite::Security], Init::Systemd).await;
    let host = &fleet.hosts[0];
    assert_eq!(exec_ok(host, "cat", &["/proc/1/comm"]).trim(), "systemd");
    host.write_file("/usr/local/bin/pw-watch-note", WATCH_NOTE.as_bytes())
        .unwrap();
    exec_ok(host, "chmod", &["0755", "/usr/local/bin/pw-watch-note"]);
    host.write_file(
        "/etc/systemd/system/pw-watch.service",
        WATCH_UNIT.as_bytes(),
    )
    .unwrap();
    exec_ok(host, "systemctl", &["daemon-reload"]);
    exec_ok(host, "systemctl", &["start", "pw-watch.service"]);
    controller
        .apply_fleet(document(&["pw-watch.service", "127.0.0.1:18091"], "10s"))
        .await;
    let body = json!({"name": "lab security", "group": "lab", "updates": "security",
        "hooks": {"stop_units": ["pw-watch.service"]}});
    let started = Instant::now();
    let (_, rollout) = controller.plan_approved(body).await;
    let view = controller
        .wait_rollout(&rollout, Duration::from_secs(180))
        .await;
    eprintln!(
        "stop_units under systemd: rollout {} after {:?}",
        view["status"],
        started.elapsed()
    );
    assert_eq!(view["status"], "completed", "{view:#}");
    let state = &view["hosts"][0];
    assert_eq!(state["state"], "done", "{view:#}");
    assert!(
        state["detail"]["passed"]["core-service-up"].is_string(),
        "{view:#}"
    );
    assert_eq!(demo_configured_version(host), SECURITY_FIX);
    // Stopped while dpkg still showed 1.0-1, started once 1.0-2 was installed: the install
    // happened between the two.
    let notes = host.read_file("/var/log/pw-watch.log").unwrap();
    let notes: Vec<&str> = notes.lines().collect();
    assert_eq!(
        notes,
        [
            format!("started with pw-demo {BASELINE}"),
            format!("stopped with pw-demo {BASELINE}"),
            format!("started with pw-demo {SECURITY_FIX}"),
        ],
        "{notes:?}"
    );
    assert_eq!(
        exec_ok(host, "systemctl", &["is-active", "pw-watch.service"]).trim(),
        "active"
    );
    let hooks = state["hooks"].to_string();
    assert!(
        hooks.contains("systemctl stop pw-watch.service"),
        "{view:#}"
    );
    assert!(
        hooks.contains("systemctl start pw-watch.service"),
        "{view:#}"
    );
}
