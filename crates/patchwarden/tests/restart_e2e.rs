//! "Patched means patched" (issue 11.4) on a real Debian 12 container (pw-testbed), driven by the
//! built `patchwarden server` and agent: an ad-hoc rollout upgrades `pw-demo-kernel` to 1.0-2,
//! whose postinst writes `/run/reboot-required` (and `.pkgs`). The host is not `done` after its
//! verified change: it is queued for the reboot budget, gets the `reboot` step, and the agent —
//! started with `--reboot-command touch /var/tmp/pw-reboot-requested` — reports the boot mark
//! and asks for the reboot. **A container restart stands in for the reboot**: the test sees the
//! request, empties what a boot empties (`/run` is a tmpfs on a real host; in the container it
//! is on the container's disk, so the test removes the two reboot files), runs `docker restart`
//! and starts the agent again. The container shares this machine's kernel, so the boot id stays;
//! PID 1 started again, which the engine records as `container_restart`. Only then is the host
//! `done`, and `GET /api/v1/hosts/{id}` says no reboot is required.
//!
//! Also on the real container: a process mapping a deleted library (a copy of libz preloaded
//! into `sleep`, then removed) is found by the agent in `/proc` and listed as running replaced
//! code outside any unit. The `restart_services` step needs systemd, which the containers do
//! not run (PID 1 is tini): it is covered by `pw-server`'s `restarts` test with fake agents and
//! pw-host's tests. Needs Docker and mmdebstrap.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pw_host::apt::{self, PackageTarget};
use pw_testbed::Host;
use pw_testbed::repo::packages::{BASELINE, DEMO_KERNEL, SECURITY_FIX};
use serde_json::{Value, json};

/// What the agent's reboot command leaves, for the test to act on.
const REQUESTED: &str = "/var/tmp/pw-reboot-requested";

fn exists(host: &Host, path: &str) -> bool {
    host.exec("test", ["-e", path]).unwrap().success()
}

/// `sleep` with a copy of libz preloaded, the copy then deleted: a process still mapping a
/// replaced library. Argv only (`docker exec -d … env LD_PRELOAD=… sleep`).
fn stale_process(host: &Host) {
    let lib = "/var/tmp/pw-stale/libz.so.1";
    host.exec("mkdir", ["-p", "/var/tmp/pw-stale"]).unwrap();
    let copy = host
        .exec("cp", ["/usr/lib/x86_64-linux-gnu/libz.so.1", lib])
        .unwrap();
    assert!(copy.success(), "{}", copy.tail(5));
    let preload = format!("LD_PRELOAD={lib}");
    let out =
        pw_testbed::docker::docker(["exec", "-d", &host.name, "env", &preload, "sleep", "3600"])
            .unwrap();
    assert!(out.success(), "{}", out.tail(5));
    std::thread::sleep(Duration::from_millis(500));
    assert!(host.exec("rm", [lib]).unwrap().success());
}

async fn host_view(controller: &Controller, id: &str) -> Value {
    controller.get(&format!("/api/v1/hosts/{id}")).await
}

/// The host as its agent reported it after the change (the reboot flag the kernel's postinst
/// wrote), waited for within a bound.
async fn reported_after_change(controller: &Controller, id: &str) -> Value {
    let limit = Instant::now() + Duration::from_secs(60);
    loop {
        let view = host_view(controller, id).await;
        if view["restart"]["facts"]["reboot_flag"] == true {
            return view;
        }
        assert!(
            Instant::now() < limit,
            "no inventory after the change reported the reboot flag: {view:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_update_is_done_only_after_the_host_came_back_from_a_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let (fleet, gateway, controller) = fleet_with_controller(1);
    let reboot_args: &[&str] = &["--reboot-command", "touch", "--reboot-command", REQUESTED];
    let hosts = fleet_with_agent_args(&controller, &fleet, &gateway, &[reboot_args]).await;
    let host = &fleet.hosts[0];
    let target = PackageTarget::parse(DEMO_KERNEL, BASELINE).unwrap();
    assert!(
        apt::install_exact(host.runner(), &[target])
            .unwrap()
            .succeeded()
    );
    assert!(!exists(host, "/run/reboot-required"));
    stale_process(host);

    let body = json!({
        "hosts": hosts,
        "targets": [{"name": DEMO_KERNEL, "version": SECURITY_FIX}],
        "canary_size": 1, "batch_size": 1, "verification_seconds": 2,
        "checks": [{"kind": "command", "name": "kernel-installed",
                    "argv": ["dpkg-query", "-W", DEMO_KERNEL]}],
    });
    let (status, view) = controller.post("/api/v1/rollouts", body).await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();

    // The verified change asks for a reboot: the reboot step runs, the rollout is not done.
    let limit = Instant::now() + Duration::from_secs(120);
    loop {
        if exists(host, REQUESTED) {
            break;
        }
        assert!(
            Instant::now() < limit,
            "no reboot requested: {:#}",
            controller.get(&format!("/api/v1/rollouts/{id}")).await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let rollout = controller.get(&format!("/api/v1/rollouts/{id}")).await;
    assert_eq!(rollout["status"], "running", "{rollout:#}");
    assert_eq!(rollout["hosts"][0]["state"], "rebooting", "{rollout:#}");
    let before = rollout["hosts"][0]["detail"]["boot"].clone();
    assert!(
        before["boot_id"].is_string(),
        "the agent's mark before: {rollout:#}"
    );
    assert_eq!(
        rollout["hosts"][0]["detail"]["reasons"],
        json!([format!("/run/reboot-required (by {DEMO_KERNEL})")])
    );
    // What the agent found on the real container after the change: its inventory after the
    // change is collected beside the long-poll that brings the reboot step, so it may reach the
    // controller after the reboot was asked for.
    let view = reported_after_change(&controller, &hosts[0]).await;
    let state = &view["restart"]["state"];
    assert_eq!(state["reboot"], "required", "{view:#}");
    assert_eq!(
        state["restart"], "not_required",
        "no systemd units: {view:#}"
    );
    assert!(
        state["processes_without_unit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("sleep[")),
        "{view:#}"
    );
    assert_eq!(state["dpkg_clean"], true, "{view:#}");

    // A container restart stands in for the reboot (see the module comment).
    for file in ["/run/reboot-required", "/run/reboot-required.pkgs"] {
        assert!(host.exec("rm", ["-f", file]).unwrap().success());
    }
    pw_testbed::docker::docker(["restart", "-t", "1", &host.name]).unwrap();
    start_agent_with(
        host,
        &agent_server(&controller, &gateway),
        None,
        reboot_args,
    );

    let rollout = controller.wait_rollout(&id, Duration::from_secs(90)).await;
    assert_eq!(rollout["status"], "completed", "{rollout:#}");
    let done = &rollout["hosts"][0];
    assert_eq!(done["state"], "done", "{rollout:#}");
    let proof = &done["detail"]["cleared"]["rebooted"];
    assert_eq!(proof["from"], before, "{rollout:#}");
    assert_eq!(
        proof["to"]["boot_id"], before["boot_id"],
        "the container shares the kernel"
    );
    assert_ne!(proof["to"]["init_started"], before["init_started"]);
    assert_eq!(proof["container_restart"], true);
    let view = host_view(&controller, &hosts[0]).await;
    assert_eq!(
        view["restart"]["state"]["reboot"], "not_required",
        "{view:#}"
    );
    assert_eq!(
        view["restart"]["state"]["processes_without_unit"],
        json!([]),
        "the restart ended the stale process: {view:#}"
    );
    // Every transition (the operator-free path here) is in an intact audit chain.
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["audit", "verify", "--db"])
        .arg(controller.dir.path().join("patchwarden.db"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && said.starts_with("audit chain intact"),
        "{verify:?}"
    );
    println!("restart_e2e: {:.1} s", started.elapsed().as_secs_f64());
}
