//! PostgreSQL backups: `pg_dump -Fc` of one database, run as its OS user through `runuser`
//! (peer authentication over the local socket; the agent runs as root), into
//! `<dir>/<name>/<database>.dump` (the directory owned by that user, mode 0700). Verified by
//! `pg_restore` into a scratch database `pw_verify_<n>` and a comparison table by table: the
//! row count and the MD5 of the rows as text in sorted order, for every table outside the
//! system schemas; the scratch database is dropped on every path. The source's table sums are
//! kept beside the dump (`tables.txt`) so [`restore`] can check the restored database too.
//!
//! The comparison reads the source after the dump: writes in between make it fail, which is
//! why a pause-writes step should come first (docs/protection.md).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, bail};

use super::{Budget, Taken, disk_size};
use crate::{Invocation, Runner};

/// Separates the columns of psql's unaligned output (a character no table name has here).
const SEP: &str = "\x1f";
const TABLES: &str = "tables.txt";

/// One table's row count and checksum, keyed by `schema.table`.
pub type TableSums = BTreeMap<String, (u64, String)>;

/// Dumps `database` into `<dir>/<name>` and verifies it by a restore into a scratch database.
pub fn backup(
    runner: &dyn Runner,
    budget: &Budget,
    database: &str,
    os_user: &str,
    dir: &str,
    name: &str,
) -> anyhow::Result<Taken> {
    let location = format!("{}/{name}", dir.trim_end_matches('/'));
    let dump = format!("{location}/{database}.dump");
    let started = Instant::now();
    budget.run_ok(runner, "mkdir", &["-p", "-m", "0700", "--", &location])?;
    budget.run_ok(runner, "chown", &["--", os_user, &location])?;
    as_user(
        runner,
        budget,
        os_user,
        "pg_dump",
        &["-Fc", "-f", &dump, "-d", database],
    )
    .with_context(|| format!("dumping database {database}"))?;
    let take = started.elapsed();
    let started = Instant::now();
    let source = table_sums(runner, budget, os_user, database)?;
    let text: String = source
        .iter()
        .map(|(table, (rows, sum))| format!("{table}{SEP}{rows}{SEP}{sum}\n"))
        .collect();
    let tables_path = format!("{location}/{TABLES}");
    runner.run_ok(
        &Invocation::new("tee", ["--", tables_path.as_str()])
            .stdin(text)
            .timeout(budget.left()?),
    )?;
    let scratch = scratch_name(name);
    let verified = verify_in_scratch(runner, budget, os_user, &dump, &scratch, &source);
    let dropped = as_user(
        runner,
        budget,
        os_user,
        "dropdb",
        &["--if-exists", &scratch],
    );
    let verified = verified?;
    dropped.with_context(|| format!("dropping the scratch database {scratch}"))?;
    Ok(Taken {
        size_bytes: disk_size(runner, budget, &dump)?,
        location: dump,
        take,
        verify: started.elapsed(),
        verified,
    })
}

/// `pw_verify_` and the digits of the backup's name (its time), a name no application uses.
fn scratch_name(name: &str) -> String {
    let digits: String = name.chars().filter(char::is_ascii_digit).take(20).collect();
    format!("pw_verify_{digits}")
}

fn verify_in_scratch(
    runner: &dyn Runner,
    budget: &Budget,
    os_user: &str,
    dump: &str,
    scratch: &str,
    source: &TableSums,
) -> anyhow::Result<Result<String, String>> {
    as_user(runner, budget, os_user, "dropdb", &["--if-exists", scratch])?;
    as_user(
        runner,
        budget,
        os_user,
        "createdb",
        &["-T", "template0", scratch],
    )?;
    as_user(
        runner,
        budget,
        os_user,
        "pg_restore",
        &["--exit-on-error", "-d", scratch, dump],
    )
    .with_context(|| format!("restoring {dump} into the scratch database {scratch}"))?;
    let restored = table_sums(runner, budget, os_user, scratch)?;
    Ok(compare(source, &restored))
}

/// Same tables with the same row counts and checksums: `Ok("N tables, M rows match")`, or
/// `Err` naming the first table that differs.
pub fn compare(source: &TableSums, restored: &TableSums) -> Result<String, String> {
    for (table, (rows, sum)) in source {
        match restored.get(table) {
            None => return Err(format!("table {table}: missing after the restore")),
            Some((r, _)) if r != rows => {
                return Err(format!(
                    "table {table}: {r} rows restored, {rows} in the source"
                ));
            }
            Some((_, s)) if s != sum => {
                return Err(format!(
                    "table {table}: checksum of the ordered rows differs ({s} restored, {sum} in the source)"
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = restored.keys().find(|t| !source.contains_key(*t)) {
        return Err(format!("table {extra}: not in the source"));
    }
    let rows: u64 = source.values().map(|(r, _)| r).sum();
    Ok(format!("{} tables, {rows} rows match", source.len()))
}

/// Runs a PostgreSQL client program as `os_user` (`runuser -u USER -- program args…`).
fn as_user(
    runner: &dyn Runner,
    budget: &Budget,
    os_user: &str,
    program: &str,
    args: &[&str],
) -> anyhow::Result<String> {
    let mut argv = vec!["-u", os_user, "--", program];
    argv.extend_from_slice(args);
    Ok(budget.run_ok(runner, "runuser", &argv)?.stdout_text())
}

/// Runs one query in `database` (psql, unaligned, no headers, stops at the first error).
fn query(
    runner: &dyn Runner,
    budget: &Budget,
    os_user: &str,
    database: &str,
    sql: &str,
) -> anyhow::Result<String> {
    as_user(
        runner,
        budget,
        os_user,
        "psql",
        &[
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            SEP,
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            database,
            "-c",
            sql,
        ],
    )
}

/// `"name"` with inner quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Row count and checksum of every ordinary table outside the system schemas.
pub fn table_sums(
    runner: &dyn Runner,
    budget: &Budget,
    os_user: &str,
    database: &str,
) -> anyhow::Result<TableSums> {
    let listed = query(
        runner,
        budget,
        os_user,
        database,
        "SELECT schemaname, tablename FROM pg_catalog.pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
    )?;
    let tables: Vec<(String, String)> = listed
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split_once(SEP)
                .map(|(s, t)| (s.to_owned(), t.to_owned()))
                .with_context(|| format!("psql printed {l:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    if tables.is_empty() {
        return Ok(TableSums::new());
    }
    let sql = tables
        .iter()
        .map(|(schema, table)| {
            let literal = format!("{schema}.{table}").replace('\'', "''");
            format!(
                "SELECT '{literal}', count(*), md5(coalesce(string_agg(t::text, E'\\n' \
                 ORDER BY t::text), '')) FROM ONLY {}.{} AS t",
                quote_ident(schema),
                quote_ident(table)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let mut sums = TableSums::new();
    for line in query(runner, budget, os_user, database, &sql)?
        .lines()
        .filter(|l| !l.is_empty())
    {
        let fields: Vec<&str> = line.split(SEP).collect();
        let [table, rows, sum] = fields[..] else {
            bail!("psql printed {line:?}");
        };
        let rows = rows
            .parse()
            .with_context(|| format!("row count of {table}: {rows:?}"))?;
        sums.insert(table.to_owned(), (rows, sum.to_owned()));
    }
    Ok(sums)
}

fn read_sums(runner: &dyn Runner, budget: &Budget, location: &str) -> anyhow::Result<TableSums> {
    let dir = location.rsplit_once('/').map_or(location, |(d, _)| d);
    let text = budget
        .run_ok(runner, "cat", &["--", &format!("{dir}/{TABLES}")])?
        .stdout_text();
    let mut sums = TableSums::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(SEP).collect();
        let [table, rows, sum] = fields[..] else {
            bail!("{dir}/{TABLES}: bad line {line:?}");
        };
        sums.insert(table.to_owned(), (rows.parse()?, sum.to_owned()));
    }
    Ok(sums)
}

/// Puts the dump at `location` back into `database` (`pg_restore --clean --if-exists
/// --single-transaction`: the dumped tables are dropped and recreated with their rows) and
/// compares the tables with the sums taken at the backup. Tables created after the backup are
/// left alone.
pub fn restore(
    runner: &dyn Runner,
    budget: &Budget,
    database: &str,
    os_user: &str,
    location: &str,
) -> anyhow::Result<String> {
    let source = read_sums(runner, budget, location)?;
    as_user(
        runner,
        budget,
        os_user,
        "pg_restore",
        &[
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "-d",
            database,
            location,
        ],
    )
    .with_context(|| format!("restoring {location} into {database}"))?;
    let mut now = table_sums(runner, budget, os_user, database)?;
    now.retain(|table, _| source.contains_key(table));
    compare(&source, &now).map_err(|e| anyhow::anyhow!("after the restore: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_names_the_table_and_what_differs() {
        let sums = |rows: u64, sum: &str| -> TableSums {
            [("public.items".to_owned(), (rows, sum.to_owned()))].into()
        };
        assert_eq!(
            compare(&sums(3, "a"), &sums(3, "a")).unwrap(),
            "1 tables, 3 rows match"
        );
        let error = compare(&sums(3, "a"), &sums(4, "a")).unwrap_err();
        assert_eq!(
            error,
            "table public.items: 4 rows restored, 3 in the source"
        );
        let error = compare(&sums(3, "a"), &sums(3, "b")).unwrap_err();
        assert!(error.contains("checksum"), "{error}");
        assert!(
            compare(&sums(3, "a"), &TableSums::new())
                .unwrap_err()
                .contains("missing")
        );
        assert_eq!(scratch_name("pw-1700000000-db"), "pw_verify_1700000000");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
