//! Running rpm: a stand-in `rpm` script checks the argv, exit codes and the timeout (this
//! machine has no rpm database; the live RPM path runs in `live.rs` on RPM machines).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pw_inventory::RPM_QUERYFORMAT;

fn script(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("rpm");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Runs the script, retrying while another test's fork still holds it open ("Text file busy").
fn run(program: &Path, timeout: Duration) -> anyhow::Result<pw_host::HostInventory> {
    for _ in 0..20 {
        match pw_host::run_rpm_qa_with(program, timeout) {
            Err(e) if format!("{e:#}").contains("Text file busy") => {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => return other,
        }
    }
    pw_host::run_rpm_qa_with(program, timeout)
}

#[test]
fn passes_argv_without_a_shell_and_parses_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("args");
    let program = script(
        dir.path(),
        &format!(
            "for a in \"$@\"; do printf '%s\\n' \"$a\" >> '{}'; done\nprintf 'bash\\t(none)\\t5.1.8\\t9.el9\\tx86_64\\nopenssl-libs\\t1\\t3.0.7\\t27.el9\\tx86_64\\n'",
            args.display()
        ),
    );
    let inventory = run(&program, Duration::from_secs(30)).unwrap();
    assert_eq!(inventory.problems, vec![]);
    let versions: Vec<_> = inventory
        .packages
        .iter()
        .map(|p| p.version.as_str())
        .collect();
    assert_eq!(versions, ["5.1.8-9.el9", "1:3.0.7-27.el9"]);
    let seen = std::fs::read_to_string(&args).unwrap();
    assert_eq!(seen, format!("-qa\n--queryformat\n{RPM_QUERYFORMAT}\n"));
}

#[test]
fn failures_and_timeouts_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path(), "echo 'error: rpmdb open failed' >&2\nexit 1");
    let e = run(&program, Duration::from_secs(30)).unwrap_err();
    assert!(format!("{e:#}").contains("rpmdb open failed"), "{e:#}");
    let slow_dir = tempfile::tempdir().unwrap();
    let slow = script(slow_dir.path(), "exec sleep 30");
    let started = std::time::Instant::now();
    let e = run(&slow, Duration::from_millis(300)).unwrap_err();
    assert!(format!("{e:#}").contains("did not finish"), "{e:#}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let e = run(&dir.path().join("no-such-rpm"), Duration::from_secs(1)).unwrap_err();
    assert!(format!("{e:#}").contains("starting"), "{e:#}");
}

#[test]
fn an_rpm_that_lists_nothing_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path(), "exit 0");
    let e = format!("{:#}", run(&program, Duration::from_secs(30)).unwrap_err());
    assert!(e.contains("no package could be read from"), "{e}");
    assert!(e.contains("it is empty"), "{e}");
}
