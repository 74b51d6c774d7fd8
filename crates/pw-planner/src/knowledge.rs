//! Built-in knowledge about Debian/Ubuntu and RHEL-family packages: which ones need a reboot, which
//! services restart when they change, which ones are kernels. Policy `[estimates.packages.<name>]`
//! entries (`reboot`, `restarts`) override this. The lists are deliberately short and documented
//! in docs/planning.md ("Restarts and reboots"); anything not listed is assumed to need neither.

/// Whether a package change needs a reboot to take effect.
///
/// Kernels (`linux-image-*`, `linux-signed-*`, `kernel`, `kernel-core`), CPU microcode and the
/// packages whose daemons cannot be restarted safely in place (`dbus`, whose restart drops every
/// system-bus client) and the C library (`libc6`, `glibc`: every process maps it; Ubuntu's
/// update-notifier flags it too).
pub fn needs_reboot(package: &str) -> bool {
    is_kernel(package)
        || matches!(
            package,
            "intel-microcode"
                | "amd64-microcode"
                | "microcode_ctl"
                | "linux-firmware"
                | "dbus"
                | "dbus-daemon"
                | "dbus-broker"
                | "libc6"
                | "glibc"
        )
}

/// Whether a package is a kernel image (a kernel change: compatibility risk, reboot).
pub fn is_kernel(package: &str) -> bool {
    package.starts_with("linux-image")
        || package.starts_with("linux-signed-image")
        || package.starts_with("linux-modules")
        || matches!(package, "kernel" | "kernel-core" | "kernel-modules")
}

/// Services restarted by a package change (by the package's maintainer scripts, or needed to
/// stop using replaced libraries: `libssl3` → everything linked to OpenSSL).
pub fn restarts(package: &str) -> Vec<String> {
    let fixed: &[&str] = match package {
        "openssh-server" => &["ssh"],
        "openssh" => &["sshd"],
        "nginx" | "nginx-core" | "nginx-full" | "nginx-light" | "nginx-extras" => &["nginx"],
        "apache2" | "apache2-bin" => &["apache2"],
        "httpd" => &["httpd"],
        "haproxy" => &["haproxy"],
        "redis-server" => &["redis-server"],
        "redis" => &["redis"],
        "bind9" => &["named"],
        "bind" => &["named"],
        "postfix" => &["postfix"],
        "exim4-daemon-light" | "exim4-daemon-heavy" => &["exim4"],
        "docker.io" | "docker-ce" => &["docker"],
        "containerd" | "containerd.io" => &["containerd"],
        "systemd" => &["systemd (daemon-reexec)"],
        "cron" | "cronie" => &["cron"],
        "rsyslog" => &["rsyslog"],
        "chrony" => &["chrony"],
        "libssl3" | "libssl1.1" | "openssl-libs" => {
            &["services linked against OpenSSL (needrestart)"]
        }
        "libc6" | "glibc" => &["every service (C library)"],
        "libsystemd0" | "systemd-libs" => &["services linked against libsystemd (needrestart)"],
        _ => &[],
    };
    let mut out: Vec<String> = fixed.iter().map(|s| (*s).to_owned()).collect();
    if out.is_empty() {
        if let Some(rest) = package.strip_prefix("postgresql-")
            && rest.chars().all(|c| c.is_ascii_digit())
            && !rest.is_empty()
        {
            out.push(format!("postgresql@{rest}-main"));
        } else if package.starts_with("mariadb-server") || package.starts_with("mysql-server") {
            out.push("mariadb".into());
        } else if package.starts_with("php") && package.ends_with("-fpm") {
            out.push(package.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_and_reboots() {
        for package in [
            "linux-image-amd64",
            "linux-image-6.1.0-56-amd64",
            "kernel-core",
        ] {
            assert!(is_kernel(package) && needs_reboot(package), "{package}");
        }
        for package in ["libc6", "dbus", "intel-microcode"] {
            assert!(!is_kernel(package) && needs_reboot(package), "{package}");
        }
        for package in ["openssl", "libssl3", "linux-base", "bash"] {
            assert!(!needs_reboot(package), "{package}");
        }
    }

    #[test]
    fn restarts_known_services() {
        assert_eq!(restarts("openssh-server"), ["ssh"]);
        assert_eq!(restarts("postgresql-15"), ["postgresql@15-main"]);
        assert!(restarts("postgresql-common").is_empty());
        assert_eq!(restarts("mariadb-server-10.11"), ["mariadb"]);
        assert!(restarts("libssl3")[0].contains("OpenSSL"));
        assert!(restarts("bash").is_empty());
    }
}
