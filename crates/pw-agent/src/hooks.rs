//! The change's own hooks in the guard (seed 003 "stop → execute → monitor → roll back";
//! docs/downgrade.md "Hooks"): the benchmark before anything changes; around the install the
//! units stopped and started again; the migrations forward after the install, each journaled
//! (`migrated`) so that the way back — a failure's rollback, the drill's, or the rollback after a
//! restart mid-change — runs the reverse of exactly those that ran, newest first, before the
//! recorded versions return; the benchmark after verification, whose regression past the
//! threshold fails the change like a health check. Every run is in the report's
//! [`HooksReport`]. Programs are argv, never a shell.

use std::time::Duration;

use pw_host::restart::{UnitVerb, systemctl_units};
use pw_protocol::{BenchmarkHook, BenchmarkResult, ChangeHooks, HookRun, HooksReport};

use super::Guard;
use crate::journal::GuardStep;

/// The name a failed benchmark has as the report's failing check.
pub const BENCHMARK_CHECK: &str = "benchmark";

/// What the hooks did so far in this change.
#[derive(Debug, Default)]
pub(super) struct HookState {
    pub report: HooksReport,
    /// Migrations whose forward ran and whose reverse has not, in the order they ran.
    migrated: Vec<String>,
}

impl HookState {
    /// The state a restarted agent goes on from: the journal's forward and reverse runs and
    /// the benchmark's number before.
    pub fn from_journal(hooks: &ChangeHooks, prior: &[GuardStep]) -> HookState {
        let mut state = HookState {
            report: HooksReport {
                conffiles: hooks.conffiles,
                ..HooksReport::default()
            },
            migrated: Vec::new(),
        };
        for step in prior {
            match step {
                GuardStep::Migrated { name } => state.migrated.push(name.clone()),
                GuardStep::Reversed { name } => state.migrated.retain(|m| m != name),
                GuardStep::BenchmarkBefore { value } => {
                    if let Some(bench) = &hooks.benchmark {
                        state.report.benchmark = Some(BenchmarkResult {
                            before: *value,
                            after: None,
                            regression_percent: None,
                            max_regression_percent: bench.max_regression_percent,
                            passed: true,
                        });
                    }
                }
                _ => {}
            }
        }
        state
    }
}

impl Guard<'_> {
    fn hooks_spec(&self) -> &ChangeHooks {
        &self.spec.hooks
    }

    fn hook_ran(&mut self, phase: &str, name: &str, ok: bool, detail: String) {
        self.hooks.report.runs.push(HookRun {
            phase: phase.to_owned(),
            name: name.to_owned(),
            ok,
            detail,
        });
    }

    /// The benchmark's number before the change (journaled; once per change). An error when it
    /// cannot be measured: the change does not start without its baseline.
    pub(super) fn benchmark_before(&mut self) -> anyhow::Result<()> {
        let Some(bench) = self.hooks_spec().benchmark.clone() else {
            return Ok(());
        };
        if self.hooks.report.benchmark.is_some() {
            return Ok(());
        }
        let value = self.measure(&bench, "before")?;
        self.journal(GuardStep::BenchmarkBefore { value })?;
        self.hooks.report.benchmark = Some(BenchmarkResult {
            before: value,
            after: None,
            regression_percent: None,
            max_regression_percent: bench.max_regression_percent,
            passed: true,
        });
        Ok(())
    }

    /// The benchmark after a verified change: `Err(detail)` when it regressed past the
    /// threshold or could not be measured.
    pub(super) fn benchmark_after(&mut self) -> Result<(), String> {
        let Some(bench) = self.hooks_spec().benchmark.clone() else {
            return Ok(());
        };
        let Some(before) = self.hooks.report.benchmark.as_ref().map(|b| b.before) else {
            return Err("no benchmark number from before the change".into());
        };
        let after = self
            .measure(&bench, "after")
            .map_err(|e| format!("{e:#}"))?;
        let result = bench.judge(before, after);
        let passed = result.passed;
        let detail = match result.regression_percent {
            Some(percent) => format!(
                "{after} after, {before} before: {percent:.1} % worse (at most {} %)",
                bench.max_regression_percent
            ),
            None => format!("{after} after, {before} before"),
        };
        self.hooks.report.benchmark = Some(result);
        if passed { Ok(()) } else { Err(detail) }
    }

    /// Runs the benchmark once and reads its number.
    fn measure(&mut self, bench: &BenchmarkHook, when: &str) -> anyhow::Result<f64> {
        let timeout = Duration::from_secs(bench.timeout_seconds);
        let run = crate::argv::run(self.runner, &bench.argv, timeout);
        let value = run
            .ok
            .then(|| BenchmarkHook::read_number(&run.stdout))
            .flatten();
        let detail = match value {
            Some(value) => format!("{}: {value}", run.detail),
            None if run.ok => format!("{}, but printed no number", run.detail),
            None => run.detail.clone(),
        };
        self.hook_ran(BENCHMARK_CHECK, when, value.is_some(), detail.clone());
        value.ok_or_else(|| anyhow::anyhow!("benchmark {when} the change: {detail}"))
    }

    /// `systemctl stop|start` of the hooks' units; `Err(detail)` when it failed.
    pub(super) fn units(&mut self, verb: UnitVerb) -> Result<(), String> {
        let units = self.hooks_spec().stop_units.clone();
        if units.is_empty() {
            return Ok(());
        }
        let phase = match verb {
            UnitVerb::Stop => "stop",
            UnitVerb::Start => "start",
            UnitVerb::Restart => "restart",
        };
        let result = systemctl_units(self.runner, verb, &units);
        let (ok, detail) = match &result {
            Ok(_) => (true, format!("systemctl {phase} {}", units.join(" "))),
            Err(error) => (false, format!("systemctl {phase}: {error:#}")),
        };
        self.hook_ran(phase, &units.join(" "), ok, detail.clone());
        if ok { Ok(()) } else { Err(detail) }
    }

    /// Every migration forward, in order, each journaled when it succeeded; `Err(detail)` at
    /// the first that fails (the rollback reverses those that ran).
    pub(super) fn migrate_forward(&mut self) -> anyhow::Result<Result<(), String>> {
        for hook in self.hooks_spec().migrations.clone() {
            let timeout = Duration::from_secs(hook.timeout_seconds);
            let run = crate::argv::run(self.runner, &hook.forward, timeout);
            self.hook_ran("forward", &hook.name, run.ok, run.detail.clone());
            if !run.ok {
                return Ok(Err(format!(
                    "migration {} failed: {}",
                    hook.name, run.detail
                )));
            }
            self.journal(GuardStep::Migrated {
                name: hook.name.clone(),
            })?;
            self.hooks.migrated.push(hook.name);
        }
        Ok(Ok(()))
    }

    /// The reverse of every migration that ran, newest first, each journaled; returns the
    /// failures (the way back goes on: the recorded versions are still restored).
    pub(super) fn migrate_reverse(&mut self) -> anyhow::Result<Vec<String>> {
        let mut failures = Vec::new();
        while let Some(name) = self.hooks.migrated.last().cloned() {
            let Some(hook) = self
                .hooks_spec()
                .migrations
                .iter()
                .find(|m| m.name == name)
                .cloned()
            else {
                failures.push(format!(
                    "migration {name} is no longer in the change's hooks"
                ));
                self.hooks.migrated.pop();
                continue;
            };
            let timeout = Duration::from_secs(hook.timeout_seconds);
            let run = crate::argv::run(self.runner, &hook.reverse, timeout);
            self.hook_ran("reverse", &name, run.ok, run.detail.clone());
            if !run.ok {
                failures.push(format!("reverse of migration {name}: {}", run.detail));
            }
            self.journal(GuardStep::Reversed { name: name.clone() })?;
            self.hooks.migrated.pop();
        }
        Ok(failures)
    }
}
