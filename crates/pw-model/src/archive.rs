//! A downgrade plan's named local archive (docs/downgrade.md "A local archive"): a directory of
//! `.deb` files on the host that the agent offers to apt for this change only (`apt-get
//! --with-source FILE`, argv), when a target version is no longer in any configured suite.
//! Validated here — the controller when the plan is created, pw-host again before it looks —
//! so that only a plain absolute path ever reaches a command line.

/// The longest archive path accepted, in bytes.
pub const MAX_ARCHIVE_PATH: usize = 255;
/// The most `.deb` files one archive may offer to apt.
pub const MAX_ARCHIVE_DEBS: usize = 500;

/// Why `path` cannot name a local archive (`None`: it can). The rule: an absolute path of
/// at most [`MAX_ARCHIVE_PATH`] bytes, of the characters `A-Z a-z 0-9 . _ + - /` only,
/// without empty components or components starting with `.` (`.`, `..`, hidden directories —
/// the rule openapi.json's pattern states), not `/` itself and not ending in `/`.
pub fn archive_path_problem(path: &str) -> Option<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-' | '/');
    let problem = if !path.starts_with('/') || path == "/" {
        "must be an absolute path to a directory other than /"
    } else if path.len() > MAX_ARCHIVE_PATH {
        "is too long (at most 255 bytes)"
    } else if let Some(c) = path.chars().find(|c| !plain(*c)) {
        return Some(format!(
            "{path:?}: the character {c:?} is not allowed (only A-Z a-z 0-9 . _ + - /)"
        ));
    } else if path.ends_with('/') {
        "must not end in /"
    } else if path[1..]
        .split('/')
        .any(|part| part.is_empty() || part.starts_with('.'))
    {
        "must not contain empty, . or .. components, nor components starting with ."
    } else {
        return None;
    };
    Some(format!("{path:?} {problem}"))
}

/// Whether `name` is a plain file name of a `.deb` an archive may offer (the characters of
/// [`archive_path_problem`], no `/`, ending in `.deb`, not starting with `.` or `-`).
pub fn is_archive_deb_name(name: &str) -> bool {
    name.len() > 4
        && name.len() <= MAX_ARCHIVE_PATH
        && name.ends_with(".deb")
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-' | '~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_absolute_directories_name_an_archive() {
        for good in ["/srv/pw-archive", "/var/cache/pw/debs_2026+1", "/a"] {
            assert_eq!(archive_path_problem(good), None, "{good}");
        }
        let bad = [
            ("srv/archive", "must be an absolute path"),
            ("/", "must be an absolute path"),
            ("", "must be an absolute path"),
            ("/srv/archive/", "must not end in /"),
            ("/srv//archive", "empty, . or .. components"),
            ("/srv/../etc", "empty, . or .. components"),
            ("/srv/./a", "empty, . or .. components"),
            ("/srv/.hidden", "components starting with ."),
            ("/srv/a b", "the character ' ' is not allowed"),
            ("/srv/a;rm", "the character ';' is not allowed"),
            ("/srv/a\nb", "the character '\\n' is not allowed"),
            ("/srv/ä", "the character 'ä' is not allowed"),
        ];
        for (path, expected) in bad {
            let problem = archive_path_problem(path).unwrap_or_else(|| panic!("{path:?}"));
            assert!(problem.contains(expected), "{path:?}: {problem}");
        }
        let long = format!("/{}", "a".repeat(MAX_ARCHIVE_PATH));
        assert!(archive_path_problem(&long).unwrap().contains("too long"));
    }

    #[test]
    fn deb_names_are_plain() {
        assert!(is_archive_deb_name("pw-demo_1.0-1_all.deb"));
        assert!(is_archive_deb_name("libssl3_3.0.15-1~deb12u1+b1_amd64.deb"));
        for bad in [
            ".deb",
            "-x.deb",
            ".hidden.deb",
            "a b.deb",
            "a/b.deb",
            "pw-demo_1.0-1_all.udeb.txt",
            "pw-demo_1:1.0_all.deb",
        ] {
            assert!(!is_archive_deb_name(bad), "{bad}");
        }
    }
}
