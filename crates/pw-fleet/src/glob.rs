//! Host-name glob patterns (`web-*`, `db?.example.com`): `*` matches any run of characters
//! (including none and dots), `?` exactly one; everything else matches itself, ASCII
//! case-insensitively (DNS names). No character classes or escapes: host names never contain
//! `*` or `?`. Hand-written rather than `globset`: two wildcards over host names do not need a
//! regex engine (docs/design/decisions.md).

/// Whether `name` matches `pattern` (iterative, with one backtrack point: linear in practice,
/// never exponential).
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.as_bytes();
    let name = name.as_bytes();
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p].eq_ignore_ascii_case(&name[n])) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    fn check(pattern: &str, name: &str, expected: bool) {
        assert_eq!(glob_matches(pattern, name), expected, "{pattern} vs {name}");
    }

    #[test]
    fn wildcards() {
        check("web-*", "web-1", true);
        check("web-*", "web-", true);
        check("web-*", "WEB-1.example.com", true);
        check("web-*", "db-1", false);
        check("web-?", "web-12", false);
        check("web-??", "web-12", true);
        check("*.example.com", "db1.example.com", true);
        check("*.example.com", "example.com", false);
        check("db1", "db1", true);
        check("db1", "db10", false);
        check("*", "", true);
        check("a*b*c", "axxbyyc", true);
        check("a*b*c", "axxbyy", false);
        check("*-prod-*", "eu-prod-web-3", true);
    }
}
