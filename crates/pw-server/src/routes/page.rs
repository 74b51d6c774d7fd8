//! The server-rendered page at `/`: hosts, findings ranked by tier with deadlines, rollouts with
//! the tail of each one's operation log.
//! No JavaScript. English, or Simplified Chinese with `?lang=zh-CN` or `Accept-Language: zh`.
//! Needs a session (routes/login.rs); without one it sends the browser to `/login`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use pw_protocol::{FleetFinding, HostSummary, PendingUpdate, RolloutList};

use super::api::{fleet_findings, host_summaries};
use super::login::html_response;
use crate::auth::page_session;
use crate::error::ApiError;
use crate::state::AppState;

/// Findings shown on the page (the API has all of them).
const PAGE_FINDINGS: usize = 300;

/// The page's fixed strings in one language.
pub struct Text {
    pub lang: &'static str,
    pub title: &'static str,
    pub hosts: &'static str,
    pub no_hosts: &'static str,
    pub hostname: &'static str,
    pub duplicate_name: &'static str,
    pub os: &'static str,
    pub packages: &'static str,
    pub last_seen: &'static str,
    pub mode: &'static str,
    pub read_only: &'static str,
    pub managed: &'static str,
    pub reboot: &'static str,
    pub findings: &'static str,
    pub findings_note: &'static str,
    pub no_findings: &'static str,
    pub tier: &'static str,
    pub deadline: &'static str,
    pub none: &'static str,
    pub package: &'static str,
    pub installed: &'static str,
    pub fixed: &'static str,
    pub no_fix: &'static str,
    pub advisory: &'static str,
    pub pending: &'static str,
    pub pending_unknown: &'static str,
    pub to_version: &'static str,
    pub suite: &'static str,
    pub rollouts: &'static str,
    pub no_rollouts: &'static str,
    pub status: &'static str,
    pub state: &'static str,
    pub blocked: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub signed_in_as: &'static str,
    pub sign_out: &'static str,
    pub operation_log: &'static str,
    pub log_note: &'static str,
    pub time: &'static str,
    pub actor: &'static str,
    pub step: &'static str,
    pub result: &'static str,
    pub detail: &'static str,
    pub reports: &'static str,
    pub compliance_report: &'static str,
    pub risk_report: &'static str,
}

pub const EN: Text = Text {
    lang: "en",
    title: "patchwarden",
    hosts: "Hosts",
    no_hosts: "No host is enrolled yet.",
    hostname: "Host name",
    duplicate_name: "same name as another host",
    os: "OS",
    packages: "Packages",
    last_seen: "Last seen",
    mode: "Mode",
    read_only: "read-only",
    managed: "managed",
    reboot: "Reboot required",
    findings: "Pending security updates, most urgent first",
    findings_note: "Tiers T0 (emergency) to T4; deadlines count from the advisory's publication or, if later, from when the host was first seen with it.",
    no_findings: "No findings yet (an inventory is being scanned, or nothing matched).",
    tier: "Tier",
    deadline: "Deadline",
    none: "none",
    package: "Package",
    installed: "Installed",
    fixed: "Fixed in",
    no_fix: "no fix yet",
    advisory: "Advisory",
    pending: "Upgrades offered by the package manager",
    pending_unknown: "This agent does not report its package manager's offers yet.",
    to_version: "New version",
    suite: "Suite",
    rollouts: "Rollouts",
    no_rollouts: "No rollouts yet (POST /api/v1/rollouts).",
    status: "Status",
    state: "State",
    blocked: "Blocked versions",
    yes: "yes",
    no: "no",
    signed_in_as: "Signed in as",
    sign_out: "Sign out",
    operation_log: "Operation log",
    log_note: "latest entries; all of them: GET /api/v1/rollouts/{id}/log",
    time: "Time",
    actor: "By",
    step: "Step",
    result: "Result",
    detail: "Detail",
    reports: "Reports",
    compliance_report: "compliance",
    risk_report: "risk summary",
};

pub const ZH_CN: Text = Text {
    lang: "zh-CN",
    title: "patchwarden 补丁管理",
    hosts: "主机",
    no_hosts: "尚未注册任何主机。",
    hostname: "主机名",
    duplicate_name: "与另一台主机同名",
    os: "操作系统",
    packages: "软件包",
    last_seen: "最近联系",
    mode: "模式",
    read_only: "只读",
    managed: "受管",
    reboot: "需要重启",
    findings: "待处理的安全更新（按紧急程度排序）",
    findings_note: "等级 T0（紧急）至 T4；期限从公告发布时间起算，若主机首次发现该问题的时间更晚，则从首次发现时起算。",
    no_findings: "暂无发现（清单正在扫描，或没有匹配项）。",
    tier: "等级",
    deadline: "期限",
    none: "无",
    package: "软件包",
    installed: "已安装",
    fixed: "修复版本",
    no_fix: "尚无修复",
    advisory: "公告",
    pending: "包管理器提供的升级",
    pending_unknown: "此代理尚未报告包管理器提供的升级。",
    to_version: "新版本",
    suite: "套件",
    rollouts: "发布",
    no_rollouts: "暂无发布（POST /api/v1/rollouts）。",
    status: "状态",
    state: "状态",
    blocked: "已封禁的版本",
    yes: "是",
    no: "否",
    signed_in_as: "当前登录：",
    sign_out: "退出登录",
    operation_log: "操作日志",
    log_note: "最近的记录；全部记录：GET /api/v1/rollouts/{id}/log",
    time: "时间",
    actor: "执行者",
    step: "步骤",
    result: "结果",
    detail: "详情",
    reports: "报告",
    compliance_report: "合规报告",
    risk_report: "风险摘要",
};

/// Chooses the language: `?lang=` first, then the first supported `Accept-Language` entry.
pub fn choose(lang: Option<&str>, accept_language: Option<&str>) -> &'static Text {
    let wants_zh = |tag: &str| tag.trim().to_ascii_lowercase().starts_with("zh");
    if let Some(lang) = lang {
        return if wants_zh(lang) { &ZH_CN } else { &EN };
    }
    for entry in accept_language.unwrap_or("").split(',') {
        let tag = entry.split(';').next().unwrap_or("");
        if wants_zh(tag) {
            return &ZH_CN;
        }
        if tag.trim().to_ascii_lowercase().starts_with("en") {
            return &EN;
        }
    }
    &EN
}

/// Entries of a rollout's operation log shown on the page.
const PAGE_LOG_ENTRIES: usize = 40;

/// The tail of one rollout's operation log, with host names.
pub struct PageLog {
    pub total: usize,
    pub entries: Vec<PageLogEntry>,
}

pub struct PageLogEntry {
    pub at: String,
    pub actor: String,
    pub host: String,
    pub step: String,
    pub result: String,
    pub detail: String,
}

/// The last [`PAGE_LOG_ENTRIES`] entries of every rollout's operation log.
async fn page_logs(state: &AppState, rollouts: &RolloutList) -> Result<Vec<PageLog>, ApiError> {
    let mut logs = Vec::new();
    for rollout in &rollouts.rollouts {
        let log = pw_controller::rollout_ops::operation_log(&state.controller, &rollout.id).await?;
        let total = log.entries.len();
        let entries = log.entries[total.saturating_sub(PAGE_LOG_ENTRIES)..]
            .iter()
            .map(|e| PageLogEntry {
                at: e.at.get(..19).unwrap_or(&e.at).replace('T', " "),
                actor: e.actor.clone(),
                host: e
                    .host_id
                    .as_ref()
                    .map(|id| {
                        rollout
                            .hosts
                            .iter()
                            .find(|h| &h.host_id == id)
                            .map_or_else(|| id.clone(), |h| h.hostname.clone())
                    })
                    .unwrap_or_default(),
                step: e.step.clone(),
                result: e.result.clone(),
                detail: e.detail.clone(),
            })
            .collect();
        logs.push(PageLog { total, entries });
    }
    Ok(logs)
}

pub struct HostPending {
    pub hostname: String,
    pub updates: Option<Vec<PendingUpdate>>,
}

#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub t: &'static Text,
    pub hosts: Vec<HostSummary>,
    pub findings: Vec<FleetFinding>,
    pub total_findings: usize,
    pub pending: Vec<HostPending>,
    pub rollouts: RolloutList,
    /// Each rollout's operation log (same order as `rollouts.rollouts`).
    pub logs: Vec<PageLog>,
    /// The signed-in operator, its role, and the CSRF token of the page's forms.
    pub operator: String,
    pub role: String,
    pub csrf: String,
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
}

pub async fn index(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let t = language(query.lang.as_deref(), &headers);
    let Some(session) = page_session(&state.store, &headers).await? else {
        return Ok(Redirect::to(&format!("/login?lang={}", t.lang)).into_response());
    };
    let rows = state.store.hosts().await?;
    let mut pending = Vec::new();
    for row in &rows {
        pending.push(HostPending {
            hostname: row.hostname.clone(),
            updates: state.store.pending_updates(&row.id).await?.map(|rows| {
                rows.into_iter()
                    .map(crate::findings::pending_update)
                    .collect()
            }),
        });
    }
    let mut findings = fleet_findings(&state).await?;
    let total_findings = findings.len();
    findings.truncate(PAGE_FINDINGS);
    let rollouts = pw_controller::rollouts::load_all(&state.controller).await?;
    let page = IndexPage {
        t,
        hosts: host_summaries(rows),
        findings,
        total_findings,
        pending,
        logs: page_logs(&state, &rollouts).await?,
        rollouts,
        operator: session.operator,
        role: session.role.to_string(),
        csrf: session.csrf_token,
    };
    let html = page
        .render()
        .map_err(|e| anyhow::anyhow!("rendering the page: {e}"))?;
    Ok(html_response(axum::http::StatusCode::OK, html))
}

/// The page language from `?lang=` and the `Accept-Language` header.
pub fn language(lang: Option<&str>, headers: &HeaderMap) -> &'static Text {
    let accept = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    choose(lang, accept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_follows_query_then_header() {
        assert_eq!(choose(Some("zh-CN"), None).lang, "zh-CN");
        assert_eq!(choose(Some("en"), Some("zh-CN")).lang, "en");
        assert_eq!(choose(None, Some("zh-CN,zh;q=0.9,en;q=0.8")).lang, "zh-CN");
        assert_eq!(choose(None, Some("en-US,zh;q=0.5")).lang, "en");
        assert_eq!(choose(None, Some("fr")).lang, "en");
        assert_eq!(choose(None, None).lang, "en");
    }
}
