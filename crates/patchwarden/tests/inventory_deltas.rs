//! Inventory deltas end to end (issue 15, docs/agent.md "Inventory deltas"): a real controller
//! (in process, real mutual TLS, SQLite in a temporary data dir) and the agent's own sending
//! code (`pw_agent::Acknowledged::send`, what `patchwarden agent` calls after collecting).
//! The first report goes in full; then only changes, applied to the stored inventory; an agent
//! whose base is no longer the stored inventory is answered `full_inventory_needed` and sends
//! its full report; across a controller restart the stored inventory stays the base. The
//! agent's client speaks HTTP/2: a report beside a waiting long-poll opens no second socket.

use pw_agent::{Acknowledged, Identity, InventoryForm};
use pw_model::InstalledPackage;
use pw_protocol::{InventoryContent, InventoryReport};
use pw_server::{Controller, ServerSettings};

fn package(name: &str, version: &str) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: "amd64".into(),
        source: None,
        source_version: None,
    }
}

fn report(packages: &[(&str, &str)]) -> InventoryReport {
    InventoryReport {
        protocol_version: pw_protocol::PROTOCOL_VERSION,
        hostname: "web-1".into(),
        os: "debian:12".into(),
        packages: packages.iter().map(|(n, v)| package(n, v)).collect(),
        pending_updates: Some(vec![]),
        reboot_required: false,
        reboot_required_by: vec![],
        collected_at: jiff::Timestamp::now(),
        labels: Some(Default::default()),
        backport_history: Some([("bash".to_owned(), vec!["CVE-2022-3715".to_owned()])].into()),
        restart: None,
    }
}

fn https(controller: &Controller) -> String {
    format!("https://127.0.0.1:{}", controller.addr.port())
}

async fn enrolled_agent(controller: &Controller, token: &str) -> (Identity, reqwest::Client) {
    let ca = controller.state.ca.cert_pem();
    let identity = pw_agent::enroll_in_memory(&https(controller), token, ca, "web-1")
        .await
        .unwrap();
    let http = pw_agent::mtls_client(&identity).unwrap();
    (identity, http)
}

/// An admin's API token and a single-use enrollment token it made.
async fn admin_and_token(controller: &Controller) -> (String, String) {
    let admin = pw_server::create_operator(
        &controller.state.store,
        "admin",
        pw_server::Role::Admin,
        "test",
    )
    .await
    .unwrap();
    let answer: serde_json::Value = pw_testkit::http::client_with_token(&admin)
        .post(format!(
            "http://{}/api/v1/enrollment-tokens",
            controller.addr
        ))
        .json(&serde_json::json!({"ttl_secs": 600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["token"].as_str().unwrap().to_owned();
    (admin, token)
}

/// Established TCP connections to `port` on this machine's loopback, counted from the
/// clients' side (`/proc/net/tcp`: remote port `port`, state 01).
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let remote = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[2].ends_with(&remote) && fields[3] == "01"
        })
        .count()
}

/// The agent's client speaks HTTP/2 to the controller: a report sent while its long-poll
/// waits travels on the same connection, so an agent holds one socket (docs/agent.md,
/// "Connection"); over HTTP/1.1 the report would open a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_beside_the_long_poll_shares_its_connection() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let controller = pw_server::start(&ServerSettings::loopback(dir.path()))
        .await
        .unwrap();
    let (_, token) = admin_and_token(&controller).await;
    let (_, http) = enrolled_agent(&controller, &token).await;
    let port = controller.addr.port();
    // The operator's and the enrollment's clients are gone; wait until their sockets are.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while connections_to(port) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "earlier connections stay open"
        );
        tokio::task::yield_now().await;
    }
    // A first request opens the agent's connection (its protocol is known only once TLS is
    // done: a request racing the handshake may open a second one, as any pool does).
    let warm = http
        .get(format!(
            "{}/api/v1/agent/commands?wait=0",
            https(&controller)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.version(), reqwest::Version::HTTP_2);
    assert_eq!(connections_to(port), 1);
    let poll = tokio::spawn({
        let request = http.get(format!(
            "{}/api/v1/agent/commands?wait=30",
            https(&controller)
        ));
        async move { request.send().await }
    });
    // Let the long-poll leave (over HTTP/1.1 it would hold the one connection now).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (_, form) = Acknowledged::default()
        .send(
            &http,
            &https(&controller),
            &report(&[("bash", "5.2.15-2+b2")]),
        )
        .await
        .unwrap();
    assert_eq!(form, InventoryForm::Full);
    assert!(!poll.is_finished(), "the long-poll answered early");
    assert_eq!(
        connections_to(port),
        1,
        "the report opened a connection of its own"
    );
    poll.abort();
    controller.shutdown().await;
}

async fn stored_versions(controller: &Controller, host: &str) -> Vec<(String, String)> {
    let stored = controller
        .state
        .store
        .inventory(host)
        .await
        .unwrap()
        .unwrap();
    stored
        .packages
        .into_iter()
        .map(|p| (p.name, p.version))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_apply_to_the_stored_inventory_and_a_lost_base_falls_back_to_a_full_report() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let settings = ServerSettings::loopback(dir.path());
    let controller = pw_server::start(&settings).await.unwrap();
    let store = controller.state.store.clone();
    let (admin, token) = admin_and_token(&controller).await;
    let (identity, http) = enrolled_agent(&controller, &token).await;
    let host = identity.host_id.clone();
    let agent = Acknowledged::default();
    // A second agent process of the same host with its own memory (a reinstalled agent, an
    // answer lost on the way): its base goes stale behind its back.
    let stale = Acknowledged::default();

    let v1 = [("bash", "5.2.15-2+b2"), ("curl", "7.88.1-10+deb12u5")];
    let (ack, form) = agent
        .send(&http, &https(&controller), &report(&v1))
        .await
        .unwrap();
    assert_eq!(form, InventoryForm::Full, "nothing acknowledged yet");
    let v1_digest = InventoryContent::of_report(&report(&v1)).digest();
    assert_eq!(ack.digest.as_deref(), Some(v1_digest.as_str()));
    let (_, form) = stale
        .send(&http, &https(&controller), &report(&v1))
        .await
        .unwrap();
    assert_eq!(form, InventoryForm::Full);

    // One package upgraded, one installed: only those travel, and the controller applies them.
    let v2 = [
        ("bash", "5.2.15-2+b2"),
        ("curl", "7.88.1-10+deb12u12"),
        ("jq", "1.6-2.1"),
    ];
    let (ack, form) = agent
        .send(&http, &https(&controller), &report(&v2))
        .await
        .unwrap();
    assert_eq!(form, InventoryForm::Delta);
    assert_eq!(ack.packages, 3);
    assert_eq!(stored_versions(&controller, &host).await, pairs(&v2));
    // The same inventory again: a delta of no change, no audit record.
    let audited = store.audit_tail(1000).await.unwrap().len();
    let (_, form) = agent
        .send(&http, &https(&controller), &report(&v2))
        .await
        .unwrap();
    assert_eq!(form, InventoryForm::Delta);
    assert_eq!(store.audit_tail(1000).await.unwrap().len(), audited);

    // The stale agent's base (v1) is not the stored inventory (v2): refused, then sent whole.
    let v3 = [("bash", "5.2.15-2+b7"), ("jq", "1.6-2.1")];
    let (ack, form) = stale
        .send(&http, &https(&controller), &report(&v3))
        .await
        .unwrap();
    assert_eq!(form, InventoryForm::DeltaThenFull);
    assert!(!ack.full_inventory_needed);
    assert_eq!(stored_versions(&controller, &host).await, pairs(&v3));

    // A controller restart: the stored inventory (v3) is still the base of the stale agent's
    // next delta; the first agent's base (v2) is not, and it recovers by a full report.
    controller.shutdown().await;
    let controller = pw_server::start(&settings).await.unwrap();
    let v4 = [("bash", "5.2.15-2+b7"), ("jq", "1.7.1-3")];
    let (_, form) = stale
        .send(&http, &https(&controller), &report(&v4))
        .await
        .unwrap();
    assert_eq!(form, InventoryForm::Delta, "applied after the restart");
    assert_eq!(stored_versions(&controller, &host).await, pairs(&v4));
    let v5 = [("bash", "5.2.15-2+b7")];
    let (ack, form) = agent
        .send(&http, &https(&controller), &report(&v5))
        .await
        .unwrap();
    assert_eq!(form, InventoryForm::DeltaThenFull);
    assert_eq!(ack.packages, 1);
    assert_eq!(stored_versions(&controller, &host).await, pairs(&v5));
    let metrics = metrics(&controller, &admin).await;
    assert!(
        metrics.contains(
            r#"patchwarden_agent_inventory_deltas_total{outcome="full_inventory_needed"} 1"#
        ),
        "{metrics}"
    );
    controller.shutdown().await;
}

async fn metrics(controller: &Controller, admin: &str) -> String {
    pw_testkit::http::client_with_token(admin)
        .get(format!("http://{}/metrics", controller.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
