//! The console's strings: the [`Text`] table (English in `text_en.rs`, Simplified Chinese in
//! `text_zh.rs`) and how a request's language is chosen: `?lang=`, then the `pw_lang` cookie
//! (set when a page was opened with `?lang=`), then `Accept-Language`, else English.

use axum::http::HeaderMap;

pub use super::text_en::EN;
pub use super::text_zh::ZH_CN;
use crate::auth::cookie;

/// The cookie remembering the operator's language.
pub const LANG_COOKIE: &str = "pw_lang";

/// The console's fixed strings in one language: [`EN`](super::text_en::EN) and
/// [`ZH_CN`](super::text_zh::ZH_CN) are the one table per language (the overview page at `/`,
/// every console page and the generated text translated for them).
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
    pub nav_label: &'static str,
    pub nav_hosts: &'static str,
    pub nav_findings: &'static str,
    pub nav_windows: &'static str,
    pub nav_plans: &'static str,
    pub nav_rollouts: &'static str,
    pub nav_audit: &'static str,
    pub nav_reports: &'static str,
    pub skip_to_content: &'static str,
    pub settings: &'static str,
    pub language: &'static str,
    pub time_zone: &'static str,
    pub apply: &'static str,
    pub times_in: &'static str,
    pub bad_time_zone: &'static str,
    pub previous_page: &'static str,
    pub next_page: &'static str,
    pub paging: &'static str,
    pub filters: &'static str,
    pub filter: &'static str,
    pub clear_filters: &'static str,
    pub any: &'static str,
    pub group: &'static str,
    pub environment: &'static str,
    pub ungrouped: &'static str,
    pub overdue_only: &'static str,
    pub seen_within_1h: &'static str,
    pub seen_within_24h: &'static str,
    pub silent_24h: &'static str,
    pub silent_7d: &'static str,
    pub name_contains: &'static str,
    pub never: &'static str,
    pub has_tier: &'static str,
    pub no_hosts_match: &'static str,
    pub host: &'static str,
    pub inventory: &'static str,
    pub enrolled: &'static str,
    pub agent_version: &'static str,
    pub labels: &'static str,
    pub collected: &'static str,
    pub installed_packages: &'static str,
    pub arch: &'static str,
    pub pending_by_class: &'static str,
    pub class_security: &'static str,
    pub class_other: &'static str,
    pub cves: &'static str,
    pub no_pending: &'static str,
    pub restart_state: &'static str,
    pub reboot_state: &'static str,
    pub restart_services: &'static str,
    pub required: &'static str,
    pub not_required: &'static str,
    pub units: &'static str,
    pub processes_without_unit: &'static str,
    pub restart_unknown: &'static str,
    pub history: &'static str,
    pub fixed_findings: &'static str,
    pub no_history: &'static str,
    pub first_seen: &'static str,
    pub fixed_at: &'static str,
    pub fixed_by: &'static str,
    pub recent_changes: &'static str,
    pub action: &'static str,
    pub accepted_risks: &'static str,
    pub accepted_by: &'static str,
    pub reason: &'static str,
    pub until: &'static str,
    pub status_open: &'static str,
    pub status_overdue: &'static str,
    pub status_accepted: &'static str,
    pub status_fixed: &'static str,
    pub not_found: &'static str,
    pub host_not_found: &'static str,
    pub back_to_hosts: &'static str,
    pub refused: &'static str,
    pub refused_note: &'static str,
    pub csrf_failed: &'static str,
    pub updates_to_apply: &'static str,
    pub updates_note: &'static str,
    pub cve_search: &'static str,
    pub package_contains: &'static str,
    pub tier_is: &'static str,
    pub overdue_updates: &'static str,
    pub kev_only: &'static str,
    pub no_updates: &'static str,
    pub update: &'static str,
    pub hosts_needing: &'static str,
    pub and_more: &'static str,
    pub select: &'static str,
    pub select_update: &'static str,
    pub new_plan: &'static str,
    pub plan_name: &'static str,
    pub create_plan: &'static str,
    pub needs_role: &'static str,
    pub accepted_on: &'static str,
    pub all_hosts: &'static str,
    pub in_force: &'static str,
    pub no_accepted: &'static str,
    pub scope: &'static str,
    pub plans_title: &'static str,
    pub no_plans: &'static str,
    pub plan: &'static str,
    pub name: &'static str,
    pub author: &'static str,
    pub created: &'static str,
    pub updated: &'static str,
    pub environments: &'static str,
    pub state_draft: &'static str,
    pub state_in_review: &'static str,
    pub state_approved: &'static str,
    pub state_scheduled: &'static str,
    pub state_rejected: &'static str,
    pub state_expired: &'static str,
    /// Rollout, host, observation and notification state codes in words (code, word); a code
    /// not listed is shown as it is.
    pub state_words: &'static [(&'static str, &'static str)],
    pub per_host_diff: &'static str,
    pub risk_checklist: &'static str,
    pub level_ok: &'static str,
    pub level_warn: &'static str,
    pub level_block: &'static str,
    pub risk_compatibility: &'static str,
    pub risk_service: &'static str,
    pub risk_performance: &'static str,
    pub risk_config: &'static str,
    pub risk_rollback: &'static str,
    pub batches_in_slots: &'static str,
    pub batch: &'static str,
    pub canary: &'static str,
    pub window: &'static str,
    pub slot: &'static str,
    pub usable: &'static str,
    pub rollback_buffer: &'static str,
    pub minutes: &'static str,
    pub rollback_plan: &'static str,
    pub change_hooks: &'static str,
    pub local_archive: &'static str,
    pub local_archive_note: &'static str,
    pub hook_conffiles: &'static str,
    pub conffiles_keep: &'static str,
    pub conffiles_replace: &'static str,
    pub hook_stop_units: &'static str,
    pub hook_migration: &'static str,
    pub hook_reverse: &'static str,
    pub hook_benchmark: &'static str,
    pub hook_max_regression: &'static str,
    pub plan_history: &'static str,
    pub event: &'static str,
    pub comment: &'static str,
    pub submit_for_review: &'static str,
    pub approve: &'static str,
    pub reject: &'static str,
    pub reject_reason: &'static str,
    pub approve_comment: &'static str,
    pub decide: &'static str,
    pub stale_plan: &'static str,
    pub production_four_eyes: &'static str,
    pub plan_problems: &'static str,
    pub carried_out_by: &'static str,
    pub restarts: &'static str,
    pub reboot_after: &'static str,
    pub rollouts_title: &'static str,
    pub rollout: &'static str,
    pub progress: &'static str,
    pub targets: &'static str,
    pub batches: &'static str,
    pub pause: &'static str,
    pub resume: &'static str,
    pub stop: &'static str,
    pub retry_failed: &'static str,
    /// Observation after the last batch (rollout page).
    pub observation: &'static str,
    pub observing_until: &'static str,
    pub observation_alerts: &'static str,
    pub late_rollback: &'static str,
    pub controls: &'static str,
    pub clear_block: &'static str,
    pub live_note: &'static str,
    pub blocked_at: &'static str,
    pub from_plan: &'static str,
    /// The change report's link (plan and rollout pages).
    pub change_report: &'static str,
    pub no_log: &'static str,
    pub protection_records: &'static str,
    pub kind: &'static str,
    pub size: &'static str,
    pub location: &'static str,
    pub expires: &'static str,
    pub verify_ms: &'static str,
    pub restored: &'static str,
    pub audit_title: &'static str,
    pub chain_intact: &'static str,
    pub chain_broken: &'static str,
    pub checkpoints_note: &'static str,
    pub action_starts: &'static str,
    pub subject: &'static str,
    pub windows_title: &'static str,
    pub windows_note: &'static str,
    pub no_groups: &'static str,
    pub next_four_weeks: &'static str,
    pub blackout: &'static str,
    pub nav_notifications: &'static str,
    pub notifications_title: &'static str,
    pub notifications_note: &'static str,
    pub no_notifications: &'static str,
    pub channel: &'static str,
    pub attempts: &'static str,
    pub next_attempt: &'static str,
    pub last_error: &'static str,
    pub sent_at: &'static str,
    pub retry_now: &'static str,
    pub all_statuses: &'static str,
    pub outbox_pending: &'static str,
    pub outbox_sending: &'static str,
    pub outbox_sent: &'static str,
    pub outbox_failed: &'static str,
    pub overdue_by: fn(i64) -> String,
    pub due_in: fn(i64) -> String,
    pub page_of: fn(u64, u64) -> String,
    pub matching: fn(u64) -> String,
}

fn wants_zh(tag: &str) -> bool {
    tag.trim().to_ascii_lowercase().starts_with("zh")
}

/// The table for a `lang` value: one starting with `zh` is Simplified Chinese, any other English.
pub fn by_tag(lang: &str) -> &'static Text {
    if wants_zh(lang) { &ZH_CN } else { &EN }
}

/// Chooses the language: `?lang=` first, then the remembered cookie, then the first supported
/// `Accept-Language` entry.
pub fn choose(
    lang: Option<&str>,
    remembered: Option<&str>,
    accept_language: Option<&str>,
) -> &'static Text {
    if let Some(lang) = lang.or(remembered) {
        return by_tag(lang);
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

/// The page language from `?lang=`, the `pw_lang` cookie and the `Accept-Language` header.
pub fn language(lang: Option<&str>, headers: &HeaderMap) -> &'static Text {
    let accept = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    choose(lang, cookie(headers, LANG_COOKIE), accept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_follows_query_then_cookie_then_header() {
        assert_eq!(choose(Some("zh-CN"), None, None).lang, "zh-CN");
        assert_eq!(choose(Some("en"), Some("zh-CN"), Some("zh-CN")).lang, "en");
        assert_eq!(choose(None, Some("zh-CN"), Some("en")).lang, "zh-CN");
        assert_eq!(
            choose(None, None, Some("zh-CN,zh;q=0.9,en;q=0.8")).lang,
            "zh-CN"
        );
        assert_eq!(choose(None, None, Some("en-US,zh;q=0.5")).lang, "en");
        assert_eq!(choose(None, None, Some("fr")).lang, "en");
        assert_eq!(choose(None, None, None).lang, "en");
    }

    #[test]
    fn both_tables_format_counts() {
        assert_eq!((EN.overdue_by)(1), "overdue by 1 day");
        assert_eq!((EN.overdue_by)(400), "overdue by 400 days");
        assert_eq!((ZH_CN.overdue_by)(3), "已逾期 3 天");
        assert_eq!((ZH_CN.page_of)(2, 5), "第 2 页，共 5 页");
    }
}
