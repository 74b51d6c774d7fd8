//! A group's windows and blackouts (kept as raw TOML by the planner's policy) validated by
//! pw-calendar, every problem with its key path (`groups.web.windows[1]`). Used by the fleet
//! document and by the offline `patchwarden plan`.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use pw_calendar::{BlackoutSpec, Calendar, CalendarSpec, Error, WindowSpec};
use pw_planner::{Policy, WindowSlot};
use serde::Deserialize;

use crate::FleetError;

/// The calendar of group `name` from its `windows` and `blackouts` as written (the planner's
/// `GroupPolicy` keeps them so), or every problem of them.
pub fn group_calendar(
    name: &str,
    windows: &[toml::Value],
    blackouts: &[toml::Value],
) -> Result<Calendar, Vec<FleetError>> {
    let mut problems = Vec::new();
    let mut spec = CalendarSpec::default();
    for (index, value) in windows.iter().enumerate() {
        match WindowSpec::deserialize(value.clone()) {
            Ok(window) => spec.windows.push(window),
            Err(e) => problems.push(FleetError::new(
                format!("groups.{name}.windows[{index}]"),
                e.to_string().trim(),
            )),
        }
    }
    for (index, value) in blackouts.iter().enumerate() {
        match BlackoutSpec::deserialize(value.clone()) {
            Ok(blackout) => spec.blackouts.push(blackout),
            Err(e) => problems.push(FleetError::new(
                format!("groups.{name}.blackouts[{index}]"),
                e.to_string().trim(),
            )),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Calendar::from_spec(&spec).map_err(|error| {
        let mut out = Vec::new();
        flatten(&format!("groups.{name}"), error, &mut out);
        out
    })
}

/// Every group's open window slots in `[from, until)`, blackouts removed (the planner's
/// input, for the offline `patchwarden plan` and the controller's plans alike); every window or
/// blackout problem of every group at once.
pub fn window_slots(
    policy: &Policy,
    from: Timestamp,
    until: Timestamp,
) -> Result<BTreeMap<String, Vec<WindowSlot>>, Vec<FleetError>> {
    let mut problems = Vec::new();
    let mut out = BTreeMap::new();
    for (name, group) in &policy.groups {
        match group_calendar(name, &group.windows, &group.blackouts) {
            Ok(calendar) => {
                let schedule = calendar.slots_between(from, until, SignedDuration::from_mins(1));
                let slots = schedule
                    .slots
                    .into_iter()
                    .map(|slot| WindowSlot {
                        start: slot.start,
                        end: slot.end,
                        window: slot.window,
                    })
                    .collect();
                out.insert(name.clone(), slots);
            }
            Err(errors) => problems.extend(errors),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// `Several` and `At { path }` of pw-calendar become one problem each, with the position
/// (`windows[1] "sunday"`) turned into a key path (`groups.web.windows[1]`) and the name kept in
/// the message.
fn flatten(prefix: &str, error: Error, out: &mut Vec<FleetError>) {
    match error {
        Error::Several(errors) => {
            for error in errors {
                flatten(prefix, error, out);
            }
        }
        Error::At { path, source } => {
            let (position, name) = match path.split_once(' ') {
                Some((position, name)) => (position.to_owned(), format!("{name}: ")),
                None => (path, String::new()),
            };
            out.push(FleetError::new(
                format!("{prefix}.{position}"),
                format!("{name}{source}"),
            ));
        }
        other => out.push(FleetError::new(prefix, other.to_string())),
    }
}
