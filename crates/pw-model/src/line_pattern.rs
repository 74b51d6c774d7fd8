//! Which log lines count for a "log lines since the change" check: the ERROR/CRITICAL level words,
//! a literal substring or a regular expression (the `regex` crate's syntax, size-limited). Pure:
//! the controller validates a check's pattern with it, the agent's log check (pw-host) matches
//! lines with it.

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("the log pattern is empty")]
    Empty,
    #[error("the log pattern is {0} bytes long; at most {MAX_PATTERN_LEN}")]
    TooLong(usize),
    #[error("the log pattern {0:?} is not a valid regex: {1}")]
    Regex(String, String),
}

/// What makes a line count.
#[derive(Debug, Clone)]
pub enum LinePattern {
    /// [`LOG_ERROR_WORDS`] as whole words (case-sensitive, the way log levels are written).
    ErrorWords,
    /// The line contains this text.
    Literal(String),
    /// The line matches this regular expression (`regex` crate syntax).
    Regex(regex::Regex),
}

impl PartialEq for LinePattern {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (LinePattern::ErrorWords, LinePattern::ErrorWords) => true,
            (LinePattern::Literal(a), LinePattern::Literal(b)) => a == b,
            (LinePattern::Regex(a), LinePattern::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Eq for LinePattern {}

/// Words that make a log line an error line for [`LinePattern::ErrorWords`].
pub const LOG_ERROR_WORDS: [&str; 2] = ["ERROR", "CRITICAL"];

/// Longest pattern accepted (literal or regular expression), in bytes.
pub const MAX_PATTERN_LEN: usize = 1024;

impl LinePattern {
    /// A literal pattern, or a regular expression when `regex` is true; refuses an empty or
    /// overlong pattern and a regular expression that does not compile.
    pub fn new(pattern: &str, regex: bool) -> Result<LinePattern, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(PatternError::TooLong(pattern.len()));
        }
        if !regex {
            return Ok(LinePattern::Literal(pattern.to_owned()));
        }
        let compiled = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| PatternError::Regex(pattern.to_owned(), e.to_string()))?;
        Ok(LinePattern::Regex(compiled))
    }

    pub fn matches(&self, line: &str) -> bool {
        match self {
            LinePattern::ErrorWords => line
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|word| LOG_ERROR_WORDS.contains(&word)),
            LinePattern::Literal(text) => line.contains(text.as_str()),
            LinePattern::Regex(regex) => regex.is_match(line),
        }
    }

    /// The pattern as a report shows it: `ERROR/CRITICAL`, `"text"`, `/regex/`.
    pub fn describe(&self) -> String {
        match self {
            LinePattern::ErrorWords => "ERROR/CRITICAL".to_owned(),
            LinePattern::Literal(text) => format!("{text:?}"),
            LinePattern::Regex(regex) => format!("/{}/", regex.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_and_bad_ones_are_refused_with_the_reason() {
        let words = LinePattern::ErrorWords;
        assert!(words.matches("2026-12-04 ERROR cache broken"));
        assert!(!words.matches("TERRORS are not errors"));
        let literal = LinePattern::new("out of memory", false).unwrap();
        assert!(literal.matches("kernel: out of memory: kill"));
        let regex = LinePattern::new(r"\b5\d\d\b", true).unwrap();
        assert!(regex.matches("GET / 503") && !regex.matches("GET / 200"));
        assert_eq!(regex.describe(), r"/\b5\d\d\b/");
        assert_eq!(
            LinePattern::new("", false).unwrap_err(),
            PatternError::Empty
        );
        assert_eq!(
            LinePattern::new(&"x".repeat(MAX_PATTERN_LEN + 1), false).unwrap_err(),
            PatternError::TooLong(MAX_PATTERN_LEN + 1)
        );
        let bad = LinePattern::new("(unclosed", true).unwrap_err().to_string();
        assert!(
            bad.starts_with("the log pattern \"(unclosed\" is not a valid regex"),
            "{bad}"
        );
    }
}
