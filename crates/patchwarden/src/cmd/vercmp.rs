//! `patchwarden vercmp`: batch version comparison for scripts.
//!
//! Reads `A<TAB>B` lines from stdin and prints `-1`, `0` or `1` per line, in order. A malformed
//! line stops the run with an error naming its line number (output for earlier lines stays).

use std::cmp::Ordering;
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use pw_version::Scheme;

#[derive(clap::Args)]
pub struct Args {
    /// Version rules: dpkg (Debian, Ubuntu) or rpm (RHEL family).
    #[arg(long, value_parser = ["dpkg", "rpm"])]
    scheme: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let scheme: Scheme = args.scheme.parse().map_err(anyhow::Error::msg)?;
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    compare_lines(scheme, stdin, &mut out)?;
    out.flush().context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// Compares every line of `input`, writing one sign per line to `out`.
pub fn compare_lines(
    scheme: Scheme,
    input: impl BufRead,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("reading stdin line {number}"))?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        let Some((a, b)) = line.split_once('\t') else {
            out.flush()?;
            bail!("line {number}: expected two versions separated by a TAB, got {line:?}");
        };
        if b.contains('\t') {
            out.flush()?;
            bail!("line {number}: expected exactly two TAB-separated versions, got {line:?}");
        }
        let sign = match scheme.compare(a, b) {
            Ok(Ordering::Less) => "-1",
            Ok(Ordering::Equal) => "0",
            Ok(Ordering::Greater) => "1",
            Err(error) => {
                out.flush()?;
                bail!("line {number}: {error}");
            }
        };
        writeln!(out, "{sign}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_lines(scheme: Scheme, input: &str) -> (String, Option<String>) {
        let mut out = Vec::new();
        let result = compare_lines(scheme, input.as_bytes(), &mut out);
        (
            String::from_utf8(out).unwrap(),
            result.err().map(|e| e.to_string()),
        )
    }

    #[test]
    fn prints_one_sign_per_line() {
        let (out, err) = run_lines(Scheme::Dpkg, "1.0\t1.1\n2:0\t1:9\n1.0\t1.0-0\n");
        assert_eq!(out, "-1\n1\n0\n");
        assert_eq!(err, None);
    }

    #[test]
    fn names_the_malformed_line() {
        let (out, err) = run_lines(Scheme::Rpm, "1.0-1\t1.0-2\n1.0\n");
        assert_eq!(out, "-1\n");
        assert!(err.unwrap().starts_with("line 2: expected two versions"));
        let (_, err) = run_lines(Scheme::Rpm, "1.0-1\t1.0-2\n1.0-1\t1.0-2\n1.0\t1.0-1\n");
        assert!(
            err.unwrap()
                .starts_with("line 3: invalid rpm version \"1.0\"")
        );
    }
}
