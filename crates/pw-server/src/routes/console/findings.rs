//! `/findings`: one row per update to apply — a package upgrade with every advisory (CVE) it
//! fixes and the hosts needing it — most urgent first (tier, earliest deadline), filtered (tier,
//! overdue, CVE, package, KEV) and paged in SQL (`Store::update_page`), with the accepted risks
//! in force covering its advisories (`pw_model::acceptance_covers`). Rows can be selected to
//! build a plan (`plans.rs`, `POST /plans`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::Timestamp;
use pw_model::{AcceptedRisk, Finding, acceptance_covers};
use pw_store::{UpdateAdvisory, UpdateFilter, UpdateKey, UpdateRow};

use super::hosts::{form_urlencoded, tier_number};
use super::{Chrome, Display, Paging, Problem, page_number, render, signed_in};
use crate::error::ApiError;
use crate::state::AppState;

/// Host names shown per update (the count says how many in all).
const HOSTS_SHOWN: u32 = 8;

#[derive(Debug, Default, serde::Deserialize)]
pub struct FindingsQuery {
    #[serde(flatten)]
    display: Display,
    tier: Option<String>,
    overdue: Option<String>,
    cve: Option<String>,
    package: Option<String>,
    kev: Option<String>,
    page: Option<u32>,
}

/// The filter form as given.
pub struct FindingsForm {
    pub tier: String,
    pub overdue: bool,
    pub cve: String,
    pub package: String,
    pub kev: bool,
}

/// One advisory of an update: the finding showing it, the hosts it is open on, the accepted
/// risks in force covering it.
pub struct AdvisoryLine {
    pub finding: Finding,
    pub hosts: u64,
    pub accepted: Vec<AcceptedRisk>,
}

/// One update to apply.
pub struct UpdateLine {
    pub row: UpdateRow,
    /// `package` and `fixed` as the selection's value (`package fixed`).
    pub key: String,
    pub advisories: Vec<AdvisoryLine>,
    pub hosts: Vec<(String, String)>,
}

impl UpdateLine {
    pub fn tier(&self) -> String {
        format!("T{}", self.row.tier)
    }
}

#[derive(Template)]
#[template(path = "console/findings.html")]
struct FindingsPage {
    c: Chrome,
    form: FindingsForm,
    updates: Vec<UpdateLine>,
    in_force: Vec<AcceptedRisk>,
    paging: Paging,
    can_plan: bool,
}

fn given(value: &Option<String>) -> String {
    value.as_deref().map(str::trim).unwrap_or("").to_owned()
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<FindingsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = match signed_in(&state, &headers, &query.display, "findings", "/findings").await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let form = FindingsForm {
        tier: given(&query.tier),
        overdue: !given(&query.overdue).is_empty(),
        cve: given(&query.cve),
        package: given(&query.package),
        kev: !given(&query.kev).is_empty(),
    };
    let now = Timestamp::now();
    let (filter, page) =
        match update_filter(&form, now).and_then(|f| Ok((f, page_number(query.page)?))) {
            Ok(found) => found,
            Err(error) => return super::problem(&c, &Problem::from_api(error)?),
        };
    let found = state
        .store
        .update_page(&filter, Paging::request(page))
        .await?;
    let in_force: Vec<AcceptedRisk> = state.store.accepted_risks_in_force(now).await?;
    let updates = update_lines(&state, found.updates, &in_force).await?;
    let query_string = form_urlencoded(&[
        ("tier", form.tier.as_str()),
        ("overdue", if form.overdue { "1" } else { "" }),
        ("cve", form.cve.as_str()),
        ("package", form.package.as_str()),
        ("kev", if form.kev { "1" } else { "" }),
    ]);
    let paging = Paging::new("/findings", &query_string, page, found.total);
    let can_plan = super::allowed(&c, axum::http::Method::POST, "/api/v1/plans");
    render(
        &c,
        &FindingsPage {
            c: c.clone(),
            form,
            updates,
            in_force,
            paging,
            can_plan,
        },
    )
}

fn update_filter(form: &FindingsForm, now: Timestamp) -> Result<UpdateFilter, ApiError> {
    let tier = match form.tier.as_str() {
        "" => None,
        text => Some(tier_number(text)?),
    };
    if form.cve.len() > 64 || form.package.len() > 128 {
        return Err(ApiError::InvalidRequest(
            "cve or package: longer than a name can be".into(),
        ));
    }
    Ok(UpdateFilter {
        tier,
        overdue_at: form.overdue.then_some(now),
        advisory: Some(form.cve.clone()).filter(|v| !v.is_empty()),
        package: Some(form.package.clone()).filter(|v| !v.is_empty()),
        kev_only: form.kev,
    })
}

/// The page's updates with their advisories (and the acceptances covering them) and some of
/// their hosts: two statements for the whole page.
async fn update_lines(
    state: &AppState,
    rows: Vec<UpdateRow>,
    in_force: &[AcceptedRisk],
) -> Result<Vec<UpdateLine>, ApiError> {
    let keys: Vec<UpdateKey<'_>> = rows
        .iter()
        .map(|row| (row.package.as_str(), row.fixed.as_deref()))
        .collect();
    let advisories = state.store.updates_advisories(&keys).await?;
    let hosts = state.store.updates_hosts(&keys, HOSTS_SHOWN).await?;
    let mut lines = Vec::with_capacity(rows.len());
    for ((row, stored), hosts) in rows.into_iter().zip(advisories).zip(hosts) {
        let advisories = stored
            .into_iter()
            .map(|stored| advisory_line(stored, in_force))
            .collect::<Result<_, _>>()?;
        lines.push(UpdateLine {
            key: update_key(&row.package, row.fixed.as_deref()),
            row,
            advisories,
            hosts,
        });
    }
    Ok(lines)
}

/// One advisory of an update, with the accepted risks in force covering it.
fn advisory_line(
    stored: UpdateAdvisory,
    in_force: &[AcceptedRisk],
) -> anyhow::Result<AdvisoryLine> {
    let finding: Finding = serde_json::from_str(&stored.finding)
        .map_err(|e| anyhow::anyhow!("stored finding {} is unreadable: {e}", stored.advisory))?;
    let accepted = in_force
        .iter()
        .filter(|r| acceptance_covers(&r.advisory, r.package.as_deref(), &finding))
        .cloned()
        .collect();
    Ok(AdvisoryLine {
        finding,
        hosts: stored.hosts,
        accepted,
    })
}

/// The selection value of an update: `package fixed` (no fix: the package alone).
pub fn update_key(package: &str, fixed: Option<&str>) -> String {
    match fixed {
        Some(fixed) => format!("{package} {fixed}"),
        None => package.to_owned(),
    }
}

/// The update a selection value names.
pub fn parse_update_key(key: &str) -> (&str, Option<&str>) {
    match key.split_once(' ') {
        Some((package, fixed)) => (package, Some(fixed)),
        None => (key, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_keys_round_trip() {
        let key = update_key("openjdk-17", Some("17.0.13+11-2~deb12u1"));
        assert_eq!(
            parse_update_key(&key),
            ("openjdk-17", Some("17.0.13+11-2~deb12u1"))
        );
        assert_eq!(parse_update_key("pw-tool"), ("pw-tool", None));
    }
}
