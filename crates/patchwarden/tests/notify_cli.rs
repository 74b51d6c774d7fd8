//! `patchwarden notify test` against real receivers (issue 12 item 4): one HTTP server on
//! 127.0.0.1 per vendor checking its signature rule and body format (tests/notify/receivers.rs),
//! and Debian's aiosmtpd requiring STARTTLS with a test certificate for email. Success exits 0;
//! a receiver's refusal exits 1 and prints what it answered.

#[path = "notify/receivers.rs"]
mod receivers;

use std::process::{Output, Stdio};

use base64::Engine;
use std::time::Duration;

use receivers::{Received, SECRET, WECOM_KEY};

async fn notify(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .arg("notify")
        .arg("test")
        .args(args)
        .env_remove("PATCHWARDEN_NOTIFY_SECRET")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn every_vendor_takes_a_correctly_signed_test_message() {
    let received = Received::default();
    let base = receivers::start(received.clone()).await;
    let cases: Vec<(&str, String, Option<&str>, &str)> = vec![
        ("webhook", format!("{base}/hook"), Some(SECRET), "en"),
        (
            "dingtalk",
            format!("{base}/robot/send?access_token=ding-token"),
            Some(SECRET),
            "zh-CN",
        ),
        (
            "feishu",
            format!("{base}/open-apis/bot/v2/hook/feishu-1"),
            Some(SECRET),
            "zh-CN",
        ),
        (
            "wecom",
            format!("{base}/cgi-bin/webhook/send?key={WECOM_KEY}"),
            None,
            "zh-CN",
        ),
        ("slack", format!("{base}/services/T0/B0/XYZ"), None, "en"),
    ];
    for (channel, url, secret, lang) in &cases {
        let mut args = vec!["--channel", channel, "--url", url, "--lang", lang];
        if let Some(secret) = secret {
            args.extend(["--secret", secret]);
        }
        let out = notify(&args).await;
        assert!(out.status.success(), "{channel}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("sent a test message"),
            "{channel}"
        );
    }
    assert_eq!(
        received.vendors(),
        ["webhook", "dingtalk", "feishu", "wecom", "slack"]
    );
    let accepted = received.accepted.lock().unwrap().clone();
    assert_eq!(
        accepted[1].1["markdown"]["title"], "patchwarden 测试消息",
        "DingTalk in zh-CN"
    );
    assert!(
        accepted[4].1["text"]
            .as_str()
            .unwrap()
            .starts_with("*patchwarden test message*")
    );
    assert_eq!(
        received.by_key.lock().unwrap().len(),
        5,
        "each message carries its own idempotency key"
    );
}

#[tokio::test]
async fn a_refusal_exits_non_zero_with_the_receivers_answer() {
    let received = Received::default();
    let base = receivers::start(received.clone()).await;
    let ding = format!("{base}/robot/send?access_token=ding-token");
    let hook = format!("{base}/hook");
    let feishu = format!("{base}/open-apis/bot/v2/hook/feishu-1");
    let wecom = format!("{base}/cgi-bin/webhook/send?key=wrong");
    let gone = format!("{base}/services/gone");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--channel",
                "dingtalk",
                "--url",
                &ding,
                "--secret",
                "SECwrong",
            ],
            r#"HTTP 200: {"errcode":310000,"errmsg":"sign not match"}"#,
        ),
        (
            vec!["--channel", "webhook", "--url", &hook, "--secret", "wrong"],
            "HTTP 401: bad signature",
        ),
        (
            vec!["--channel", "feishu", "--url", &feishu],
            r#""code":19021"#,
        ),
        (
            vec!["--channel", "wecom", "--url", &wecom],
            r#""errcode":93000"#,
        ),
        (
            vec!["--channel", "slack", "--url", &gone],
            "the receiver answered HTTP 404: no_service",
        ),
    ];
    for (args, want) in cases {
        let out = notify(&args).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(stderr.contains("did not take the test message"), "{stderr}");
    }
    assert!(received.vendors().is_empty());
    // Nobody listening: the error says so and names no token.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/robot/send?access_token=topsecret");
    let out = notify(&["--channel", "dingtalk", "--url", &url]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("topsecret"), "{stderr}");
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{port}")),
        "{stderr}"
    );
    // A bad URL is refused before anything is sent.
    let out = notify(&[
        "--channel",
        "email",
        "--url",
        "https://x.example",
        "--to",
        "a@b.c",
    ])
    .await;
    assert!(
        text(&out.stderr).contains("--url:"),
        "{}",
        text(&out.stderr)
    );
}

/// Debian's aiosmtpd on 127.0.0.1, STARTTLS required, storing mail in a maildir.
struct SmtpServer {
    child: tokio::process::Child,
    port: u16,
    maildir: std::path::PathBuf,
    ca_file: std::path::PathBuf,
}

async fn smtp_server(dir: &std::path::Path) -> SmtpServer {
    let python = "/usr/bin/python3";
    let probe = std::process::Command::new(python)
        .args(["-c", "import aiosmtpd"])
        .status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "Debian's python3-aiosmtpd is missing: run scripts/install-test-deps.sh"
    );
    let ca = pw_server::Ca::generate("notify test CA").unwrap();
    let issued = ca.issue_server(&["127.0.0.1".to_owned()]).unwrap();
    let cert = dir.join("smtp.pem");
    let key = dir.join("smtp.key");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&cert, &issued.cert_pem).unwrap();
    std::fs::write(&key, &issued.key_pem).unwrap();
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let maildir = dir.join("maildir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .arg("--tlscert")
        .arg(&cert)
        .arg("--tlskey")
        .arg(&key)
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return SmtpServer {
                child,
                port,
                maildir,
                ca_file,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("aiosmtpd did not listen on {port}");
}

fn mails(maildir: &std::path::Path) -> Vec<String> {
    let new = maildir.join("new");
    let Ok(entries) = std::fs::read_dir(new) else {
        return Vec::new();
    };
    entries
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect()
}

#[tokio::test]
async fn email_goes_over_starttls_to_a_real_smtp_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = smtp_server(dir.path()).await;
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let ca = server.ca_file.to_str().unwrap().to_owned();
    let base = [
        "--channel",
        "email",
        "--url",
        &url,
        "--to",
        "ops@example.com",
        "--to",
        "noc@example.com",
        "--from",
        "patchwarden@example.com",
        "--lang",
        "zh-CN",
    ];
    // Without trusting the test CA, STARTTLS fails and nothing is delivered.
    let out = notify(&base).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(mails(&server.maildir).is_empty());
    let mut args = base.to_vec();
    args.extend(["--ca-cert", &ca]);
    let out = notify(&args).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = mails(&server.maildir);
    assert_eq!(got.len(), 1, "{got:?}");
    let mail = &got[0];
    assert!(mail.contains("From: patchwarden@example.com"), "{mail}");
    assert!(
        mail.contains("ops@example.com") && mail.contains("noc@example.com"),
        "{mail}"
    );
    // The subject is the zh-CN title ("测试消息" RFC 2047-encoded), the body its text with the
    // console link.
    assert!(
        mail.contains("Subject: patchwarden =?utf-8?b?5rWL6K+V5raI5oGv?="),
        "{mail}"
    );
    let (_, body) = mail.split_once("\n\n").unwrap();
    let body: String = body.split_whitespace().collect();
    let body = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let body = String::from_utf8(body).unwrap();
    assert!(body.starts_with("patchwarden 测试消息\r\n"), "{body}");
    assert!(
        body.contains("在 patchwarden 中查看: http://127.0.0.1:8420/"),
        "{body}"
    );
    server.child.kill().await.unwrap();
}
