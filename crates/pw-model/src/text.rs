//! Shapes and lengths of text the controller stores from outside: host names (reported at
//! enrollment and with every inventory) and free text (an agent's version, a token's note, an
//! agent's result message). One home, so enrollment, inventory and the API agree.

/// The longest host name (a DNS name).
pub const MAX_HOSTNAME: usize = 253;
/// The longest agent version string.
pub const MAX_AGENT_VERSION: usize = 64;
/// The longest note on an enrollment token.
pub const MAX_NOTE: usize = 500;
/// The longest result message kept from an agent (longer ones are cut, with a marker).
pub const MAX_RESULT_MESSAGE: usize = 4096;

/// Why a host name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostnameError {
    #[error("hostname is empty")]
    Empty,
    #[error("hostname is {0} bytes long; at most 253")]
    TooLong(usize),
    #[error(
        "hostname {text:?} has {found:?} at byte {position}; allowed: letters, digits, '-', '_' \
         and '.', starting with a letter or digit"
    )]
    BadChar {
        text: String,
        position: usize,
        found: char,
    },
}

/// Checks a host name as reported by an agent and returns it without surrounding whitespace:
/// 1–253 bytes of ASCII letters, digits, `-`, `_` and `.`, starting with a letter or digit.
pub fn check_hostname(text: &str) -> Result<&str, HostnameError> {
    let name = text.trim();
    if name.is_empty() {
        return Err(HostnameError::Empty);
    }
    if name.len() > MAX_HOSTNAME {
        return Err(HostnameError::TooLong(name.len()));
    }
    for (position, found) in name.char_indices() {
        let ok =
            found.is_ascii_alphanumeric() || (position > 0 && matches!(found, '-' | '_' | '.'));
        if !ok {
            return Err(HostnameError::BadChar {
                text: name.to_owned(),
                position,
                found,
            });
        }
    }
    Ok(name)
}

/// Checks a free-text field: at most `max` bytes and no control characters other than tab and
/// newline. The message names the field.
pub fn check_text(field: &str, text: &str, max: usize) -> Result<(), String> {
    if text.len() > max {
        return Err(format!("{field}: {} bytes; at most {max}", text.len()));
    }
    if let Some((position, found)) = text
        .char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n'))
    {
        return Err(format!(
            "{field}: control character {found:?} at byte {position}"
        ));
    }
    Ok(())
}

/// `text` cut to at most `max` bytes at a character boundary, with a marker saying how much
/// was cut; unchanged when it fits.
pub fn clip_text(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let marker_room = 40.min(max);
    let mut end = max - marker_room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    std::borrow::Cow::Owned(format!("{}… ({cut} more bytes cut)", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_checked_and_trimmed() {
        assert_eq!(
            check_hostname(" web-1.example.com\n"),
            Ok("web-1.example.com")
        );
        assert_eq!(check_hostname("db_2"), Ok("db_2"));
        assert_eq!(check_hostname("   "), Err(HostnameError::Empty));
        assert_eq!(
            check_hostname(&"a".repeat(5000)),
            Err(HostnameError::TooLong(5000))
        );
        assert!(matches!(
            check_hostname("<b>x"),
            Err(HostnameError::BadChar { position: 0, .. })
        ));
        assert!(matches!(
            check_hostname("vm 2"),
            Err(HostnameError::BadChar { position: 2, .. })
        ));
        assert!(check_hostname("-x").is_err());
    }

    #[test]
    fn free_text_is_capped_and_clipped() {
        assert!(check_text("note", "line\none\ttab", 100).is_ok());
        assert_eq!(
            check_text("note", "xxxx", 3).unwrap_err(),
            "note: 4 bytes; at most 3"
        );
        assert!(
            check_text("note", "a\u{1b}[31m", 100)
                .unwrap_err()
                .contains("byte 1")
        );
        assert_eq!(clip_text("short", 100), "short");
        let long = "é".repeat(5000);
        let clipped = clip_text(&long, 4096);
        assert!(clipped.len() <= 4096, "{}", clipped.len());
        assert!(clipped.ends_with("more bytes cut)"), "{clipped}");
    }
}
