//! Messages: an [`Event`] in English or Simplified Chinese — a title, a few lines of facts and
//! a link into the console. Times are shown in UTC with their zone named (the receivers are
//! chat groups spread over zones; the console shows the reader's own).

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::event::{Detail, Event};

/// The language of a channel's messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Language {
    #[default]
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::ZhCn => "zh-CN",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Language {
    type Err = String;

    fn from_str(text: &str) -> Result<Language, String> {
        match text {
            "en" => Ok(Language::En),
            "zh-CN" | "zh-cn" => Ok(Language::ZhCn),
            other => Err(format!("unknown language {other:?}; expected en or zh-CN")),
        }
    }
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub title: String,
    /// Facts, one per line, without markup.
    pub lines: Vec<String>,
    /// Absolute link into the console.
    pub link: String,
    pub language: Language,
}

impl Message {
    /// Title, lines and link as plain text (email, WeCom text, Feishu text).
    pub fn plain_text(&self) -> String {
        let mut out = format!("{}\n", self.title);
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        let open = match self.language {
            Language::En => "Open in patchwarden",
            Language::ZhCn => "在 patchwarden 中查看",
        };
        out.push_str(&format!("{open}: {}\n", self.link));
        out
    }

    /// Markdown as DingTalk and WeCom read it: a heading, the lines, a link.
    pub fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n", self.title);
        for line in &self.lines {
            out.push_str(&format!("- {line}\n"));
        }
        let open = match self.language {
            Language::En => "Open in patchwarden",
            Language::ZhCn => "在 patchwarden 中查看",
        };
        out.push_str(&format!("\n[{open}]({})\n", self.link));
        out
    }
}

/// Renders `event` in `language`, linking to `console_url` (the controller's public base URL,
/// e.g. `https://patchwarden.example.com`).
pub fn render(event: &Event, language: Language, console_url: &str) -> Message {
    let (title, lines) = match language {
        Language::En => english(event),
        Language::ZhCn => chinese(event),
    };
    let mut lines = lines;
    if !event.groups.is_empty() {
        let groups = event.groups.join(", ");
        lines.push(match language {
            Language::En => format!("Groups: {groups}"),
            Language::ZhCn => format!("分组：{groups}"),
        });
    }
    Message {
        title,
        lines,
        link: format!(
            "{}{}",
            console_url.trim_end_matches('/'),
            event.console_path()
        ),
        language,
    }
}

fn when(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn tier(event: &Event) -> String {
    event.tier.map(|t| t.to_string()).unwrap_or_default()
}

fn english(event: &Event) -> (String, Vec<String>) {
    match &event.detail {
        Detail::NewFinding {
            host,
            package,
            to_version,
            advisories,
            deadline,
        } => {
            let mut lines = vec![format!("Host: {host}"), format!("Package: {package}")];
            if let Some(version) = to_version {
                lines.push(format!("Fixed in: {version}"));
            }
            if !advisories.is_empty() {
                lines.push(format!("Advisories: {}", advisories.join(", ")));
            }
            if let Some(deadline) = deadline {
                lines.push(format!("Deadline: {}", when(*deadline)));
            }
            (
                format!("New {} finding: {package} on {host}", tier(event)),
                lines,
            )
        }
        Detail::DeadlineNear {
            host,
            package,
            deadline,
            advisories,
        } => (
            format!("Deadline near: {package} on {host}"),
            vec![
                format!("{} deadline: {}", tier(event), when(*deadline)),
                format!("Fixes: {}", advisories.join(", ")),
            ],
        ),
        Detail::Overdue {
            host,
            package,
            deadline,
            advisories,
        } => (
            format!("Overdue: {package} on {host}"),
            vec![
                format!("{} deadline was {}", tier(event), when(*deadline)),
                format!("Fixes: {}", advisories.join(", ")),
            ],
        ),
        Detail::PlanNeedsApproval {
            plan_id,
            title,
            author,
        } => (
            format!("Plan needs approval: {title}"),
            vec![format!("Plan {plan_id}, submitted by {author}")],
        ),
        Detail::PlanApproved {
            plan_id,
            title,
            approver,
        } => (
            format!("Plan approved: {title}"),
            vec![format!("Plan {plan_id}, approved by {approver}")],
        ),
        Detail::PlanRejected {
            plan_id,
            title,
            by,
            reason,
        } => (
            format!("Plan rejected: {title}"),
            vec![
                format!("Plan {plan_id}, rejected by {by}"),
                format!("Reason: {reason}"),
            ],
        ),
        Detail::RolloutStarted { rollout_id, hosts } => (
            format!("Rollout started: {rollout_id}"),
            vec![format!("{hosts} hosts")],
        ),
        Detail::CanaryPassed { rollout_id, hosts } => (
            format!("Canary passed: {rollout_id}"),
            vec![format!(
                "{hosts} canary hosts done; later batches may start"
            )],
        ),
        Detail::RolloutFailed { rollout_id, reason } => (
            format!("Rollout failed: {rollout_id}"),
            vec![format!("Reason: {reason}")],
        ),
        Detail::RolledBack {
            rollout_id,
            host,
            reason,
        } => (
            format!("Rolled back: {host} in {rollout_id}"),
            vec![format!("Reason: {reason}")],
        ),
        Detail::RolloutFinished {
            rollout_id,
            done,
            failed,
            rolled_back,
        } => (
            format!("Rollout finished: {rollout_id}"),
            vec![format!(
                "{done} done, {rolled_back} rolled back, {failed} failed"
            )],
        ),
        Detail::VersionBlocked {
            package,
            version,
            host,
        } => (
            format!("Version blocked fleet-wide: {package} {version}"),
            vec![format!(
                "Failed its health checks on {host}; later batches skip it until an operator clears the block"
            )],
        ),
        Detail::AgentSilent { host, last_seen } => (
            format!("Agent silent: {host}"),
            vec![format!("Last seen {}", when(*last_seen))],
        ),
        Detail::ObservationAlert {
            rollout_id,
            host,
            check,
            detail,
        } => (
            format!("Observation alert: {check} on {host}"),
            vec![format!("Rollout {rollout_id}"), detail.clone()],
        ),
        Detail::Test { requested_by } => (
            "patchwarden test message".to_owned(),
            vec![format!(
                "Sent by {requested_by} to check this channel; no action needed"
            )],
        ),
    }
}

fn chinese(event: &Event) -> (String, Vec<String>) {
    match &event.detail {
        Detail::NewFinding {
            host,
            package,
            to_version,
            advisories,
            deadline,
        } => {
            let mut lines = vec![format!("主机：{host}"), format!("软件包：{package}")];
            if let Some(version) = to_version {
                lines.push(format!("修复版本：{version}"));
            }
            if !advisories.is_empty() {
                lines.push(format!("公告：{}", advisories.join(", ")));
            }
            if let Some(deadline) = deadline {
                lines.push(format!("截止时间：{}", when(*deadline)));
            }
            (
                format!("新的 {} 级问题：{host} 上的 {package}", tier(event)),
                lines,
            )
        }
        Detail::DeadlineNear {
            host,
            package,
            deadline,
            advisories,
        } => (
            format!("即将到期：{host} 上的 {package}"),
            vec![
                format!("{} 截止时间：{}", tier(event), when(*deadline)),
                format!("修复：{}", advisories.join("、")),
            ],
        ),
        Detail::Overdue {
            host,
            package,
            deadline,
            advisories,
        } => (
            format!("已逾期：{host} 上的 {package}"),
            vec![
                format!("{} 截止时间为 {}", tier(event), when(*deadline)),
                format!("修复：{}", advisories.join("、")),
            ],
        ),
        Detail::PlanNeedsApproval {
            plan_id,
            title,
            author,
        } => (
            format!("变更计划待审批：{title}"),
            vec![format!("计划 {plan_id}，提交人 {author}")],
        ),
        Detail::PlanApproved {
            plan_id,
            title,
            approver,
        } => (
            format!("变更计划已批准：{title}"),
            vec![format!("计划 {plan_id}，审批人 {approver}")],
        ),
        Detail::PlanRejected {
            plan_id,
            title,
            by,
            reason,
        } => (
            format!("变更计划被驳回：{title}"),
            vec![
                format!("计划 {plan_id}，驳回人 {by}"),
                format!("原因：{reason}"),
            ],
        ),
        Detail::RolloutStarted { rollout_id, hosts } => (
            format!("发布已开始：{rollout_id}"),
            vec![format!("共 {hosts} 台主机")],
        ),
        Detail::CanaryPassed { rollout_id, hosts } => (
            format!("金丝雀批次通过：{rollout_id}"),
            vec![format!("{hosts} 台金丝雀主机已完成，后续批次可以开始")],
        ),
        Detail::RolloutFailed { rollout_id, reason } => (
            format!("发布失败：{rollout_id}"),
            vec![format!("原因：{reason}")],
        ),
        Detail::RolledBack {
            rollout_id,
            host,
            reason,
        } => (
            format!("已回滚：{rollout_id} 中的 {host}"),
            vec![format!("原因：{reason}")],
        ),
        Detail::RolloutFinished {
            rollout_id,
            done,
            failed,
            rolled_back,
        } => (
            format!("发布已结束：{rollout_id}"),
            vec![format!(
                "完成 {done} 台，回滚 {rolled_back} 台，失败 {failed} 台"
            )],
        ),
        Detail::VersionBlocked {
            package,
            version,
            host,
        } => (
            format!("版本已在全网封禁：{package} {version}"),
            vec![format!(
                "在 {host} 上未通过健康检查；在操作员解除封禁前，后续批次将跳过该版本"
            )],
        ),
        Detail::AgentSilent { host, last_seen } => (
            format!("代理失联：{host}"),
            vec![format!("最后联系时间 {}", when(*last_seen))],
        ),
        Detail::ObservationAlert {
            rollout_id,
            host,
            check,
            detail,
        } => (
            format!("观察期告警：{host} 上的 {check}"),
            vec![format!("发布 {rollout_id}"), detail.clone()],
        ),
        Detail::Test { requested_by } => (
            "patchwarden 测试消息".to_owned(),
            vec![format!("由 {requested_by} 发送，用于检查此通道；无需处理")],
        ),
    }
}
