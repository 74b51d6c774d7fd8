//! `patchwarden fleet apply|show|groups` (the built binary) against a real controller started by
//! `patchwarden up` as a child process: the default token from the data directory, a dry run, an
//! apply, a stale expected version (409), an invalid document listing every problem (422), the
//! groups with this machine resolved by its host name, and a token that is not valid (401).

mod up_process;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use pw_testkit::wait_until_blocking;
use up_process::{base_url, start_up};

/// `patchwarden fleet ARGS --server BASE` with the data directory's default token.
fn fleet(data: &Path, base: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .arg("fleet")
        .args(args)
        .args(["--server", base])
        .env("PATCHWARDEN_DATA_DIR", data)
        .env_remove("PATCHWARDEN_TOKEN")
        .env_remove("PATCHWARDEN_SERVER")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

fn failed(output: Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    stderr(&output)
}

const WINDOW: &str = r#"windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-11-01T01:00:00", tz = "UTC", duration = "4h" }]"#;

fn document(hostname: &str, owner: &str) -> String {
    format!(
        "[groups.local]\nenvironment = \"lab\"\nowners = [\"{owner}\"]\n{WINDOW}\n\
         [groups.local.members]\nhosts = [\"{hostname}\"]\n\n\
         [groups.web]\nenvironment = \"production\"\nowners = [\"web@example.com\"]\n{WINDOW}\n\
         [groups.web.members]\nhostnames = [\"web-*\"]\n"
    )
}

#[test]
fn apply_show_groups_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_up, first_line) = start_up(&data);
    let base = base_url(&first_line);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let file = dir.path().join("fleet.toml");
    std::fs::write(&file, document(&hostname, "ops@example.com")).unwrap();
    let file = file.to_str().unwrap();

    let shown = failed(fleet(&data, &base, &["show"]));
    assert!(shown.starts_with("error: "), "{shown}");
    assert!(shown.contains("(HTTP 404, fleet_not_applied)"), "{shown}");

    let dry = ok(fleet(&data, &base, &["apply", file, "--dry-run"]));
    assert!(
        dry.starts_with("dry run: valid; 2 changes against version 0 (nothing stored)"),
        "{dry}"
    );
    assert!(dry.contains("\n  + groups.local = {"), "{dry}");
    assert!(dry.contains("\n  + groups.web = {"), "{dry}");
    failed(fleet(&data, &base, &["show"]));

    let applied = ok(fleet(
        &data,
        &base,
        &["apply", file, "--expect-version", "0"],
    ));
    assert!(
        applied.starts_with("applied fleet document version 1 "),
        "{applied}"
    );
    let stale = failed(fleet(
        &data,
        &base,
        &["apply", file, "--expect-version", "0"],
    ));
    assert!(stale.contains("is at version 1, not 0"), "{stale}");
    assert!(stale.contains("(HTTP 409, fleet_stale)"), "{stale}");

    std::fs::write(
        dir.path().join("fleet.toml"),
        document(&hostname, "noc@example.com"),
    )
    .unwrap();
    // The diff an operator reviews before applying a change, as a snapshot (tests/snapshots/).
    let diff = ok(fleet(&data, &base, &["apply", file, "--dry-run"]));
    insta::assert_snapshot!("fleet_apply_dry_run", diff.replace(&hostname, "[hostname]"));
    let second = ok(fleet(
        &data,
        &base,
        &["apply", file, "--expect-version", "1"],
    ));
    assert!(
        second.contains("version 2 (1 change against version 1)"),
        "{second}"
    );
    assert!(
        second.contains(r#"~ groups.local.owners: ["ops@example.com"] → ["noc@example.com"]"#),
        "{second}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        document(&hostname, "x@example.com").replace(
            "hostnames = [\"web-*\"]",
            "labels = { \"Bad Key\" = \"x\" }",
        ) + "[[emergency]]\ncve = \"CVE-2026-0001\"\nhosts = [\"db1\"]\nreason = \"x\"\n",
    )
    .unwrap();
    let problems = failed(fleet(&data, &base, &["apply", bad.to_str().unwrap()]));
    assert!(
        problems.contains(
            "the fleet document has 2 problems; nothing was stored (HTTP 422, fleet_invalid)"
        ),
        "{problems}"
    );
    assert!(
        problems
            .contains("\n  - groups.web.members.labels.Bad Key: label key \"Bad Key\" is invalid"),
        "{problems}"
    );
    assert!(
        problems.contains("\n  - emergency[0].expires: missing"),
        "{problems}"
    );

    let show = ok(fleet(&data, &base, &["show"]));
    assert!(
        show.starts_with("# fleet document version 2 applied by admin at "),
        "{show}"
    );
    assert!(
        show.ends_with(&document(&hostname, "noc@example.com")),
        "{show}"
    );

    // The local agent enrolls and reports within seconds; its host name puts it in `local`.
    let by_hosts = format!("  {hostname} (by hosts)");
    let every = Duration::from_millis(100);
    let groups = wait_until_blocking(
        "the local agent grouped",
        Duration::from_secs(10),
        every,
        || {
            let groups = ok(fleet(&data, &base, &["groups"]));
            if groups.contains(&by_hosts) {
                Ok(groups)
            } else {
                Err(groups)
            }
        },
    );
    assert!(groups.starts_with("fleet document version 2\n"), "{groups}");
    assert!(
        groups.contains("\nlocal (lab) owners: noc@example.com\n"),
        "{groups}"
    );
    assert!(
        groups.contains(&format!("  {hostname} (by hosts)")),
        "{groups}"
    );
    assert!(
        groups.contains("\nweb (production) owners: web@example.com\n  no hosts\n"),
        "{groups}"
    );

    let token_file = dir.path().join("wrong.token");
    std::fs::write(&token_file, "pwo_not_a_token\n").unwrap();
    let refused = failed(fleet(
        &data,
        &base,
        &["show", "--token-file", token_file.to_str().unwrap()],
    ));
    assert!(
        refused.contains("(HTTP 401, operator_token_invalid)"),
        "{refused}"
    );
}
