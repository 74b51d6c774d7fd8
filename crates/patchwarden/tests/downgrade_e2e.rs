//! A downgrade plan end to end on a real Debian 12 container (docs/downgrade.md), driven by the
//! built `patchwarden server` and agent: the host is upgraded to pw-demo 1.0-2 (an ad-hoc
//! rollout), an advisory fixed in 1.0-2 (CVSS 7.5: T1) is imported; a downgrade plan back to
//! 1.0-1 lists it as reintroduced; approval without a risk acceptance is refused, with one it
//! is scheduled (the acceptance is in the audit record); the rollout checks the target on the
//! host (lower, available, simulated with downgrades allowed), installs it with
//! `--allow-downgrades`, and — the group being a staging group — drills the rollback: back to
//! the recorded 1.0-2, verified, then 1.0-1 again. The host ends at exactly 1.0-1 and the
//! rollout shows the agent's checks and the conffile permissions before and after. A second
//! test runs a downgrade plan's hooks (migrations forward and reverse, the benchmark before and
//! after): a benchmark regression rolls the change back with the migrations reversed, a change
//! within the threshold lands with them applied. Needs Docker and mmdebstrap (docs/testbed.md).

mod common;
mod downgrade_support;

use std::time::{Duration, Instant};

use common::*;
use downgrade_support::*;
use pw_testbed::repo::packages::{BASELINE, DEMO, SECURITY_FIX};
use pw_testkit::fixtures::demo_advisory;
use serde_json::{Value, json};

const ADVISORY: &str = "PWTEST-DOWNGRADE-T1";

/// `POST /api/v1/plans` for the downgrade, retried while the controller still has the
/// inventory from before the upgrade (then the target is not lower than what it knows).
async fn create_plan(controller: &Controller, token: &str, host: &str) -> Value {
    let body = json!({
        "name": "back to 1.0-1",
        "hosts": [host],
        "updates": {"downgrade": {DEMO: BASELINE}},
    });
    create_plan_from(controller, token, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downgrade_plan_needs_risk_acceptance_then_lands_on_the_exact_lower_version() {
    let (fleet, controller, hostname) = upgraded_host().await;
    let host = &fleet.hosts[0];

    import_advisory(&controller, &demo_advisory(ADVISORY, "CVE-2099-4242"));

    let alice = add_operator(controller.dir.path(), "alice", "approver");
    let bob = add_operator(controller.dir.path(), "bob", "approver");
    let plan = create_plan(&controller, &alice, &hostname).await;
    assert_eq!(plan["kind"], "downgrade", "{plan:#}");
    let change = &plan["hosts"][0]["changes"][0];
    assert_eq!(
        (
            &change["package"],
            &change["from"],
            &change["to"],
            &change["reason"]
        ),
        (
            &json!(DEMO),
            &json!(SECURITY_FIX),
            &json!(BASELINE),
            &json!("downgrade")
        ),
        "{plan:#}"
    );
    let back = plan["reintroduced"].as_array().unwrap();
    assert_eq!(back.len(), 1, "{plan:#}");
    assert_eq!(back[0]["advisory"], ADVISORY);
    assert_eq!(back[0]["tier"], "T1");
    assert_eq!(back[0]["fixed"], SECURITY_FIX);
    assert_eq!(back[0]["installed"], SECURITY_FIX);
    assert_eq!(back[0]["target"], BASELINE);
    let gate = plan["gates"]["reintroduced"][0].as_str().unwrap();
    assert!(gate.contains(ADVISORY) && gate.contains("(T1)"), "{gate}");

    let id = plan["id"].as_i64().unwrap();
    let path = |action: &str| format!("/api/v1/plans/{id}/{action}");
    let (status, _) = controller.post_as(&alice, &path("submit"), json!({})).await;
    assert_eq!(status, 200);
    let (status, refused) = controller.post_as(&bob, &path("approve"), json!({})).await;
    assert_eq!(status, 409, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("explicit risk acceptance") && message.contains(ADVISORY),
        "{message}"
    );
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 7);
    let acceptance = json!({"risk_acceptance": {
        "reason": "1.0-2 breaks the billing export; back to 1.0-1 until upstream fixes it",
        "expires_at": expires.to_string(),
    }});
    let (status, approved) = controller.post_as(&bob, &path("approve"), acceptance).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "scheduled", "{approved:#}");
    let rollout = approved["rollout"].as_str().expect("a rollout").to_owned();
    let started = Instant::now();
    let view = controller
        .wait_rollout(&rollout, Duration::from_secs(240))
        .await;
    eprintln!(
        "downgrade rolled out with the drill in {:?}",
        started.elapsed()
    );
    assert_eq!(view["status"], "completed", "{view:#}");
    assert_eq!(view["plan"]["downgrade"], true, "{view:#}");
    let done = &view["hosts"][0];
    assert_eq!(done["state"], "done", "{view:#}");
    assert_eq!(done["detail"]["drilled"], true, "{view:#}");
    assert_eq!(demo_version(host), BASELINE);
    assert_eq!(demo_configured_version(host), BASELINE);

    // The agent's own checks and the permission comparison, in the rollout's answer.
    let checked = &done["downgrade"];
    assert_eq!(
        checked["available"],
        json!([format!("{DEMO}={BASELINE}")]),
        "{view:#}"
    );
    let simulation: Vec<&str> = checked["simulation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        simulation
            .iter()
            .any(|l| l.starts_with(&format!("Inst {DEMO} [{SECURITY_FIX}] ({BASELINE} "))),
        "{simulation:?}"
    );
    let conffile = "/etc/pw-demo/pw-demo.conf";
    for side in ["files_before", "files_after"] {
        let file = checked[side]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == conffile)
            .unwrap_or_else(|| panic!("{side}: {checked:#}"));
        assert_eq!(
            (
                &file["mode"],
                &file["owner"],
                &file["group"],
                &file["modified"]
            ),
            (&json!("644"), &json!("root"), &json!("root"), &json!(false)),
            "{side}: {file}"
        );
    }
    assert_eq!(checked["files_changed"], json!([]), "{checked:#}");

    // The drill went back to the recorded version before landing on the target again.
    let journal = agent_journal(host);
    assert!(journal.contains("\"step\":\"drill_verified\""), "{journal}");
    assert!(
        journal.contains(&format!("{DEMO}={SECURITY_FIX}")) || journal.contains("rolling_back"),
        "{journal}"
    );
    let db = controller.dir.path().join("patchwarden.db");
    let reports = sqlite_rows(&db, "SELECT report FROM change_reports").await;
    let drilled: Vec<Value> = reports
        .iter()
        .map(|r| serde_json::from_str::<Value>(r).unwrap())
        .filter(|r| r["drill"].is_object())
        .collect();
    assert_eq!(drilled.len(), 1, "{reports:?}");
    assert_eq!(
        drilled[0]["drill"]["rolled_back_to"],
        json!([{"name": DEMO, "version": SECURITY_FIX}]),
        "{:#}",
        drilled[0]
    );
    assert_eq!(
        drilled[0]["recorded"],
        json!([{"name": DEMO, "version": SECURITY_FIX}])
    );

    // The acceptance is in the approval's audit record, with the approver.
    let audit = sqlite_rows(
        &db,
        "SELECT actor || ' ' || details FROM audit WHERE action = 'plan.approved'",
    )
    .await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert!(
        audit[0].starts_with("bob ") && audit[0].contains("billing export"),
        "{audit:?}"
    );
    assert!(audit_verify(&controller) > 0);

    // A target the host's sources do not offer: the agent refuses before touching anything,
    // naming the package, the version and where it looked (`apt-cache policy`).
    let body = json!({
        "name": "to a version nobody ships",
        "hosts": [hostname],
        "updates": {"downgrade": {DEMO: "1.0-0"}},
    });
    let (status, missing) = controller.post_as(&alice, "/api/v1/plans", body).await;
    assert_eq!(status, 201, "{missing}");
    assert_eq!(missing["reintroduced"], json!([]), "{missing:#}");
    let id = missing["id"].as_i64().unwrap();
    let path = |action: &str| format!("/api/v1/plans/{id}/{action}");
    controller.post_as(&alice, &path("submit"), json!({})).await;
    let (status, approved) = controller.post_as(&bob, &path("approve"), json!({})).await;
    assert_eq!(status, 200, "{approved}");
    let rollout = approved["rollout"].as_str().expect("a rollout").to_owned();
    let view = controller
        .wait_rollout(&rollout, Duration::from_secs(120))
        .await;
    assert_ne!(view["hosts"][0]["state"], "done", "{view:#}");
    let text = view.to_string();
    assert!(
        text.contains("pw-demo 1.0-0 is not available: not offered by this host's sources (apt-cache policy pw-demo), no local archive named by the plan"),
        "{view:#}"
    );
    assert_eq!(demo_configured_version(host), BASELINE);
}

/// The bench file the hooks' benchmark reads, and what the "slow" migration makes it.
const BENCH: &str = "/var/lib/pw-bench";
const MARKER: &str = "/var/lib/pw-migrated";

fn hooks(slow: bool) -> Value {
    let mut migrations = vec![json!({
        "name": "schema",
        "forward": ["/usr/bin/touch", MARKER],
        "reverse": ["/usr/bin/rm", "-f", MARKER],
        "timeout_seconds": 30,
    })];
    if slow {
        migrations.push(json!({
            "name": "slow-index",
            "forward": ["/usr/bin/cp", "/var/lib/pw-bench-slow", BENCH],
            "reverse": ["/usr/bin/cp", "/var/lib/pw-bench-fast", BENCH],
        }));
    }
    json!({
        "conffiles": "keep",
        "migrations": migrations,
        "benchmark": {"argv": ["/usr/bin/cat", BENCH], "higher_is_better": true, "max_regression_percent": 10},
    })
}

/// A downgrade plan with `hooks`, submitted by `author`, approved by `approver`, rolled out:
/// the rollout's view.
async fn hooked_rollout(
    controller: &Controller,
    (author, approver): (&str, &str),
    hostname: &str,
    hooks: Value,
) -> Value {
    let body = json!({
        "name": "back to 1.0-1 with migrations",
        "hosts": [hostname],
        "updates": {"downgrade": {DEMO: BASELINE}},
        "hooks": hooks,
    });
    let plan = create_plan_from(controller, author, body).await;
    assert_eq!(plan["hooks"]["migrations"][0]["name"], "schema", "{plan:#}");
    let id = plan["id"].as_i64().unwrap();
    let path = |action: &str| format!("/api/v1/plans/{id}/{action}");
    let (status, _) = controller.post_as(author, &path("submit"), json!({})).await;
    assert_eq!(status, 200);
    let (status, approved) = controller
        .post_as(approver, &path("approve"), json!({}))
        .await;
    assert_eq!(status, 200, "{approved}");
    let rollout = approved["rollout"].as_str().expect("a rollout").to_owned();
    controller
        .wait_rollout(&rollout, Duration::from_secs(240))
        .await
}

fn file_in(host: &pw_testbed::Host, path: &str) -> Option<String> {
    host.read_file(path).ok().map(|t| t.trim().to_owned())
}

/// The hooks' runs on the rollout's first host: `phase name ok|failed`.
fn hook_runs(view: &Value) -> Vec<String> {
    view["hosts"][0]["hooks"]["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no hooks in {view:#}"))
        .iter()
        .map(|r| {
            let ok = if r["ok"] == true { "ok" } else { "failed" };
            format!(
                "{} {} {ok}",
                r["phase"].as_str().unwrap(),
                r["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downgrades_hooks_migrate_forward_and_back_and_its_benchmark_can_roll_it_back() {
    let (fleet, controller, hostname) = upgraded_host().await;
    let host = &fleet.hosts[0];
    for (path, value) in [
        ("/var/lib/pw-bench-fast", "100"),
        ("/var/lib/pw-bench-slow", "40"),
        (BENCH, "100"),
    ] {
        host.write_file(path, format!("{value}\n").as_bytes())
            .unwrap();
    }
    let alice = add_operator(controller.dir.path(), "alice", "approver");
    let bob = add_operator(controller.dir.path(), "bob", "approver");

    // The slow migration makes the benchmark 60 % worse: rolled back, migrations reversed
    // newest first, back on exactly 1.0-2.
    let view = hooked_rollout(&controller, (&alice, &bob), &hostname, hooks(true)).await;
    assert_eq!(view["hosts"][0]["state"], "rolled_back", "{view:#}");
    assert_eq!(demo_configured_version(host), SECURITY_FIX);
    assert_eq!(
        file_in(host, MARKER),
        None,
        "the schema migration was not reversed"
    );
    assert_eq!(file_in(host, BENCH).as_deref(), Some("100"));
    let bench = &view["hosts"][0]["hooks"]["benchmark"];
    assert_eq!(
        (&bench["before"], &bench["after"]),
        (&json!(100.0), &json!(40.0)),
        "{view:#}"
    );
    assert_eq!(bench["passed"], false);
    let runs = hook_runs(&view);
    let expected = [
        "benchmark before ok",
        "forward schema ok",
        "forward slow-index ok",
        "benchmark after ok",
        "reverse slow-index ok",
        "reverse schema ok",
    ];
    assert_eq!(runs, expected, "{view:#}");
    assert!(
        view.to_string().contains("60.0 % worse (at most 10 %)"),
        "{view:#}"
    );

    // The failed target is blocked fleet-wide until an operator clears it.
    clear_blocked(&controller, BASELINE).await;

    // Without it the change stays within the threshold and lands; the staging canary's drill
    // reverses and re-applies the migration through the same path.
    let view = hooked_rollout(&controller, (&alice, &bob), &hostname, hooks(false)).await;
    assert_eq!(view["hosts"][0]["state"], "done", "{view:#}");
    assert_eq!(view["hosts"][0]["detail"]["drilled"], true, "{view:#}");
    assert_eq!(demo_configured_version(host), BASELINE);
    assert!(
        file_in(host, MARKER).is_some(),
        "the schema migration is applied"
    );
    let runs = hook_runs(&view);
    let expected = [
        "benchmark before ok",
        "forward schema ok",
        "benchmark after ok",
        "reverse schema ok",
        "forward schema ok",
    ];
    assert_eq!(runs, expected, "{view:#}");
    let journal = agent_journal(host);
    assert!(
        journal.contains("\"step\":\"migrated\"") && journal.contains("\"step\":\"reversed\""),
        "{journal}"
    );
}

/// The first column of every row of `query`, as text, read from the controller's database.
async fn sqlite_rows(db: &std::path::Path, query: &'static str) -> Vec<String> {
    use sqlx::Row;
    let url = format!("sqlite://{}?mode=ro", db.display());
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query(query)
        .fetch_all(&mut connection)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect()
}
