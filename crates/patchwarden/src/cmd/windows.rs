//! `patchwarden windows`: maintenance-window occurrences, slots after blackouts, iCalendar feed.
//!
//! * `next` prints the first N occurrence starts of one rule at or after an instant, one RFC 3339
//!   UTC instant per line (`2026-03-29T01:00:00Z`).
//! * `list` prints the slots of a policy file's groups between two instants after blackouts,
//!   with what cut or dropped them, as a table or JSON.
//! * `ics` prints a group's windows and blackouts as an iCalendar feed.
//!
//! The policy file is TOML with `[groups.<name>]` tables; only their `windows` and `blackouts`
//! keys are read here (other keys belong to the planner).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use jiff::{SignedDuration, Timestamp};
use pw_calendar::{Calendar, CalendarSpec, DropReason, Schedule, Window};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Print the first N occurrence starts at or after an instant, one UTC instant per line.
    Next(NextArgs),
    /// List the slots of a policy's groups between two instants, after blackouts.
    List(ListArgs),
    /// Print a group's windows and blackouts as an iCalendar (.ics) feed.
    Ics(IcsArgs),
}

#[derive(clap::Args)]
struct NextArgs {
    /// RFC 5545 recurrence rule, with or without the `RRULE:` prefix.
    #[arg(long)]
    rrule: String,
    /// First occurrence, local wall-clock time in --tz without offset (2026-03-01T02:30:00).
    #[arg(long)]
    dtstart: String,
    /// IANA time zone name (Europe/Berlin).
    #[arg(long)]
    tz: String,
    /// RFC 3339 instant (2026-03-20T00:00:00Z); occurrences at or after it are printed.
    #[arg(long)]
    from: String,
    /// How many occurrence starts to print (at most 10000).
    #[arg(long, default_value_t = 10)]
    count: usize,
}

#[derive(clap::Args)]
struct ListArgs {
    /// Policy file (TOML with [groups.<name>] tables holding `windows` and `blackouts`).
    #[arg(long)]
    policy: PathBuf,
    /// Only this group (default: every group, in name order).
    #[arg(long)]
    group: Option<String>,
    /// RFC 3339 instant: slots ending after it are listed.
    #[arg(long)]
    from: String,
    /// RFC 3339 instant: slots starting before it are listed.
    #[arg(long)]
    to: String,
    /// Drop pieces of slots shorter than this after blackouts (4h, 30m; default: keep all).
    #[arg(long)]
    min_slot: Option<String>,
    /// Output format.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
}

#[derive(clap::Args)]
struct IcsArgs {
    /// Policy file (TOML with [groups.<name>] tables holding `windows` and `blackouts`).
    #[arg(long)]
    policy: PathBuf,
    /// The group whose windows and blackouts are exported.
    #[arg(long)]
    group: String,
}

/// Placeholder length for `next`, which only prints starts.
const NEXT_DURATION: &str = "1h";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match args.command {
        Command::Next(args) => next(args, &mut out)?,
        Command::List(args) => list(args, &mut out)?,
        Command::Ics(args) => ics(args, &mut out)?,
    }
    out.flush().context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn next(args: NextArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let from = parse_instant("--from", &args.from)?;
    if args.count > pw_calendar::MAX_RESULTS {
        bail!(
            "--count {}: at most {} starts per call",
            args.count,
            pw_calendar::MAX_RESULTS
        );
    }
    let window = Window::new("next", &args.rrule, &args.dtstart, &args.tz, NEXT_DURATION)?;
    for start in window.next_starts(from, args.count) {
        writeln!(out, "{}", utc(start))?;
    }
    Ok(())
}

fn list(args: ListArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let from = parse_instant("--from", &args.from)?;
    let to = parse_instant("--to", &args.to)?;
    if to <= from {
        bail!("--to {} must be after --from {}", args.to, args.from);
    }
    let minimum = match &args.min_slot {
        Some(text) => pw_calendar::parse_duration("--min-slot", text)?,
        None => SignedDuration::ZERO,
    };
    let groups = load_calendars(&args.policy, args.group.as_deref())?;
    let schedules: Vec<(String, Schedule)> = groups
        .into_iter()
        .map(|(name, calendar)| (name, calendar.slots_between(from, to, minimum)))
        .collect();
    if args.format == "json" {
        let value: Vec<_> = schedules
            .iter()
            .map(|(group, schedule)| {
                serde_json::json!({ "group": group, "slots": schedule.slots, "dropped": schedule.dropped })
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<16} {:<20} {:<21} {:<21} {:>8}  NOTE",
        "GROUP", "WINDOW", "START (UTC)", "END (UTC)", "LENGTH"
    )?;
    for (group, schedule) in &schedules {
        let mut rows: Vec<(Timestamp, String)> = Vec::new();
        for slot in &schedule.slots {
            let note = match slot.cut_by.as_slice() {
                [] => String::new(),
                cuts => format!("cut by {}", describe(cuts)),
            };
            rows.push((
                slot.start,
                row(group, &slot.window, slot.start, slot.end, &note),
            ));
        }
        for dropped in &schedule.dropped {
            let note = match &dropped.why {
                DropReason::Covered { by } => format!("dropped: inside {}", describe(by)),
                DropReason::TooShort { minimum, by, .. } => format!(
                    "dropped: shorter than --min-slot {} after {}",
                    pw_calendar::format_duration(*minimum),
                    describe(by)
                ),
            };
            rows.push((
                dropped.start,
                row(group, &dropped.window, dropped.start, dropped.end, &note),
            ));
        }
        rows.sort_by_key(|(start, _)| *start);
        for (_, line) in rows {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

fn ics(args: IcsArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let groups = load_calendars(&args.policy, Some(&args.group))?;
    let (name, calendar) = groups
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no group"))?;
    let text = pw_calendar::to_ics(
        &format!("patchwarden {name}"),
        calendar.windows(),
        calendar.blackouts(),
    );
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// Reads the policy file and validates the `windows`/`blackouts` of the chosen group(s).
fn load_calendars(path: &Path, only: Option<&str>) -> anyhow::Result<Vec<(String, Calendar)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading policy file {}", path.display()))?;
    let document: toml::Table =
        toml::from_str(&text).with_context(|| format!("policy file {}", path.display()))?;
    let groups = match document.get("groups") {
        Some(toml::Value::Table(groups)) => groups,
        Some(_) => bail!("policy file {}: `groups` must be a table", path.display()),
        None => bail!("policy file {}: no [groups.<name>] tables", path.display()),
    };
    let names: Vec<&String> = match only {
        Some(name) if groups.contains_key(name) => {
            groups.keys().filter(|key| *key == name).collect()
        }
        Some(name) => bail!(
            "policy file {}: no group {name:?} (groups: {})",
            path.display(),
            groups
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => groups.keys().collect(),
    };
    let mut calendars = Vec::new();
    for name in names {
        let place = || format!("policy file {}: groups.{name}", path.display());
        let Some(group) = groups[name].as_table() else {
            bail!("{}: must be a table", place());
        };
        let mut subset = toml::Table::new();
        for key in ["windows", "blackouts"] {
            if let Some(value) = group.get(key) {
                subset.insert(key.to_owned(), value.clone());
            }
        }
        let spec: CalendarSpec = toml::Value::Table(subset).try_into().with_context(place)?;
        let calendar = Calendar::from_spec(&spec).with_context(place)?;
        calendars.push((name.clone(), calendar));
    }
    Ok(calendars)
}

fn parse_instant(flag: &str, text: &str) -> anyhow::Result<Timestamp> {
    text.parse::<Timestamp>().map_err(|error| {
        anyhow!(
            "{flag} {text:?}: expected an RFC 3339 instant such as 2026-03-20T00:00:00Z ({error})"
        )
    })
}

fn utc(instant: Timestamp) -> String {
    instant.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn row(group: &str, window: &str, start: Timestamp, end: Timestamp, note: &str) -> String {
    let length = pw_calendar::format_duration(start.duration_until(end));
    format!(
        "{group:<16} {window:<20} {:<21} {:<21} {length:>8}  {note}",
        utc(start),
        utc(end)
    )
    .trim_end()
    .to_owned()
}

fn describe(periods: &[pw_calendar::BlackoutPeriod]) -> String {
    let mut names: Vec<String> = periods
        .iter()
        .map(|p| format!("blackout {:?} ({})", p.blackout, p.reason))
        .collect();
    names.dedup();
    names.join(", ")
}
