//! Rollouts of stored change plans against the real controller: plans built by pw-planner and
//! stored with the four-eyes workflow in the controller's own database, fake agents over real
//! mTLS. Refusals (unknown plan, wrong state, stale version, hosts not enrolled, checks the agent
//! cannot run, a second rollout of the same plan, read-only agents) store nothing; an approved
//! plan rolls out with each host's own targets, the plan's checks and batches, and the commands
//! carry the plan reference.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use pw_model::{Finding, Tier};
use pw_planner::{ApprovalEvent, Host, Plan, PlanInput, Policy, Scope, WindowSlot, build_plan};
use serde_json::{Value, json};

use crate::support::{TestController, tls_client};

const POLICY: &str = r#"
[rollout]
verification = "1s"
canary_percent = 34
max_in_flight = 1

[estimates]
apply = "0s"
rollback = "0s"
host_overhead = "0s"

[health_checks.demo-http]
kind = "http"
target = "http://localhost:18080/cgi-bin/health"

[health_checks.latency]
kind = "promql"
target = "histogram_quantile(0.99, rate(http_duration_seconds_bucket[5m])) < 0.5"
prometheus = "http://127.0.0.1:9090"

[groups.web]
environment = "production"
owners = ["web-team@example.com"]
windows = [{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "23h" }]
health_checks = ["demo-http", "latency"]
"#;

pub(crate) struct Agent {
    pub(crate) host_id: String,
    pub(crate) hostname: String,
    pub(crate) client: reqwest::Client,
}

/// Enrolls hosts `web-0…`, each reporting pw-demo 1.0-1 (and `read_only` as given).
pub(crate) async fn enroll(t: &TestController, n: usize, read_only: bool) -> Vec<Agent> {
    let mut agents = Vec::new();
    for i in 0..n {
        let hostname = format!("web-{i}");
        let token = t.token().await;
        let (status, enrolled, key) = t.enroll(&token, &hostname).await;
        assert_eq!(status, 200, "{enrolled}");
        let cert = enrolled["certificate_pem"].as_str().unwrap();
        let agent = Agent {
            host_id: enrolled["host_id"].as_str().unwrap().to_owned(),
            hostname: hostname.clone(),
            client: tls_client(&t.ca_pem(), Some((cert, &key))),
        };
        let inventory = json!({
            "protocol_version": 1, "hostname": hostname, "os": "debian:12",
            "packages": [{"name": "pw-demo", "version": "1.0-1", "arch": "all"}],
            "reboot_required": false, "collected_at": "2026-11-01T00:00:00Z"
        });
        let beat = json!({"protocol_version": 1, "agent_version": "0.1.0",
            "read_only": read_only, "plan_changes": read_only, "sent_at": "2026-11-01T00:00:00Z"});
        for (path, body) in [("inventory", inventory), ("heartbeat", beat)] {
            assert_eq!(
                t.agent_post(&agent.client, path, &body).await,
                200,
                "{path}"
            );
        }
        agents.push(agent);
    }
    agents
}

pub(crate) fn finding(fixed: &str) -> Finding {
    Finding {
        binary: "pw-demo".into(),
        installed: "1.0-1".into(),
        package: "pw-demo".into(),
        package_version: "1.0-1".into(),
        advisory: "PW-2026-0001".into(),
        aliases: vec![],
        fixed: Some(fixed.into()),
        tier: Tier::T1,
        deadline: None,
        reasons: vec![],
        summary: "pw-demo security fix".into(),
        published: None,
        cvss: None,
        epss: None,
        kev: false,
    }
}

/// A plan over `hosts` (`(fleet id, hostname, fixed version)`), stored as a draft by alice.
async fn stored_plan(t: &TestController, hosts: &[(&str, &str, &str)]) -> (i64, Plan) {
    stored_plan_with(t, hosts, POLICY).await
}

/// [`stored_plan`] under another policy text.
pub(crate) async fn stored_plan_with(
    t: &TestController,
    hosts: &[(&str, &str, &str)],
    policy: &str,
) -> (i64, Plan) {
    let now = Timestamp::now();
    let policy = Policy::from_toml_str(policy).unwrap();
    let input = PlanInput {
        plan_id: "plan-web".into(),
        author: "alice".into(),
        hosts: hosts
            .iter()
            .map(|(id, hostname, fixed)| Host {
                id: (*id).into(),
                hostname: (*hostname).into(),
                group: "web".into(),
                environment: None,
                labels: BTreeMap::new(),
                os: "debian:12".into(),
                findings: vec![finding(fixed)],
                targets: BTreeMap::new(),
                installed: BTreeMap::new(),
            })
            .collect(),
        group_evidence: BTreeMap::new(),
        host_evidence: BTreeMap::new(),
        staging: vec![],
        slots: BTreeMap::from([(
            "web".to_owned(),
            vec![WindowSlot {
                start: now,
                end: now + SignedDuration::from_hours(4),
                window: "always".into(),
            }],
        )]),
        scope: Scope::default(),
        from: now,
        until: now + SignedDuration::from_hours(24),
    };
    let plan = build_plan(&input, &policy, now);
    assert!(plan.unscheduled.is_empty(), "{}", plan.to_json());
    let stored = t
        .controller
        .state
        .store
        .save_plan(&plan, "# plan", now)
        .await
        .unwrap();
    (stored.id, plan)
}

/// Submitted by alice, approved by bob (four eyes: a production plan).
pub(crate) async fn approve(t: &TestController, id: i64, plan: &Plan) {
    let store = &t.controller.state.store;
    let now = Timestamp::now();
    let week = SignedDuration::from_hours(24 * 7);
    let events = [
        (
            "alice",
            ApprovalEvent::Submitted {
                by: "alice".into(),
                review_deadline: now + week,
            },
        ),
        (
            "bob",
            ApprovalEvent::Approved {
                by: "bob".into(),
                gates: plan.gates.clone(),
                valid_until: now + week,
                risk_acceptance: None,
            },
        ),
    ];
    for (actor, event) in events {
        let version = store.plan(id).await.unwrap().version;
        store
            .apply_plan_event(id, version, actor, &event, None, now)
            .await
            .unwrap();
    }
}

async fn post(t: &TestController, body: Value) -> (u16, Value) {
    t.post_json("/api/v1/rollouts", &body).await
}

/// Answers each `apply_change` like a guard that succeeded: the final versions are the targets.
async fn serve(t: &TestController, agent: &Agent, commands: &mut Vec<Value>) {
    let batch = t.agent_poll(&agent.client).await;
    for envelope in batch["commands"].as_array().unwrap() {
        let id = envelope["id"].as_str().unwrap();
        let command = &envelope["command"];
        let finals: Vec<Value> = command["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| json!({"name": t["name"], "version": t["version"]}))
            .collect();
        let change = json!({"outcome": "done",
            "recorded": [{"name": "pw-demo", "version": "1.0-1"}], "final_versions": finals,
            "installed_at": Timestamp::now().to_string(), "passed_checks": ["demo-http"],
            "failed_check": null});
        let result = json!({"status": "succeeded", "message": "guard", "change": change,
            "finished_at": Timestamp::now().to_string()});
        let path = format!("commands/{id}/result");
        assert_eq!(t.agent_post(&agent.client, &path, &result).await, 200);
        commands.push(json!({"host": agent.host_id, "command": command}));
    }
}

async fn rollout_count(t: &TestController) -> usize {
    let (_, list) = t.get_json("/api/v1/rollouts").await;
    list["rollouts"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_plan_rolls_out_with_each_hosts_own_targets() {
    let t = TestController::start().await;
    let agents = enroll(&t, 3, false).await;
    // Matched by hostname (fleet ids differ), and one by the enrolled host id itself.
    let hosts = [
        ("app-a", "web-0", "1.0-2"),
        ("app-b", "web-1", "1.0-2"),
        (agents[2].host_id.as_str(), "elsewhere", "1.0-4"),
    ];
    let (id, plan) = stored_plan(&t, &hosts).await;
    assert!(plan.batches.len() >= 2, "{}", plan.to_json());

    let expect = |(status, body): (u16, Value), code: &str, words: &[&str]| {
        assert_eq!(body["error"]["code"], code, "{body}");
        let message = body["error"]["message"].as_str().unwrap().to_owned();
        for word in words {
            assert!(message.contains(word), "{word:?} not in {message}");
        }
        status
    };
    // A draft is refused, and so is a plan under review: approval comes first.
    let draft = post(&t, json!({"plan": id, "skip_checks": ["latency"]})).await;
    assert_eq!(expect(draft, "plan_refused", &["is draft"]), 409);
    let unknown = post(&t, json!({"plan": "999"})).await;
    assert_eq!(expect(unknown, "plan_not_found", &["999"]), 404);
    let not_a_number = post(&t, json!({"plan": "web"})).await;
    assert_eq!(expect(not_a_number, "invalid_request", &["\"web\""]), 400);
    approve(&t, id, &plan).await;
    let mixed = post(&t, json!({"plan": id, "hosts": ["x"], "batch_size": 3})).await;
    assert_eq!(
        expect(mixed, "invalid_request", &["leave out hosts, batch_size"]),
        400
    );
    let stale = post(&t, json!({"plan": id, "plan_version": 2})).await;
    assert_eq!(expect(stale, "plan_stale", &["version 3"]), 409);
    // The PromQL check is the controller's gate, not an agent check (a fleet document's
    // group gates on it: crates/pw-controller/tests/promql_gate.rs); skipping one by a name
    // the plan does not have is refused.
    let bad_skip = post(&t, json!({"plan": id, "skip_checks": ["latency", "nope"]})).await;
    assert_eq!(expect(bad_skip, "plan_not_executable", &["\"nope\""]), 422);
    assert_eq!(rollout_count(&t).await, 0, "nothing stored on refusal");

    let body = json!({"plan": id.to_string(), "plan_version": 3, "skip_checks": ["latency"]});
    let (status, view) = post(&t, body.clone()).await;
    assert_eq!(status, 201, "{view}");
    let rollout = view["id"].as_str().unwrap().to_owned();
    assert_eq!(view["plan"]["id"], id);
    assert_eq!(view["plan"]["approver"], "bob");
    // A second rollout of the same plan while this one runs is refused.
    let twice = post(&t, body).await;
    assert_eq!(
        expect(
            twice,
            "plan_refused",
            &["already being rolled out", &rollout]
        ),
        409
    );
    assert_eq!(rollout_count(&t).await, 1);

    let mut commands = Vec::new();
    let mut view = Value::Null;
    for _ in 0..150 {
        for agent in &agents {
            serve(&t, agent, &mut commands).await;
        }
        view = t.get_json(&format!("/api/v1/rollouts/{rollout}")).await.1;
        if view["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(view["status"], "completed", "{view:#}");
    assert_eq!(commands.len(), 3, "{commands:#?}");
    for agent in &agents {
        let sent = commands
            .iter()
            .find(|c| c["host"] == agent.host_id.as_str())
            .unwrap_or_else(|| panic!("no command for {}", agent.hostname));
        let command = &sent["command"];
        let want = if agent.hostname == "web-2" {
            "1.0-4"
        } else {
            "1.0-2"
        };
        assert_eq!(
            command["targets"],
            json!([{"name": "pw-demo", "version": want}])
        );
        assert_eq!(command["plan"]["id"], id);
        assert_eq!(command["plan"]["version"], 3);
        assert_eq!(command["verification_seconds"], 1);
        assert_eq!(
            command["checks"],
            json!([{"kind": "http", "name": "demo-http", "addr": "127.0.0.1:18080",
                    "path": "/cgi-bin/health", "expect_status": 200}])
        );
    }
    // Each batch keeps its slot: not claimed before its start, nor after its last claim.
    let row = t
        .controller
        .state
        .store
        .rollout(&rollout)
        .await
        .unwrap()
        .unwrap();
    let stored: Value = serde_json::from_str(&row.plan).unwrap();
    let batches = stored["batches"].as_array().unwrap();
    assert_eq!(batches.len(), plan.batches.len(), "{stored}");
    for (kept, planned) in batches.iter().zip(&plan.batches) {
        assert_eq!(kept["not_before"], planned.start.to_string(), "{stored}");
        assert_eq!(kept["not_after"], planned.last_claim().to_string());
        assert!(planned.last_claim() > planned.start);
    }
    // The plan's history and the audit chain link the plan to the rollout.
    let history = t.controller.state.store.plan_events(id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.event.as_str(), last.to_state.as_str()),
        ("rolled_out", "approved")
    );
    assert_eq!(
        last.comment.as_deref(),
        Some(format!("rollout {rollout}").as_str())
    );
    let (_, audit) = t.get_json("/api/v1/audit").await;
    assert!(
        audit["records"].as_array().unwrap().iter().any(|r| {
            r["action"] == "plan.rolled_out"
                && r["subject"] == format!("plan:{id}")
                && r["actor"] == crate::support::ADMIN
        }),
        "{audit:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_naming_unknown_hosts_or_moved_inventories_are_refused_with_every_problem() {
    let t = TestController::start().await;
    let agents = enroll(&t, 2, false).await;
    let hosts = [
        ("app-a", "web-0", "1.0-2"),
        ("ghost", "ghost.example.net", "1.0-2"),
    ];
    let (id, plan) = stored_plan(&t, &hosts).await;
    approve(&t, id, &plan).await;
    // web-0 moved on since the plan was built.
    let inventory = json!({
        "protocol_version": 1, "hostname": "web-0", "os": "debian:12",
        "packages": [{"name": "pw-demo", "version": "1.0-3", "arch": "all"}],
        "reboot_required": false, "collected_at": "2026-11-01T00:00:00Z"
    });
    let status = t
        .agent_post(&agents[0].client, "inventory", &inventory)
        .await;
    assert_eq!(status, 200);
    let (status, body) = post(&t, json!({"plan": id, "skip_checks": ["latency"]})).await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("plan host ghost (hostname ghost.example.net) is not enrolled"),
        "{message}"
    );
    assert!(
        message.contains("stale plan")
            && message.contains("was at 1.0-1")
            && message.contains("at 1.0-3"),
        "{message}"
    );
    assert_eq!(rollout_count(&t).await, 0);
    let history = t.controller.state.store.plan_events(id).await.unwrap();
    assert!(history.iter().all(|e| e.event != "rolled_out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_agents_take_plan_rollouts_but_no_ad_hoc_change() {
    let t = TestController::start().await;
    let agents = enroll(&t, 1, true).await;
    let (status, body) = post(
        &t,
        json!({"hosts": [agents[0].host_id], "targets": [{"name": "pw-demo", "version": "1.0-2"}]}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "host_read_only");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--allow-approved-plans"),
        "{body}"
    );
    assert_eq!(rollout_count(&t).await, 0);
    // Nor can an operator hand-craft a rollout step claiming a plan (the API fuzzer queued a
    // forged `reboot`, which such an agent would have run).
    let plan = json!({"id": 1, "version": 3, "author": "alice", "approver": "bob"});
    let forged = [
        json!({"kind": "apply_change", "rollout": "ro-x", "plan": plan,
            "targets": [{"name": "pw-demo", "version": "1.0-2"}], "verification_seconds": 1}),
        json!({"kind": "restart_services", "rollout": "ro-x", "plan": plan,
            "units": ["cron.service"]}),
        json!({"kind": "reboot", "rollout": "ro-x", "plan": plan}),
    ];
    for command in forged {
        let (status, body) = t
            .post_json(
                &format!("/api/v1/hosts/{}/commands", agents[0].host_id),
                &json!({ "command": command }),
            )
            .await;
        assert_eq!(status, 400, "{command}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("issued by rollouts only"), "{body}");
    }
    let (id, plan) = stored_plan(&t, &[("app-a", "web-0", "1.0-2")]).await;
    approve(&t, id, &plan).await;
    let (status, view) = post(&t, json!({"plan": id, "skip_checks": ["latency"]})).await;
    assert_eq!(status, 201, "{view}");
    // The same agent without --allow-approved-plans: refused.
    let beat = json!({"protocol_version": 1, "agent_version": "0.1.0", "read_only": true,
        "sent_at": "2026-11-01T00:00:00Z"});
    assert_eq!(
        t.agent_post(&agents[0].client, "heartbeat", &beat).await,
        200
    );
    let (id, plan) = stored_plan(&t, &[("app-a", "web-0", "1.0-2")]).await;
    approve(&t, id, &plan).await;
    let (status, body) = post(&t, json!({"plan": id, "skip_checks": ["latency"]})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("host_read_only")),
        "{body}"
    );
}

/// A group whose RPO makes protection mandatory: without a provider for each of its protection
/// steps the plan is refused (naming the table to add); with them, every host's `apply_change`
/// carries the providers' steps, pause writes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_protection_becomes_its_providers_steps_or_refuses_the_rollout() {
    let t = TestController::start().await;
    let agents = enroll(&t, 1, false).await;
    let protected = POLICY.replace(
        "health_checks = [\"demo-http\", \"latency\"]",
        "health_checks = [\"demo-http\"]\nrpo = \"1h\"\nprotection = [\"backup\", \"pause-writes\"]",
    );
    let backup = "\n[[groups.web.providers.backup]]\nkind = \"postgres\"\ndatabase = \"app\"\ndir = \"/var/backups/pw\"\n";
    let pause = "\n[[groups.web.providers.pause-writes]]\npause = [\"app-ctl\", \"pause\"]\nresume = [\"app-ctl\", \"resume\"]\n";
    let (id, plan) = stored_plan_with(
        &t,
        &[("app-a", "web-0", "1.0-2")],
        &format!("{protected}{backup}"),
    )
    .await;
    approve(&t, id, &plan).await;
    let (status, refused) = post(&t, json!({"plan": id})).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "plan_not_executable");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no provider is configured")
            && message.contains("[[groups.web.providers.pause-writes]]"),
        "{message}"
    );
    assert!(
        !message.contains("take a snapshot") && !message.contains("back up"),
        "{message}"
    );

    let (id, plan) = stored_plan_with(
        &t,
        &[("app-a", "web-0", "1.0-2")],
        &format!("{protected}{backup}{pause}"),
    )
    .await;
    approve(&t, id, &plan).await;
    let (status, created) = post(&t, json!({"plan": id})).await;
    assert_eq!(status, 201, "{created}");
    let mut commands = Vec::new();
    for _ in 0..100 {
        serve(&t, &agents[0], &mut commands).await;
        if !commands.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let steps = &commands[0]["command"]["protection_steps"];
    assert_eq!(steps[0]["name"], "pause-writes", "{steps}");
    assert_eq!(steps[0]["provider"]["kind"], "pause_writes");
    assert_eq!(steps[1]["name"], "backup");
    assert_eq!(steps[1]["provider"]["kind"], "postgres_backup");
    assert_eq!(steps[1]["provider"]["database"], "app");
    assert_eq!(steps[1]["provider"]["retention_seconds"], 604_800);
}
