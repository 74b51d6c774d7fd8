//! Small documents the tests send and read: agents' inventory reports, a fake advisory for the
//! testbed's pw-demo package, a fleet document with a staging and a production group, a rollout
//! view's host states.

use serde_json::Value;

/// A small but real inventory report body (libssl3 with a pending security upgrade, bash).
pub fn inventory_body(hostname: &str) -> Value {
    serde_json::json!({
        "protocol_version": 1,
        "hostname": hostname,
        "os": "debian:12",
        "packages": [
            {"name": "libssl3", "version": "3.0.0-1", "arch": "amd64", "source": "openssl"},
            {"name": "bash", "version": "5.2.15-2+b2", "arch": "amd64"}
        ],
        "pending_updates": [{"package": "libssl3", "arch": "amd64", "from_version": "3.0.0-1",
            "to_version": "3.0.17-1~deb12u2", "origin": "Debian-Security", "suite": "bookworm-security"}],
        "reboot_required": false,
        "collected_at": "2026-11-01T00:00:00Z"
    })
}

/// Each host's state in a rollout's API view (`GET /api/v1/rollouts/{id}`), in the view's order.
pub fn host_states(view: &Value) -> Vec<String> {
    view["hosts"]
        .as_array()
        .unwrap_or_else(|| panic!("not a rollout view: {view}"))
        .iter()
        .map(|h| h["state"].as_str().unwrap().to_owned())
        .collect()
}

/// A fake OSV advisory `id` (alias `cve`) for pw-demo fixed in 1.0-2, CVSS 7.5: T1 by the
/// default policy.
pub fn demo_advisory(id: &str, cve: &str) -> String {
    serde_json::json!({
        "schema_version": "1.6.0", "id": id,
        "published": "2025-01-01T00:00:00Z", "modified": "2025-01-01T00:00:00Z",
        "aliases": [cve],
        "summary": "pw-demo: information disclosure (FAKE, test fixture)",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "pw-demo"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}]
        }]
    })
    .to_string()
}

/// An inventory report with pw-demo 1.0-1 installed and 1.0-2 offered by the security suite.
pub fn demo_inventory(hostname: &str) -> Value {
    serde_json::json!({
        "protocol_version": 1, "hostname": hostname, "os": "debian:12",
        "packages": [{"name": "pw-demo", "version": "1.0-1", "arch": "all"}],
        "pending_updates": [{"package": "pw-demo", "arch": "all", "from_version": "1.0-1",
            "to_version": "1.0-2", "origin": "Debian-Security", "suite": "bookworm-security"}],
        "reboot_required": false, "collected_at": "2026-12-01T09:00:00Z"
    })
}

const ALWAYS: &str = r#"windows = [{ name = "always", rrule = "FREQ=DAILY", dtstart = "2026-01-01T00:00:00", tz = "UTC", duration = "23h" }]"#;

/// A fleet document: group `web-staging` (host names `stage-*`, environment staging) and
/// `web` (`web-*`, production; with `staging` its staging counterpart is `web-staging`), each
/// with a window open 23 hours a day.
pub fn web_fleet(staging: bool) -> String {
    let counterpart = if staging {
        "staging_counterpart = \"web-staging\"\n"
    } else {
        ""
    };
    format!(
        r#"
[groups.web-staging]
environment = "staging"
owners = ["web-team@example.com"]
{ALWAYS}
[groups.web-staging.members]
hostnames = ["stage-*"]

[groups.web]
environment = "production"
{counterpart}owners = ["web-team@example.com"]
{ALWAYS}
[groups.web.members]
hostnames = ["web-*"]
"#
    )
}
