//! The .deb (docs/packaging.md): `scripts/build-deb.sh` packages this test's binary; its systemd
//! units pass `systemd-analyze verify` on this machine; and in a real Debian 12 test-bed host
//! (pw-testbed; PID 1 is tini, no systemd) `dpkg -i` installs it, `patchwarden agent install`
//! writes the agent's settings for a controller this test runs, and the units' ExecStart lines —
//! read from the installed unit files — start the controller as the `patchwarden` user and the
//! agent, which enrolls and reports its inventory. Needs Docker and mmdebstrap.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use pw_testbed::{Host, Mount, Suite, Testbed};
use serde_json::{Value, json};

const DEB_IN_HOST: &str = "/tmp/patchwarden.deb";

/// `scripts/build-deb.sh --binary <this test's binary>` into `out` (uncompressed: fast), with
/// the staged tree kept in `out/stage`; returns the .deb's path.
fn build_deb(out: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-deb.sh");
    let built = Command::new("bash")
        .arg(script)
        .args([
            "--binary",
            env!("CARGO_BIN_EXE_patchwarden"),
            "--compression",
            "none",
        ])
        .arg("--out")
        .arg(out)
        .arg("--stage")
        .arg(out.join("stage"))
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");
    let stdout = String::from_utf8(built.stdout).unwrap();
    let deb = PathBuf::from(stdout.lines().last().unwrap());
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        deb.ends_with(format!("patchwarden_{version}_amd64.deb")),
        "{}",
        deb.display()
    );
    deb
}

/// The ExecStart argv of a unit file's text: one line, no quoting, no `$` expansion, no prefix
/// characters (the units are written so that this simple split is exact).
fn exec_start(unit: &str) -> Vec<String> {
    let lines: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .collect();
    assert_eq!(lines.len(), 1, "{unit}");
    let line = lines[0];
    assert!(
        !line.contains(['"', '\'', '$', '\\', '%']) && line.starts_with('/'),
        "ExecStart needs more than a split: {line}"
    );
    line.split_whitespace().map(str::to_owned).collect()
}

/// `systemd-analyze verify` of unit files: (exit code 0, everything it printed).
fn analyze(units: &[PathBuf]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units)
        .output()
        .expect("systemd-analyze is missing: run scripts/install-test-deps.sh (package systemd)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_units_pass_systemd_analyze_verify_and_the_control_file_names_the_binary_needs() {
    let out = tempfile::tempdir().unwrap();
    build_deb(out.path());
    let stage = out.path().join("stage");
    let control = std::fs::read_to_string(stage.join("DEBIAN/control")).unwrap();
    assert!(
        control.contains(&format!("Version: {}\n", env!("CARGO_PKG_VERSION"))),
        "{control}"
    );
    assert!(control.contains("Depends: libc6 (>= 2."), "{control}");
    assert!(control.contains("Recommends: apt\n"), "{control}");

    // verify checks that ExecStart's program exists: point it at the staged (stripped) binary.
    let binary = stage.join("usr/bin/patchwarden");
    let lint = out.path().join("lint");
    std::fs::create_dir(&lint).unwrap();
    let mut units = Vec::new();
    for name in ["patchwarden-server.service", "patchwarden-agent.service"] {
        let text = std::fs::read_to_string(stage.join("lib/systemd/system").join(name)).unwrap();
        assert_eq!(exec_start(&text)[0], "/usr/bin/patchwarden");
        let text = text.replace(
            "ExecStart=/usr/bin/patchwarden",
            &format!("ExecStart={}", binary.display()),
        );
        std::fs::write(lint.join(name), text).unwrap();
        units.push(lint.join(name));
    }
    let (ok, text) = analyze(&units);
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );

    // The check can fail: a misspelt setting is reported.
    let broken = lint.join("patchwarden-agent.service");
    let text = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(
        &broken,
        text.replace("ProtectSystem=strict", "ProtectSistem=strict"),
    )
    .unwrap();
    let (_, text) = analyze(&[broken]);
    assert!(text.contains("ProtectSistem"), "{text}");
}

/// Polls the controller's host list (bounded) until one host has reported packages.
async fn wait_reported(controller: &Controller, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let hosts = controller.get("/api/v1/hosts").await;
        if let Some(host) = hosts["hosts"].as_array().and_then(|h| h.first())
            && host["packages"].as_u64().unwrap_or(0) > 0
        {
            return host.clone();
        }
        assert!(
            started.elapsed() < limit,
            "no inventory reported: {hosts:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn exec_ok(host: &Host, program: &str, args: &[&str]) -> String {
    let out = host.exec(program, args.iter().copied()).unwrap();
    assert!(out.success(), "{program} {args:?}: {}", out.tail(20));
    out.stdout_text()
}

/// Starts `argv` detached in the host as `user` (docker exec, no shell).
fn start_detached(host: &Host, user: &str, argv: &[String]) {
    let mut args = vec![
        "exec".to_owned(),
        "-d".into(),
        "-u".into(),
        user.into(),
        host.name.clone(),
    ];
    args.extend(argv.iter().cloned());
    let out = pw_testbed::docker::docker(args).unwrap();
    assert!(out.success(), "{}", out.tail(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deb_installs_in_a_testbed_host_and_its_agent_enrolls_and_reports() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let out = tempfile::tempdir().unwrap();
    let deb = build_deb(out.path());
    let mount = Mount {
        source: deb,
        target: DEB_IN_HOST.into(),
    };
    let fleet = Testbed::shared()
        .fleet_with_mounts(1, &Suite::ALL, &[mount])
        .unwrap();
    let host = &fleet.hosts[0];
    let gateway = fleet.network.gateway().unwrap().to_string();
    let controller = start_controller(&gateway);
    wait_controller_up(&controller, Duration::from_secs(20)).await;

    exec_ok(host, "dpkg", &["-i", DEB_IN_HOST]);
    let status = exec_ok(
        host,
        "dpkg-query",
        &["-W", "-f", "${Status} ${Version}", "patchwarden"],
    );
    assert_eq!(
        status,
        format!("install ok installed {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(
        exec_ok(host, "getent", &["passwd", "patchwarden"])
            .contains(":/var/lib/patchwarden/server:")
    );
    let server_dir = exec_ok(
        host,
        "stat",
        &["-c", "%a %U", "/var/lib/patchwarden/server"],
    );
    assert_eq!(server_dir.trim(), "700 patchwarden");

    // Bad input is refused with a clear message and writes nothing.
    let (status, token) = controller
        .post("/api/v1/enrollment-tokens", json!({"ttl_secs": 600}))
        .await;
    assert_eq!(status, 201, "{token}");
    host.write_file(
        "/root/controller-ca.pem",
        token["ca_certificate_pem"].as_str().unwrap().as_bytes(),
    )
    .unwrap();
    let token = token["token"].as_str().unwrap();
    let server = agent_server(&controller, &gateway);
    let plain = server.replace("https://", "http://");
    let refused = host
        .exec(
            "patchwarden",
            [
                "agent",
                "install",
                "--server",
                &plain,
                "--token",
                token,
                "--ca",
                "/root/controller-ca.pem",
            ],
        )
        .unwrap();
    assert!(
        !refused.success() && refused.stderr_text().contains("must use https://"),
        "{}",
        refused.tail(5)
    );
    assert!(
        !host
            .exec("test", ["-e", "/etc/patchwarden/agent.toml"])
            .unwrap()
            .success()
    );

    let installed = exec_ok(
        host,
        "patchwarden",
        &[
            "agent",
            "install",
            "--server",
            &server,
            "--token",
            token,
            "--ca",
            "/root/controller-ca.pem",
            "--label",
            "role=pkgtest",
        ],
    );
    assert!(
        installed.contains("systemd is not running here"),
        "{installed}"
    );
    assert!(
        installed.contains("/usr/bin/patchwarden agent --config /etc/patchwarden/agent.toml"),
        "{installed}"
    );
    let mode = exec_ok(
        host,
        "stat",
        &[
            "-c",
            "%a %U",
            "/etc/patchwarden/agent.toml",
            "/etc/patchwarden/ca.pem",
        ],
    );
    assert_eq!(mode, "600 root\n644 root\n");

    // The controller unit's ExecStart as its User=, then the agent unit's as root.
    let server_unit = host
        .read_file("/lib/systemd/system/patchwarden-server.service")
        .unwrap();
    assert!(
        server_unit.contains("\nUser=patchwarden\n"),
        "{server_unit}"
    );
    start_detached(host, "patchwarden", &exec_start(&server_unit));
    let agent_unit = host
        .read_file("/lib/systemd/system/patchwarden-agent.service")
        .unwrap();
    start_detached(host, "root", &exec_start(&agent_unit));

    let reported = wait_reported(&controller, Duration::from_secs(90)).await;
    assert_eq!(
        reported["labels"],
        json!({"role": "pkgtest"}),
        "{reported:#}"
    );
    assert_eq!(reported["read_only"], false, "{reported:#}");
    let identity = host
        .read_file("/var/lib/patchwarden/agent/identity.json")
        .unwrap();
    assert!(
        identity.contains(reported["id"].as_str().unwrap()),
        "{identity}"
    );

    // The packaged controller answers on the conffile's port (the API wants a token: 401).
    let url = format!("http://{}:8420/api/v1/hosts", host.ip().unwrap());
    let started = Instant::now();
    let answer = loop {
        match reqwest::get(&url).await {
            Ok(answer) => break answer,
            Err(error) => assert!(
                started.elapsed() < Duration::from_secs(30),
                "{url}: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(answer.status().as_u16(), 401);
    let db = exec_ok(
        host,
        "stat",
        &["-c", "%U", "/var/lib/patchwarden/server/patchwarden.db"],
    );
    assert_eq!(db.trim(), "patchwarden");

    // Purge removes the binary and what `agent install` wrote.
    exec_ok(host, "dpkg", &["--purge", "patchwarden"]);
    for gone in [
        "/usr/bin/patchwarden",
        "/etc/patchwarden/agent.toml",
        "/etc/patchwarden/ca.pem",
    ] {
        assert!(
            !host.exec("test", ["-e", gone]).unwrap().success(),
            "{gone} is left"
        );
    }
}
