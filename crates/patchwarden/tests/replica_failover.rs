//! Two controller replicas on one PostgreSQL (issue 15 item 2), on real Debian 12 containers
//! with real agents and real apt (pw-testbed) and a real PostgreSQL server
//! (`pw_testbed::postgres`): replica A, started first, holds the scheduler lease; replica B
//! shares its database and `--secret-key-file`. Half the agents long-poll B first, half A (each
//! is given both, `--server B,A` or `--server A,B`); enrollment tokens come from A, the rollout
//! is created through B. Once the canary is done and the next host is being changed, A is
//! SIGKILLed. Then: B takes the lease over and finishes the rollout; every host was upgraded
//! once (dpkg's log), received its one `apply_change` once (the agent's journal) and the
//! database holds exactly one `apply_change` per host; every command reached its agent within
//! a few seconds of being queued, also when queued by one replica for an agent polling the
//! other (LISTEN/NOTIFY; the long-poll itself waits 30 s); `patchwarden audit verify
//! --database postgres://…` verifies the chain and each replica's checkpoints.
//!
//! Needs Docker and mmdebstrap (docs/testbed.md) and PostgreSQL's server binaries.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use pw_testbed::repo::packages::{DEMO, SECURITY_FIX};
use pw_testbed::{Mount, Suite, Testbed};
use pw_testkit::fixtures::host_states;
use pw_testkit::http::free_port;
use sqlx::Row;

const HOSTS: usize = 4;

/// `patchwarden server` on `dir`, a free port on every address, the shared database and key.
fn spawn_replica(dir: &std::path::Path, port: u16, gateway: &str, db: &str, key: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["server", "--listen", &format!("0.0.0.0:{port}")])
        .args(["--database", db, "--secret-key-file", key, "--data-dir"])
        .arg(dir)
        .env("PATCHWARDEN_SERVER_NAMES", gateway)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn replica(gateway: &str, db: &str, key: &str, admin_token: &str) -> Controller {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    Controller {
        child: spawn_replica(dir.path(), port, gateway, db, key),
        base: format!("127.0.0.1:{port}"),
        dir,
        admin_token: admin_token.to_owned(),
    }
}

/// Scheduler passes the replica ran (only the lease holder runs any), from its /metrics.
async fn scheduler_passes(replica: &Controller) -> u64 {
    let text = reqwest::get(replica.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("patchwarden_scheduler_passes_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// `patchwarden audit verify --database db --data-dir dir`: its stdout, asserting success.
fn audit_verify_postgres(db: &str, dir: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["audit", "verify", "--database", db, "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.starts_with("audit chain intact: "), "{stdout}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_holder_sigkilled_mid_rollout_another_replica_finishes_it_once_per_host() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let db = pw_testbed::postgres::shared().database().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("secret.key");
    std::fs::write(&key, format!("{}\n", "c3".repeat(32))).unwrap();
    let key = key.to_str().unwrap().to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["operators", "add", "e2e-admin", "--role", "admin"])
        .args(["--database", &db])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let admin = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let mount = Mount {
        source: env!("CARGO_BIN_EXE_patchwarden").into(),
        target: AGENT_BIN.into(),
    };
    let fleet = Testbed::shared()
        .fleet_with_mounts(HOSTS, &Suite::ALL, &[mount])
        .unwrap();
    let gateway = fleet.network.gateway().unwrap().to_string();
    // A first: its scheduler takes the lease at its first tick, before B exists.
    let mut a = replica(&gateway, &db, &key, &admin);
    wait_controller_up(&a, Duration::from_secs(20)).await;
    let b = replica(&gateway, &db, &key, &admin);
    wait_controller_up(&b, Duration::from_secs(20)).await;
    let (url_a, url_b) = (agent_server(&a, &gateway), agent_server(&b, &gateway));
    let servers: Vec<String> = (0..HOSTS)
        .map(|i| match i % 2 {
            0 => format!("{url_b},{url_a}"),
            _ => format!("{url_a},{url_b}"),
        })
        .collect();
    let hosts = fleet_with_agent_servers(&a, &fleet, &servers, &[]).await;
    assert!(scheduler_passes(&a).await > 0, "A holds the lease");
    assert_eq!(scheduler_passes(&b).await, 0, "B waits for it");

    // The rollout through B (which does not drive it): canary, then one host at a time.
    let mut body = rollout_body_verifying(&hosts, SECURITY_FIX, 4);
    body["batch_size"] = 1.into();
    let (status, created) = b.post("/api/v1/rollouts", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    // SIGKILL A once the canary is done and the next host's agent is running its change (its
    // `apply_change` delivered, not finished: host 1 long-polls A first).
    let store = pw_store::Store::connect(&pw_store::DatabaseUrl::parse(&db).unwrap())
        .await
        .unwrap();
    loop {
        let counts = sqlx::query(
            "SELECT SUM(CASE WHEN state = 'succeeded' THEN 1 ELSE 0 END) AS done,
                    SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END) AS running
             FROM commands WHERE kind = 'apply_change'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        let done: i64 = counts.get::<Option<i64>, _>("done").unwrap_or(0);
        let running: i64 = counts.get::<Option<i64>, _>("running").unwrap_or(0);
        if done >= 1 && running >= 1 {
            break;
        }
        assert!((done as usize) < HOSTS, "finished before the kill");
        assert!(
            started.elapsed() < Duration::from_secs(200),
            "no change under way"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.close().await;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = Instant::now();
    let at_kill = host_states(&b.get(&format!("/api/v1/rollouts/{id}")).await);
    eprintln!(
        "A SIGKILLed {:?} into the test; hosts then: {at_kill:?}",
        started.elapsed()
    );

    let view = b.wait_rollout(&id, Duration::from_secs(150)).await;
    eprintln!(
        "B finished the rollout {:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(view["status"], "completed", "{view:#}");
    assert!(host_states(&view).iter().all(|s| s == "done"), "{view:#}");
    assert!(scheduler_passes(&b).await > 0, "B took the lease over");

    for host in &fleet.hosts {
        assert_eq!(demo_version(host), SECURITY_FIX, "{}", host.name);
        let dpkg_log = host.read_file("/var/log/dpkg.log").unwrap();
        let upgrades = dpkg_log
            .lines()
            .filter(|l| l.contains(&format!(" upgrade {DEMO}:")))
            .count();
        assert_eq!(upgrades, 1, "{}: {dpkg_log}", host.name);
        let journal = agent_journal(host);
        let received = journal
            .lines()
            .filter(|l| l.contains("\"event\":\"received\""))
            .filter(|l| l.contains(&format!("\"rollout\":\"{id}\"")))
            .count();
        assert_eq!(received, 1, "{}: {journal}", host.name);
    }
    check_commands(&db, &hosts).await;
    // B signs a checkpoint of the chain's head every 10 s when it grew: wait for its first
    // (B may have finished the rollout sooner than that after taking over).
    let checkpoints = b.dir.path().join("audit.checkpoints");
    let signed = async || match checkpoints.exists() {
        true => Ok(()),
        false => Err("no audit.checkpoints yet"),
    };
    let every = Duration::from_millis(250);
    pw_testkit::wait_until(
        "B's first checkpoint",
        Duration::from_secs(25),
        every,
        signed,
    )
    .await;
    let chain = audit_verify_postgres(&db, b.dir.path());
    assert!(chain.contains("signed checkpoints hold"), "{chain}");
    audit_verify_postgres(&db, a.dir.path());
    eprintln!("{}", chain.trim());
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "the replica fault test took {:?}",
        started.elapsed()
    );
}

/// Exactly one `apply_change` per host, each finished, each handed to its agent within 5 s of
/// being queued (by whichever replica, to an agent polling whichever replica).
async fn check_commands(db: &str, hosts: &[String]) {
    let store = pw_store::Store::connect(&pw_store::DatabaseUrl::parse(db).unwrap())
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT host_id, state, created_at, delivered_at FROM commands
         WHERE kind = 'apply_change' ORDER BY created_at",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut per_host = std::collections::BTreeMap::<String, usize>::new();
    let mut delays = Vec::new();
    for row in &rows {
        let host: String = row.get("host_id");
        *per_host.entry(host.clone()).or_default() += 1;
        assert_eq!(row.get::<String, _>("state"), "succeeded", "{host}");
        let created: jiff::Timestamp = row.get::<String, _>("created_at").parse().unwrap();
        let delivered: jiff::Timestamp = row
            .get::<Option<String>, _>("delivered_at")
            .unwrap()
            .parse()
            .unwrap();
        delays.push(delivered.duration_since(created));
    }
    store.close().await;
    for host in hosts {
        assert_eq!(per_host.get(host), Some(&1), "{host}: {per_host:?}");
    }
    assert_eq!(rows.len(), hosts.len(), "{per_host:?}");
    eprintln!("apply_change queued → delivered: {delays:?}");
    let slowest = delays.iter().max().unwrap();
    assert!(
        *slowest < jiff::SignedDuration::from_secs(5),
        "a command waited {slowest:?} for its agent: {delays:?}"
    );
}
