//! `patchwarden plans …` (the built binary) against a real controller started by `patchwarden
//! up` as a child process, whose read-only agent reports this machine's real packages and the
//! upgrades apt really offers: a plan built from that live data for this host (every change's
//! `to` is a version `apt-get -s dist-upgrade` would install here), submitted by the token's
//! operator, refused when that same operator approves (403 four_eyes), approved by a second
//! operator, then scheduled — its rollout refused because the local agent runs with
//! `--no-plan-changes`, which the plan says (nothing is ever installed on this machine). Rejection needs a reason; a refresh rebuilds the
//! plan; a bad token is 401. Needs apt to offer at least one upgrade here (a Debian 12 machine
//! whose package lists are newer than its packages).

mod up_process;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use pw_testkit::wait_until_blocking;
use serde_json::Value;
use up_process::{base_url, start_up_with};

fn patchwarden(data: &Path, base: &str, token: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_patchwarden"));
    command
        .args(args)
        .args(["--server", base])
        .env("PATCHWARDEN_DATA_DIR", data)
        .env_remove("PATCHWARDEN_TOKEN")
        .env_remove("PATCHWARDEN_SERVER");
    if let Some(token) = token {
        command.arg("--token-file").arg(token);
    }
    command.output().unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn failed(output: Output) -> String {
    assert!(
        !output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr).unwrap()
}

/// `package version` pairs `apt-get -s dist-upgrade` would install on this machine.
fn apt_offers() -> Vec<(String, String)> {
    let out = Command::new("apt-get")
        .args(["-s", "-o", "Debug::NoLocking=1", "dist-upgrade"])
        .env("LC_ALL", "C")
        .output()
        .expect("apt-get must be installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("Inst ")?;
            let name = rest.split_whitespace().next()?;
            let open = rest.find('(')?;
            let version = rest[open + 1..].split_whitespace().next()?;
            Some((name.split(':').next()?.to_owned(), version.to_owned()))
        })
        .collect()
}

#[test]
fn a_plan_from_this_machines_live_data_through_the_cli() {
    let offered = apt_offers();
    assert!(
        !offered.is_empty(),
        "apt offers no upgrade on this machine: this test needs one (see the module doc)"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Never a change to this machine: the local agent refuses even approved plans' changes.
    let (_up, first_line) = start_up_with(&data, &["--no-plan-changes"]);
    let base = base_url(&first_line);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let fleet = dir.path().join("fleet.toml");
    std::fs::write(
        &fleet,
        format!(
            "[groups.local]\nenvironment = \"production\"\nowners = [\"ops@example.com\"]\n\
             windows = [{{ name = \"always\", rrule = \"FREQ=DAILY\", dtstart = \"2026-01-01T00:00:00\", tz = \"UTC\", duration = \"23h\" }}]\n\
             [groups.local.members]\nhosts = [\"{hostname}\"]\n"
        ),
    )
    .unwrap();
    ok(patchwarden(
        &data,
        &base,
        None,
        &["fleet", "apply", fleet.to_str().unwrap()],
    ));
    assert_eq!(
        ok(patchwarden(&data, &base, None, &["plans", "list"])),
        "no plans\n"
    );

    // The agent reports its inventory and apt's offers shortly after start.
    let create = [
        "plans",
        "create",
        "--name",
        "this machine",
        "--host",
        &hostname,
        "--updates",
        "all",
        "--format",
        "json",
    ];
    // The local agent's first inventory and the controller's ranking of it take a moment.
    let what = "the agent's offered upgrades at the controller";
    let every = Duration::from_millis(500);
    let plan: Value = wait_until_blocking(what, Duration::from_secs(120), every, || {
        let out = patchwarden(&data, &base, None, &create);
        if out.status.success() {
            return Ok(serde_json::from_slice(&out.stdout).unwrap());
        }
        let error = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(error.contains("nothing_to_plan"), "{error}");
        Err(error)
    });
    assert_eq!(plan["state"], "draft");
    assert_eq!(plan["author"], "admin");
    let changes = plan["hosts"][0]["changes"].as_array().unwrap();
    assert!(!changes.is_empty(), "{plan:#}");
    for change in changes {
        let pair = (
            change["package"].as_str().unwrap().to_owned(),
            change["to"].as_str().unwrap().to_owned(),
        );
        assert!(offered.contains(&pair), "apt does not offer {pair:?} here");
    }
    let id = plan["id"].to_string();

    let shown = ok(patchwarden(&data, &base, None, &["plans", "show", &id]));
    assert!(
        shown.starts_with(&format!("plan {id} \"this machine\": draft, version ")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("\n  {hostname} (local, production, ")),
        "{shown}"
    );
    let listed = ok(patchwarden(&data, &base, None, &["plans", "list"]));
    assert!(
        listed.contains("draft") && listed.contains("this machine"),
        "{listed}"
    );

    let submitted = ok(patchwarden(&data, &base, None, &["plans", "submit", &id]));
    assert!(submitted.contains(": in_review, version "), "{submitted}");
    let own = failed(patchwarden(&data, &base, None, &["plans", "approve", &id]));
    assert!(own.contains("(HTTP 403, four_eyes)"), "{own}");

    let added = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args([
            "operators",
            "add",
            "bob",
            "--role",
            "approver",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let bob = dir.path().join("bob.token");
    std::fs::write(&bob, ok(added)).unwrap();
    let approved = ok(patchwarden(
        &data,
        &base,
        Some(&bob),
        &["plans", "approve", &id],
    ));
    assert!(approved.contains(": scheduled, version "), "{approved}");
    assert!(
        approved.contains("problem: scheduled, but its rollout was not created")
            && approved.contains("read-only"),
        "this machine's agent is read-only: nothing is installed here\n{approved}"
    );

    let second = ok(patchwarden(&data, &base, None, &create[..create.len() - 2]));
    let second_id = second
        .strip_prefix("plan ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    ok(patchwarden(
        &data,
        &base,
        None,
        &["plans", "submit", &second_id],
    ));
    let no_reason = failed(patchwarden(
        &data,
        &base,
        Some(&bob),
        &["plans", "reject", &second_id],
    ));
    assert!(no_reason.contains("--reason"), "{no_reason}");
    let rejected = ok(patchwarden(
        &data,
        &base,
        Some(&bob),
        &["plans", "reject", &second_id, "--reason", "wrong week"],
    ));
    assert!(rejected.contains(": rejected, version "), "{rejected}");
    assert!(rejected.contains("bob declined -> rejected"), "{rejected}");
    let refreshed = ok(patchwarden(
        &data,
        &base,
        None,
        &["plans", "refresh", &second_id],
    ));
    assert!(refreshed.contains(": draft, version "), "{refreshed}");

    let bad = dir.path().join("bad.token");
    std::fs::write(&bad, "not-a-token").unwrap();
    let refused = failed(patchwarden(&data, &base, Some(&bad), &["plans", "list"]));
    assert!(refused.contains("HTTP 401"), "{refused}");
}
