//! The PostgreSQL backup provider for real (docs/protection.md): Debian's postgresql in a test
//! container (pw-testbed's postgres image variant), a database with two tables (one with an
//! awkward name); `pg_dump -Fc` as the postgres user, verified by a restore into a scratch
//! database compared table by table (the scratch database is gone afterwards); a row written
//! after the backup is gone after the restore; a source changed after the dump fails the
//! comparison naming the table.

use std::time::{Duration, Instant};

use pw_host::protection::{Budget, postgres};
use pw_host::{Invocation, Runner};
use pw_testbed::{Host, ImageVariant, Suite, Testbed};

/// `psql -c SQL` in `database` as the postgres user; its unaligned output.
fn psql(host: &Host, database: &str, sql: &str) -> String {
    host.runner()
        .run_ok(&Invocation::new(
            "runuser",
            [
                "-u",
                "postgres",
                "--",
                "psql",
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
            ]
            .into_iter()
            .chain(["-d", database, "-c", sql]),
        ))
        .unwrap()
        .stdout_text()
}

/// Starts Debian's cluster in the container and creates database `app` with two tables.
pub fn start_postgres(host: &Host) {
    host.runner()
        .run_ok(
            &Invocation::new("pg_ctlcluster", ["15", "main", "start"])
                .timeout(Duration::from_secs(60)),
        )
        .expect("the postgres image variant has PostgreSQL 15");
    host.runner()
        .run_ok(&Invocation::new(
            "runuser",
            ["-u", "postgres", "--", "createdb", "app"],
        ))
        .unwrap();
    psql(
        host,
        "app",
        "CREATE TABLE items (id serial PRIMARY KEY, name text, price numeric); \
         CREATE TABLE \"Odd \"\"name\"\"\" (k text, v jsonb); \
         INSERT INTO items (name, price) SELECT 'item ' || g, g * 1.5 FROM generate_series(1, 20000) g; \
         INSERT INTO \"Odd \"\"name\"\"\" VALUES ('a', '{\"x\": 1}'), ('b', NULL);",
    );
}

#[test]
fn postgres_backups_are_verified_table_by_table_and_restore_the_rows() {
    let testbed = Testbed::prepare_variant(ImageVariant::Postgres).unwrap();
    let fleet = testbed.fleet(1, &Suite::ALL).unwrap();
    let host = &fleet.hosts[0];
    start_postgres(host);
    let budget = Budget::new(Duration::from_secs(300));
    let started = Instant::now();
    let taken = postgres::backup(
        host.runner(),
        &budget,
        "app",
        "postgres",
        "/var/backups/pw",
        "pw-1700000000-db",
    )
    .unwrap();
    eprintln!(
        "postgres backup: {} bytes, take {:?}, verify {:?}, total {:?}",
        taken.size_bytes,
        taken.take,
        taken.verify,
        started.elapsed()
    );
    assert_eq!(taken.location, "/var/backups/pw/pw-1700000000-db/app.dump");
    assert_eq!(taken.verified.as_deref(), Ok("2 tables, 20002 rows match"));
    assert!(taken.size_bytes > 10_000, "{taken:?}");
    let databases = psql(
        host,
        "postgres",
        "SELECT datname FROM pg_database ORDER BY 1",
    );
    assert!(
        !databases.contains("pw_verify"),
        "scratch dropped: {databases}"
    );

    // Written after the backup: gone after the restore; the dumped rows are all there.
    psql(
        host,
        "app",
        "INSERT INTO items (name, price) VALUES ('after the backup', 1)",
    );
    psql(
        host,
        "app",
        "DELETE FROM \"Odd \"\"name\"\"\" WHERE k = 'a'",
    );
    let started = Instant::now();
    let restored =
        postgres::restore(host.runner(), &budget, "app", "postgres", &taken.location).unwrap();
    eprintln!("postgres restore + compare: {:?}", started.elapsed());
    assert_eq!(restored, "2 tables, 20002 rows match");
    assert_eq!(
        psql(
            host,
            "app",
            "SELECT count(*) FROM items WHERE name = 'after the backup'"
        ),
        "0\n"
    );
    assert_eq!(
        psql(host, "app", "SELECT count(*) FROM \"Odd \"\"name\"\"\""),
        "2\n"
    );

    // The comparison sees a change: the sums taken from the source differ from the dump's.
    let source = postgres::table_sums(host.runner(), &budget, "postgres", "app").unwrap();
    psql(host, "app", "UPDATE items SET price = 0 WHERE id = 7");
    let changed = postgres::table_sums(host.runner(), &budget, "postgres", "app").unwrap();
    let error = postgres::compare(&source, &changed).unwrap_err();
    assert!(error.starts_with("table public.items: checksum"), "{error}");

    // A database that does not exist: the backup fails with pg_dump's message.
    let error = postgres::backup(
        host.runner(),
        &budget,
        "nope",
        "postgres",
        "/var/backups/pw",
        "pw-2-x",
    )
    .unwrap_err();
    assert!(
        format!("{error:#}").contains("dumping database nope"),
        "{error:#}"
    );
}
