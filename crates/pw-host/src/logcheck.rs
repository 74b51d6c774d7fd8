//! The "log lines since the change" health check: before installing, the guard records a log
//! file's length and inode ([`log_mark`]); afterwards, lines appended since that mark that match a
//! pattern (a literal substring, a regular expression, or the ERROR/CRITICAL level words) must
//! number at most `max_matches`. A file that was rotated (another inode) or truncated (shorter
//! than the mark) is read from its start: everything in it was written after the change began.
//! Lines that went to the rotated-away file after the mark are not seen.

use crate::health::Verdict;
use crate::runner::{Invocation, Runner};

/// Where a log file stood before a change. A missing file has size 0 and inode 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogMark {
    pub size: u64,
    pub inode: u64,
}

pub use pw_model::{LOG_ERROR_WORDS, LinePattern, MAX_PATTERN_LEN};

/// One log check: at most `max_matches` matching lines after `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCheck {
    pub path: String,
    pub pattern: LinePattern,
    pub max_matches: u64,
    pub since: LogMark,
}

/// The lines of `text` matching `pattern`.
pub fn matching_lines<'t>(text: &'t str, pattern: &LinePattern) -> Vec<&'t str> {
    text.lines().filter(|line| pattern.matches(line)).collect()
}

/// The lines of `text` that contain one of [`LOG_ERROR_WORDS`] as a whole word.
pub fn error_lines(text: &str) -> Vec<&str> {
    matching_lines(text, &LinePattern::ErrorWords)
}

/// The file's current length and inode (a missing file: [`LogMark::default`]).
pub fn log_mark(runner: &dyn Runner, path: &str) -> anyhow::Result<LogMark> {
    if !path.starts_with('/') {
        anyhow::bail!("log path {path:?} is not absolute");
    }
    let output = runner.run(&Invocation::new("stat", ["-L", "-c", "%s %i", "--", path]))?;
    if !output.success() {
        return Ok(LogMark::default());
    }
    let text = output.stdout_text();
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    match (fields.next(), fields.next()) {
        (Some(Ok(size)), Some(Ok(inode))) => Ok(LogMark { size, inode }),
        _ => anyhow::bail!("stat of {path} on {} printed {text:?}", runner.target()),
    }
}

/// Runs one log check. Never an error: trouble reading the file is [`Verdict::Unhealthy`].
pub fn check_log(runner: &dyn Runner, check: &LogCheck) -> Verdict {
    let path = &check.path;
    let now = match log_mark(runner, path) {
        Ok(mark) => mark,
        Err(error) => return Verdict::Unhealthy(format!("{error:#}")),
    };
    let replaced = check.since.inode != now.inode || now.size < check.since.size;
    let start = if replaced { 0 } else { check.since.size };
    let what = check.pattern.describe();
    let from = if replaced {
        format!("{path} (rotated or truncated since the change began: read from its start)")
    } else {
        format!("{path} since byte {start}")
    };
    if now.size == start {
        return Verdict::Healthy(format!("{from}: nothing new"));
    }
    let offset = format!("+{}", start + 1);
    let output = match runner.run(&Invocation::new("tail", ["-c", &offset, "--", path])) {
        Ok(output) if output.success() => output,
        Ok(output) => return Verdict::Unhealthy(format!("reading {path}: {}", output.tail(3))),
        Err(error) => return Verdict::Unhealthy(format!("{error:#}")),
    };
    let text = output.stdout_text();
    let found = matching_lines(&text, &check.pattern);
    let count = found.len() as u64;
    match found.first() {
        Some(first) if count > check.max_matches => Verdict::Unhealthy(format!(
            "{from}: {count} line(s) matching {what}, at most {} allowed; first: {first}",
            check.max_matches
        )),
        _ => Verdict::Healthy(format!(
            "{from}: {count} line(s) matching {what} (at most {})",
            check.max_matches
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::LocalRunner;

    fn append(path: &std::path::Path, text: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn check(path: &str, pattern: LinePattern, max_matches: u64) -> LogCheck {
        let since = log_mark(&LocalRunner, path).unwrap();
        LogCheck {
            path: path.to_owned(),
            pattern,
            max_matches,
            since,
        }
    }

    #[test]
    fn patterns_literal_regex_and_error_words() {
        let text =
            "INFO up\n2025 ERROR disk\nERRORS are fine\n[CRITICAL] x\nerror lower\nNOERROR\n";
        assert_eq!(error_lines(text), ["2025 ERROR disk", "[CRITICAL] x"]);
        let literal = LinePattern::new("ERROR", false).unwrap();
        assert_eq!(matching_lines(text, &literal).len(), 3);
        let regex = LinePattern::new(r"^\d{4} (ERROR|WARN)\b", true).unwrap();
        assert_eq!(matching_lines(text, &regex), ["2025 ERROR disk"]);
        // A literal is not a regex: dots and brackets are plain characters.
        let dots = LinePattern::new("[CRITICAL]", false).unwrap();
        assert_eq!(matching_lines(text, &dots), ["[CRITICAL] x"]);
        let error = LinePattern::new("(unclosed", true).unwrap_err().to_string();
        assert!(error.contains("not a valid regex"), "{error}");
        assert!(LinePattern::new("", false).is_err());
        assert!(LinePattern::new(&"x".repeat(2000), false).is_err());
    }

    #[test]
    fn counts_only_lines_appended_after_the_mark_against_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("service.log");
        let path = log.to_str().unwrap();
        append(&log, "old failure before the change\n");
        let check = check(path, LinePattern::new("failure", false).unwrap(), 1);
        assert_eq!(check.since.size, 30);
        assert_ne!(check.since.inode, 0);
        let verdict = check_log(&LocalRunner, &check);
        assert!(
            matches!(&verdict, Verdict::Healthy(m) if m.contains("nothing new")),
            "{verdict:?}"
        );
        append(&log, "INFO fine\nfailure one\n");
        let verdict = check_log(&LocalRunner, &check);
        assert!(
            matches!(&verdict, Verdict::Healthy(m) if m.contains("1 line(s)")),
            "{verdict:?}"
        );
        append(&log, "failure two\n");
        let verdict = check_log(&LocalRunner, &check);
        assert!(
            matches!(&verdict, Verdict::Unhealthy(m) if m.contains("2 line(s)") && m.contains("first: failure one")),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_rotated_or_truncated_file_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("service.log");
        let path = log.to_str().unwrap();
        append(&log, "line before the change, long enough to matter\n");
        let check = check(path, LinePattern::ErrorWords, 0);
        // Truncated in place (same inode, shorter): all of it is new.
        std::fs::write(&log, "ERROR x\n").unwrap();
        let verdict = check_log(&LocalRunner, &check);
        assert!(
            matches!(&verdict, Verdict::Unhealthy(m) if m.contains("rotated or truncated")),
            "{verdict:?}"
        );
        // Rotated: renamed away and a new file (another inode) that is *longer* than the mark.
        std::fs::write(&log, "line before the change, long enough to matter\n").unwrap();
        let check = self::check(path, LinePattern::ErrorWords, 0);
        std::fs::rename(&log, dir.path().join("service.log.1")).unwrap();
        append(
            &log,
            "a fresh file with an ERROR line and more text than before\n",
        );
        let now = log_mark(&LocalRunner, path).unwrap();
        assert_ne!(now.inode, check.since.inode);
        assert!(now.size > check.since.size);
        assert!(check_log(&LocalRunner, &check).is_unhealthy());
    }

    #[test]
    fn a_missing_file_is_empty_and_a_relative_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("later.log");
        let path = log.to_str().unwrap();
        let check = check(path, LinePattern::ErrorWords, 0);
        assert_eq!(check.since, LogMark::default());
        let verdict = check_log(&LocalRunner, &check);
        assert!(verdict.is_healthy(), "{verdict:?}");
        append(&log, "CRITICAL created after the change\n");
        assert!(check_log(&LocalRunner, &check).is_unhealthy());
        assert!(log_mark(&LocalRunner, "relative.log").is_err());
    }
}
