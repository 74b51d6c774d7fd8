//! Where patchwarden's wall time goes, from the controller's own timestamps (read with the
//! `sqlite3` CLI from the server's database after the rollout): per `apply_change` command,
//! claim (command written) → delivered (long-poll took it) → installed (agent, after apt) →
//! finished (agent) → result received by the controller, and how long after the result that
//! freed its slot each later claim was written (the scheduler's reaction time).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, ensure};

const QUERY: &str = "SELECT
  (julianday(c.created_at) - julianday(ro.created_at)) * 86400,
  (julianday(c.delivered_at) - julianday(ro.created_at)) * 86400,
  (julianday(json_extract(r.report, '$.installed_at')) - julianday(ro.created_at)) * 86400,
  (julianday(c.finished_at) - julianday(ro.created_at)) * 86400,
  (julianday(r.received_at) - julianday(ro.created_at)) * 86400
FROM commands c JOIN change_reports r ON r.command_id = c.id, rollouts ro
WHERE c.kind = 'apply_change' ORDER BY c.created_at";

/// One command's instants, in seconds after the rollout was created.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    pub claimed: f64,
    pub delivered: f64,
    pub installed: f64,
    pub finished: f64,
    pub received: f64,
}

/// Reads every `apply_change` command's timeline from the controller database `db`.
pub fn read(db: &Path) -> anyhow::Result<Vec<Timeline>> {
    let out = Command::new("sqlite3")
        .args(["-readonly", "-separator", " "])
        .arg(db)
        .arg(QUERY)
        .output()
        .context("running sqlite3 (apt-get install sqlite3) for the latency breakdown")?;
    ensure!(
        out.status.success(),
        "sqlite3 {}: {}",
        db.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8_lossy(&out.stdout))
}

fn parse(text: &str) -> anyhow::Result<Vec<Timeline>> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let v: Vec<f64> = line
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .with_context(|| format!("unexpected sqlite3 row: {line}"))?;
            ensure!(v.len() == 5, "unexpected sqlite3 row: {line}");
            Ok(Timeline {
                claimed: v[0],
                delivered: v[1],
                installed: v[2],
                finished: v[3],
                received: v[4],
            })
        })
        .collect()
}

/// Averages over the commands, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub commands: usize,
    /// Claim written after the latest result received before it (claims of the first wave,
    /// before any result, are counted from the rollout's creation).
    pub claim_after_result: f64,
    /// Claim → delivered to the agent's long-poll.
    pub pickup: f64,
    /// Delivered → installed (agent: record versions, journal, `apt-get install`).
    pub apply: f64,
    /// Installed → finished (agent: verification, final versions).
    pub finish: f64,
    /// Finished → result stored by the controller.
    pub report: f64,
}

pub fn summarize(timelines: &[Timeline]) -> Option<Summary> {
    if timelines.is_empty() {
        return None;
    }
    let n = timelines.len() as f64;
    let mean = |f: &dyn Fn(&Timeline) -> f64| timelines.iter().map(f).sum::<f64>() / n;
    let claim_after_result = mean(&|t| {
        let freed_by = timelines
            .iter()
            .map(|o| o.received)
            .filter(|&r| r <= t.claimed)
            .fold(0.0, f64::max);
        t.claimed - freed_by
    });
    Some(Summary {
        commands: timelines.len(),
        claim_after_result,
        pickup: mean(&|t| t.delivered - t.claimed),
        apply: mean(&|t| t.installed - t.delivered),
        finish: mean(&|t| t.finished - t.installed),
        report: mean(&|t| t.received - t.finished),
    })
}

/// The table printed after each patchwarden run.
pub fn render(timelines: &[Timeline]) -> String {
    let mut text = String::from(
        "  claimed delivered installed finished received   (s after the rollout was created)\n",
    );
    for t in timelines {
        text.push_str(&format!(
            "  {:7.2} {:9.2} {:9.2} {:8.2} {:8.2}\n",
            t.claimed, t.delivered, t.installed, t.finished, t.received
        ));
    }
    if let Some(s) = summarize(timelines) {
        text.push_str(&format!(
            "  mean over {} commands: claim after the freeing result {:.3} s, pickup {:.3} s, \
             agent apply {:.3} s, agent finish {:.3} s, report {:.3} s\n",
            s.commands, s.claim_after_result, s.pickup, s.apply, s.finish, s.report
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_and_measures_the_claim_from_the_result_that_freed_it() {
        let rows = parse("0.01 0.02 0.50 0.52 0.53\n0.63 0.64 1.10 1.12 1.13\n").unwrap();
        assert_eq!(rows.len(), 2);
        let s = summarize(&rows).unwrap();
        assert!((s.claim_after_result - (0.01 + 0.10) / 2.0).abs() < 1e-9);
        assert!((s.pickup - 0.01).abs() < 1e-9);
        assert!((s.apply - (0.48 + 0.46) / 2.0).abs() < 1e-9);
        assert!(parse("1 2 3\n").is_err());
        assert!(summarize(&[]).is_none());
    }
}
