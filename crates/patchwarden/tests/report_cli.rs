//! `patchwarden report compliance|risk` (the built binary) against a real controller started by
//! `patchwarden up --no-plan-changes` (nothing is ever installed here): JSON and CSV to stdout,
//! a PDF written with `--output` and read back with `pdftotext` naming this machine and the
//! host count, a PDF without `--output` refused in both languages, an unknown group refused
//! with the controller's message. Needs Chromium and pdftotext (scripts/install-test-deps.sh).

use std::path::Path;
use std::process::{Command, Output};

mod up_process;

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
    let text = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (Debian package poppler-utils; scripts/install-test-deps.sh) must be installed");
    let words = String::from_utf8_lossy(&text.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
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
