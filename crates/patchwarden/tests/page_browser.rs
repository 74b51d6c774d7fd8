//! The page in a real browser: Debian's headless chromium, driven through chromedriver
//! (WebDriver over HTTP on loopback, through tests/browser), against a real `patchwarden up` on an empty data
//! directory plus one seeded host enrolled over mutual TLS with a known vulnerable inventory.
//! Signs in by opening the link `up` prints, checks this machine's host name, findings ranked by
//! tier with deadlines, the zh-CN page, and signing out (the CSRF-protected form).
//!
//! Needs `chromium` and `chromedriver` (scripts/install-test-deps.sh installs both); fails
//! loudly without them.

mod browser;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use browser::Browser;
use serde_json::{Value, json};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Enrolls a fake host over mutual TLS and reports a vulnerable inventory: libssl3 3.0.0-1 (T3
/// findings in the shipped snapshot) and librsvg2-2 2.54.5+dfsg-1 (T1: distro severity high).
async fn seed_host(base: &str, token: &str, ca_dir: &std::path::Path, hostname: &str) {
    let api = reqwest::Client::new();
    let enrollment: Value = api
        .post(format!("http://{base}/api/v1/enrollment-tokens"))
        .bearer_auth(token)
        .json(&json!({"ttl_secs": 60}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ca = std::fs::read_to_string(ca_dir.join("ca.pem")).unwrap();
    let (key, csr) = pw_testkit::agent::key_and_csr();
    let port = base.split(':').nth(1).unwrap();
    let enrolled: Value = pw_agent::enrollment_client(&ca)
        .unwrap()
        .post(format!("https://127.0.0.1:{port}/api/v1/enroll"))
        .json(
            &json!({"protocol_version": 1, "token": enrollment["token"], "csr_pem": csr,
                      "hostname": hostname}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The agent's own HTTPS clients (pw-agent), so the seeded host talks exactly like one.
    let identity = pw_agent::Identity {
        host_id: enrolled["host_id"].as_str().unwrap().to_owned(),
        cert_pem: enrolled["certificate_pem"].as_str().unwrap().to_owned(),
        key_pem: key,
        ca_pem: ca,
    };
    let agent = pw_agent::mtls_client(&identity).unwrap();
    let inventory = json!({
        "protocol_version": 1, "hostname": hostname, "os": "debian:12",
        "packages": [
            {"name": "libssl3", "version": "3.0.0-1", "arch": "amd64", "source": "openssl"},
            {"name": "librsvg2-2", "version": "2.54.5+dfsg-1", "arch": "amd64", "source": "librsvg"}
        ],
        "reboot_required": false, "collected_at": "2026-11-01T00:00:00Z"
    });
    let answer = agent
        .post(format!("https://127.0.0.1:{port}/api/v1/agent/inventory"))
        .json(&inventory)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

/// The tiers of the findings table, in page order, with each row's deadline cell.
fn finding_rows(html: &str) -> Vec<(u8, String, String)> {
    let mut rows = Vec::new();
    for part in html.split("<span class=\"tier T").skip(1) {
        let tier = part.as_bytes()[0] - b'0';
        let cells: Vec<&str> = part.split("<td>").skip(1).take(2).collect();
        let deadline = cells[0].split("</td>").next().unwrap().to_owned();
        let host = cells[1].split("</td>").next().unwrap().to_owned();
        rows.push((tier, deadline, host));
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_link_opens_the_page_in_chromium_in_both_languages() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let browser = Browser::start(1280, 1600).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let child = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut up = Killed(child);
    let mut first = String::new();
    BufReader::new(up.0.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let link = first.split_whitespace().last().unwrap().to_owned();
    assert!(link.contains("/login?ticket=pwl_"), "{first}");
    let base = link["http://".len()..]
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
    seed_host(&base, token.trim(), &data.join("ca"), "web-seeded").await;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();

    // Opening the printed link signs in and continues to the page by itself.
    browser.open(&link).await;
    let html = browser
        .wait_for("this machine and the seeded host's findings", |s| {
            s.contains(&format!("<td class=\"hostname\">{hostname}</td>"))
                && s.contains("<td>web-seeded</td>")
        })
        .await;
    let url = browser.current_url().await;
    assert!(url.ends_with("/?lang=en"), "{url}");
    assert!(html.contains("Pending security updates, most urgent first"));
    assert!(
        html.contains("admin (admin)"),
        "the signed-in operator is shown"
    );
    let rows = finding_rows(&html);
    assert!(!rows.is_empty(), "no findings rendered");
    assert!(
        rows.windows(2).all(|w| w[0].0 <= w[1].0),
        "findings not ranked by tier: {rows:?}"
    );
    let seeded: Vec<_> = rows.iter().filter(|r| r.2 == "web-seeded").collect();
    let tiers: std::collections::BTreeSet<u8> = seeded.iter().map(|r| r.0).collect();
    assert!(tiers.contains(&1) && tiers.contains(&3), "{seeded:?}");
    for (tier, deadline, _) in &seeded {
        let dated = deadline.parse::<jiff::Timestamp>().is_ok();
        assert!(
            dated || *tier >= 3,
            "T{tier} without a deadline: {deadline:?}"
        );
    }
    assert!(
        seeded
            .iter()
            .any(|r| r.1.parse::<jiff::Timestamp>().is_ok())
    );
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("page-en.png");
    browser.screenshot(&shot).await;

    // The same session in Simplified Chinese.
    browser.open(&format!("http://{base}/?lang=zh-CN")).await;
    let zh = browser
        .wait_for("the zh-CN page", |s| s.contains("待处理的安全更新"))
        .await;
    assert!(zh.contains("lang=\"zh-CN\"") && zh.contains("主机名") && zh.contains(&hostname));
    assert!(zh.contains("退出登录"));
    assert_eq!(finding_rows(&zh).len(), rows.len());
    browser
        .screenshot(&shot.with_file_name("page-zh-CN.png"))
        .await;

    // Signing out (a form carrying the session's CSRF token) ends the session.
    browser.click("form.logout button").await;
    browser
        .wait_for("the login form after signing out", |s| {
            s.contains("操作员令牌")
        })
        .await;
    browser.open(&format!("http://{base}/")).await;
    let after = browser
        .wait_for("the login form", |s| s.contains("name=\"token\""))
        .await;
    assert!(
        !after.contains(&hostname),
        "the page is shown without a session"
    );
    // The printed link worked once only.
    browser.open(&link).await;
    let used = browser
        .wait_for("the used-link error", |s| s.contains("login-error"))
        .await;
    assert!(used.contains("already used"), "{used}");
    browser.close().await;
}
