//! The FAKE packages of the test repository, as data: every file, maintainer script and control
//! field. Nothing here comes from outside; the versions are constants of this module.
//!
//! | package | version | suite | what it is for |
//! |---|---|---|---|
//! | `pw-demo` | 1.0-1 | stable | baseline: a busybox-httpd service on port 18080, `GET /cgi-bin/health` → 200 |
//! | `pw-demo` | 1.0-2 | security | the good security fix; ships a changed conffile |
//! | `pw-demo` | 1.0-3 | updates | installs fine but its health check answers 500 and it logs an ERROR line |
//! | `pw-demo` | 1.0-4 | updates | postinst fails (package left `iF`) unless `/var/lib/pw-demo/migrate-ok` exists |
//! | `pw-demo-kernel` | 1.0-1 | stable | baseline, no reboot flag |
//! | `pw-demo-kernel` | 1.0-2 | security | postinst raises `/run/reboot-required` |
//! | `pw-cve` | 1.0-1~deb12u1 | stable | its changelog names CVE-2099-1001 (a backported fix) |
//! | `pw-cve` | 1.0-1~deb12u2 | security | its new changelog entry names CVE-2099-1002 |
//!
//! The service has no init system to rely on (test hosts run tini): `pw-demo-ctl` starts it with
//! `start-stop-daemon`, postinst restarts it, prerm stops it.

use super::Suite;

/// The demo service package (source package `pw-demo`).
pub const DEMO: &str = "pw-demo";
/// The package whose update asks for a reboot.
pub const DEMO_KERNEL: &str = "pw-demo-kernel";
/// The package whose changelogs name CVEs (issue 11: backports and candidate changelogs).
pub const CVE_PACKAGE: &str = "pw-cve";
/// pw-cve's stable version: a backport whose changelog names [`BACKPORTED_CVE`].
pub const CVE_BASELINE: &str = "1.0-1~deb12u1";
/// pw-cve's security update, whose new entry names [`CANDIDATE_CVE`].
pub const CVE_UPDATE: &str = "1.0-1~deb12u2";
/// Fixed by the backport in [`CVE_BASELINE`] (unstable fixed it in 1.0-2).
pub const BACKPORTED_CVE: &str = "CVE-2099-1001";
/// Fixed by [`CVE_UPDATE`].
pub const CANDIDATE_CVE: &str = "CVE-2099-1002";
/// Baseline version (stable).
pub const BASELINE: &str = "1.0-1";
/// The good security fix (security suite).
pub const SECURITY_FIX: &str = "1.0-2";
/// Installs cleanly, then fails its health check (updates suite).
pub const BAD_HEALTH: &str = "1.0-3";
/// Its postinst fails (updates suite).
pub const FAILING_POSTINST: &str = "1.0-4";
/// Installs cleanly, but its service never comes up: `pw-demo-ctl start` logs an ERROR and
/// starts nothing (broken suite; only a core-service check sees it).
pub const SERVICE_DOWN: &str = "1.0-5";
/// The demo service's TCP port.
pub const DEMO_PORT: u16 = 18080;
/// Path of the demo service's health endpoint.
pub const DEMO_HEALTH_PATH: &str = "/cgi-bin/health";
/// The demo service's systemd unit (shipped by every version; test hosts do not run systemd).
pub const DEMO_UNIT_PATH: &str = "/lib/systemd/system/pw-demo.service";
/// The demo service's conffile (content changes between 1.0-1 and 1.0-2).
pub const DEMO_CONFFILE: &str = "/etc/pw-demo/pw-demo.conf";
/// The demo service's log (1.0-3 writes an ERROR line to it when it starts).
pub const DEMO_LOG: &str = "/var/log/pw-demo.log";
/// Creating this file lets 1.0-4's postinst pass.
pub const DEMO_MIGRATE_OK: &str = "/var/lib/pw-demo/migrate-ok";

/// One file of a package tree (paths are absolute inside the package).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    pub path: String,
    pub mode: u32,
    pub content: String,
}

/// A package to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePackage {
    pub name: &'static str,
    pub version: &'static str,
    pub suite: Suite,
    /// Control fields after the fixed ones (`Depends`, `Source`).
    pub control_extra: Vec<(&'static str, String)>,
    pub files: Vec<PackageFile>,
    /// `postinst`, `prerm`… (mode 0755 in `DEBIAN/`).
    pub scripts: Vec<(&'static str, String)>,
}

impl FakePackage {
    /// `DEBIAN/control`.
    pub fn control(&self) -> String {
        let mut text = format!(
            "Package: {}\nVersion: {}\nArchitecture: all\nMaintainer: patchwarden test fixtures <pwtest@invalid>\nSection: misc\nPriority: optional\n",
            self.name, self.version
        );
        for (field, value) in &self.control_extra {
            text.push_str(&format!("{field}: {value}\n"));
        }
        text.push_str(&format!(
            "Description: patchwarden test fixture ({} {})\n Fake package built by pw-testbed for patchwarden's end-to-end tests. Not for real hosts.\n",
            self.name, self.version
        ));
        text
    }

    /// `DEBIAN/conffiles`: every file under `/etc` (dpkg-deb does not mark them by itself).
    pub fn conffiles(&self) -> String {
        self.files
            .iter()
            .filter(|f| f.path.starts_with("/etc/"))
            .map(|f| format!("{}\n", f.path))
            .collect()
    }

    /// `name_version_all.deb`.
    pub fn deb_name(&self) -> String {
        format!("{}_{}_all.deb", self.name, self.version)
    }
}

/// All packages of the repository.
pub fn fake_packages() -> Vec<FakePackage> {
    let mut packages: Vec<FakePackage> = [
        (BASELINE, Suite::Stable),
        (SECURITY_FIX, Suite::Security),
        (BAD_HEALTH, Suite::Updates),
        (FAILING_POSTINST, Suite::Updates),
        (SERVICE_DOWN, Suite::Broken),
    ]
    .into_iter()
    .map(|(version, suite)| demo(version, suite))
    .collect();
    packages.push(kernel(BASELINE, Suite::Stable));
    packages.push(kernel(SECURITY_FIX, Suite::Security));
    packages.push(cve_package(CVE_BASELINE, Suite::Stable));
    packages.push(cve_package(CVE_UPDATE, Suite::Security));
    packages
}

/// pw-cve: nothing but a Debian changelog, as dpkg installs it.
fn cve_package(version: &'static str, suite: Suite) -> FakePackage {
    let trailer =
        " -- patchwarden test fixtures <pwtest@invalid>  Mon, 01 Jun 2026 12:00:00 +0000\n";
    let mut changelog = String::new();
    if version == CVE_UPDATE {
        changelog.push_str(&format!(
            "{CVE_PACKAGE} ({CVE_UPDATE}) bookworm-security; urgency=high\n\n  * Fix {CANDIDATE_CVE} (test fixture).\n\n{trailer}\n"
        ));
    }
    changelog.push_str(&format!(
        "{CVE_PACKAGE} ({CVE_BASELINE}) bookworm; urgency=medium\n\n  * Backport the fix for {BACKPORTED_CVE} from 1.0-2.\n\n{trailer}\n{CVE_PACKAGE} (1.0-1) unstable; urgency=low\n\n  * Initial test fixture.\n\n{trailer}"
    ));
    FakePackage {
        name: CVE_PACKAGE,
        version,
        suite,
        control_extra: vec![("Source", CVE_PACKAGE.to_owned())],
        files: vec![file(
            &format!("/usr/share/doc/{CVE_PACKAGE}/changelog.Debian.gz"),
            0o644,
            changelog,
        )],
        scripts: Vec::new(),
    }
}

fn file(path: &str, mode: u32, content: String) -> PackageFile {
    PackageFile {
        path: path.to_owned(),
        mode,
        content,
    }
}

fn demo(version: &'static str, suite: Suite) -> FakePackage {
    let conffile = if version == BASELINE {
        format!("# pw-demo configuration (shipped by {BASELINE})\nport = {DEMO_PORT}\n")
    } else {
        format!(
            "# pw-demo configuration (shipped since {SECURITY_FIX})\nport = {DEMO_PORT}\nmin_tls = 1.2\n"
        )
    };
    let health = if version == BAD_HEALTH {
        format!(
            "#!/bin/sh\nprintf 'Status: 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\n\\r\\nFAIL pw-demo {version}: cache schema migration failed\\n'\n"
        )
    } else {
        format!("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nok pw-demo {version}\\n'\n")
    };
    let postinst = if version == FAILING_POSTINST {
        format!(
            "#!/bin/sh\nset -e\nif [ \"$1\" = configure ] && [ ! -e {DEMO_MIGRATE_OK} ]; then\n  echo \"pw-demo {version}: data migration failed (create {DEMO_MIGRATE_OK} to let it pass)\" >&2\n  exit 1\nfi\nif [ \"$1\" = configure ]; then pw-demo-ctl restart; fi\nexit 0\n"
        )
    } else {
        "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then pw-demo-ctl restart; fi\nexit 0\n"
            .to_owned()
    };
    FakePackage {
        name: DEMO,
        version,
        suite,
        control_extra: vec![
            ("Source", DEMO.to_owned()),
            ("Depends", "busybox".to_owned()),
        ],
        files: vec![
            file(DEMO_CONFFILE, 0o644, conffile),
            file("/usr/sbin/pw-demo-ctl", 0o755, control_script(version)),
            file("/usr/share/pw-demo/www/cgi-bin/health", 0o755, health),
            file(
                "/usr/share/pw-demo/www/index.html",
                0o644,
                format!("<h1>pw-demo {version}</h1>\n"),
            ),
            // For hosts with systemd (evidence: services a change restarts); the test hosts
            // have none and start the service with `pw-demo-ctl`.
            file(DEMO_UNIT_PATH, 0o644, demo_unit()),
        ],
        scripts: vec![
            ("postinst", postinst),
            (
                "prerm",
                "#!/bin/sh\nset -e\ncase \"$1\" in remove|upgrade|deconfigure|failed-upgrade) pw-demo-ctl stop || true;; esac\nexit 0\n".to_owned(),
            ),
        ],
    }
}

fn demo_unit() -> String {
    "[Unit]\nDescription=pw-demo test service\n\n[Service]\nType=forking\nExecStart=/usr/sbin/pw-demo-ctl start\nExecStop=/usr/sbin/pw-demo-ctl stop\n\n[Install]\nWantedBy=multi-user.target\n".to_owned()
}

/// `pw-demo-ctl {start|stop|restart|status}` of one version.
fn control_script(version: &str) -> String {
    let broken = if version == BAD_HEALTH {
        "    echo \"$(ts) ERROR pw-demo $VERSION: cache schema migration failed, serving errors\" >> \"$LOG\"\n"
    } else if version == SERVICE_DOWN {
        "    echo \"$(ts) ERROR pw-demo $VERSION: unknown key in $CONF, not starting\" >> \"$LOG\"; exit 0\n"
    } else {
        ""
    };
    format!(
        r#"#!/bin/sh
# pw-demo-ctl: start/stop the pw-demo test service (test hosts have no init system)
VERSION={version}
CONF={DEMO_CONFFILE}
PIDFILE=/run/pw-demo.pid
LOG={DEMO_LOG}
port=$(sed -n 's/^port *= *//p' "$CONF" 2>/dev/null); port=${{port:-{DEMO_PORT}}}
ts() {{ date -u +%Y-%m-%dT%H:%M:%SZ; }}
case "$1" in
  start)
    echo "$(ts) INFO pw-demo $VERSION starting on port $port" >> "$LOG"
{broken}    start-stop-daemon --start --quiet --background --make-pidfile --pidfile "$PIDFILE" \
      --exec /bin/busybox -- httpd -f -p "$port" -h /usr/share/pw-demo/www ;;
  stop)
    start-stop-daemon --stop --quiet --oknodo --retry 5 --pidfile "$PIDFILE"; rm -f "$PIDFILE"
    echo "$(ts) INFO pw-demo $VERSION stopped" >> "$LOG" ;;
  restart) "$0" stop; "$0" start ;;
  status) start-stop-daemon --status --pidfile "$PIDFILE" ;;
  *) echo "usage: $0 {{start|stop|restart|status}}" >&2; exit 2 ;;
esac
"#
    )
}

fn kernel(version: &'static str, suite: Suite) -> FakePackage {
    let postinst = if version == BASELINE {
        "#!/bin/sh\nset -e\nexit 0\n".to_owned()
    } else {
        format!(
            "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  touch /run/reboot-required\n  echo {DEMO_KERNEL} >> /run/reboot-required.pkgs\nfi\nexit 0\n"
        )
    };
    FakePackage {
        name: DEMO_KERNEL,
        version,
        suite,
        control_extra: Vec::new(),
        files: vec![file(
            "/usr/lib/pw-demo-kernel/version",
            0o644,
            format!("{version}\n"),
        )],
        scripts: vec![("postinst", postinst)],
    }
}

/// A fake OSV record for the security fix (`feeds import` in later end-to-end tests).
pub fn advisory_json() -> String {
    format!(
        r#"{{
  "schema_version": "1.6.0",
  "id": "PWTEST-2025-0001",
  "published": "2025-01-01T00:00:00Z",
  "modified": "2025-01-01T00:00:00Z",
  "summary": "pw-demo: remote code execution in the demo web service (FAKE, test fixture)",
  "severity": [{{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}],
  "affected": [{{
    "package": {{"ecosystem": "Debian:12", "name": "{DEMO}"}},
    "ranges": [{{"type": "ECOSYSTEM", "events": [{{"introduced": "0"}}, {{"fixed": "{SECURITY_FIX}"}}]}}]
  }}]
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_suites() {
        let list: Vec<_> = fake_packages()
            .iter()
            .map(|p| format!("{} {} {}", p.name, p.version, p.suite.name()))
            .collect();
        assert_eq!(
            list,
            [
                "pw-demo 1.0-1 stable",
                "pw-demo 1.0-2 security",
                "pw-demo 1.0-3 updates",
                "pw-demo 1.0-4 updates",
                "pw-demo 1.0-5 broken",
                "pw-demo-kernel 1.0-1 stable",
                "pw-demo-kernel 1.0-2 security",
                "pw-cve 1.0-1~deb12u1 stable",
                "pw-cve 1.0-1~deb12u2 security",
            ]
        );
    }

    #[test]
    fn conffile_changes_once_and_is_listed() {
        let packages = fake_packages();
        let conf = |version: &str| {
            packages
                .iter()
                .find(|p| p.name == DEMO && p.version == version)
                .unwrap()
                .files[0]
                .content
                .clone()
        };
        assert_ne!(conf(BASELINE), conf(SECURITY_FIX));
        assert_eq!(conf(SECURITY_FIX), conf(BAD_HEALTH));
        assert_eq!(conf(SECURITY_FIX), conf(FAILING_POSTINST));
        assert_eq!(packages[0].conffiles(), format!("{DEMO_CONFFILE}\n"));
        let kernel = packages.iter().find(|p| p.name != DEMO).unwrap();
        assert_eq!(kernel.conffiles(), "");
    }

    #[test]
    fn control_text() {
        let control = fake_packages()[1].control();
        assert!(control.starts_with("Package: pw-demo\nVersion: 1.0-2\nArchitecture: all\n"));
        assert!(control.contains("\nSource: pw-demo\nDepends: busybox\nDescription: "));
        assert!(control.ends_with("Not for real hosts.\n"));
    }

    #[test]
    fn advisory_is_json_naming_the_fix() {
        let text = advisory_json();
        assert!(text.contains("\"fixed\": \"1.0-2\""));
        assert!(text.contains("\"name\": \"pw-demo\""));
    }
}
