//! `pw_host::apt` and `pw_host::health` driving real apt/dpkg inside host containers (through
//! `DockerExecRunner`) against the fake repository: exact installs, failed postinst and rollback,
//! conffile handling, pending updates with their suite, and a version that fails its health check.

use std::time::Duration;

use pw_host::apt;
use pw_host::health::{self, Check};
use pw_host::logcheck::{LinePattern, LogCheck};
use pw_testbed::repo::SOURCES_PATH;
use pw_testbed::repo::packages::{
    BAD_HEALTH, BASELINE, DEMO, DEMO_CONFFILE, DEMO_KERNEL, DEMO_LOG, FAILING_POSTINST,
    SECURITY_FIX,
};
use pw_testbed::{Suite, TestRepo, Testbed};

use crate::support::{demo_http, install, record_demo, state, target, wait_demo_health};

#[test]
fn exact_security_fix_on_three_hosts() {
    let fleet = Testbed::shared().fleet(3, &Suite::ALL).unwrap();
    let results = fleet.each(|host| {
        install(host, &[(DEMO, BASELINE)]);
        let before = record_demo(host);
        assert_eq!(before[0].apt_argument(), "pw-demo=1.0-1");
        // The candidate is 1.0-4 (updates); only the exact version asked for is installed.
        let outcome = apt::install_exact(host.runner(), &[target(DEMO, SECURITY_FIX)])?;
        assert!(outcome.succeeded(), "{}: {outcome:#?}", host.name);
        assert!(
            outcome.command.contains(" pw-demo=1.0-2"),
            "{}",
            outcome.command
        );
        assert_eq!(state(host, DEMO), ("ii".into(), SECURITY_FIX.into()));
        assert_eq!(apt::audit(host.runner())?, Vec::<String>::new());
        let verdict = wait_demo_health(host);
        assert!(verdict.is_healthy(), "{}: {verdict:?}", host.name);
        Ok(())
    });
    for result in results {
        result.unwrap();
    }
}

#[test]
fn failing_postinst_then_rollback_to_the_recorded_version() {
    let fleet = Testbed::shared().fleet(1, &Suite::ALL).unwrap();
    let host = &fleet.hosts[0];
    install(host, &[(DEMO, SECURITY_FIX)]);
    let recorded = record_demo(host);

    let outcome = apt::install_exact(host.runner(), &[target(DEMO, FAILING_POSTINST)]).unwrap();
    assert!(!outcome.succeeded());
    assert_eq!(outcome.exit_code, Some(100), "{outcome:#?}");
    assert_eq!(
        outcome.mismatches,
        [(
            DEMO.to_owned(),
            FAILING_POSTINST.to_owned(),
            format!("iF {FAILING_POSTINST}")
        )]
    );
    assert!(
        outcome.output_tail.contains("data migration failed"),
        "{}",
        outcome.output_tail
    );
    let audit = apt::audit(host.runner()).unwrap();
    assert!(audit.iter().any(|p| p.contains(DEMO)), "{audit:?}");

    let rolled_back = apt::rollback(host.runner(), &recorded).unwrap();
    assert!(rolled_back.succeeded(), "{rolled_back:#?}");
    assert!(rolled_back.command.contains("--allow-downgrades"));
    assert_eq!(state(host, DEMO), ("ii".into(), SECURITY_FIX.into()));
    assert_eq!(apt::audit(host.runner()).unwrap(), Vec::<String>::new());
    assert!(wait_demo_health(host).is_healthy());
}

#[test]
fn locally_modified_conffile_is_kept_without_a_prompt() {
    let fleet = Testbed::shared().fleet(1, &Suite::ALL).unwrap();
    let host = &fleet.hosts[0];
    // Without the image's apt.conf.d defaults: the module's own options must prevent the prompt.
    host.exec("rm", ["-f", "/etc/apt/apt.conf.d/90pw-noninteractive"])
        .unwrap();
    install(host, &[(DEMO, BASELINE)]);
    let mut local = host.read_file(DEMO_CONFFILE).unwrap();
    local.push_str("# local tweak by ops\n");
    host.write_file(DEMO_CONFFILE, local.as_bytes()).unwrap();

    let started = std::time::Instant::now();
    let outcome = apt::install_exact(host.runner(), &[target(DEMO, SECURITY_FIX)]).unwrap();
    assert!(outcome.succeeded(), "{outcome:#?}");
    assert!(started.elapsed() < Duration::from_secs(60), "apt stalled");
    assert_eq!(host.read_file(DEMO_CONFFILE).unwrap(), local);
    let shipped = host
        .read_file(&format!("{DEMO_CONFFILE}.dpkg-dist"))
        .unwrap();
    assert!(shipped.contains("min_tls = 1.2"), "{shipped}");
    assert_eq!(state(host, DEMO), ("ii".into(), SECURITY_FIX.into()));
    assert!(wait_demo_health(host).is_healthy());
}

#[test]
fn pending_updates_name_their_suite_and_reboot_flag_follows_the_kernel() {
    let fleet = Testbed::shared()
        .fleet(1, &[Suite::Stable, Suite::Security])
        .unwrap();
    let host = &fleet.hosts[0];
    install(host, &[(DEMO, BASELINE), (DEMO_KERNEL, BASELINE)]);
    let pending = apt::pending_updates(host.runner()).unwrap();
    let demo = pending.iter().find(|u| u.package.as_str() == DEMO).unwrap();
    assert_eq!(
        (demo.installed.as_str(), demo.candidate.as_str()),
        (BASELINE, SECURITY_FIX)
    );
    assert!(demo.is_security(), "{demo:?}");
    assert_eq!(demo.origins[0].suite, "security");
    assert_eq!(demo.origins[0].label, "PatchwardenTest-Security");
    assert_eq!(pending.len(), 2, "{pending:?}");

    // With the updates suite too, pw-demo's candidate comes from there and is not security.
    host.write_file(SOURCES_PATH, TestRepo::sources(&Suite::ALL).as_bytes())
        .unwrap();
    apt::update(host.runner()).unwrap();
    let pending = apt::pending_updates(host.runner()).unwrap();
    let demo = pending.iter().find(|u| u.package.as_str() == DEMO).unwrap();
    assert_eq!(demo.candidate, FAILING_POSTINST);
    assert!(!demo.is_security(), "{demo:?}");
    assert_eq!(demo.origins[0].suite, "updates");
    let kernel = pending
        .iter()
        .find(|u| u.package.as_str() == DEMO_KERNEL)
        .unwrap();
    assert!(
        kernel.is_security() && kernel.candidate == SECURITY_FIX,
        "{kernel:?}"
    );

    assert_eq!(apt::reboot_required(host.runner()).unwrap(), None);
    install(host, &[(DEMO_KERNEL, SECURITY_FIX)]);
    assert_eq!(
        apt::reboot_required(host.runner()).unwrap(),
        Some(vec![DEMO_KERNEL.to_owned()])
    );
}

#[test]
fn bad_version_fails_health_and_rollback_restores_the_exact_old_version() {
    let fleet = Testbed::shared().fleet(1, &Suite::ALL).unwrap();
    let host = &fleet.hosts[0];
    install(host, &[(DEMO, SECURITY_FIX)]);
    assert!(wait_demo_health(host).is_healthy());
    let recorded = record_demo(host);
    let since = pw_host::logcheck::log_mark(host.runner(), DEMO_LOG).unwrap();
    assert!(since.size > 0);

    // dpkg sees nothing wrong: only the health checks catch this version.
    let outcome = apt::install_exact(host.runner(), &[target(DEMO, BAD_HEALTH)]).unwrap();
    assert!(outcome.succeeded(), "{outcome:#?}");
    let http = health::wait_healthy(
        host.runner(),
        &demo_http(host, Duration::from_secs(2)),
        Duration::from_secs(3),
        Duration::from_millis(500),
    );
    assert!(http.is_unhealthy(), "{http:?}");
    let log_check = Check::LogLines(LogCheck {
        path: DEMO_LOG.to_owned(),
        pattern: LinePattern::ErrorWords,
        max_matches: 0,
        since,
    });
    let log = health::run_check(host.runner(), &log_check);
    assert!(log.is_unhealthy(), "{log:?}");

    let rolled_back = apt::rollback(host.runner(), &recorded).unwrap();
    assert!(rolled_back.succeeded(), "{rolled_back:#?}");
    assert_eq!(state(host, DEMO), ("ii".into(), SECURITY_FIX.into()));
    let verdict = wait_demo_health(host);
    assert!(verdict.is_healthy(), "{verdict:?}");
    // The old ERROR line stays in the log; only lines after the rollback count now.
    let after = pw_host::logcheck::log_mark(host.runner(), DEMO_LOG).unwrap();
    let quiet = health::run_check(
        host.runner(),
        &Check::LogLines(LogCheck {
            path: DEMO_LOG.to_owned(),
            pattern: LinePattern::ErrorWords,
            max_matches: 0,
            since: after,
        }),
    );
    assert!(quiet.is_healthy(), "{quiet:?}");
    assert!(health::run_check(host.runner(), &log_check).is_unhealthy());
    let command = health::run_check(
        host.runner(),
        &Check::Command(pw_host::Invocation::new("pw-demo-ctl", ["status"])),
    );
    assert!(command.is_healthy(), "{command:?}");
    let systemd = health::run_check(host.runner(), &Check::SystemdUnit("pw-demo.service".into()));
    assert!(
        matches!(systemd, health::Verdict::NotApplicable(_)),
        "{systemd:?}"
    );
}
