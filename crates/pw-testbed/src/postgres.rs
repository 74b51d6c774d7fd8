//! A throwaway PostgreSQL server for tests: `initdb` + `pg_ctl` from the Debian `postgresql`
//! package (scripts/install-test-deps.sh) on a cluster in a temporary directory, listening on
//! 127.0.0.1 on a free port (and a unix socket in the directory), trust authentication, C locale.
//! One cluster per test process ([`shared`]), one database per test ([`Cluster::database`]).
//!
//! Tests run as root and PostgreSQL refuses to: as root the commands run as the `postgres` user
//! through `runuser`. A watchdog process holds a pipe from the test process; when the test process
//! ends however it ends, the pipe closes and the watchdog stops the server (`pg_ctl stop -m
//! immediate`) and removes the directory. Missing binaries are an error, never a skip.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, bail};

/// A running PostgreSQL server for tests.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
    _watchdog: Mutex<Child>,
}

/// The test process's cluster, started on first use (panics with the reason when it cannot
/// start: a missing PostgreSQL is a failed test).
pub fn shared() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| Cluster::start().unwrap_or_else(|e| panic!("{e:#}")))
}

impl Cluster {
    /// Creates and starts a new cluster.
    pub fn start() -> anyhow::Result<Cluster> {
        let bin = server_bindir()?;
        let as_postgres = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("pw-postgres-")
            .tempdir()
            .context("creating the cluster's directory")?
            .keep();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        if as_postgres {
            run(Command::new("chown").args(["postgres:postgres"]).arg(&dir))?;
        }
        let data = dir.join("data");
        let mut initdb = command(&bin, "initdb", as_postgres);
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--locale=C",
            "--encoding=UTF8",
            "-N",
        ]);
        run(&mut initdb)?;
        let (port, watchdog) = start_server(&bin, &dir, as_postgres)?;
        Ok(Cluster {
            bin,
            dir,
            port,
            as_postgres,
            _watchdog: Mutex::new(watchdog),
        })
    }

    /// The server's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (its server log is `server.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a new, empty database and returns its URL
    /// (`postgres://postgres@127.0.0.1:PORT/NAME`).
    pub fn database(&self) -> anyhow::Result<String> {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let name = format!("pw_test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let mut createdb = command(&self.bin, "createdb", self.as_postgres);
        createdb
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg(&name);
        run(&mut createdb)?;
        Ok(self.url(&name))
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

/// Starts the server on a free port (three tries: another process may take the port between
/// choosing and binding it) and its watchdog.
fn start_server(bin: &Path, dir: &Path, as_postgres: bool) -> anyhow::Result<(u16, Child)> {
    let data = dir.join("data");
    let log = dir.join("server.log");
    let mut last = None;
    for _ in 0..3 {
        let port = free_port()?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            dir.display()
        );
        let mut start = command(bin, "pg_ctl", as_postgres);
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-o", &options, "-w", "-t", "60", "start"]);
        match run(&mut start) {
            Ok(()) => return Ok((port, watchdog(bin, dir, as_postgres)?)),
            Err(e) => last = Some(e),
        }
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    Err(last.expect("three tries")).with_context(|| format!("PostgreSQL's log:\n{log_text}"))
}

/// A process that waits for the test process to end (its stdin closes) and then stops the
/// server and removes the cluster's directory.
fn watchdog(bin: &Path, dir: &Path, as_postgres: bool) -> anyhow::Result<Child> {
    let pg_ctl = bin.join("pg_ctl");
    let stop = if as_postgres {
        "cat >/dev/null; runuser -u postgres -- \"$1\" -D \"$2/data\" stop -m immediate -w; rm -rf \"$2\""
    } else {
        "cat >/dev/null; \"$1\" -D \"$2/data\" stop -m immediate -w; rm -rf \"$2\""
    };
    Command::new("sh")
        .args(["-c", stop, "pw-postgres-watchdog"])
        .arg(pg_ctl)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the PostgreSQL watchdog (sh)")
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The newest `/usr/lib/postgresql/N/bin` with initdb and pg_ctl (Debian's layout), else the
/// directory of `initdb` on PATH.
fn server_bindir() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    on_path.ok_or_else(|| {
        anyhow::anyhow!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin \
             or on PATH: run scripts/install-test-deps.sh (Debian package postgresql)"
        )
    })
}

fn running_as_root() -> bool {
    let mut status = String::new();
    std::fs::File::open("/proc/self/status")
        .and_then(|mut f| f.read_to_string(&mut status))
        .is_ok()
        && status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
}

/// `program` from `bin`, as the `postgres` user when the tests run as root.
fn command(bin: &Path, program: &str, as_postgres: bool) -> Command {
    let path = bin.join(program);
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
