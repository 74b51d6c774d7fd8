//! Operators and agents acting on rollouts, against the real controller: pause / resume / stop
//! (persisted, audited, invalid ones refused), clearing a fleet-wide block, the disruption
//! budget across rollouts, a refused or not-started change ending the host at once, protection
//! steps, the operation log and the rollout metrics.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fleet::{
    create_rollout, create_rollout_with, enroll_fleet, guard_answer, run_to_end, serve_once,
    serve_with, wait_for,
};
use crate::support::{ADMIN, TestController};
use pw_testkit::fixtures::host_states;

async fn control(t: &TestController, id: &str, action: &str) -> (u16, Value) {
    t.post_json(&format!("/api/v1/rollouts/{id}/{action}"), &json!({}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_claims_resume_finishes_and_invalid_controls_are_refused() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 3).await;
    let id = create_rollout(&t, &agents, "1.0-2").await;
    let (status, view) = control(&t, &id, "pause").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["control"]["paused_by"], ADMIN);
    let (status, body) = control(&t, &id, "pause").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("rollout_conflict"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already paused"),
        "{body}"
    );
    // Paused: the canary may have been claimed before the pause landed, nobody after it.
    for _ in 0..3 {
        for agent in &agents {
            serve_once(&t, agent).await;
        }
        t.pass().await;
    }
    let view = wait_for(&t, &id, |v| v["status"] == "paused").await;
    assert_eq!(host_states(&view)[1..], ["pending", "pending"], "{view}");
    let (status, view) = control(&t, &id, "resume").await;
    assert_eq!(status, 200, "{view}");
    assert!(view["control"]["paused_by"].is_null(), "{view}");
    wait_for(&t, &id, |v| v["status"] == "running").await;
    let (view, _) = run_to_end(&t, &agents, &id).await;
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(host_states(&view), ["done", "done", "done"]);
    for action in ["pause", "resume", "stop"] {
        let (status, body) = control(&t, &id, action).await;
        assert_eq!(status, 409, "{action}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("completed"),
            "{body}"
        );
    }
    let (status, body) = control(&t, "ro-unknown", "stop").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("rollout_not_found"))
    );

    // The operation log: who did what to which host, from the audit chain.
    let (status, log) = t.get_json(&format!("/api/v1/rollouts/{id}/log")).await;
    assert_eq!(status, 200, "{log}");
    let entries = log["entries"].as_array().unwrap();
    let find = |step: &'static str| entries.iter().filter(move |e| e["step"] == step);
    assert_eq!(find("created").next().unwrap()["actor"], ADMIN);
    let pause = find("pause").next().unwrap();
    assert_eq!(
        (pause["actor"].as_str(), pause["result"].as_str()),
        (Some(ADMIN), Some("ok"))
    );
    assert_eq!(find("resume").count(), 1);
    for host in agents.iter().map(|a| &a.host_id) {
        let mine: Vec<&Value> = entries.iter().filter(|e| e["host_id"] == *host).collect();
        let claimed = mine.iter().find(|e| e["step"] == "claimed").unwrap();
        assert_eq!(claimed["actor"], "controller");
        assert_eq!(claimed["result"], "claimed");
        let recorded = mine.iter().find(|e| e["step"] == "guard_reported").unwrap();
        assert_eq!(recorded["actor"], format!("agent:{host}"));
        assert_eq!(mine.last().unwrap()["result"], "done", "{mine:?}");
    }
    let status_steps: Vec<&str> = find("status")
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert!(
        status_steps.contains(&"paused") && status_steps.last() == Some(&"completed"),
        "{status_steps:?}"
    );
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "oldest first");
    let (status, _) = t.get_json("/api/v1/rollouts/ro-unknown/log").await;
    assert_eq!(status, 404);

    let (_, metrics) = t.get_text("/metrics").await;
    assert!(
        metrics.contains("patchwarden_rollout_host_transitions_total{state=\"done\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("patchwarden_rollout_operator_controls_total{action=\"pause\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("patchwarden_rollouts_active 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_rollout_claims_nothing_and_cannot_be_resumed() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 3).await;
    let id = create_rollout(&t, &agents, "1.0-2").await;
    let (status, view) = control(&t, &id, "stop").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["control"]["stopped_by"], ADMIN);
    // A claim made before the stop is given back or finishes; nothing new is claimed.
    for agent in &agents {
        serve_once(&t, agent).await;
    }
    let view = wait_for(&t, &id, |v| v["status"] == "stopped").await;
    assert_eq!(
        view["detail"]["status"]["reason"]["kind"], "operator",
        "{view}"
    );
    assert_eq!(host_states(&view)[1..], ["pending", "pending"], "{view}");
    let (status, body) = control(&t, &id, "resume").await;
    assert_eq!(status, 409);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("stopped (by {ADMIN})")) && message.contains("new rollout"),
        "{message}"
    );
    let (_, audit) = t.get_json("/api/v1/audit").await;
    let stops = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "rollout.stop" && r["subject"] == id.as_str())
        .count();
    assert_eq!(
        stops, 1,
        "one audit record per accepted control, none for refusals"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_clears_a_fleet_wide_block() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 2).await;
    let id = create_rollout(&t, &agents, "1.0-3").await;
    let (view, _) = run_to_end(&t, &agents, &id).await;
    assert_eq!(view["status"], "stopped", "{view}");
    let (_, list) = t.get_json("/api/v1/rollouts").await;
    assert_eq!(list["blocked"].as_array().unwrap().len(), 1, "{list}");
    let (status, body) = t
        .delete_json("/api/v1/blocked-versions/pw-demo/1.0-3;x")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, cleared) = t
        .delete_json("/api/v1/blocked-versions/pw-demo/1.0-3")
        .await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(
        (cleared["package"].as_str(), cleared["rollout_id"].as_str()),
        (Some("pw-demo"), Some(id.as_str()))
    );
    let (_, list) = t.get_json("/api/v1/rollouts").await;
    assert!(list["blocked"].as_array().unwrap().is_empty(), "{list}");
    let (status, body) = t
        .delete_json("/api/v1/blocked-versions/pw-demo/1.0-3")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("blocked_version_not_found"))
    );
    let (_, audit) = t.get_json("/api/v1/audit").await;
    let cleared = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "blocked_version.cleared")
        .unwrap();
    assert_eq!(
        (cleared["actor"].as_str(), cleared["subject"].as_str()),
        (Some(ADMIN), Some("pw-demo=1.0-3"))
    );
    // No longer blocked: a new rollout claims its canary.
    let again = create_rollout(&t, &agents, "1.0-3").await;
    wait_for(&t, &again, |v| v["hosts"][0]["state"] == "claimed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disruption_budget_holds_across_rollouts() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 4).await;
    let one = json!({"canary_size": 1, "batch_size": 1});
    let first = create_rollout_with(&t, &agents[..2], "1.0-2", one.clone()).await;
    let second = create_rollout_with(&t, &agents[2..], "1.0-2", one).await;
    // Nobody answers: the first claim holds the group's only slot, and a pass says so.
    wait_for(&t, &second, |v| {
        v["detail"]["waiting"][0]["kind"] == "budget_full"
    })
    .await;
    t.pass().await;
    let (_, a) = t.get_json(&format!("/api/v1/rollouts/{first}")).await;
    let (_, b) = t.get_json(&format!("/api/v1/rollouts/{second}")).await;
    let claimed = host_states(&a)
        .iter()
        .chain(&host_states(&b))
        .filter(|s| *s == "claimed")
        .count();
    assert_eq!(claimed, 1, "{a}\n{b}");
    let waiting = &b["detail"]["waiting"][0];
    assert_eq!(waiting["kind"], "budget_full", "{b}");
    assert_eq!(waiting["elsewhere"], 1, "{b}");
    // Once the first rollout finishes, the second gets the slot.
    run_to_end(&t, &agents[..2], &first).await;
    let (view, _) = run_to_end(&t, &agents[2..], &second).await;
    assert_eq!(host_states(&view), ["done", "done"], "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_not_started_change_ends_the_host_at_once() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 6).await;
    // A read-only agent's answer, with its explicit report.
    let refused = |_: &Value| {
        let change = json!({"outcome": "refused", "detail": "refused: this agent runs read-only",
            "recorded": [], "final_versions": [], "installed_at": null, "passed_checks": [],
            "failed_check": null});
        ("refused".to_owned(), Some(change))
    };
    let id = create_rollout(&t, &agents[..2], "1.0-2").await;
    let view = wait_for(&t, &id, |v| v["hosts"][0]["state"] == "claimed").await;
    assert_eq!(view["status"], "running");
    serve_with(&t, &agents[0], refused).await;
    let view = wait_for(&t, &id, |v| v["status"] == "stopped").await;
    let canary = &view["hosts"][0];
    assert_eq!(canary["state"], "failed", "{view}");
    assert_eq!(canary["detail"]["cause"]["kind"], "refused", "{view}");
    assert!(
        canary["detail"]["cause"]["detail"]
            .as_str()
            .unwrap()
            .contains("read-only")
    );
    assert_eq!(
        view["detail"]["status"]["reason"]["kind"], "canary_failed",
        "{view}"
    );
    assert_eq!(view["hosts"][1]["state"], "pending", "nothing else touched");

    // An older agent's plain refusal (no report) and a guard that failed before recording
    // count against the failure budget of the waves (max_failures 1: the second stops it).
    let not_started = |_: &Value| {
        let change = json!({"outcome": "not_started", "detail": "dpkg-query failed",
            "recorded": [], "final_versions": [], "installed_at": null, "passed_checks": [],
            "failed_check": null});
        ("failed".to_owned(), Some(change))
    };
    let extra = json!({"canary_size": 1, "batch_size": 1, "max_failures": 1});
    let id = create_rollout_with(&t, &agents[2..], "1.0-2", extra).await;
    let started = std::time::Instant::now();
    let mut answered = 0;
    // The status shows a resume only after the scheduler's next pass: resume once.
    let mut resumed = false;
    for _ in 0..60 {
        let agent = &agents[2 + answered.min(3)];
        answered += match answered {
            0 => serve_once(&t, agent).await,
            1 => serve_with(&t, agent, |_| ("refused".to_owned(), None)).await,
            _ => serve_with(&t, agent, not_started).await,
        }
        .len();
        let (_, view) = t.get_json(&format!("/api/v1/rollouts/{id}")).await;
        if view["status"] == "paused" && !resumed {
            resumed = true;
            // A failed batch within the budget pauses; resuming accepts its failure.
            assert_eq!(
                host_states(&view),
                ["done", "failed", "pending", "pending"],
                "{view}"
            );
            assert_eq!(view["hosts"][1]["detail"]["cause"]["kind"], "refused");
            let (status, resumed) = control(&t, &id, "resume").await;
            assert_eq!(status, 200, "{resumed}");
            assert_eq!(resumed["control"]["accepted_failed_batches"], json!([2]));
        }
        if view["status"] == "stopped" {
            assert!(resumed, "the failed batch paused the rollout first: {view}");
            assert_eq!(
                host_states(&view),
                ["done", "failed", "failed", "pending"],
                "{view}"
            );
            assert_eq!(view["hosts"][2]["detail"]["cause"]["kind"], "not_started");
            let detail = view["hosts"][2]["detail"]["cause"]["detail"]
                .as_str()
                .unwrap();
            assert_eq!(detail, "dpkg-query failed");
            assert_eq!(
                view["detail"]["status"]["reason"]["kind"],
                "failure_budget_exceeded"
            );
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "ended at once, not after a timeout"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the rollout did not stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protection_steps_reach_the_agent_and_a_failing_step_fails_the_host() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 2).await;
    let steps = json!({"protection_steps": [
        {"name": "snapshot", "argv": ["/usr/local/sbin/pw-snapshot", "create"], "timeout_seconds": 30},
        {"name": "backup", "argv": ["/usr/local/sbin/pw-backup", "--verify-restore"]}]});
    let id = create_rollout_with(&t, &agents, "1.0-2", steps.clone()).await;
    let seen_steps = std::sync::Mutex::new(Vec::new());
    for _ in 0..60 {
        for agent in &agents {
            serve_with(&t, agent, |command| {
                seen_steps
                    .lock()
                    .unwrap()
                    .push(command["protection_steps"].clone());
                guard_answer(command)
            })
            .await;
        }
        let (_, view) = t.get_json(&format!("/api/v1/rollouts/{id}")).await;
        if view["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, view) = t.get_json(&format!("/api/v1/rollouts/{id}")).await;
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(
        view["protection_steps"][1]["timeout_seconds"], 600,
        "{view}"
    );
    let sent = seen_steps.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0][0]["argv"],
        json!(["/usr/local/sbin/pw-snapshot", "create"])
    );
    let (_, log) = t.get_json(&format!("/api/v1/rollouts/{id}/log")).await;
    let protected = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["step"] == "guard_reported"
                && e["result"] == "done"
                && e["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("protection: snapshot ok, backup ok"))
        })
        .count();
    assert_eq!(
        protected, 2,
        "each host's report shows its protection steps: {log}"
    );

    let failing = |_: &Value| {
        let change = json!({"outcome": "protection_failed", "step": "backup",
            "detail": "pw-backup --verify-restore exited Some(1): restore check failed",
            "recorded": [{"name": "pw-demo", "version": "1.0-1"}],
            "final_versions": [{"name": "pw-demo", "version": "1.0-1"}],
            "installed_at": null, "passed_checks": [], "failed_check": null,
            "protection": [{"name": "snapshot", "ok": true, "detail": "exited 0"},
                           {"name": "backup", "ok": false, "detail": "restore check failed"}]});
        ("failed".to_owned(), Some(change))
    };
    let id = create_rollout_with(&t, &agents, "1.0-2", steps).await;
    wait_for(&t, &id, |v| v["hosts"][0]["state"] == "claimed").await;
    serve_with(&t, &agents[0], failing).await;
    let view = wait_for(&t, &id, |v| v["status"] == "stopped").await;
    let cause = &view["hosts"][0]["detail"]["cause"];
    assert_eq!(cause["kind"], "protection_failed", "{view}");
    assert!(
        cause["detail"].as_str().unwrap().contains("backup"),
        "{view}"
    );
    assert_eq!(view["hosts"][1]["state"], "pending");
    let (_, list) = t.get_json("/api/v1/rollouts").await;
    assert!(
        list["blocked"].as_array().unwrap().is_empty(),
        "a protection failure blocks nothing"
    );
}

#[tokio::test]
async fn bad_protection_steps_and_log_checks_are_refused_with_their_names() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 1).await;
    let host = agents[0].host_id.clone();
    let body = |extra: Value| {
        let mut body = json!({"hosts": [host.clone()],
            "targets": [{"name": "pw-demo", "version": "1.0-2"}]});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    for (extra, wanted) in [
        (
            json!({"protection_steps": [{"name": "snap", "argv": []}]}),
            "protection step \"snap\": argv is empty",
        ),
        (
            json!({"protection_steps": [{"name": "snap", "argv": ["x"], "timeout_seconds": 0}]}),
            "timeout_seconds",
        ),
        (
            json!({"checks": [{"kind": "log_lines", "name": "log", "path": "/var/log/x", "pattern": "(", "regex": true}]}),
            "check \"log\": the log pattern \"(\" is not a valid regex",
        ),
        (
            json!({"checks": [{"kind": "log_lines", "name": "log", "path": "x.log", "pattern": "ERROR"}]}),
            "not absolute",
        ),
        (
            json!({"checks": [{"kind": "tcp", "name": "a", "addr": "127.0.0.1:1"}, {"kind": "tcp", "name": "a", "addr": "127.0.0.1:2"}]}),
            "listed twice",
        ),
    ] {
        let (status, answer) = t.post_json("/api/v1/rollouts", &body(extra)).await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(wanted), "{message}");
    }
    let (status, answer) = t
        .post_json(
            "/api/v1/rollouts",
            &body(json!({"protection_steps": [{"name": "s", "argv": ["x"], "shell": "sh"}]})),
        )
        .await;
    assert_eq!(status, 422, "unknown fields are refused: {answer}");
    let (_, list) = t.get_json("/api/v1/rollouts").await;
    assert!(
        list["rollouts"].as_array().unwrap().is_empty(),
        "nothing stored"
    );
}
