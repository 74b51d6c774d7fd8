//! Line and column positions in byte input, and their translation from `serde_json` errors.

use std::fmt;

/// A 1-based line and column (the column counts bytes, like `serde_json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The start of the input.
    pub const START: Position = Position { line: 1, column: 1 };

    /// Line `line`, column 1.
    pub fn line_start(line: usize) -> Position {
        Position { line, column: 1 }
    }

    /// Translates a position reported relative to a slice that starts at `self`.
    pub(crate) fn offset_by(self, relative: Position) -> Position {
        if relative.line <= 1 {
            Position {
                line: self.line,
                column: self.column + relative.column.saturating_sub(1),
            }
        } else {
            Position {
                line: self.line + relative.line - 1,
                column: relative.column,
            }
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// The position of a `serde_json` error (its line and column are 1-based; column 0 happens at
/// the very start of a line and is reported as 1).
pub(crate) fn of_json_error(error: &serde_json::Error) -> Position {
    Position {
        line: error.line().max(1),
        column: error.column().max(1),
    }
}

/// Turns byte offsets into positions. Offsets must be asked for in increasing order, so that a
/// whole file is scanned once.
pub(crate) struct LineCursor<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: usize,
    line_start: usize,
}

impl<'a> LineCursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        LineCursor {
            bytes,
            offset: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// The position of byte `offset` (clamped to the input; offsets before the last one asked
    /// for restart the scan).
    pub(crate) fn position(&mut self, offset: usize) -> Position {
        let offset = offset.min(self.bytes.len());
        if offset < self.offset {
            *self = LineCursor::new(self.bytes);
        }
        for (i, &b) in self.bytes[self.offset..offset].iter().enumerate() {
            if b == b'\n' {
                self.line += 1;
                self.line_start = self.offset + i + 1;
            }
        }
        self.offset = offset;
        Position {
            line: self.line,
            column: offset - self.line_start + 1,
        }
    }
}

/// The byte offset of `part` inside `whole`, when `part` is a sub-slice of it.
pub(crate) fn offset_in(whole: &[u8], part: &str) -> usize {
    (part.as_ptr() as usize)
        .saturating_sub(whole.as_ptr() as usize)
        .min(whole.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_counts_lines_and_columns() {
        let text = b"ab\ncd\n\nx";
        let mut cursor = LineCursor::new(text);
        assert_eq!(cursor.position(0), Position { line: 1, column: 1 });
        assert_eq!(cursor.position(4), Position { line: 2, column: 2 });
        assert_eq!(cursor.position(7), Position { line: 4, column: 1 });
        assert_eq!(cursor.position(1), Position { line: 1, column: 2 });
        assert_eq!(cursor.position(99), Position { line: 4, column: 2 });
    }

    #[test]
    fn relative_positions_shift() {
        let base = Position { line: 3, column: 5 };
        assert_eq!(
            base.offset_by(Position { line: 1, column: 4 }),
            Position { line: 3, column: 8 }
        );
        assert_eq!(
            base.offset_by(Position { line: 2, column: 4 }),
            Position { line: 4, column: 4 }
        );
    }
}
