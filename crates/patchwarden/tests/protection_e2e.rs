//! Protection providers end to end (docs/protection.md) on a real Debian 12 container with
//! Debian's PostgreSQL (pw-testbed's postgres image variant), driven by the built `patchwarden
//! server` and agent:
//!
//! 1. A rollout whose host pauses writes, backs up its PostgreSQL database and a data directory
//!    (both verified by a restore), installs a version whose check writes a row and changes a
//!    file and then fails: the guard rolls back to the exact recorded version AND restores the
//!    data (the row is gone, the file is back), writes were paused before and resumed after
//!    everything, and the controller stores and shows both records with their restore.
//! 2. The agent's container is SIGKILLed while writes are paused: the restarted agent resumes
//!    them first thing, then finishes the change (pausing again) and resumes again.
//! 3. The same through a plan: the fleet document's staging group (RPO 1h) requires backup and
//!    pause-writes and names their providers; a plan built from the agent's live data, approved
//!    by a second operator, rolls out, fails its check, and is rolled back with the data
//!    restored.
//! 4. The downgrade seed: a downgrade plan in that group with a database migration (forward and
//!    reverse) and a benchmark hook; the check fails on the lower version, so the migration is
//!    reversed, the exact recorded version returns and the data is restored from the verified
//!    PostgreSQL and file backups, writes paused around it all.
//!
//! Needs Docker and mmdebstrap.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pw_host::{Invocation, Runner};
use pw_testbed::repo::packages::{BAD_HEALTH, BASELINE, DEMO, SECURITY_FIX};
use pw_testbed::{Fleet, Host, ImageVariant, Mount, Suite, Testbed};
use serde_json::{Value, json};

const ORDER_LOG: &str = "/var/log/pw-order.log";
const PAUSE_HOOK: &str = "/usr/local/bin/pw-pause";
const WRITES_CHECK: &str = "/usr/local/bin/pw-writes-check";

/// The pause/resume hook: appends its argument to the order log.
const PAUSE_SCRIPT: &str = "#!/bin/sh\necho \"$1\" >> /var/log/pw-order.log\n";

/// The check: on version `bad` it writes a row and changes a file (data written after the
/// backup), and fails; on any other version it passes. Each run is logged.
fn writes_check_script(bad: &str) -> String {
    format!(
        "#!/bin/sh\nv=$(dpkg-query -W -f '${{Version}}' {DEMO})\necho \"check $v\" >> {ORDER_LOG}\n\
         if [ \"$v\" = \"{bad}\" ]; then\n\
         runuser -u postgres -- psql -X -q -d app -c \"INSERT INTO items (name) VALUES ('after the backup')\"\n\
         echo changed >> /srv/app/data.txt\nexit 1\nfi\nexit 0\n"
    )
}

fn run_ok(host: &Host, program: &str, args: &[&str]) -> String {
    host.runner()
        .run_ok(&Invocation::new(program, args.iter().copied()).timeout(Duration::from_secs(60)))
        .unwrap()
        .stdout_text()
}

fn psql(host: &Host, sql: &str) -> String {
    run_ok(
        host,
        "runuser",
        &[
            "-u", "postgres", "--", "psql", "-X", "-q", "-A", "-t", "-d", "app", "-c", sql,
        ],
    )
}

fn install_script(host: &Host, path: &str, text: &str) {
    host.write_file(path, text.as_bytes()).unwrap();
    run_ok(host, "chmod", &["0755", path]);
}

/// A fleet of `count` postgres-variant hosts with this binary as their agent, a controller, and
/// the hooks installed.
async fn fleet(
    count: usize,
    suites: &[Suite],
    bad: &str,
) -> (Fleet, String, Controller, Vec<String>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let testbed = Testbed::prepare_variant(ImageVariant::Postgres).unwrap();
    let mount = Mount {
        source: env!("CARGO_BIN_EXE_patchwarden").into(),
        target: AGENT_BIN.into(),
    };
    let fleet = testbed.fleet_with_mounts(count, suites, &[mount]).unwrap();
    let gateway = fleet.network.gateway().unwrap().to_string();
    let controller = start_controller(&gateway);
    for host in &fleet.hosts {
        install_script(host, PAUSE_HOOK, PAUSE_SCRIPT);
        install_script(host, WRITES_CHECK, &writes_check_script(bad));
    }
    let hosts = fleet_with_agents(&controller, &fleet, &gateway).await;
    (fleet, gateway, controller, hosts)
}

/// Starts PostgreSQL with database `app` (5,000 rows in `items`) and writes `/srv/app/data.txt`.
fn app_data(host: &Host) {
    run_ok(host, "pg_ctlcluster", &["15", "main", "start"]);
    run_ok(
        host,
        "runuser",
        &["-u", "postgres", "--", "createdb", "app"],
    );
    psql(
        host,
        "CREATE TABLE items (id serial PRIMARY KEY, name text); \
         INSERT INTO items (name) SELECT 'row ' || g FROM generate_series(1, 5000) g",
    );
    run_ok(host, "mkdir", &["-p", "/srv/app"]);
    host.write_file("/srv/app/data.txt", b"original\n").unwrap();
}

/// The data after a rollback: the row written after the backup is gone, the file is back.
fn assert_restored(host: &Host) {
    assert_eq!(
        psql(
            host,
            "SELECT count(*) FROM items WHERE name = 'after the backup'"
        ),
        "0\n",
        "the row written after the backup is gone"
    );
    assert_eq!(psql(host, "SELECT count(*) FROM items"), "5000\n");
    assert_eq!(host.read_file("/srv/app/data.txt").unwrap(), "original\n");
}

fn pause_step() -> Value {
    json!({"name": "pause-writes", "timeout_seconds": 30, "provider": {
        "kind": "pause_writes", "pause": [PAUSE_HOOK, "pause"], "resume": [PAUSE_HOOK, "resume"]}})
}

fn order(host: &Host) -> Vec<String> {
    host.read_file(ORDER_LOG)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_change_is_rolled_back_with_its_data_restored_and_writes_resumed() {
    let (fleet, _gateway, controller, hosts) = fleet(1, &Suite::ALL, BAD_HEALTH).await;
    let host = &fleet.hosts[0];
    app_data(host);
    let body = json!({
        "hosts": hosts, "targets": [{"name": DEMO, "version": BAD_HEALTH}],
        "canary_size": 1, "batch_size": 1, "verification_seconds": 6,
        "checks": [{"kind": "command", "name": "writes", "argv": [WRITES_CHECK]}],
        "protection_steps": [
            pause_step(),
            {"name": "db", "timeout_seconds": 120, "provider": {"kind": "postgres_backup",
                "database": "app", "dir": "/var/backups/pw", "retention_seconds": 86400}},
            {"name": "files", "timeout_seconds": 60, "provider": {"kind": "files_backup",
                "paths": ["/srv/app"], "dir": "/var/backups/pw-files", "retention_seconds": 86400}},
        ],
    });
    let started = Instant::now();
    let (status, created) = controller.post("/api/v1/rollouts", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let view = controller.wait_rollout(id, Duration::from_secs(180)).await;
    eprintln!(
        "rolled back with the data restored after {:?}",
        started.elapsed()
    );
    assert_eq!(view["hosts"][0]["state"], "rolled_back", "{view:#}");

    // The exact versions are back, and the data.
    assert_eq!(demo_version(host), BASELINE);
    assert_restored(host);

    // Paused before anything, resumed after everything (the checks after the restore included).
    let order = order(host);
    eprintln!("order: {order:?}");
    assert_eq!(
        order.first().map(String::as_str),
        Some("pause"),
        "{order:?}"
    );
    assert_eq!(
        order.last().map(String::as_str),
        Some("resume"),
        "{order:?}"
    );
    assert_eq!(
        order.iter().filter(|l| *l == "resume").count(),
        1,
        "{order:?}"
    );
    let bad = order
        .iter()
        .position(|l| *l == format!("check {BAD_HEALTH}"));
    let good = order
        .iter()
        .rposition(|l| *l == format!("check {BASELINE}"));
    assert!(
        matches!((bad, good), (Some(b), Some(g)) if b < g),
        "checked on the bad version, then on the restored one: {order:?}"
    );

    // Stored and shown: both backups verified and restored.
    let records = view["hosts"][0]["protection"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(records.len(), 2, "{view:#}");
    for record in &records {
        eprintln!(
            "{} {}: {} bytes, take {} ms, verify {} ms, {}",
            record["step"],
            record["kind"],
            record["size_bytes"],
            record["take_ms"],
            record["verify_ms"],
            record["detail"]
        );
        assert_eq!(record["status"], "verified", "{record:#}");
        assert_eq!(record["restored_ok"], true, "{record:#}");
        assert!(record["size_bytes"].as_u64().unwrap() > 0, "{record:#}");
        assert!(record["expires_at"].as_str().unwrap() > record["taken_at"].as_str().unwrap());
    }
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["postgres_backup", "files_backup"], "{view:#}");
    assert_eq!(records[0]["detail"], "1 tables, 5000 rows match");
    let journal = agent_journal(host);
    assert!(journal.contains("\"step\":\"restored\""), "{journal}");
    assert!(journal.contains("\"step\":\"resumed\""), "{journal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_while_writes_are_paused_resumes_them_first_after_restart() {
    let (fleet, gateway, controller, hosts) = fleet(1, &Suite::ALL, BAD_HEALTH).await;
    let host = &fleet.hosts[0];
    let body = json!({
        "hosts": hosts, "targets": [{"name": DEMO, "version": SECURITY_FIX}],
        "canary_size": 1, "batch_size": 1, "verification_seconds": 3,
        "protection_steps": [
            pause_step(),
            {"name": "slow", "argv": ["sleep", "6"], "timeout_seconds": 60},
        ],
    });
    let (status, created) = controller.post("/api/v1/rollouts", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let started = Instant::now();
    while order(host).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "never paused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGKILL: the whole container, the agent with it, while writes are paused.
    host.kill().unwrap();
    host.start_again().unwrap();
    assert_eq!(order(host), ["pause"], "killed while paused");
    start_agent(host, &agent_server(&controller, &gateway), None);
    let view = controller.wait_rollout(id, Duration::from_secs(120)).await;
    assert_eq!(view["hosts"][0]["state"], "done", "{view:#}");
    assert_eq!(demo_version(host), SECURITY_FIX);
    assert_eq!(
        order(host),
        ["pause", "resume", "pause", "resume"],
        "resumed first after the restart, paused again, resumed at the end"
    );
    let journal = agent_journal(host);
    assert_eq!(
        journal.matches("\"step\":\"resumed\"").count(),
        2,
        "{journal}"
    );
}

/// The fleet document of the plan test: a staging group whose RPO (1h) makes protection
/// mandatory, with a provider for each of its protection steps.
fn document(hostname: &str) -> String {
    format!(
        r#"
[rollout]
verification = "6s"
[estimates]
apply = "1s"
rollback = "1s"
host_overhead = "1s"
[health_checks.writes]
kind = "command"
target = "{WRITES_CHECK}"
[groups.db-staging]
environment = "staging"
owners = ["db-team@example.com"]
rpo = "1h"
protection = ["backup", "pause-writes"]
health_checks = ["writes"]
windows = [{{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "25h" }}]
[groups.db-staging.members]
hosts = ["{hostname}"]
[[groups.db-staging.providers.pause-writes]]
pause = ["{PAUSE_HOOK}", "pause"]
resume = ["{PAUSE_HOOK}", "resume"]
timeout = "30s"
[[groups.db-staging.providers.backup]]
kind = "postgres"
database = "app"
dir = "/var/backups/pw"
retention = "1d"
[[groups.db-staging.providers.backup]]
kind = "files"
paths = ["/srv/app"]
dir = "/var/backups/pw-files"
"#
    )
}

/// A plan rollout: the fleet document's group requires protection (RPO 1h) and names its
/// providers; the plan built from the agent's live data (apt's security update) is approved by
/// a second operator and rolled out; the update's check fails, so the guard rolls back to the
/// exact version and restores the data, with writes paused around it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_rollout_of_a_group_that_requires_protection_restores_the_data() {
    let suites = [Suite::Stable, Suite::Security];
    let (fleet, _gateway, controller, ids) = fleet(1, &suites, SECURITY_FIX).await;
    let host = &fleet.hosts[0];
    app_data(host);
    let listed = controller.get("/api/v1/hosts").await;
    let hostname = listed["hosts"][0]["hostname"].as_str().unwrap().to_owned();
    assert_eq!(listed["hosts"][0]["id"], ids[0].as_str());
    controller.apply_fleet(document(&hostname)).await;
    let alice = add_operator(controller.dir.path(), "alice", "approver");
    let bob = add_operator(controller.dir.path(), "bob", "approver");
    let body = json!({"name": "db security", "group": "db-staging", "updates": "security"});
    let plan = controller
        .create_plan_when_ready(&alice, body, nothing_to_plan_yet)
        .await;
    let group = &plan["groups"][0];
    assert_eq!(group["protection_required"], true, "{plan:#}");
    let steps: Vec<&str> = group["protection_providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["pause-writes", "backup", "backup-2"], "{plan:#}");
    let id = plan["id"].as_i64().unwrap();
    let (status, _) = controller
        .post_as(&alice, &format!("/api/v1/plans/{id}/submit"), json!({}))
        .await;
    assert_eq!(status, 200);
    let started = Instant::now();
    let (status, approved) = controller
        .post_as(&bob, &format!("/api/v1/plans/{id}/approve"), json!({}))
        .await;
    assert_eq!(status, 200, "{approved}");
    let rollout = approved["rollout"].as_str().expect("a rollout").to_owned();
    let view = controller
        .wait_rollout(&rollout, Duration::from_secs(240))
        .await;
    eprintln!(
        "plan rollout rolled back with the data restored in {:?}",
        started.elapsed()
    );
    assert_eq!(view["hosts"][0]["state"], "rolled_back", "{view:#}");
    assert_eq!(demo_version(host), BASELINE);
    assert_restored(host);
    let order = order(host);
    assert_eq!(
        order.first().map(String::as_str),
        Some("pause"),
        "{order:?}"
    );
    assert_eq!(
        order.last().map(String::as_str),
        Some("resume"),
        "{order:?}"
    );
    let records = view["hosts"][0]["protection"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["postgres_backup", "files_backup"], "{view:#}");
    assert!(
        records
            .iter()
            .all(|r| r["status"] == "verified" && r["restored_ok"] == true),
        "{view:#}"
    );
    assert!(agent_journal(host).contains("\"plan\":{\"id\":"));
}

/// The downgrade seed end to end (seed 003; issue 13's Done-when): a downgrade plan of pw-demo
/// whose host keeps its data in PostgreSQL, in a group that requires backup and pause-writes,
/// with a database migration (forward and reverse) and a benchmark hook. The check fails on the
/// lower version: the guard reverses the migration, returns to the exact recorded version and
/// restores the data from the verified backup, with writes paused around all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downgrade_with_migrations_and_a_verified_backup_rolls_back_with_the_data_restored() {
    let suites = [Suite::Stable, Suite::Security];
    let (fleet, _gateway, controller, ids) = fleet(1, &suites, BASELINE).await;
    let host = &fleet.hosts[0];
    let (status, rollout) = controller
        .post("/api/v1/rollouts", rollout_body(&ids, SECURITY_FIX))
        .await;
    assert_eq!(status, 201, "{rollout}");
    let view = controller
        .wait_rollout(rollout["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    assert_eq!(view["status"], "completed", "{view:#}");
    app_data(host);
    host.write_file("/var/lib/pw-bench", b"100\n").unwrap();
    let listed = controller.get("/api/v1/hosts").await;
    let hostname = listed["hosts"][0]["hostname"].as_str().unwrap().to_owned();
    controller.apply_fleet(document(&hostname)).await;
    let alice = add_operator(controller.dir.path(), "alice", "approver");
    let bob = add_operator(controller.dir.path(), "bob", "approver");
    let sql = |statement: &str| {
        json!([
            "/usr/sbin/runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-X",
            "-q",
            "-d",
            "app",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            statement
        ])
    };
    let body = json!({
        "name": "back to 1.0-1 with the old schema",
        "hosts": [hostname],
        "updates": {"downgrade": {DEMO: BASELINE}},
        "hooks": {
            "migrations": [{"name": "legacy-column",
                            "forward": sql("ALTER TABLE items ADD COLUMN legacy integer"),
                            "reverse": sql("ALTER TABLE items DROP COLUMN legacy")}],
            "benchmark": {"argv": ["/usr/bin/cat", "/var/lib/pw-bench"],
                          "higher_is_better": true, "max_regression_percent": 10},
        },
    });
    let plan = controller
        .create_plan_when_ready(&alice, body, not_lower_yet)
        .await;
    assert_eq!(plan["kind"], "downgrade", "{plan:#}");
    assert_eq!(plan["groups"][0]["protection_required"], true, "{plan:#}");
    let id = plan["id"].as_i64().unwrap();
    let path = |action: &str| format!("/api/v1/plans/{id}/{action}");
    let (status, _) = controller.post_as(&alice, &path("submit"), json!({})).await;
    assert_eq!(status, 200);
    let (status, approved) = controller.post_as(&bob, &path("approve"), json!({})).await;
    assert_eq!(status, 200, "{approved}");
    let rollout = approved["rollout"].as_str().expect("a rollout").to_owned();
    let view = controller
        .wait_rollout(&rollout, Duration::from_secs(240))
        .await;
    let done = &view["hosts"][0];
    assert_eq!(done["state"], "rolled_back", "{view:#}");
    // The exact recorded version, the data of before the change, the old schema.
    assert_eq!(demo_configured_version(host), SECURITY_FIX);
    assert_restored(host);
    let legacy = psql(
        host,
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'legacy'",
    );
    assert_eq!(legacy, "0\n", "the migration was reversed");
    let runs: Vec<String> = done["hooks"]["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no hooks in {view:#}"))
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["phase"].as_str().unwrap(),
                r["name"].as_str().unwrap(),
                r["ok"]
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            "benchmark before true",
            "forward legacy-column true",
            "reverse legacy-column true"
        ],
        "{view:#}"
    );
    assert_eq!(
        done["hooks"]["benchmark"]["before"],
        json!(100.0),
        "{view:#}"
    );
    let order = order(host);
    assert_eq!(
        order.first().map(String::as_str),
        Some("pause"),
        "{order:?}"
    );
    assert_eq!(
        order.last().map(String::as_str),
        Some("resume"),
        "{order:?}"
    );
    let records = done["protection"].as_array().cloned().unwrap_or_default();
    assert!(
        !records.is_empty()
            && records
                .iter()
                .all(|r| r["status"] == "verified" && r["restored_ok"] == true),
        "{view:#}"
    );
    assert!(done["downgrade"]["simulation"].is_array(), "{view:#}");
}
