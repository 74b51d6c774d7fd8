//! systemd service unit names as patchwarden passes them to `systemctl` (argv, never a shell).

/// `NAME.service` (templated instances `getty@tty1.service` included): at most 256 bytes, ASCII
/// letters, digits and `@ . _ - : \`, not starting with `-` (it would read as an option).
pub fn is_service_unit(unit: &str) -> bool {
    unit.ends_with(".service")
        && unit.len() > ".service".len()
        && unit.len() <= 256
        && !unit.starts_with('-')
        && !unit.starts_with('.')
        && unit
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@._-:\\".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_unit_names() {
        for good in [
            "cron.service",
            "getty@tty1.service",
            "systemd-journald.service",
        ] {
            assert!(is_service_unit(good), "{good}");
        }
        for bad in [
            "-x.service",
            ".service",
            "..service",
            "cron",
            "cron.socket",
            "a b.service",
            "../x.service",
            "x;y.service",
            "x\n.service",
        ] {
            assert!(!is_service_unit(bad), "{bad:?}");
        }
        assert!(!is_service_unit(&format!("{}.service", "a".repeat(250))));
    }
}
