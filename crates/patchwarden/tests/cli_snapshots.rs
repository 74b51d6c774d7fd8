//! insta snapshot of `patchwarden plans show` (the built binary) — the text an approver reads —
//! for a plan an in-process controller built from a fake agent's report while its clock stood
//! at a fixed instant, so slots, deadlines and exposure are the same on every run. Ids are
//! redacted with insta's filters; any other change fails until the snapshot is reviewed
//! (docs/testing.md, *Snapshots*). `scan --format table` and `fleet apply --dry-run` are
//! snapshotted in scan_cli.rs and fleet_cli.rs.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use pw_server::Role;
use pw_testkit::agent::{agent_client, enroll};
use pw_testkit::fixtures::{demo_advisory, demo_inventory, web_fleet};
use pw_testkit::http::{client_with_token, get_json, post_json};
use pw_testkit::{ManualClock, at, wait_until};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_show_prints_the_plan_for_people() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_system_time();
    let settings = pw_server::ServerSettings::loopback(dir.path());
    let controller = pw_server::start_with_clock(&settings, Arc::new(clock.clone()))
        .await
        .unwrap();
    let store = &controller.state.store;
    let admin = pw_server::create_operator(store, "admin", Role::Admin, "controller")
        .await
        .unwrap();
    let alice = pw_server::create_operator(store, "alice", Role::Operator, "admin")
        .await
        .unwrap();
    let osv = demo_advisory("PW-2026-0100", "CVE-2026-40100");
    let input = pw_feeds::Input::new("pw-demo.json", osv.into_bytes());
    pw_feeds::import(store, &[input], &pw_feeds::Silent)
        .await
        .unwrap();
    let http = format!("http://{}", controller.addr);
    let https = format!("https://127.0.0.1:{}", controller.addr.port());
    let api = client_with_token(&admin);
    let applied = api
        .put(format!("{http}/api/v1/fleet"))
        .header("content-type", "application/toml")
        .body(web_fleet(false))
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status(), 200, "{:?}", applied.text().await);

    // A fake agent enrolls (the machine's time), then the controller's clock stands still.
    let url = format!("{http}/api/v1/enrollment-tokens");
    let (status, token) = post_json(&api, &url, &json!({"ttl_secs": 600})).await;
    assert_eq!(status, 201, "{token}");
    let ca = controller.state.ca.cert_pem().to_owned();
    let token = token["token"].as_str().unwrap();
    let (status, enrolled, key) = enroll(&https, &ca, token, "web-0").await;
    assert_eq!(status, 200, "{enrolled}");
    let host = enrolled["host_id"].as_str().unwrap().to_owned();
    clock.set(at("2026-12-01T10:00:00Z"));
    let reported = agent_client(&ca, &enrolled, &key)
        .post(format!("{https}/api/v1/agent/inventory"))
        .json(&demo_inventory("web-0"))
        .send()
        .await
        .unwrap();
    assert_eq!(reported.status(), 200);
    let findings = format!("{http}/api/v1/hosts/{host}/findings");
    let ranked = async || {
        let (_, body) = get_json(&api, &findings).await;
        if body["computed_at"].is_string() {
            Ok(())
        } else {
            Err(body)
        }
    };
    wait_until(
        "the report ranked",
        Duration::from_secs(30),
        Duration::from_millis(50),
        ranked,
    )
    .await;

    let request = json!({"name": "2026-12 security", "group": "web", "updates": "security"});
    let url = format!("{http}/api/v1/plans");
    let (status, plan) = post_json(&client_with_token(&alice), &url, &request).await;
    assert_eq!(status, 201, "{plan}");
    let id = plan["id"].to_string();

    let show = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_patchwarden"))
            .args(["plans", "show", &id, "--server", &http])
            .env("PATCHWARDEN_TOKEN", &admin)
            .env_remove("PATCHWARDEN_SERVER")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(show.status.success(), "{show:?}");
    let text = String::from_utf8(show.stdout).unwrap();
    insta::with_settings!({filters => vec![
        (r"host-[0-9a-f-]{36}", "[host id]"),
        (r"cmd-[0-9a-f-]{36}", "[command id]"),
        (r"(?m)^(plan|Plan) [0-9]+\b", "$1 [id]"),
    ]}, {
        insta::assert_snapshot!("plans_show", text);
    });
    controller.shutdown().await;
}
