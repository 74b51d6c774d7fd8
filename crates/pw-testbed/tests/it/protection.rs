//! The protection providers of pw-host for real (docs/protection.md): a file backup in a Debian
//! container (tar + SHA-256 manifest, verified by a restore into a scratch directory; a
//! tampered archive fails naming the file; a restore puts changed files back and removes new
//! ones; retention prunes old backups), and qemu-img internal snapshots of a real qcow2 image on
//! this machine (qemu-utils; the data written after the snapshot is gone after the revert).

use std::time::{Duration, Instant};

use pw_host::protection::{self, Budget, files, qemu};
use pw_host::{Invocation, LocalRunner, Runner};
use pw_testbed::{Host, Suite, Testbed};

/// Runs a command in the host; it must exit 0. Its stdout.
fn run<const N: usize>(host: &Host, program: &str, args: [&str; N]) -> String {
    host.runner()
        .run_ok(&Invocation::new(program, args))
        .unwrap()
        .stdout_text()
}

fn budget() -> Budget {
    Budget::new(Duration::from_secs(120))
}

#[test]
fn file_backups_are_verified_by_a_restore_and_put_data_back() {
    let fleet = Testbed::shared().fleet(1, &Suite::ALL).unwrap();
    let host = &fleet.hosts[0];
    let runner = host.runner();
    run(
        host,
        "mkdir",
        ["-p", "/srv/app/data/sub", "/var/backups/pw"],
    );
    host.write_file("/srv/app/data/a.txt", b"alpha\n").unwrap();
    host.write_file("/srv/app/data/sub/b b.txt", b"beta\n")
        .unwrap();
    host.write_file("/srv/app/app.conf", b"port = 1\n").unwrap();
    // 2 MiB of incompressible data, so the size and times mean something.
    run(
        host,
        "dd",
        [
            "if=/dev/urandom",
            "of=/srv/app/data/blob",
            "bs=1M",
            "count=2",
        ],
    );
    // An old backup that retention removes (its name carries its time), and one it keeps.
    run(
        host,
        "mkdir",
        [
            "-p",
            "/var/backups/pw/pw-1000-old",
            "/var/backups/pw/pw-9999999999-new",
        ],
    );
    let paths = ["/srv/app/data".to_owned(), "/srv/app/app.conf".to_owned()];
    let started = Instant::now();
    let taken = files::backup(
        runner,
        &budget(),
        &paths,
        "/var/backups/pw",
        "pw-1700000000-files",
    )
    .unwrap();
    eprintln!(
        "file backup: {} bytes, take {:?}, verify {:?}, total {:?}",
        taken.size_bytes,
        taken.take,
        taken.verify,
        started.elapsed()
    );
    assert_eq!(taken.location, "/var/backups/pw/pw-1700000000-files");
    assert_eq!(taken.verified.as_deref(), Ok("4 files match the manifest"));
    assert!(taken.size_bytes > 2 * 1024 * 1024, "{taken:?}");
    let listed = run(host, "ls", ["/var/backups/pw/pw-1700000000-files"]);
    assert_eq!(listed, "files.tar\nmanifest.sha256\n", "scratch removed");

    // After the backup: a file changed, one removed, one added.
    host.write_file("/srv/app/app.conf", b"port = 2\n").unwrap();
    run(host, "rm", ["/srv/app/data/a.txt"]);
    host.write_file("/srv/app/data/new.txt", b"new\n").unwrap();
    let restored = files::restore(runner, &budget(), &paths, &taken.location).unwrap();
    assert_eq!(restored, "4 files match the manifest");
    assert_eq!(host.read_file("/srv/app/app.conf").unwrap(), "port = 1\n");
    assert_eq!(host.read_file("/srv/app/data/a.txt").unwrap(), "alpha\n");
    assert!(
        host.read_file("/srv/app/data/new.txt").is_err(),
        "new file removed"
    );

    // A tampered archive: the restore into the scratch directory no longer matches.
    let tar = format!("{}/files.tar", taken.location);
    let offset = run(host, "grep", ["-obUa", "beta", tar.as_str()]);
    let offset = offset.split(':').next().unwrap().to_owned();
    runner
        .run_ok(
            &Invocation::new(
                "dd",
                [
                    format!("of={tar}"),
                    "bs=1".into(),
                    format!("seek={offset}"),
                    "conv=notrunc".into(),
                ],
            )
            .stdin("BETA"),
        )
        .unwrap();
    let verdict = files::verify(runner, &budget(), &taken.location).unwrap();
    let mismatch = verdict.unwrap_err();
    assert!(
        mismatch.starts_with("/srv/app/data/sub/b b.txt: SHA-256"),
        "{mismatch}"
    );

    let pruned = protection::prune_dir(
        runner,
        &budget(),
        "/var/backups/pw",
        1_700_000_000,
        "pw-1700000000-files",
    )
    .unwrap();
    assert_eq!(pruned, ["/var/backups/pw/pw-1000-old"]);
    let left = run(host, "ls", ["/var/backups/pw"]);
    assert_eq!(left, "pw-1700000000-files\npw-9999999999-new\n");
}

/// `qemu-io -c CMD image` on this machine; whether it exited 0.
fn qemu_io(image: &str, command: &str) -> bool {
    LocalRunner
        .run(&Invocation::new(
            "qemu-io",
            ["-f", "qcow2", "-c", command, image],
        ))
        .unwrap()
        .success()
}

#[test]
fn qemu_img_snapshots_revert_a_real_qcow2_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("vm.qcow2").display().to_string();
    LocalRunner
        .run_ok(&Invocation::new(
            "qemu-img",
            ["create", "-q", "-f", "qcow2", image.as_str(), "64M"],
        ))
        .expect("qemu-img (qemu-utils) is needed: scripts/install-test-deps.sh");
    assert!(qemu_io(&image, "write -P 0xaa 0 1M"));
    // An old pw snapshot that retention removes, and a foreign one it never touches.
    for old in ["pw-1000-old", "manual"] {
        LocalRunner
            .run_ok(&Invocation::new(
                "qemu-img",
                ["snapshot", "-c", old, image.as_str()],
            ))
            .unwrap();
    }
    let taken = qemu::take(&LocalRunner, &budget(), &image, "pw-1700000000-snap").unwrap();
    eprintln!(
        "qemu-img snapshot: image {} bytes, take {:?}, verify {:?}",
        taken.size_bytes, taken.take, taken.verify
    );
    assert_eq!(taken.location, format!("{image}@pw-1700000000-snap"));
    assert!(taken.verified.is_ok(), "{taken:?}");
    assert!(taken.size_bytes >= 1024 * 1024, "{taken:?}");

    // Written after the snapshot; the revert brings the old bytes back.
    assert!(qemu_io(&image, "write -P 0xbb 0 1M"));
    assert!(!qemu_io(&image, "read -P 0xaa 0 1M"));
    qemu::revert(&LocalRunner, &budget(), &image, "pw-1700000000-snap").unwrap();
    assert!(
        qemu_io(&image, "read -P 0xaa 0 1M"),
        "the snapshot's data is back"
    );

    let pruned = qemu::prune(
        &LocalRunner,
        &budget(),
        &image,
        1_700_000_000,
        "pw-1700000000-snap",
    )
    .unwrap();
    assert_eq!(pruned, [format!("{image}@pw-1000-old")]);
    let left = qemu::list(&LocalRunner, &budget(), &image).unwrap();
    assert_eq!(left, ["manual", "pw-1700000000-snap"]);

    // A snapshot of an image that is not there fails with qemu-img's message.
    let error = qemu::take(&LocalRunner, &budget(), "/nonexistent/vm.qcow2", "pw-1-x")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("qemu-img snapshot -c pw-1-x /nonexistent/vm.qcow2"),
        "{error}"
    );
}
