//! Restart facts read from this machine's real `/proc`: a real process made to map a library
//! that is then deleted (what dpkg's replacement of a library leaves).

use std::path::Path;
use std::process::{Command, Stdio};

use super::*;
use crate::LocalRunner;

/// A `sleep` with a copy of a system library preloaded; killed when dropped.
struct Preloaded {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    library: std::path::PathBuf,
}

impl Drop for Preloaded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A library every Debian machine has (libc's own dependency set is too special to preload).
fn some_library() -> std::path::PathBuf {
    [
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/lib/x86_64-linux-gnu/libz.so.1",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists())
    .expect("libz.so.1 (zlib1g) is installed on Debian")
}

fn preloaded() -> Preloaded {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("libpwtest.so.1");
    std::fs::copy(some_library(), &library).unwrap();
    let child = Command::new("sleep")
        .arg("60")
        .env("LD_PRELOAD", &library)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the loader mapped it.
    let maps = format!("/proc/{}/maps", child.id());
    for _ in 0..200 {
        if std::fs::read_to_string(&maps).is_ok_and(|m| m.contains("libpwtest.so.1")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Preloaded {
        child,
        _dir: dir,
        library,
    }
}

#[test]
fn a_process_mapping_a_deleted_library_is_found_and_gone_after_it_ends() {
    let process = preloaded();
    let pid = process.child.id();
    let mine = |stale: &[StaleProcess]| stale.iter().find(|p| p.pid == pid).cloned();
    // Mapped but not deleted: not stale.
    assert_eq!(mine(&stale_processes(Path::new("/proc"))), None);
    std::fs::remove_file(&process.library).unwrap();
    let found = mine(&stale_processes(Path::new("/proc"))).expect("the process is found");
    assert_eq!(found.command, "sleep");
    assert_eq!(
        found.deleted,
        [process.library.to_str().unwrap().to_owned()]
    );
    if !Path::new(SYSTEMD_RUNTIME_DIR).exists() {
        // Not booted with systemd (this development machine, a container): no unit.
        assert_eq!(found.unit, None);
    }
    drop(process);
    assert_eq!(mine(&stale_processes(Path::new("/proc"))), None);
}

#[test]
fn collect_reads_boot_kernel_flag_and_audit_of_this_machine() {
    let facts = collect(&LocalRunner, Path::new("/proc"));
    let boot = facts.boot.clone().expect("boot id");
    assert_eq!(boot.boot_id.len(), 36, "{boot:?}");
    assert_eq!(boot, boot_identity(Path::new("/proc")).unwrap());
    let kernel = facts.kernel.clone().expect("kernel");
    let uname = Command::new("uname").arg("-r").output().unwrap();
    assert_eq!(
        kernel.running,
        String::from_utf8_lossy(&uname.stdout).trim()
    );
    assert!(facts.dpkg_audit.is_some(), "{:?}", facts.problems);
}

#[test]
fn a_missing_proc_is_a_problem_not_a_panic() {
    let facts = collect(&LocalRunner, Path::new("/nonexistent-proc"));
    assert_eq!(facts.boot, None);
    assert_eq!(facts.kernel, None);
    assert!(facts.stale.is_empty());
    assert!(
        facts.problems.iter().any(|p| p.starts_with("boot id:")),
        "{:?}",
        facts.problems
    );
}

#[test]
fn unit_names_passed_to_systemctl() {
    let refused = restart_units(&LocalRunner, &["--now.service".into()]).unwrap_err();
    assert!(
        refused.to_string().contains("not a service unit"),
        "{refused}"
    );
    if Path::new(SYSTEMD_RUNTIME_DIR).exists() {
        return;
    }
    // Not booted with systemd: refused with what to do instead.
    let no_systemd = restart_units(&LocalRunner, &["cron.service".into()]).unwrap_err();
    assert!(
        no_systemd
            .to_string()
            .contains("restart cron.service by hand"),
        "{no_systemd}"
    );
}

#[test]
fn reboot_runs_the_configured_argv() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("rebooted");
    let argv = vec!["touch".to_owned(), marker.to_str().unwrap().to_owned()];
    reboot(&LocalRunner, &argv).unwrap();
    assert!(marker.exists());
    assert!(reboot(&LocalRunner, &[]).is_err());
    assert!(reboot(&LocalRunner, &["false".to_owned()]).is_err());
}
