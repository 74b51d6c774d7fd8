//! Benchmark: 100,000 hosts in 500 groups with a year of nightly windows → one plan.
//! Run with `cargo bench -p pw-planner --bench plan_100k`; prints the fastest and median of the
//! runs and the plan's size. The fleet is generated deterministically (no randomness).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use pw_inventory::apt::{Availability, Simulation};
use pw_model::{Finding, Tier};
use pw_planner::{Evidence, Host, PlanInput, Policy, Scope, WindowSlot, build_plan};

const HOSTS: usize = 100_000;
const GROUPS: usize = 500;
const DAYS: i64 = 365;
const RUNS: usize = 5;

fn policy() -> Policy {
    let mut text = String::from(
        "[rollout]\nanti_affinity = [\"rack\", \"hypervisor\"]\nmax_in_flight = \"10%\"\n[health_checks.http]\nkind = \"http\"\ntarget = \"http://localhost/\"\n",
    );
    for g in 0..GROUPS {
        let production = !g.is_multiple_of(2);
        text.push_str(&format!(
            "[groups.g{g:03}]\nenvironment = \"{}\"\nowners = [\"team{g}@example.com\"]\nrto = \"1h\"\nrpo = \"{}\"\nprotection = [\"snapshot\"]\nhealth_checks = [\"http\"]\nwindows = [{{}}]\n{}",
            if production { "production" } else { "staging" },
            if g % 3 == 0 { "2h" } else { "2d" },
            if production { format!("staging_counterpart = \"g{:03}\"\n", g - 1) } else { String::new() },
        ));
    }
    Policy::from_toml_str(&text).expect("benchmark policy is valid")
}

fn finding(binary: &str, index: usize) -> Finding {
    Finding {
        binary: binary.into(),
        installed: "3.0.19-1~deb12u2".into(),
        package: "openssl".into(),
        package_version: "3.0.19-1~deb12u2".into(),
        advisory: format!("DSA-{}-1", 5000 + index % 40),
        aliases: vec![format!("CVE-2026-{:04}", index % 40)],
        fixed: Some("3.0.22-1~deb12u2".into()),
        tier: Tier::ALL[index % 5],
        deadline: Some(
            Timestamp::from_second(1_795_000_000 + (index % 100) as i64 * 3_600).unwrap(),
        ),
        reasons: vec![],
        summary: String::new(),
        published: Some(Timestamp::from_second(1_790_000_000).unwrap()),
        cvss: Some((index % 100) as f64 / 10.0),
        epss: Some((index % 97) as f64 / 100.0),
        kev: index.is_multiple_of(31),
    }
}

fn input(from: Timestamp) -> PlanInput {
    let per_group = HOSTS / GROUPS;
    let hosts: Vec<Host> = (0..HOSTS)
        .map(|i| {
            let group = i % GROUPS;
            let slot = i / GROUPS;
            let labels = BTreeMap::from([
                ("rack".to_owned(), format!("r{}", slot % 10)),
                ("hypervisor".to_owned(), format!("hv{}", slot % 40)),
            ]);
            Host {
                id: format!("host-{i:06}"),
                hostname: format!("host-{i:06}.example.net"),
                group: format!("g{group:03}"),
                environment: None,
                labels,
                os: "debian:12".into(),
                findings: vec![
                    finding("libssl3", i),
                    finding("openssl", i + 1),
                    finding("libc6", i + 2),
                ],
                targets: BTreeMap::new(),
                installed: BTreeMap::new(),
            }
        })
        .collect();
    assert_eq!(hosts.len() / GROUPS, per_group);
    let midnight: Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
    let slots: BTreeMap<String, Vec<WindowSlot>> = (0..GROUPS)
        .map(|g| {
            let offset = (g % 6) as i64;
            let list = (0..DAYS)
                .map(|day| {
                    let start = midnight + SignedDuration::from_hours(24 * day + offset);
                    WindowSlot {
                        start,
                        end: start + SignedDuration::from_hours(3),
                        window: "nightly".into(),
                    }
                })
                .collect();
            (format!("g{g:03}"), list)
        })
        .collect();
    let mut availability = Availability::default();
    availability.add_policy(include_str!(
        "../../pw-inventory/tests/data/apt/apt-cache-policy-openssl-postgresql.txt"
    ));
    let evidence = Evidence {
        simulation: Some(Simulation::parse(include_str!(
            "../../pw-inventory/tests/data/apt/apt-s-openssl-upgrade.txt"
        ))),
        availability: Some(availability),
        conffiles: None,
        modified_conffiles: None,
    };
    PlanInput {
        plan_id: "bench".into(),
        author: "bench".into(),
        hosts,
        group_evidence: (0..GROUPS)
            .map(|g| (format!("g{g:03}"), evidence.clone()))
            .collect(),
        host_evidence: BTreeMap::new(),
        staging: vec![],
        slots,
        scope: Scope::default(),
        from,
        until: from + SignedDuration::from_hours(24 * DAYS),
    }
}

fn main() {
    let from: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
    let policy = policy();
    let started = Instant::now();
    let input = input(from);
    println!(
        "generated {} hosts, {} groups, {} slots in {:?}",
        input.hosts.len(),
        input.slots.len(),
        input.slots.values().map(Vec::len).sum::<usize>(),
        started.elapsed()
    );
    let mut times: Vec<Duration> = Vec::new();
    let mut cpu: Vec<Duration> = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        let cpu_started = thread_cpu();
        let plan = build_plan(&input, &policy, from);
        times.push(started.elapsed());
        cpu.push(thread_cpu().saturating_sub(cpu_started));
        last = Some(plan);
    }
    times.sort();
    cpu.sort();
    let plan = last.expect("at least one run");
    println!(
        "plan: {} batches, {} hosts scheduled, {} unscheduled, {} problems",
        plan.batches.len(),
        plan.scheduled_hosts(),
        plan.unscheduled
            .iter()
            .map(|u| u.hosts.len())
            .sum::<usize>(),
        plan.problems.len()
    );
    println!(
        "build_plan over {RUNS} runs: fastest {:?}, median {:?}, slowest {:?}",
        times[0],
        times[RUNS / 2],
        times[RUNS - 1]
    );
    println!(
        "build_plan CPU time of the thread (not counting waits for a shared core): fastest {:?}, median {:?}",
        cpu[0],
        cpu[RUNS / 2]
    );
    let started = Instant::now();
    let json = plan.to_json();
    println!(
        "to_json: {} MB in {:?}",
        json.len() / 1_000_000,
        started.elapsed()
    );
    let started = Instant::now();
    let markdown = pw_planner::to_markdown(&plan);
    println!(
        "to_markdown: {} KB in {:?}",
        markdown.len() / 1_000,
        started.elapsed()
    );
}

/// CPU time this thread has run, from /proc/thread-self/schedstat (Linux); zero elsewhere.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}
