//! Helpers shared by the end-to-end rollout tests (rollout_e2e, rollout_faults): the controller
//! process, six-host fleets with enrolled agents, rollout bodies. Each test file uses a subset.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pw_host::apt::{self, PackageTarget};
use pw_testbed::repo::packages::{BASELINE, DEMO};
use pw_testbed::{Fleet, Host, Mount, Suite, Testbed};
use pw_testkit::http::{client_with_token, free_port, get_json, post_json};
use pw_testkit::wait_until;
use serde_json::{Value, json};

pub const AGENT_BIN: &str = "/usr/local/bin/patchwarden";
pub const AGENT_DIR: &str = "/var/lib/patchwarden-agent";

/// The controller process; killed when dropped (also on panic).
pub struct Controller {
    pub child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    /// API token of the `e2e-admin` operator (role admin), sent on every API call below.
    pub admin_token: String,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `count` hosts with every suite and this binary mounted as the agent, on their own network,
/// and a controller reachable from them: (fleet, gateway address, controller).
pub fn fleet_with_controller(count: usize) -> (Fleet, String, Controller) {
    fleet_with_controller_suites(count, &Suite::ALL)
}

/// [`fleet_with_controller`] with only these suites in the hosts' apt sources.
pub fn fleet_with_controller_suites(count: usize, suites: &[Suite]) -> (Fleet, String, Controller) {
    let mount = Mount {
        source: env!("CARGO_BIN_EXE_patchwarden").into(),
        target: AGENT_BIN.into(),
    };
    let fleet = Testbed::shared()
        .fleet_with_mounts(count, suites, &[mount])
        .unwrap();
    let gateway = fleet.network.gateway().unwrap().to_string();
    let controller = start_controller(&gateway);
    (fleet, gateway, controller)
}

pub fn start_controller(gateway: &str) -> Controller {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let admin_token = add_operator(dir.path(), "e2e-admin", "admin");
    Controller {
        child: spawn_server(dir.path(), port, gateway),
        base: format!("127.0.0.1:{port}"),
        dir,
        admin_token,
    }
}

/// `patchwarden operators add NAME --role ROLE` on a data directory; returns the token.
pub fn add_operator(dir: &std::path::Path, name: &str, role: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["operators", "add", name, "--role", role, "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub fn spawn_server(dir: &std::path::Path, port: u16, gateway: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args([
            "server",
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("PATCHWARDEN_SERVER_NAMES", gateway)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

impl Controller {
    /// SIGKILL, then the same binary again on the same port and data directory.
    pub fn kill_and_restart(&mut self, gateway: &str) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let port = self.base.split(':').nth(1).unwrap().parse().unwrap();
        self.child = spawn_server(self.dir.path(), port, gateway);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.base)
    }

    /// A client sending the admin's `Authorization: Bearer` header.
    pub fn api(&self) -> reqwest::Client {
        client_with_token(&self.admin_token)
    }

    /// `POST /api/v1/plans` of `body` as the operator `token`, retried (at most 90 s) while the
    /// refusal is one `waiting` accepts — the controller has not seen the agents' data yet.
    pub async fn create_plan_when_ready(
        &self,
        token: &str,
        body: Value,
        waiting: impl Fn(&Value) -> bool,
    ) -> Value {
        let what = "the controller ready to plan";
        wait_until(
            what,
            Duration::from_secs(90),
            Duration::from_secs(1),
            async || {
                let (status, plan) = self.post_as(token, "/api/v1/plans", body.clone()).await;
                match status {
                    201 => Ok(plan),
                    _ if waiting(&plan) => Err(plan),
                    _ => panic!("{what}: {plan}"),
                }
            },
        )
        .await
    }

    /// A plan from `body`, created and submitted by the approver `alice` (retried while the
    /// agents' offered upgrades are not in yet) and approved by the approver `bob` (four
    /// eyes): the plan and the id of the rollout its approval scheduled.
    pub async fn plan_approved(&self, body: Value) -> (Value, String) {
        let alice = add_operator(self.dir.path(), "alice", "approver");
        let bob = add_operator(self.dir.path(), "bob", "approver");
        let plan = self
            .create_plan_when_ready(&alice, body, nothing_to_plan_yet)
            .await;
        let id = plan["id"].as_i64().unwrap();
        let path = |action: &str| format!("/api/v1/plans/{id}/{action}");
        let (status, submitted) = self.post_as(&alice, &path("submit"), json!({})).await;
        assert_eq!(status, 200, "{submitted}");
        let (status, approved) = self.post_as(&bob, &path("approve"), json!({})).await;
        assert_eq!(status, 200, "{approved}");
        // Without a rollout, the plan says why (its batches, and the hosts it left unscheduled).
        let rollout = (approved["rollout"].as_str())
            .unwrap_or_else(|| panic!("no rollout for the approved plan: {approved}\nplan: {plan}"))
            .to_owned();
        (plan, rollout)
    }

    /// `PUT /api/v1/fleet` of a TOML fleet document as the admin; fails the test when refused.
    pub async fn apply_fleet(&self, document: String) {
        let applied = self
            .api()
            .put(self.url("/api/v1/fleet"))
            .header("content-type", "application/toml")
            .body(document)
            .send()
            .await
            .unwrap();
        assert!(applied.status().is_success(), "{:?}", applied.text().await);
    }

    pub async fn get(&self, path: &str) -> Value {
        get_json(&self.api(), &self.url(path)).await.1
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        post_json(&self.api(), &self.url(path), &body).await
    }

    /// `POST path` as the operator whose token is `token`.
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        post_json(&client_with_token(token), &self.url(path), &body).await
    }

    /// Polls a rollout until it leaves `running`, at most `limit`.
    pub async fn wait_rollout(&self, id: &str, limit: Duration) -> Value {
        let path = format!("/api/v1/rollouts/{id}");
        wait_until(
            "the rollout's end",
            limit,
            Duration::from_millis(500),
            async || {
                let view = self.get(&path).await;
                if view["status"] != "running" {
                    Ok(view)
                } else {
                    Err(view)
                }
            },
        )
        .await
    }
}

pub fn demo_version(host: &Host) -> String {
    let out = host
        .exec("dpkg-query", ["-W", "-f", "${Version}", DEMO])
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// pw-demo's version once dpkg has fully installed it (`ii`); empty while it is unpacked or
/// half-configured (dpkg's version field already names the new version then).
pub fn demo_configured_version(host: &Host) -> String {
    let out = host
        .exec(
            "dpkg-query",
            ["-W", "-f", "${db:Status-Abbrev}|${Version}", DEMO],
        )
        .unwrap();
    match String::from_utf8_lossy(&out.stdout).split_once('|') {
        Some((status, version)) if status.trim() == "ii" => version.to_owned(),
        _ => String::new(),
    }
}

/// Six hosts on pw-demo 1.0-1 with its service running, each with an enrolled agent.
pub async fn fleet_with_agents(
    controller: &Controller,
    fleet: &Fleet,
    gateway: &str,
) -> Vec<String> {
    fleet_with_agent_args(controller, fleet, gateway, &[]).await
}

/// [`fleet_with_agents`] where host `i`'s agent gets the extra arguments `extra[i]` (none when
/// `extra` is shorter), e.g. `["--read-only", "--allow-approved-plans"]`.
pub async fn fleet_with_agent_args(
    controller: &Controller,
    fleet: &Fleet,
    gateway: &str,
    extra: &[&[&str]],
) -> Vec<String> {
    let server = agent_server(controller, gateway);
    let servers = vec![server; fleet.hosts.len()];
    fleet_with_agent_servers(controller, fleet, &servers, extra).await
}

/// [`fleet_with_agent_args`] where host `i`'s agent is given `servers[i]` as its `--server`
/// (several controllers comma-separated).
pub async fn fleet_with_agent_servers(
    controller: &Controller,
    fleet: &Fleet,
    servers: &[String],
    extra: &[&[&str]],
) -> Vec<String> {
    for result in fleet.each(|host| {
        let target = PackageTarget::parse(DEMO, BASELINE)?;
        let outcome = apt::install_exact(host.runner(), &[target])?;
        anyhow::ensure!(outcome.succeeded(), "{outcome:?}");
        Ok(())
    }) {
        result.unwrap();
    }
    wait_controller_up(controller, Duration::from_secs(20)).await;
    for (index, host) in fleet.hosts.iter().enumerate() {
        let (status, token) = controller
            .post("/api/v1/enrollment-tokens", json!({"ttl_secs": 600}))
            .await;
        assert_eq!(status, 201, "{token}");
        let ca = token["ca_certificate_pem"].as_str().unwrap();
        host.write_file("/etc/patchwarden-ca.pem", ca.as_bytes())
            .unwrap();
        let token = token["token"].as_str().unwrap();
        let args = extra.get(index).copied().unwrap_or_default();
        start_agent_with(host, &servers[index], Some(token), args);
    }
    let enrolled = async || {
        let hosts = controller.get("/api/v1/hosts").await;
        match hosts["hosts"].as_array().unwrap().len() == fleet.hosts.len() {
            true => Ok(()),
            false => Err(hosts),
        }
    };
    wait_until(
        "the agents enrolled",
        Duration::from_secs(60),
        Duration::from_millis(300),
        enrolled,
    )
    .await;
    // Host ids in fleet order, from each agent's identity file.
    fleet
        .hosts
        .iter()
        .map(|host| {
            let identity = host
                .read_file(&format!("{AGENT_DIR}/identity.json"))
                .unwrap();
            let identity: Value = serde_json::from_str(&identity).unwrap();
            identity["host_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

pub fn agent_server(controller: &Controller, gateway: &str) -> String {
    format!(
        "https://{gateway}:{}",
        controller.base.split(':').nth(1).unwrap()
    )
}

/// `patchwarden agent` detached inside the host (argv through `docker exec`, no shell).
pub fn start_agent(host: &Host, server: &str, token: Option<&str>) {
    start_agent_with(host, server, token, &[]);
}

/// [`start_agent`] with extra agent arguments.
pub fn start_agent_with(host: &Host, server: &str, token: Option<&str>, extra: &[&str]) {
    let mut args = vec![
        "exec", "-d", &host.name, AGENT_BIN, "agent", "--server", server,
    ];
    if let Some(token) = token {
        args.extend(["--token", token, "--ca-cert", "/etc/patchwarden-ca.pem"]);
    }
    args.extend(["--data-dir", AGENT_DIR]);
    args.extend(extra);
    let out = pw_testbed::docker::docker(args).unwrap();
    assert!(out.success(), "{}", out.tail(10));
}

pub fn rollout_body(hosts: &[String], version: &str) -> Value {
    rollout_body_verifying(hosts, version, 6)
}

pub fn rollout_body_verifying(hosts: &[String], version: &str, seconds: u64) -> Value {
    json!({
        "hosts": hosts,
        "targets": [{"name": DEMO, "version": version}],
        "canary_size": 1, "batch_size": 2, "verification_seconds": seconds,
        "checks": [{"kind": "http", "name": "demo-http", "addr": "127.0.0.1:18080",
                    "path": "/cgi-bin/health"}],
    })
}

/// Waits (bounded) until a (re)started controller answers.
pub async fn wait_controller_up(controller: &Controller, limit: Duration) {
    let url = controller.url("/api/v1/hosts");
    wait_until(
        "the controller up",
        limit,
        Duration::from_millis(100),
        async || reqwest::get(&url).await.map(drop),
    )
    .await;
}

/// `patchwarden audit verify` on the controller's database: asserts the chain is intact and
/// returns how many records it holds. Run it while no controller writes (or with one: WAL).
pub fn audit_verify(controller: &Controller) -> u64 {
    let verify = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["audit", "verify", "--db"])
        .arg(controller.dir.path().join("patchwarden.db"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{verify:?}");
    // "audit chain intact: N records[; K signed checkpoints hold …]"
    stdout
        .trim()
        .strip_prefix("audit chain intact: ")
        .and_then(|rest| rest.split(" records").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected audit verify output: {stdout}"))
}

/// How many times dpkg upgraded pw-demo to `version` on the host (its /var/log/dpkg.log).
pub fn demo_upgrades_to(host: &Host, version: &str) -> usize {
    let dpkg_log = host.read_file("/var/log/dpkg.log").unwrap();
    dpkg_log
        .lines()
        .filter(|l| l.contains(&format!(" upgrade {DEMO}:")) && l.contains(version))
        .count()
}

/// The agent's journal on a host.
pub fn agent_journal(host: &Host) -> String {
    host.read_file(&format!("{AGENT_DIR}/journal.jsonl"))
        .unwrap()
}

/// `patchwarden feeds import` of an OSV record into the controller's database (the running
/// controller ranks every host again after it).
pub fn import_advisory(controller: &Controller, osv: &str) {
    let fixture = controller.dir.path().join("advisory.json");
    std::fs::write(&fixture, osv).unwrap();
    let imported = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["feeds", "import"])
        .arg(&fixture)
        .arg("--db")
        .arg(controller.dir.path().join("patchwarden.db"))
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
}

/// A plan refusal while the agents' offered upgrades have not arrived.
pub fn nothing_to_plan_yet(refusal: &Value) -> bool {
    refusal["error"]["code"] == "nothing_to_plan"
}

/// A downgrade refusal while the controller still knows the version from before the upgrade.
pub fn not_lower_yet(refusal: &Value) -> bool {
    refusal["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("not lower than the installed"))
}
