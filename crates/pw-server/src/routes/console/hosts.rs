//! `/hosts`: the fleet, filtered (group, environment, OS, tier, overdue, last seen, name) and
//! paged in SQL (`Store::host_page`); `/hosts/{id}`: one host's inventory, pending updates by
//! class, findings, reboot/restart state and history.
//!
//! Groups and environments come from the fleet document as the API resolves them
//! (`pw_controller::fleet`); findings, pending updates and restart facts are the API's own reads
//! (`routes/api.rs`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use pw_fleet::Resolution;
use pw_protocol::{HostDetail, HostFindings, HostSummary, PendingUpdate};
use pw_store::{AuditFilter, AuditRecord, HostFilter, HostRow};

use super::{Chrome, Display, Paging, Problem, page_number, render, render_status, signed_in};
use crate::error::ApiError;
use crate::routes::api::{host_detail, host_summary, load_host_findings};
use crate::state::AppState;

/// Audit records shown in a host's history.
const HOST_HISTORY: u32 = 50;

#[derive(Debug, Default, serde::Deserialize)]
pub struct HostsQuery {
    #[serde(flatten)]
    display: Display,
    group: Option<String>,
    environment: Option<String>,
    os: Option<String>,
    tier: Option<String>,
    overdue: Option<String>,
    seen: Option<String>,
    name: Option<String>,
    page: Option<u32>,
}

/// The last-seen choices of the filter: (value, what it keeps).
const SEEN: &[&str] = &["1h", "24h", "silent-24h", "silent-7d"];

/// A non-empty, trimmed query value.
fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// `T0`…`T4` (or `0`…`4`) as the tier number.
pub fn tier_number(text: &str) -> Result<u8, ApiError> {
    let digits = text.trim().trim_start_matches(['T', 't']);
    match digits.parse::<u8>() {
        Ok(n) if n <= 4 => Ok(n),
        _ => Err(ApiError::InvalidRequest(format!(
            "tier: {text:?} is not one of T0, T1, T2, T3, T4"
        ))),
    }
}

/// The filter's form values as given (to fill the form again and build the paging links).
pub struct HostsForm {
    pub group: String,
    pub environment: String,
    pub os: String,
    pub tier: String,
    pub overdue: bool,
    pub seen: String,
    pub name: String,
}

impl HostsForm {
    fn query_string(&self) -> String {
        let pairs = [
            ("group", self.group.as_str()),
            ("environment", self.environment.as_str()),
            ("os", self.os.as_str()),
            ("tier", self.tier.as_str()),
            ("overdue", if self.overdue { "1" } else { "" }),
            ("seen", self.seen.as_str()),
            ("name", self.name.as_str()),
        ];
        form_urlencoded(&pairs)
    }
}

/// `k=v&…` of the non-empty pairs, values percent-encoded.
pub fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// One listed host with its group.
pub struct HostLine {
    pub host: HostSummary,
    pub group: Option<String>,
}

#[derive(Template)]
#[template(path = "console/hosts.html")]
struct HostsPage {
    c: Chrome,
    form: HostsForm,
    groups: Vec<(String, String)>,
    environments: Vec<String>,
    seen_choices: Vec<(&'static str, &'static str)>,
    hosts: Vec<HostLine>,
    paging: Paging,
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HostsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = match signed_in(&state, &headers, &query.display, "hosts", "/hosts").await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let form = HostsForm {
        group: given(&query.group).unwrap_or_default(),
        environment: given(&query.environment).unwrap_or_default(),
        os: given(&query.os).unwrap_or_default(),
        tier: given(&query.tier).unwrap_or_default(),
        overdue: given(&query.overdue).is_some(),
        seen: given(&query.seen).unwrap_or_default(),
        name: given(&query.name).unwrap_or_default(),
    };
    let now = Timestamp::now();
    let filter = match host_filter(&state, &form, now).await {
        Ok(filter) => filter,
        Err(error) => return super::problem(&c, &Problem::from_api(error)?),
    };
    let page = match page_number(query.page) {
        Ok(page) => page,
        Err(error) => return super::problem(&c, &Problem::from_api(error)?),
    };
    let found = state
        .store
        .host_page(&filter, Paging::request(page))
        .await?;
    let document = pw_controller::fleet::current_document(&state.store).await?;
    let (groups, environments) = match &document {
        Some((_, doc)) => {
            let groups: Vec<(String, String)> = doc
                .policy
                .groups
                .iter()
                .map(|(name, g)| (name.clone(), g.environment.clone()))
                .collect();
            let mut envs: Vec<String> = groups.iter().map(|(_, e)| e.clone()).collect();
            envs.sort();
            envs.dedup();
            (groups, envs)
        }
        None => (Vec::new(), Vec::new()),
    };
    let hosts = found
        .hosts
        .into_iter()
        .map(|row| HostLine {
            group: document.as_ref().and_then(|(_, doc)| group_of(doc, &row)),
            host: host_summary(row),
        })
        .collect();
    let paging = Paging::new("/hosts", &form.query_string(), page, found.total);
    let t = c.t;
    let seen_choices = SEEN
        .iter()
        .zip([
            t.seen_within_1h,
            t.seen_within_24h,
            t.silent_24h,
            t.silent_7d,
        ])
        .map(|(v, l)| (*v, l))
        .collect();
    render(
        &c,
        &HostsPage {
            c: c.clone(),
            form,
            groups,
            environments,
            seen_choices,
            hosts,
            paging,
        },
    )
}

/// The group a host is a member of (none when ungrouped or claimed twice).
fn group_of(document: &pw_fleet::FleetDocument, host: &HostRow) -> Option<String> {
    match document.resolve(pw_controller::fleet::facts(host)) {
        Resolution::Member { group, .. } => Some(group),
        _ => None,
    }
}

/// The store's filter from the form; groups and environments become their members' ids.
async fn host_filter(
    state: &AppState,
    form: &HostsForm,
    now: Timestamp,
) -> Result<HostFilter, ApiError> {
    let mut filter = HostFilter {
        name: Some(form.name.clone()).filter(|v| !v.is_empty()),
        os: Some(form.os.clone()).filter(|v| !v.is_empty()),
        ..HostFilter::default()
    };
    if !form.tier.is_empty() {
        filter.tier = Some(tier_number(&form.tier)?);
    }
    if form.overdue {
        filter.overdue_at = Some(now);
    }
    let hours = |h: i64| now - SignedDuration::from_hours(h);
    match form.seen.as_str() {
        "" => {}
        "1h" => filter.seen_after = Some(hours(1)),
        "24h" => filter.seen_after = Some(hours(24)),
        "silent-24h" => filter.silent_since = Some(hours(24)),
        "silent-7d" => filter.silent_since = Some(hours(24 * 7)),
        other => {
            return Err(ApiError::InvalidRequest(format!(
                "seen: {other:?} is not one of {}",
                SEEN.join(", ")
            )));
        }
    }
    if !form.group.is_empty() || !form.environment.is_empty() {
        let list = pw_controller::fleet::groups(&state.store).await?;
        let ids = list
            .groups
            .iter()
            .filter(|g| form.group.is_empty() || g.name == form.group)
            .filter(|g| form.environment.is_empty() || g.environment == form.environment)
            .flat_map(|g| g.members.iter().map(|m| m.host_id.clone()))
            .collect();
        filter.ids = Some(ids);
    }
    Ok(filter)
}

/// A host's pending updates split by class (pw-controller's `is_security`, as plans select).
pub struct PendingByClass {
    pub security: Vec<PendingUpdate>,
    pub other: Vec<PendingUpdate>,
}

impl PendingByClass {
    /// Each class with its table's id.
    pub fn sections(&self) -> [(&'static str, &Vec<PendingUpdate>); 2] {
        [
            ("pending-security", &self.security),
            ("pending-other", &self.other),
        ]
    }
}

#[derive(Template)]
#[template(path = "console/host.html")]
struct HostPage {
    c: Chrome,
    detail: HostDetail,
    group: Option<String>,
    findings: HostFindings,
    pending: Option<PendingByClass>,
    packages: Vec<pw_model::InstalledPackage>,
    collected_at: Option<Timestamp>,
    history: Vec<AuditRecord>,
}

#[derive(Template)]
#[template(path = "console/not_found.html")]
struct NotFoundPage {
    c: Chrome,
    message: &'static str,
}

pub async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(display): Query<Display>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("/hosts/{id}");
    let c = match signed_in(&state, &headers, &display, "hosts", &path).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let detail = match host_detail(&state, &id).await {
        Ok(detail) => detail,
        Err(ApiError::HostNotFound(_)) => {
            let page = NotFoundPage {
                message: c.t.host_not_found,
                c: c.clone(),
            };
            return render_status(&c, StatusCode::NOT_FOUND, &page);
        }
        Err(other) => return Err(other),
    };
    let findings = load_host_findings(&state, &id, true).await?;
    let pending = state.store.pending_updates(&id).await?.map(|rows| {
        let (security, other): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(pw_controller::plans::is_security);
        PendingByClass {
            security: security
                .into_iter()
                .map(pw_protocol::PendingUpdate::from)
                .collect(),
            other: other
                .into_iter()
                .map(pw_protocol::PendingUpdate::from)
                .collect(),
        }
    });
    let (packages, collected_at) = match state.store.inventory(&id).await? {
        Some(inv) => (inv.packages, Some(inv.facts.collected_at)),
        None => (Vec::new(), None),
    };
    let group = match (
        pw_controller::fleet::current_document(&state.store).await?,
        state.store.host(&id).await?,
    ) {
        (Some((_, doc)), Some(row)) => group_of(&doc, &row),
        _ => None,
    };
    let history_filter = AuditFilter {
        subject: Some(id.clone()),
        ..AuditFilter::default()
    };
    let history = state
        .store
        .audit_filtered(&history_filter, None, HOST_HISTORY)
        .await?;
    let page = HostPage {
        c: c.clone(),
        detail,
        group,
        findings,
        pending,
        packages,
        collected_at,
        history,
    };
    render(&c, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_read_with_or_without_the_t() {
        assert_eq!(tier_number("T1").unwrap(), 1);
        assert_eq!(tier_number("4").unwrap(), 4);
        assert!(tier_number("T5").is_err());
        assert!(tier_number("high").is_err());
    }

    #[test]
    fn query_strings_keep_only_given_values_encoded() {
        let pairs = [("os", "debian:12"), ("name", ""), ("group", "web & db")];
        assert_eq!(
            form_urlencoded(&pairs),
            "os=debian%3A12&group=web%20%26%20db"
        );
    }
}
