//! `/windows`: the next four weeks per group as a calendar — one cell per day in the operator's
//! zone with the group's usable window slots and their capacity (pw-planner's `capacity`: usable
//! time after verification and the rollback buffer), days touched by a blackout shaded with its
//! name and reason. The slots are pw-calendar's, from the group's calendar as pw-fleet validates
//! it, exactly what plans are placed in.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::{SignedDuration, Timestamp, ToSpan};
use pw_planner::WindowSlot;
use pw_planner::schedule::capacity;

use super::{Chrome, Display, render, signed_in};
use crate::error::ApiError;
use crate::state::AppState;

/// Days shown.
const DAYS: i64 = 28;

/// One slot as a day shows it.
pub struct SlotLine {
    pub window: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub usable_minutes: u64,
    pub buffer_minutes: u64,
}

/// One day of a group's calendar.
pub struct Day {
    pub date: String,
    pub weekday: i8,
    pub slots: Vec<SlotLine>,
    /// Blackouts covering part of the day: `name: reason`.
    pub blackouts: Vec<String>,
}

/// A group's four weeks, by week.
pub struct GroupCalendar {
    pub name: String,
    pub environment: String,
    pub weeks: Vec<Vec<Day>>,
    /// The group's windows or blackouts do not read (named by pw-fleet).
    pub problems: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/windows.html")]
struct WindowsPage {
    c: Chrome,
    groups: Vec<GroupCalendar>,
}

pub async fn calendar(
    State(state): State<AppState>,
    Query(display): Query<Display>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = match signed_in(&state, &headers, &display, "windows", "/windows").await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let mut groups = Vec::new();
    if let Some((_, document)) = pw_controller::fleet::current_document(&state.store).await? {
        for (name, group) in &document.policy.groups {
            groups.push(group_calendar(&c, name, group, Timestamp::now())?);
        }
    }
    render(
        &c,
        &WindowsPage {
            c: c.clone(),
            groups,
        },
    )
}

fn group_calendar(
    c: &Chrome,
    name: &str,
    group: &pw_planner::policy::GroupPolicy,
    now: Timestamp,
) -> Result<GroupCalendar, ApiError> {
    let zone = c.zone();
    let first = now
        .to_zoned(zone.clone())
        .start_of_day()
        .map_err(anyhow::Error::from)?;
    let mut out = GroupCalendar {
        name: name.to_owned(),
        environment: group.environment.clone(),
        weeks: Vec::new(),
        problems: Vec::new(),
    };
    let calendar = match pw_fleet::group_calendar(name, &group.windows, &group.blackouts) {
        Ok(calendar) => calendar,
        Err(problems) => {
            out.problems = problems.iter().map(ToString::to_string).collect();
            return Ok(out);
        }
    };
    let from = first.timestamp();
    let until = first
        .checked_add(DAYS.days())
        .map_err(anyhow::Error::from)?
        .timestamp();
    let schedule = calendar.slots_between(from, until, SignedDuration::from_mins(1));
    let blackouts: Vec<_> = calendar
        .blackouts()
        .iter()
        .flat_map(|b| b.periods_between(from, until))
        .collect();
    let rollout = &group.rollout;
    let mut days = Vec::new();
    for offset in 0..DAYS {
        let day = first
            .checked_add(offset.days())
            .map_err(anyhow::Error::from)?;
        let next = day.checked_add(1.day()).map_err(anyhow::Error::from)?;
        let (start, end) = (day.timestamp(), next.timestamp());
        let slots = schedule
            .slots
            .iter()
            .filter(|s| s.start >= start && s.start < end)
            .map(|s| {
                let slot = WindowSlot {
                    start: s.start,
                    end: s.end,
                    window: s.window.clone(),
                };
                let room = capacity(
                    &slot,
                    rollout.verification_seconds,
                    rollout.rollback_buffer_percent,
                );
                SlotLine {
                    window: s.window.clone(),
                    start: s.start,
                    end: s.end,
                    usable_minutes: room.usable_seconds / 60,
                    buffer_minutes: room.rollback_buffer_seconds / 60,
                }
            })
            .collect();
        days.push(Day {
            date: day.strftime("%m-%d").to_string(),
            weekday: day.weekday().to_monday_one_offset(),
            slots,
            blackouts: blackouts
                .iter()
                .filter(|b| b.start < end && b.end > start)
                .map(|b| format!("{}: {}", b.blackout, b.reason))
                .collect(),
        });
    }
    let mut days = days.into_iter().peekable();
    while days.peek().is_some() {
        out.weeks.push(days.by_ref().take(7).collect());
    }
    Ok(out)
}
