//! What the console's tests share: enrolled hosts (real enrollment over mutual TLS), findings
//! recorded through the store as the scan records them, signed-in browsers of any role.

use jiff::Timestamp;
use pw_model::{Finding, Tier};
use pw_store::{CurrentFinding, FindingsSnapshot, Recorded};

use crate::support::{TestController, browser, set_cookie};

/// A finding as the scan writes it.
pub fn finding(
    binary: &str,
    package: &str,
    advisory: &str,
    tier: Tier,
    deadline: Option<Timestamp>,
) -> Finding {
    Finding {
        binary: binary.into(),
        installed: "1.0-1".into(),
        package: package.into(),
        package_version: "1.0-1".into(),
        advisory: advisory.into(),
        aliases: vec![format!("CVE-{}", advisory.trim_start_matches("PW-"))],
        fixed: Some("1.0-2".into()),
        tier,
        deadline,
        reasons: vec!["bug fix".into()],
        summary: format!("{package} problem"),
        published: None,
        cvss: Some(7.5),
        epss: Some(0.25),
        kev: false,
    }
}

/// Records `findings` as the host's computation at `at`, as the scan writes it (and opens or
/// closes their history episodes).
pub async fn record(t: &TestController, host: &str, at: Timestamp, findings: &[Finding]) {
    let mut counts = [0usize; 5];
    for f in findings {
        counts[f.tier.index()] += 1;
    }
    let current: Vec<CurrentFinding> = findings
        .iter()
        .map(|f| CurrentFinding::of(f).unwrap())
        .collect();
    let snapshot = FindingsSnapshot {
        host_id: host,
        inventory_collected_at: at,
        computed_at: at,
        source: "test",
        findings_json: &serde_json::to_string(findings).unwrap(),
        tier_counts_json: &serde_json::to_string(&counts).unwrap(),
        current: &current,
        backported: &[],
    };
    let recorded = t
        .controller
        .state
        .store
        .record_findings(&snapshot)
        .await
        .unwrap();
    assert!(matches!(recorded, Recorded::Recorded(_)));
}

/// `pw_session=…` of `operator` (signed in through a login link).
pub async fn session_of(t: &TestController, operator: &str) -> String {
    let store = &t.controller.state.store;
    let ticket = pw_server::issue_login_ticket(store, operator)
        .await
        .unwrap();
    let answer = browser()
        .get(t.http(&format!("/login?ticket={ticket}")))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    set_cookie(&answer, "pw_session").expect("no session cookie")
}

/// A console page as the browser holding `cookie` gets it: (status, HTML).
pub async fn get(t: &TestController, cookie: &str, path: &str) -> (u16, String) {
    let answer = browser()
        .get(t.http(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap())
}

/// Posts a form as the browser holding `cookie`: the answer.
pub async fn post_form(
    t: &TestController,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    browser()
        .post(t.http(path))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
        .send()
        .await
        .unwrap()
}

/// A form's answer: (status, where it redirects, or the page).
pub async fn outcome(answer: reqwest::Response) -> (u16, String) {
    let status = answer.status().as_u16();
    let location = answer
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, location.unwrap_or(answer.text().await.unwrap()))
}

/// Percent-encodes a form value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A group of the fleet document: `hostnames` members, one owner, a nightly window.
pub fn group_toml(name: &str, environment: &str, hostnames: &str) -> String {
    format!(
        r#"
[groups.{name}]
environment = "{environment}"
owners = ["{name}-team@example.com"]
windows = [{{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-11-01T01:00:00", tz = "UTC", duration = "4h" }}]
[groups.{name}.members]
hostnames = ["{hostnames}"]
"#
    )
}

/// How many times `needle` occurs in `html`.
pub fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}
