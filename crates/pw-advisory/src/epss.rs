//! FIRST EPSS daily scores (CSV): an optional comment line
//! `#model_version:v2026.06.15,score_date:2026-09-29T12:00:22Z`, the header
//! `cve,epss,percentile`, then one row per CVE. Some mirrors drop the comment line; both are
//! accepted. Numbers are decimals in [0, 1] (at most 5 decimals, trailing zeros dropped).
//!
//! A bad row is a problem with its line number; the other rows are kept. A missing header is an
//! error: without it the columns cannot be trusted.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::ids::is_cve_id;

/// The scores of one EPSS file.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct EpssScores {
    pub model_version: Option<String>,
    pub score_date: Option<Timestamp>,
    pub scores: Vec<EpssScore>,
}

/// One row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpssScore {
    pub cve: String,
    /// Probability of exploitation activity in the next 30 days, 0–1.
    pub epss: f64,
    /// Rank among all scored CVEs, 0–1.
    pub percentile: f64,
}

/// What was read, and the rows that were not.
#[derive(Debug, Clone, PartialEq)]
pub struct EpssParse {
    pub scores: EpssScores,
    pub problems: Vec<EpssError>,
}

/// An EPSS problem, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpssError {
    #[error("the EPSS file is empty")]
    Empty,
    #[error("line {line}: expected the header \"cve,epss,percentile\", found \"{found}\"")]
    MissingHeader { line: usize, found: String },
    #[error("line {line}: {message}: \"{text}\"")]
    Row {
        line: usize,
        text: String,
        message: String,
    },
    #[error("line {line}: the comment line is not key:value pairs: \"{text}\"")]
    BadComment { line: usize, text: String },
}

impl EpssScores {
    /// A map from CVE id to its row, for lookups.
    pub fn by_cve(&self) -> HashMap<&str, &EpssScore> {
        self.scores.iter().map(|s| (s.cve.as_str(), s)).collect()
    }
}

/// Parses an EPSS CSV file.
pub fn parse_epss_csv(bytes: &[u8]) -> Result<EpssParse, EpssError> {
    let mut scores = EpssScores::default();
    let mut problems = Vec::new();
    let mut header_seen = false;
    let mut seen = HashMap::new();
    for (index, raw_line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let raw_line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        let raw_line = if index == 0 {
            raw_line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw_line)
        } else {
            raw_line
        };
        let text = String::from_utf8_lossy(raw_line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if !header_seen {
            if let Some(comment) = text.strip_prefix('#') {
                read_comment(comment, line, &mut scores, &mut problems);
                continue;
            }
            if !text.eq_ignore_ascii_case("cve,epss,percentile") {
                return Err(EpssError::MissingHeader {
                    line,
                    found: clip(text),
                });
            }
            header_seen = true;
            continue;
        }
        match read_row(text) {
            Ok(score) => {
                if let Some(first) = seen.insert(score.cve.clone(), line) {
                    problems.push(EpssError::Row {
                        line,
                        text: clip(text),
                        message: format!("duplicate of line {first}"),
                    });
                } else {
                    scores.scores.push(score);
                }
            }
            Err(message) => problems.push(EpssError::Row {
                line,
                text: clip(text),
                message,
            }),
        }
    }
    if !header_seen {
        return Err(if scores.model_version.is_none() && problems.is_empty() {
            EpssError::Empty
        } else {
            EpssError::MissingHeader {
                line: bytes.split(|&b| b == b'\n').count(),
                found: String::new(),
            }
        });
    }
    Ok(EpssParse { scores, problems })
}

fn read_comment(
    comment: &str,
    line: usize,
    scores: &mut EpssScores,
    problems: &mut Vec<EpssError>,
) {
    for pair in comment.split(',') {
        let Some((key, value)) = pair.split_once(':') else {
            problems.push(EpssError::BadComment {
                line,
                text: clip(comment),
            });
            return;
        };
        match key.trim() {
            "model_version" => scores.model_version = Some(value.trim().to_owned()),
            "score_date" => match value.trim().parse::<Timestamp>() {
                Ok(t) => scores.score_date = Some(t),
                Err(_) => problems.push(EpssError::BadComment {
                    line,
                    text: clip(comment),
                }),
            },
            _ => {}
        }
    }
}

fn read_row(text: &str) -> Result<EpssScore, String> {
    let mut fields = text.split(',');
    let (Some(cve), Some(epss), Some(percentile), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("expected three comma-separated fields".to_owned());
    };
    let cve = cve.trim();
    if !is_cve_id(cve) {
        return Err(format!("\"{cve}\" is not a CVE id"));
    }
    Ok(EpssScore {
        cve: cve.to_owned(),
        epss: probability("epss", epss)?,
        percentile: probability("percentile", percentile)?,
    })
}

fn probability(field: &str, text: &str) -> Result<f64, String> {
    let text = text.trim();
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{field} \"{text}\" is not a number"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{field} {text} is outside [0, 1]"));
    }
    Ok(value)
}

/// Shortens text quoted in an error.
fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_with_and_without_the_comment_line() {
        let with = b"#model_version:v2026.06.15,score_date:2026-09-29T12:00:22Z\ncve,epss,percentile\nCVE-1999-0001,0.03351,0.88255\r\nCVE-1999-0002,0.2667,0.98\n";
        let parsed = parse_epss_csv(with).unwrap();
        assert_eq!(parsed.problems, vec![]);
        assert_eq!(parsed.scores.model_version.as_deref(), Some("v2026.06.15"));
        assert_eq!(
            parsed.scores.score_date,
            Some("2026-09-29T12:00:22Z".parse().unwrap())
        );
        assert_eq!(parsed.scores.scores.len(), 2);
        assert_eq!(parsed.scores.by_cve()["CVE-1999-0002"].epss, 0.2667);
        let without = parse_epss_csv(b"cve,epss,percentile\nCVE-1999-0001,0.1,0.2").unwrap();
        assert_eq!(without.scores.model_version, None);
        assert_eq!(without.scores.scores.len(), 1);
    }

    #[test]
    fn bad_rows_are_reported_with_their_line() {
        let text = b"cve,epss,percentile\nCVE-1999-0001,1.5,0.2\nCVE-99-1,0.1,0.1\nCVE-1999-0003,x,0.1\nCVE-1999-0004,0.1\nCVE-1999-0005,0.1,0.2\nCVE-1999-0005,0.1,0.2\nCVE-1999-0006,NaN,0.1\n";
        let parsed = parse_epss_csv(text).unwrap();
        let lines: Vec<usize> = parsed
            .problems
            .iter()
            .map(|p| match p {
                EpssError::Row { line, .. } => *line,
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(lines, [2, 3, 4, 5, 7, 8]);
        assert_eq!(parsed.scores.scores.len(), 1);
    }

    #[test]
    fn missing_header_is_an_error() {
        assert_eq!(parse_epss_csv(b""), Err(EpssError::Empty));
        assert!(matches!(
            parse_epss_csv(b"#model_version:v1\nCVE-1999-0001,0.1,0.2\n"),
            Err(EpssError::MissingHeader { line: 2, .. })
        ));
    }
}
