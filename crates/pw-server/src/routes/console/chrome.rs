//! What every console page's layout shows: the navigation, the signed-in operator and the
//! sign-out form's CSRF token, the language and time zone — and times in that zone, readable
//! (`2026-12-04 20:49 CST`), deadlines with "overdue by N days".

use axum::http::HeaderMap;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use pw_store::{Role, SessionRow};

use super::Display;
use super::text::{LANG_COOKIE, Text};
use crate::auth::{cookie, cookie_header};

/// The cookie remembering the operator's time zone (an IANA name; UTC without it).
pub const TZ_COOKIE: &str = "pw_tz";
/// How long the language and zone are remembered (a year).
pub const REMEMBER_SECS: u64 = 365 * 24 * 3600;

/// Zones offered in the settings form (any IANA name works with `?tz=`).
const OFFERED_ZONES: &[&str] = &[
    "UTC",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Australia/Sydney",
];

/// A zone name of the time zone database (its canonical spelling), or `None`.
pub fn known_zone(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return None;
    }
    jiff::tz::db()
        .get(name)
        .ok()
        .and_then(|zone| zone.iana_name().map(str::to_owned))
        .or_else(|| (name == "UTC").then(|| "UTC".to_owned()))
}

/// A link of the navigation.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The layout's data for one page.
#[derive(Clone)]
pub struct Chrome {
    pub t: &'static Text,
    pub operator: String,
    pub role: Role,
    pub csrf: String,
    /// The navigation entry of this page (`hosts`, `findings`, …).
    pub section: &'static str,
    /// This page's path and query, for the settings form to come back to.
    pub path: String,
    pub zone_name: String,
    zone: TimeZone,
    /// `?tz=` named no zone of the database.
    pub zone_refused: Option<String>,
    /// `Set-Cookie` values remembering `?lang=` and `?tz=`.
    remember: Vec<String>,
}

impl Chrome {
    pub fn new(
        t: &'static Text,
        headers: &HeaderMap,
        display: &Display,
        section: &'static str,
        path: &str,
        session: SessionRow,
    ) -> Chrome {
        let mut remember = Vec::new();
        if display.lang.is_some() {
            remember.push(cookie_header(LANG_COOKIE, t.lang, REMEMBER_SECS, false));
        }
        let asked = display.tz.as_deref().and_then(known_zone);
        if let Some(zone) = &asked {
            remember.push(cookie_header(TZ_COOKIE, zone, REMEMBER_SECS, false));
        }
        let zone_refused = display.tz.clone().filter(|_| asked.is_none());
        let zone_name = asked
            .or_else(|| cookie(headers, TZ_COOKIE).and_then(known_zone))
            .unwrap_or_else(|| "UTC".to_owned());
        let zone = jiff::tz::db().get(&zone_name).unwrap_or(TimeZone::UTC);
        Chrome {
            t,
            operator: session.operator,
            role: session.role,
            csrf: session.csrf_token,
            section,
            path: path.to_owned(),
            zone_name,
            zone,
            zone_refused,
            remember,
        }
    }

    pub fn remember(&self) -> &[String] {
        &self.remember
    }

    pub fn nav(&self) -> Vec<NavItem> {
        let t = self.t;
        [
            ("/hosts", t.nav_hosts, "hosts"),
            ("/findings", t.nav_findings, "findings"),
            ("/windows", t.nav_windows, "windows"),
            ("/plans", t.nav_plans, "plans"),
            ("/rollouts", t.nav_rollouts, "rollouts"),
            ("/audit", t.nav_audit, "audit"),
            ("/notifications", t.nav_notifications, "notifications"),
            ("/reports/compliance?format=html", t.nav_reports, "reports"),
        ]
        .into_iter()
        .map(|(href, label, section)| NavItem {
            href,
            label,
            current: section == self.section,
        })
        .collect()
    }

    /// The zones of the settings form, the current one included.
    pub fn zones(&self) -> Vec<&str> {
        let mut zones: Vec<&str> = OFFERED_ZONES.to_vec();
        if !zones.contains(&self.zone_name.as_str()) {
            zones.insert(0, &self.zone_name);
        }
        zones
    }

    /// `2026-12-04 20:49 CST`: minutes in the operator's zone with its abbreviation.
    pub fn time(&self, at: &Timestamp) -> String {
        at.to_zoned(self.zone.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// The operator's zone.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// `20:49`: hours and minutes in the operator's zone.
    pub fn clock(&self, at: &Timestamp) -> String {
        at.to_zoned(self.zone.clone()).strftime("%H:%M").to_string()
    }

    /// A weekday, Monday 1 to Sunday 7, abbreviated in the page's language.
    pub fn weekday(&self, day: &i8) -> &'static str {
        const EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const ZH: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
        let names = if self.t.lang == "zh-CN" { ZH } else { EN };
        names[usize::from(day.clamp(&1, &7).unsigned_abs() - 1)]
    }

    /// [`Chrome::time`], or "never" for `None`.
    pub fn time_or_never(&self, at: &Option<Timestamp>) -> String {
        at.as_ref()
            .map_or_else(|| self.t.never.to_owned(), |at| self.time(at))
    }

    /// The exact instant, for a `title` / `datetime` attribute.
    pub fn iso(&self, at: &Timestamp) -> String {
        at.to_string()
    }

    /// A deadline relative to now: "overdue by N days" or "due in N days" (whole days).
    pub fn due(&self, deadline: &Timestamp) -> String {
        self.due_at(deadline, Timestamp::now())
    }

    fn due_at(&self, deadline: &Timestamp, now: Timestamp) -> String {
        let seconds = deadline.as_second() - now.as_second();
        if seconds < 0 {
            (self.t.overdue_by)((-seconds).div_euclid(86_400).max(1))
        } else {
            (self.t.due_in)(seconds.div_euclid(86_400))
        }
    }

    /// "page 2 of 5".
    pub fn page_of(&self, paging: &super::Paging) -> String {
        (self.t.page_of)(u64::from(paging.page), paging.pages)
    }

    /// "120 matches".
    pub fn matching(&self, total: &u64) -> String {
        (self.t.matching)(*total)
    }

    /// Generated English text in the page's language (`generated.rs`).
    pub fn tr(&self, text: &str) -> String {
        super::generated::translate(self.t.lang, text)
    }

    /// A finding's status word.
    pub fn status(&self, status: &pw_model::FindingStatus) -> &'static str {
        match status {
            pw_model::FindingStatus::Open => self.t.status_open,
            pw_model::FindingStatus::Overdue => self.t.status_overdue,
            pw_model::FindingStatus::Accepted => self.t.status_accepted,
            pw_model::FindingStatus::Fixed => self.t.status_fixed,
        }
    }

    /// `required` / `not_required` of the restart facts, in words.
    pub fn required(&self, value: &str) -> &'static str {
        if value == "required" {
            self.t.required
        } else {
            self.t.not_required
        }
    }

    /// A plan's state in words.
    pub fn plan_state(&self, state: &str) -> String {
        let t = self.t;
        match state {
            "draft" => t.state_draft,
            "in_review" => t.state_in_review,
            "approved" => t.state_approved,
            "scheduled" => t.state_scheduled,
            "rejected" => t.state_rejected,
            "expired" => t.state_expired,
            other => return other.to_owned(),
        }
        .to_owned()
    }

    /// A rollout's, host's, observation's or notification's state code in words.
    pub fn state(&self, code: &str) -> String {
        (self.t.state_words.iter())
            .find(|(c, _)| *c == code)
            .map_or(code, |(_, word)| word)
            .to_owned()
    }

    /// A stored RFC 3339 instant as [`Chrome::time`] shows it; text that is not one, as it is.
    pub fn when(&self, at: &str) -> String {
        at.parse::<Timestamp>()
            .map_or_else(|_| at.to_owned(), |at| self.time(&at))
    }

    /// A risk of the checklist, titled.
    pub fn risk_title(&self, kind: &pw_planner::risk::RiskKind) -> &'static str {
        use pw_planner::risk::RiskKind as K;
        match kind {
            K::Compatibility => self.t.risk_compatibility,
            K::ServiceInterruption => self.t.risk_service,
            K::Performance => self.t.risk_performance,
            K::ConfigOverwrite => self.t.risk_config,
            K::RollbackFailure => self.t.risk_rollback,
        }
    }

    /// A risk level in words.
    pub fn level(&self, level: &pw_planner::risk::Level) -> &'static str {
        use pw_planner::risk::Level;
        match level {
            Level::Ok => self.t.level_ok,
            Level::Warn => self.t.level_warn,
            Level::Block => self.t.level_block,
        }
    }

    /// A deadline past `now`.
    pub fn is_overdue(&self, deadline: &Timestamp) -> bool {
        *deadline < Timestamp::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::console::text::{EN, ZH_CN};

    fn chrome(t: &'static Text, tz: Option<&str>) -> Chrome {
        let session = SessionRow {
            operator: "ada".into(),
            role: Role::Operator,
            csrf_token: "pwc_x".into(),
            expires_at: Timestamp::UNIX_EPOCH,
        };
        let display = Display {
            lang: None,
            tz: tz.map(str::to_owned),
        };
        Chrome::new(t, &HeaderMap::new(), &display, "hosts", "/hosts", session)
    }

    #[test]
    fn times_are_shown_in_the_chosen_zone() {
        let at: Timestamp = "2026-12-04T12:49:00Z".parse().unwrap();
        assert_eq!(chrome(&EN, None).time(&at), "2026-12-04 12:49 UTC");
        let shanghai = chrome(&ZH_CN, Some("Asia/Shanghai"));
        assert_eq!(shanghai.time(&at), "2026-12-04 20:49 CST");
        assert_eq!(shanghai.remember().len(), 1);
        let bad = chrome(&EN, Some("Mars/Olympus"));
        assert_eq!(bad.zone_name, "UTC");
        assert_eq!(bad.zone_refused.as_deref(), Some("Mars/Olympus"));
    }

    #[test]
    fn stored_instants_are_shown_in_the_chosen_zone_and_other_text_as_it_is() {
        let shanghai = chrome(&ZH_CN, Some("Asia/Shanghai"));
        assert_eq!(
            shanghai.when("2026-12-04T12:49:07.5Z"),
            "2026-12-04 20:49 CST"
        );
        assert_eq!(
            chrome(&EN, None).when("2026-12-04T12:49:00+00:00"),
            "2026-12-04 12:49 UTC"
        );
        assert_eq!(shanghai.when("soon"), "soon");
    }

    /// Every host state and observation phase the engine can store has a Chinese word, and the
    /// English page shows the code's words without underscores.
    #[test]
    fn every_engine_state_has_a_word_in_both_languages() {
        use pw_rollout::StateName as S;
        let hosts = [
            S::Pending,
            S::Claimed,
            S::Protecting,
            S::Applying,
            S::Verifying,
            S::RollingBack,
            S::Done,
            S::RolledBack,
            S::Failed,
            S::Restarting,
            S::RebootQueued,
            S::Rebooting,
        ];
        // A new state fails to compile here until it is listed above.
        for s in hosts {
            match s {
                S::Pending | S::Claimed | S::Protecting | S::Applying | S::Verifying => {}
                S::RollingBack | S::Done | S::RolledBack | S::Failed | S::Restarting => {}
                S::RebootQueued | S::Rebooting => {}
            }
        }
        let codes = (hosts.iter())
            .map(|s| {
                serde_json::to_value(s)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .chain(["running", "paused", "stopped", "completed"].map(str::to_owned))
            .chain(
                [
                    "observing",
                    "checking",
                    "alerted",
                    "passed",
                    "rollback_failed",
                ]
                .map(str::to_owned),
            )
            .chain(["pending", "sending", "sent", "failed"].map(str::to_owned));
        let (en, zh) = (chrome(&EN, None), chrome(&ZH_CN, None));
        for code in codes {
            assert!(!en.state(&code).contains('_'), "{code} in English");
            let word = zh.state(&code);
            assert!(!word.is_ascii(), "{code} has no Chinese word: {word}");
        }
        assert_eq!(en.state("rolled_back"), "rolled back");
        assert_eq!(zh.state("paused"), "已暂停");
        assert_eq!(zh.state("no-such-state"), "no-such-state");
    }

    #[test]
    fn deadlines_say_how_late_or_how_soon() {
        let now: Timestamp = "2026-12-04T12:00:00Z".parse().unwrap();
        let old: Timestamp = "2023-06-01T00:00:00Z".parse().unwrap();
        assert_eq!(chrome(&EN, None).due_at(&old, now), "overdue by 1282 days");
        assert_eq!(chrome(&ZH_CN, None).due_at(&old, now), "已逾期 1282 天");
        let soon: Timestamp = "2026-12-06T13:00:00Z".parse().unwrap();
        assert_eq!(chrome(&EN, None).due_at(&soon, now), "due in 2 days");
    }
}
