//! `patchwarden notify test`: sends one test message to a channel given on the command line —
//! the same request the controller's dispatcher sends (pw-notify builds it, pw-controller's
//! `Sender` sends it) — and exits 1 printing the receiver's refusal (HTTP status and body, or
//! the SMTP reply) when it does not take it (docs/notifications.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pw_controller::notify::{Payload, Sender, test_event};
use pw_notify::{Channel, ChannelKind, Language};
use pw_store::ChannelSecret;

use crate::paths::runtime;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: NotifyCommand,
}

#[derive(clap::Subcommand)]
enum NotifyCommand {
    /// Send one test message to a channel and report what its receiver answered.
    Test(TestArgs),
}

#[derive(clap::Args)]
struct TestArgs {
    /// The kind of channel.
    #[arg(long, value_parser = ["webhook", "dingtalk", "feishu", "wecom", "slack", "email"])]
    channel: String,
    /// The channel's URL as its vendor gave it (a robot's webhook with its token; for email
    /// smtp://[user@]host[:port], STARTTLS required).
    #[arg(long)]
    url: String,
    /// The signing secret (webhook, DingTalk, Feishu) or the SMTP password
    /// [env: PATCHWARDEN_NOTIFY_SECRET].
    #[arg(long, env = "PATCHWARDEN_NOTIFY_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Language of the message.
    #[arg(long, default_value = "en", value_parser = ["en", "zh-CN"])]
    lang: String,
    /// Email: a recipient (repeat for more).
    #[arg(long, value_name = "ADDRESS")]
    to: Vec<String>,
    /// Email: the sender.
    #[arg(long, value_name = "ADDRESS", default_value = "patchwarden@localhost")]
    from: String,
    /// Email: PEM certificates to trust for STARTTLS besides the system's.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// The console address the message links to.
    #[arg(long, default_value = "http://127.0.0.1:8420")]
    console_url: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let NotifyCommand::Test(args) = args.command;
    let kind: ChannelKind = args.channel.parse().map_err(anyhow::Error::msg)?;
    pw_fleet::check_url(kind, &args.url).map_err(|e| anyhow::anyhow!("--url: {e}"))?;
    if kind == ChannelKind::Email && args.to.is_empty() {
        anyhow::bail!("an email test needs --to ADDRESS / 邮件测试需要 --to 地址");
    }
    let language: Language = args.lang.parse().map_err(anyhow::Error::msg)?;
    let roots = match &args.ca_cert {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)
        }
        None => None,
    };
    let channel = Channel {
        name: "cli-test".to_owned(),
        kind,
        url: args.url.clone(),
        language,
        to: args.to.clone(),
        from: Some(args.from.clone()),
    };
    let now = jiff::Timestamp::now();
    let actor = format!("patchwarden notify test ({})", whoami());
    let event = test_event(&actor, now);
    let payload = Payload {
        message: pw_notify::render(&event, language, &args.console_url),
        to: args.to.clone(),
        event,
    };
    let secret = ChannelSecret {
        secret: args.secret.clone(),
        token: None,
    };
    let key = pw_notify::outbox_key(&payload.event.id, &channel.name);
    let sent = runtime()?.block_on(Sender::new(roots).send(&channel, &secret, &key, &payload, now));
    match sent {
        Ok(()) => {
            println!(
                "sent a test message to the {kind} channel (key {key}) / 测试消息已发送到 {kind} 通道"
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!(
                "error: the {kind} receiver did not take the test message / {kind} 接收方未接受测试消息: {error}"
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned())
}
