//! The test bed itself: image and repository are built (or found cached), hosts start with apt
//! pointed at the repository only, and everything a test creates is removed afterwards, also
//! when the test panics.

use std::panic::AssertUnwindSafe;

use pw_host::Runner;
use pw_testbed::docker::{LABEL, docker};
use pw_testbed::{Mount, Suite, Testbed};

fn exists(kind: &str, name: &str) -> bool {
    let args: Vec<&str> = match kind {
        "container" => vec![
            "ps",
            "-a",
            "--filter",
            "label=io.patchwarden.testbed",
            "--format",
            "{{.Names}}",
        ],
        _ => vec![
            "network",
            "ls",
            "--filter",
            "label=io.patchwarden.testbed",
            "--format",
            "{{.Name}}",
        ],
    };
    docker(args)
        .unwrap()
        .stdout_text()
        .lines()
        .any(|l| l == name)
}

#[test]
fn image_and_repository_are_ready() {
    let testbed = Testbed::shared();
    eprintln!(
        "test bed ready in {:.1} s: image {} (rootfs built now: {}, imported now: {}), repo {} (built now: {})",
        testbed.prepared_in.as_secs_f64(),
        testbed.image.tag,
        testbed.image.rootfs.built,
        testbed.image.imported,
        testbed.repo.root.display(),
        testbed.repo.built
    );
    assert!(testbed.image.tag.starts_with("pw-testbed-debian12:"));
    assert!(testbed.image.rootfs.tar.starts_with(&testbed.dir));
    assert!(!testbed.dir.starts_with(env!("CARGO_MANIFEST_DIR")));
    let root = &testbed.repo.root;
    for suite in Suite::EVERY {
        let release =
            std::fs::read_to_string(root.join("dists").join(suite.name()).join("Release")).unwrap();
        assert!(
            release.contains(&format!("Label: {}\n", suite.label())),
            "{release}"
        );
        assert!(
            release.contains(&format!("Suite: {}\n", suite.name())),
            "{release}"
        );
    }
    let debs: Vec<_> = walk(&root.join("pool"));
    let mut expected: Vec<String> = pw_testbed::repo::packages::fake_packages()
        .iter()
        .map(|p| p.deb_name())
        .collect();
    expected.sort();
    assert_eq!(debs, expected, "the pool holds exactly the fake packages");
    assert!(root.join("advisories/osv/PWTEST-2025-0001.json").is_file());
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

#[test]
fn hosts_see_only_the_test_repository_and_are_removed_on_drop() {
    let testbed = Testbed::shared();
    let fleet = testbed.fleet(1, &[Suite::Stable]).unwrap();
    let host = &fleet.hosts[0];
    let policy = host.exec("apt-cache", ["policy"]).unwrap().stdout_text();
    assert!(policy.contains("file:/repo stable/main"), "{policy}");
    assert!(
        !policy.contains("debian.org"),
        "Debian sources must be disabled:\n{policy}"
    );
    let os = host.read_file("/etc/os-release").unwrap();
    assert!(os.contains("VERSION_ID=\"12\""), "{os}");
    // This machine is reachable through the gateway (where a test's controller listens); the
    // outside world is not. (Not busybox wget: with -T it segfaults in bookworm's busybox.)
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let gateway = fleet.network.gateway().unwrap();
    let port = listener.local_addr().unwrap().port();
    let inside = tcp_probe(host, &format!("{gateway}"), port);
    assert_eq!(inside.code, Some(0), "{}", inside.tail(5));
    let outside = tcp_probe(host, "1.1.1.1", 80);
    assert_ne!(
        outside.code,
        Some(0),
        "an internal network must not reach 1.1.1.1"
    );
    let (container, network) = (host.name.clone(), fleet.network.name.clone());
    assert!(exists("container", &container) && exists("network", &network));
    drop(fleet);
    assert!(!exists("container", &container), "{container} left behind");
    assert!(!exists("network", &network), "{network} left behind");
}

/// Opens a TCP connection from inside the host (bash's /dev/tcp, 3 s limit). The address and
/// port are positional parameters of a fixed script, never spliced into it.
fn tcp_probe(host: &pw_testbed::Host, address: &str, port: u16) -> pw_host::CommandOutput {
    let script = r#"exec 3<>"/dev/tcp/$1/$2""#;
    host.exec(
        "timeout",
        [
            "3",
            "bash",
            "-c",
            script,
            "probe",
            address,
            &port.to_string(),
        ],
    )
    .unwrap()
}

#[test]
fn six_hosts_with_a_mounted_file() {
    let testbed = Testbed::shared();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent");
    std::fs::write(&file, "#!/bin/sh\necho agent stand-in\n").unwrap();
    let mounts = [Mount {
        source: file,
        target: "/usr/local/bin/pw-agent-stand-in".to_owned(),
    }];
    let started = std::time::Instant::now();
    let fleet = testbed.fleet_with_mounts(6, &Suite::ALL, &mounts).unwrap();
    eprintln!(
        "6 hosts up (apt-get update done) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut addresses = std::collections::BTreeSet::new();
    for result in fleet.each(|host| {
        let text = host.read_file("/usr/local/bin/pw-agent-stand-in")?;
        assert_eq!(text, "#!/bin/sh\necho agent stand-in\n");
        let write = host.exec("touch", ["/usr/local/bin/pw-agent-stand-in"])?;
        assert!(!write.success(), "the mount must be read-only");
        host.ip()
    }) {
        assert!(addresses.insert(result.unwrap()));
    }
    assert_eq!(addresses.len(), 6);
}

#[test]
fn a_panicking_test_leaves_nothing_behind() {
    let testbed = Testbed::shared();
    let mut names = None;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let fleet = testbed.fleet(1, &[Suite::Stable]).unwrap();
        fleet.hosts[0].pause().unwrap();
        names = Some((fleet.hosts[0].name.clone(), fleet.network.name.clone()));
        panic!("simulated test failure with a paused host");
    }));
    assert!(result.is_err());
    let (container, network) = names.unwrap();
    assert!(!exists("container", &container), "{container} left behind");
    assert!(!exists("network", &network), "{network} left behind");
    assert_eq!(LABEL, "io.patchwarden.testbed");
}

#[test]
fn docker_exec_runner_passes_argv_untouched() {
    let testbed = Testbed::shared();
    let fleet = testbed.fleet(1, &[Suite::Stable]).unwrap();
    let runner = fleet.hosts[0].runner();
    let tricky = "a b; echo $(id) `x` 'q' \"d\" \\ *";
    let output = runner
        .run(&pw_host::Invocation::new("printf", ["%s", tricky]))
        .unwrap();
    assert_eq!(output.stdout_text(), tricky);
    let output = runner
        .run(&pw_host::Invocation::new("cat", Vec::<String>::new()).stdin("in; $(x)"))
        .unwrap();
    assert_eq!(output.stdout_text(), "in; $(x)");
    let env = runner
        .run(&pw_host::Invocation::new("env", Vec::<String>::new()).env("PW_X", "1 2"))
        .unwrap()
        .stdout_text();
    assert!(
        env.lines().any(|l| l == "PW_X=1 2") && env.lines().any(|l| l == "LC_ALL=C"),
        "{env}"
    );
}
