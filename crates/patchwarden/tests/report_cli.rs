//! `patchwarden report compliance|risk|change` (the built binary) against a real controller
//! started by `patchwarden up --no-plan-changes` (nothing is ever installed here): JSON and CSV
//! to stdout, a PDF written with `--output` and read back with `pdftotext` naming this machine
//! and the host count, a PDF without `--output` refused in both languages, an unknown group
//! refused with the controller's message; the change report of a plan stored for this machine
//! (never rolled out: its host is "not reached") as JSON and PDF, an unknown plan or rollout
//! refused with the controller's 404. Needs Chromium and pdftotext
//! (scripts/install-test-deps.sh).

use std::path::Path;
use std::process::{Command, Output};

mod up_process;

use pw_testkit::pdf::pdf_words;
use up_process::{Killed, base_url, start_up_with};

/// `patchwarden up --no-plan-changes` on `data`; the child and the controller's base URL.
fn start_up(data: &Path) -> (Killed, String) {
    let (child, first_line) = start_up_with(data, &["--no-plan-changes"]);
    (child, base_url(&first_line))
}

fn report(data: &Path, base: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .arg("report")
        .args(args)
        .args(["--server", base])
        .env("PATCHWARDEN_DATA_DIR", data)
        .env_remove("PATCHWARDEN_TOKEN")
        .env_remove("PATCHWARDEN_SERVER")
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn failed(output: Output) -> String {
    assert_eq!(output.status.code(), Some(1));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn reports_come_as_json_csv_and_a_pdf_naming_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_up, base) = start_up(&data);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    // `up` enrolls this machine's agent in the background: bounded wait for it to appear.
    let mut json = serde_json::Value::Null;
    for _ in 0..100 {
        let out = ok(report(&data, &base, &["compliance"]));
        json = serde_json::from_str(&out).unwrap();
        if json["summary"]["hosts"] == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(json["summary"]["hosts"], 1, "{json}");
    assert_eq!(json["hosts"][0]["hostname"], hostname.as_str());
    let csv = ok(report(&data, &base, &["compliance", "--format", "csv"]));
    assert!(
        csv.starts_with("level,group,hostname,host_id,hosts,"),
        "{csv}"
    );
    assert!(csv.contains(&format!("\nhost,,{hostname},")), "{csv}");
    let risk = ok(report(&data, &base, &["risk", "--top", "3"]));
    let risk: serde_json::Value = serde_json::from_str(&risk).unwrap();
    assert_eq!(risk["hosts"], 1);

    let pdf = dir.path().join("compliance.pdf");
    let written = report(
        &data,
        &base,
        &[
            "compliance",
            "--format",
            "pdf",
            "--output",
            pdf.to_str().unwrap(),
        ],
    );
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let said = String::from_utf8_lossy(&written.stderr).into_owned();
    assert!(
        said.contains("wrote the compliance report to") && said.contains("合规 报告已写入"),
        "{said}"
    );
    let words = pdf_words(&std::fs::read(&pdf).unwrap());
    assert!(words.contains(&hostname), "{words}");
    assert!(words.contains("Hosts: 1 ·"), "{words}");

    let refused = failed(report(&data, &base, &["risk", "--format", "pdf"]));
    assert!(
        refused.contains("a PDF needs --output FILE") && refused.contains("PDF 需要 --output FILE"),
        "{refused}"
    );
    let refused = failed(report(&data, &base, &["compliance", "--group", "nope"]));
    assert!(
        refused.contains("unknown group \"nope\"")
            && refused.contains("(HTTP 400, invalid_request)"),
        "{refused}"
    );
}

/// This machine's enrolled host (id, hostname), once `up` has enrolled it (bounded wait).
fn this_host(data: &Path, base: &str) -> (String, String) {
    for _ in 0..100 {
        let out = ok(report(data, base, &["compliance"]));
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        if let Some(host) = json["hosts"].get(0) {
            let id = host["host_id"].as_str().unwrap().to_owned();
            return (id, host["hostname"].as_str().unwrap().to_owned());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("this machine was never enrolled");
}

/// Stores a draft plan upgrading pw-demo on this machine in the controller's own database
/// (the same SQLite file `up` serves); returns its number.
fn store_plan(data: &Path, host_id: &str, hostname: &str) -> i64 {
    use std::collections::BTreeMap;
    let policy = pw_planner::Policy::from_toml_str(
        "[rollout]\nverification = \"1s\"\n[groups.local]\nenvironment = \"staging\"\nowners = [\"ops@example.com\"]\n\
         windows = [{ name = \"always\", rrule = \"FREQ=DAILY\", dtstart = \"2026-01-01T00:00:00\", \
         tz = \"UTC\", duration = \"23h\" }]\n",
    )
    .unwrap();
    let now = jiff::Timestamp::now();
    let finding = pw_model::Finding {
        binary: "pw-demo".into(),
        installed: "1.0-1".into(),
        package: "pw-demo".into(),
        package_version: "1.0-1".into(),
        advisory: "PW-2026-0001".into(),
        aliases: vec![],
        fixed: Some("1.0-2".into()),
        tier: pw_model::Tier::T1,
        deadline: None,
        reasons: vec![],
        summary: String::new(),
        published: None,
        cvss: None,
        epss: None,
        kev: false,
    };
    let input = pw_planner::PlanInput {
        plan_id: "plan-cli".into(),
        author: "alice".into(),
        hosts: vec![pw_planner::Host {
            id: host_id.into(),
            hostname: hostname.into(),
            group: "local".into(),
            environment: None,
            labels: BTreeMap::new(),
            os: "debian:12".into(),
            findings: vec![finding],
            targets: BTreeMap::new(),
            installed: BTreeMap::new(),
        }],
        group_evidence: BTreeMap::new(),
        host_evidence: BTreeMap::new(),
        staging: vec![],
        slots: BTreeMap::from([(
            "local".to_owned(),
            vec![pw_planner::WindowSlot {
                start: now,
                end: now + jiff::SignedDuration::from_hours(4),
                window: "always".into(),
            }],
        )]),
        scope: pw_planner::Scope::default(),
        from: now,
        until: now + jiff::SignedDuration::from_hours(24),
    };
    let plan = pw_planner::build_plan(&input, &policy, now);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = pw_store::Store::open(&data.join("patchwarden.db"))
            .await
            .unwrap();
        store.save_plan(&plan, "# plan", now).await.unwrap().id
    })
}

#[test]
fn change_reports_of_a_plan_come_as_json_and_a_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_up, base) = start_up(&data);
    let (host_id, hostname) = this_host(&data, &base);
    let plan = store_plan(&data, &host_id, &hostname).to_string();
    let json = ok(report(&data, &base, &["change", &plan]));
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["subject"]["kind"], "plan", "{json}");
    assert_eq!(json["plan"]["name"], "plan-cli");
    assert_eq!(
        (
            &json["summary"]["hosts_planned"],
            &json["summary"]["not_reached"]
        ),
        (&serde_json::json!(1), &serde_json::json!(1))
    );
    assert_eq!(json["hosts"][0]["hostname"], hostname.as_str());
    assert_eq!(json["hosts"][0]["versions"][0]["planned_to"], "1.0-2");

    let pdf = dir.path().join("change.pdf");
    let out = pdf.to_str().unwrap();
    let written = report(
        &data,
        &base,
        &[
            "change", &plan, "--format", "pdf", "--lang", "zh-CN", "--output", out,
        ],
    );
    let said = String::from_utf8_lossy(&written.stderr).into_owned();
    assert!(written.status.success(), "{said}");
    assert!(
        said.contains("wrote the change report to") && said.contains("变更 报告已写入"),
        "{said}"
    );
    let words = pdf_words(&std::fs::read(&pdf).unwrap());
    assert!(
        words.contains("变更报告") && words.contains(&hostname),
        "{words}"
    );

    for (args, expected) in [
        (vec!["change", "999"], "unknown plan 999"),
        (vec!["change", "ro-nope"], "unknown rollout \"ro-nope\""),
        (vec!["change"], "report change needs an ID"),
        (vec!["change", &plan, "--format", "csv"], "not csv"),
        (vec!["change", &plan, "--group", "web"], "takes no --group"),
        (vec!["risk", &plan], "report risk takes no ID"),
    ] {
        let refused = failed(report(&data, &base, &args));
        assert!(refused.contains(expected), "{args:?}: {refused}");
    }
}
