//! A change's own hooks (seed 003, "stop → execute → monitor → roll back"; docs/downgrade.md):
//! how dpkg treats changed conffiles, the services stopped around the install, configuration and
//! database migrations (forward after the install, reverse on the way back), and a before/after
//! benchmark. Written by the operator in the plan request, approved with the plan, carried by
//! every `apply_change` of its rollout and run by the agent's guard. argv only, never a shell.

use serde::{Deserialize, Serialize};

/// Longest timeout of one hook (a day), as for protection steps.
pub const MAX_HOOK_TIMEOUT_SECS: u64 = crate::MAX_PROTECTION_TIMEOUT_SECS;

/// The hooks of one change; the default runs nothing and keeps the host's conffiles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeHooks {
    /// A conffile the host changed and the new package also changed: keep the host's
    /// (`keep`, dpkg `--force-confold`, the default) or take the package's (`replace`,
    /// `--force-confnew`; the host's copy is left as `.dpkg-old`).
    #[serde(default)]
    pub conffiles: ConffilePolicy,
    /// systemd units stopped before the install and started again after it (and after a
    /// rollback), so nothing writes while the packages change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_units: Vec<String>,
    /// Configuration and database migrations, run in order after the install; when the change
    /// rolls back, the reverse of each one that ran, in the opposite order, before the recorded
    /// versions return.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<MigrationHook>,
    /// A command printing a number, run before the change and after it is verified; a
    /// regression past the threshold fails the change (it rolls back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmark: Option<BenchmarkHook>,
}

/// How dpkg treats a conffile both the host and the new package changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConffilePolicy {
    #[default]
    Keep,
    Replace,
}

impl ConffilePolicy {
    /// The dpkg option apt passes on.
    pub fn dpkg_option(self) -> &'static str {
        match self {
            ConffilePolicy::Keep => "--force-confold",
            ConffilePolicy::Replace => "--force-confnew",
        }
    }
}

/// One migration: `forward` after the install, `reverse` when the change is undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationHook {
    pub name: String,
    pub forward: Vec<String>,
    pub reverse: Vec<String>,
    #[serde(default = "default_hook_timeout")]
    pub timeout_seconds: u64,
}

/// A benchmark: `argv` prints a number (the last number of its output counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkHook {
    pub argv: Vec<String>,
    /// Whether a larger number is better (throughput) or worse (latency).
    #[serde(default)]
    pub higher_is_better: bool,
    /// How much worse than before the number may get, in percent of the number before
    /// (0 to 1000).
    pub max_regression_percent: u32,
    #[serde(default = "default_hook_timeout")]
    pub timeout_seconds: u64,
}

fn default_hook_timeout() -> u64 {
    600
}

impl ChangeHooks {
    /// Whether the hooks do anything besides the default conffile policy.
    pub fn is_empty(&self) -> bool {
        self.conffiles == ConffilePolicy::Keep
            && self.stop_units.is_empty()
            && self.migrations.is_empty()
            && self.benchmark.is_none()
    }

    /// Every problem, each naming its field (`hooks.migrations[1].reverse: …`).
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for (i, unit) in self.stop_units.iter().enumerate() {
            if !pw_model::is_service_unit(unit) {
                problems.push(format!(
                    "hooks.stop_units[{i}]: {unit:?} is not a systemd unit name"
                ));
            }
        }
        for (i, hook) in self.migrations.iter().enumerate() {
            let at = format!("hooks.migrations[{i}]");
            if hook.name.trim().is_empty() || hook.name.chars().count() > 100 {
                problems.push(format!("{at}.name: needs 1 to 100 characters"));
            }
            if self.migrations[..i].iter().any(|m| m.name == hook.name) {
                problems.push(format!("{at}.name: {:?} is listed twice", hook.name));
            }
            problems.extend(argv_problem(&format!("{at}.forward"), &hook.forward));
            problems.extend(argv_problem(&format!("{at}.reverse"), &hook.reverse));
            problems.extend(timeout_problem(&at, hook.timeout_seconds));
        }
        if let Some(bench) = &self.benchmark {
            problems.extend(argv_problem("hooks.benchmark.argv", &bench.argv));
            problems.extend(timeout_problem("hooks.benchmark", bench.timeout_seconds));
            let percent = bench.max_regression_percent;
            if percent > 1000 {
                problems.push(format!(
                    "hooks.benchmark.max_regression_percent: must be 0 to 1000, got {percent}"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn argv_problem(at: &str, argv: &[String]) -> Option<String> {
    match argv.first() {
        None => Some(format!("{at}: argv is empty")),
        Some(program)
            if !program.starts_with('/') || program.len() < 2 || program.ends_with('/') =>
        {
            Some(format!(
                "{at}: the program {program:?} must be an absolute path to a file (argv, never a shell)"
            ))
        }
        Some(_) if argv.iter().any(|a| a.contains('\0')) => {
            Some(format!("{at}: an argument contains NUL"))
        }
        Some(_) if argv.len() > 64 || argv.iter().any(|a| a.chars().count() > 4096) => {
            Some(format!("{at}: at most 64 arguments of 4096 characters"))
        }
        Some(_) => None,
    }
}

fn timeout_problem(at: &str, seconds: u64) -> Option<String> {
    (!(1..=MAX_HOOK_TIMEOUT_SECS).contains(&seconds)).then(|| {
        format!("{at}.timeout_seconds: must be 1..={MAX_HOOK_TIMEOUT_SECS}, got {seconds}")
    })
}

/// What the guard did with a change's hooks, in the change report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HooksReport {
    /// The conffile policy dpkg was given.
    pub conffiles: ConffilePolicy,
    /// Every hook run, in order (stops and starts, migrations forward and reverse).
    pub runs: Vec<HookRun>,
    /// The benchmark before and after, when the change had one and got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmark: Option<BenchmarkResult>,
}

/// One hook run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRun {
    /// `stop`, `start`, `forward`, `reverse`, `benchmark`.
    pub phase: String,
    /// The unit or migration name (`benchmark` for the benchmark).
    pub name: String,
    pub ok: bool,
    /// Exit code and output tail, or why it could not run.
    pub detail: String,
}

/// The benchmark's numbers. Every number is finite (read by [`BenchmarkHook::read_number`]),
/// so equality is total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkResult {
    pub before: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<f64>,
    /// How much worse `after` is than `before`, in percent (negative: better); `None` before
    /// the second run, or when `before` was 0 (no percentage of zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression_percent: Option<f64>,
    pub max_regression_percent: u32,
    pub passed: bool,
}

impl Eq for BenchmarkResult {}

impl BenchmarkHook {
    /// The number a benchmark printed: the last token of its output that parses as a finite
    /// number.
    pub fn read_number(output: &str) -> Option<f64> {
        output
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .rev()
            .filter_map(|token| token.parse::<f64>().ok())
            .find(|n| n.is_finite())
    }

    /// Compares two runs: how much worse `after` is than `before` in percent, and whether
    /// that is within the threshold. A `before` of zero counts any change for the worse as
    /// past the threshold.
    pub fn judge(&self, before: f64, after: f64) -> BenchmarkResult {
        let worse_by = if self.higher_is_better {
            before - after
        } else {
            after - before
        };
        let max = f64::from(self.max_regression_percent);
        let (regression_percent, passed) = if before == 0.0 {
            (None, worse_by <= 0.0)
        } else {
            let percent = worse_by / before.abs() * 100.0;
            (Some(percent), percent <= max)
        };
        BenchmarkResult {
            before,
            after: Some(after),
            regression_percent,
            max_regression_percent: self.max_regression_percent,
            passed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench(higher_is_better: bool, max: u32) -> BenchmarkHook {
        BenchmarkHook {
            argv: vec!["/usr/bin/true".into()],
            higher_is_better,
            max_regression_percent: max,
            timeout_seconds: 10,
        }
    }

    #[test]
    fn a_benchmark_regression_is_judged_in_the_direction_that_is_worse() {
        // Throughput: 100 → 85 is 15 % worse.
        let r = bench(true, 10).judge(100.0, 85.0);
        assert_eq!(r.regression_percent, Some(15.0));
        assert!(!r.passed);
        assert!(bench(true, 20).judge(100.0, 85.0).passed);
        // Faster is never a regression.
        assert!(bench(true, 0).judge(100.0, 120.0).passed);
        // Latency: 20 ms → 25 ms is 25 % worse; 20 → 10 is better.
        let r = bench(false, 10).judge(20.0, 25.0);
        assert_eq!(r.regression_percent, Some(25.0));
        assert!(!r.passed);
        assert!(bench(false, 0).judge(20.0, 10.0).passed);
        // From zero, only "no worse" passes; there is no percentage of zero.
        let r = bench(false, 1000).judge(0.0, 0.5);
        assert!(!r.passed);
        assert_eq!(r.regression_percent, None);
        assert!(bench(false, 0).judge(0.0, 0.0).passed);
    }

    #[test]
    fn the_last_number_printed_counts() {
        assert_eq!(BenchmarkHook::read_number("12.5\n"), Some(12.5));
        assert_eq!(
            BenchmarkHook::read_number("warming up 3\nrequests/s: 1520.25\n"),
            Some(1520.25)
        );
        assert_eq!(BenchmarkHook::read_number("a,b,7;"), Some(7.0));
        assert_eq!(BenchmarkHook::read_number("no number here"), None);
        assert_eq!(BenchmarkHook::read_number("nan inf 4"), Some(4.0));
        assert_eq!(BenchmarkHook::read_number("4 NaN"), Some(4.0));
    }

    #[test]
    fn every_problem_names_its_field() {
        let hooks = ChangeHooks {
            conffiles: ConffilePolicy::Replace,
            stop_units: vec!["app.service".into(), "rm -rf /".into()],
            migrations: vec![
                MigrationHook {
                    name: "schema".into(),
                    forward: vec!["/usr/local/bin/migrate".into(), "down".into()],
                    reverse: vec!["migrate".into()],
                    timeout_seconds: 0,
                },
                MigrationHook {
                    name: "schema".into(),
                    forward: vec![],
                    reverse: vec!["/bin/true".into()],
                    timeout_seconds: 60,
                },
            ],
            benchmark: Some(BenchmarkHook {
                max_regression_percent: 1001,
                ..bench(true, 0)
            }),
        };
        let problems = hooks.validate().unwrap_err();
        let mut root = hooks.clone();
        root.migrations.clear();
        root.stop_units.clear();
        root.benchmark.as_mut().unwrap().max_regression_percent = 5;
        for program in ["/", "/usr/bin/"] {
            root.benchmark.as_mut().unwrap().argv = vec![program.into()];
            let refused = root.validate().unwrap_err();
            assert!(
                refused[0].contains("must be an absolute path to a file"),
                "{refused:?}"
            );
        }
        let expected = [
            "hooks.stop_units[1]:",
            "hooks.migrations[0].reverse: the program \"migrate\" must be an absolute path",
            "hooks.migrations[0].timeout_seconds:",
            "hooks.migrations[1].name: \"schema\" is listed twice",
            "hooks.migrations[1].forward: argv is empty",
            "hooks.benchmark.max_regression_percent:",
        ];
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
        for (problem, start) in problems.iter().zip(expected) {
            assert!(problem.starts_with(start), "{problem} vs {start}");
        }
        assert!(ChangeHooks::default().validate().is_ok());
        assert!(ChangeHooks::default().is_empty());
        assert!(!hooks.is_empty());
    }

    #[test]
    fn hooks_read_from_the_plan_request_json() {
        let hooks: ChangeHooks = serde_json::from_value(serde_json::json!({
            "conffiles": "replace",
            "stop_units": ["app.service"],
            "migrations": [{"name": "schema", "forward": ["/usr/bin/true"], "reverse": ["/usr/bin/false"]}],
            "benchmark": {"argv": ["/usr/bin/echo", "5"], "max_regression_percent": 10}
        }))
        .unwrap();
        assert_eq!(hooks.conffiles, ConffilePolicy::Replace);
        assert_eq!(hooks.migrations[0].timeout_seconds, 600);
        assert!(!hooks.benchmark.as_ref().unwrap().higher_is_better);
        let unknown = serde_json::from_value::<ChangeHooks>(serde_json::json!({"stop": []}));
        assert!(unknown.unwrap_err().to_string().contains("unknown field"));
    }
}
