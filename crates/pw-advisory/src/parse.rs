//! Reading OSV records from bytes: one JSON record, a JSON array of records, several records
//! one after another (pretty-printed or not), or JSONL (one record per line).
//!
//! Nothing here panics on any input. Partly bad input is not a failure: every function returns
//! the records it understood together with the problems it met, each with its line and column.
//! A bad JSONL line is reported with its line number and the next line is read; a syntax error
//! inside a JSON array or a pretty-printed document ends the reading there (JSON cannot be
//! resynchronised), keeping the records that were complete before it.

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::osv::OsvRecord;
use crate::position::{LineCursor, Position, of_json_error, offset_in};

/// A record and where it starts in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedRecord {
    pub position: Position,
    pub record: OsvRecord,
}

/// What [`parse_osv_bytes`] and friends understood, and what they could not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OsvBatch {
    pub records: Vec<LocatedRecord>,
    pub problems: Vec<OsvError>,
}

/// A problem reading OSV input, with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OsvError {
    #[error("the input holds no OSV record (it is empty or only whitespace)")]
    Empty,
    #[error("{position}: malformed JSON: {message}")]
    Syntax { position: Position, message: String },
    #[error("{position}: the input ends in the middle of a JSON value (truncated?): {message}")]
    Truncated { position: Position, message: String },
    #[error("{position}: not an OSV record: {message}")]
    Shape { position: Position, message: String },
    #[error("{position}: expected a JSON object or array, found {found:?}")]
    NotJson { position: Position, found: char },
}

impl OsvError {
    /// Where the problem is, if it has a place.
    pub fn position(&self) -> Option<Position> {
        match self {
            OsvError::Empty => None,
            OsvError::Syntax { position, .. }
            | OsvError::Truncated { position, .. }
            | OsvError::Shape { position, .. }
            | OsvError::NotJson { position, .. } => Some(*position),
        }
    }

    /// Classifies a `serde_json` error that happened in a slice starting at `base`.
    pub(crate) fn from_json(error: &serde_json::Error, base: Position) -> OsvError {
        let position = base.offset_by(of_json_error(error));
        let message = strip_position(&error.to_string());
        match error.classify() {
            serde_json::error::Category::Eof => OsvError::Truncated { position, message },
            serde_json::error::Category::Data => OsvError::Shape { position, message },
            _ => OsvError::Syntax { position, message },
        }
    }
}

/// Reads OSV records in any of the accepted layouts, chosen from the first bytes: `[` starts an
/// array; when one of the first three non-blank lines is a complete JSON object starting in
/// column 1, the input is JSONL (so a corrupt first line does not hide the others); anything
/// else is read as one or more JSON documents. A UTF-8 byte-order mark is skipped.
pub fn parse_osv_bytes(bytes: &[u8]) -> OsvBatch {
    let start = content_start(bytes);
    match bytes.get(start) {
        None => OsvBatch {
            records: Vec::new(),
            problems: vec![OsvError::Empty],
        },
        Some(b'[') => parse_osv_array(bytes),
        Some(b'{') if looks_like_jsonl(&bytes[start..]) => parse_osv_jsonl(bytes),
        Some(b'{') => parse_osv_documents(bytes),
        Some(_) => {
            let found = String::from_utf8_lossy(&bytes[start..bytes.len().min(start + 4)])
                .chars()
                .next()
                .unwrap_or('\u{fffd}');
            OsvBatch {
                records: Vec::new(),
                problems: vec![OsvError::NotJson {
                    position: LineCursor::new(bytes).position(start),
                    found,
                }],
            }
        }
    }
}

/// Reads one OSV record (a single JSON object, possibly pretty-printed).
pub fn parse_osv_record(bytes: &[u8]) -> Result<OsvRecord, OsvError> {
    let start = content_start(bytes);
    if start >= bytes.len() {
        return Err(OsvError::Empty);
    }
    let record: OsvRecord = serde_json::from_slice(&bytes[start..])
        .map_err(|e| OsvError::from_json(&e, LineCursor::new(bytes).position(start)))?;
    check_record(record, LineCursor::new(bytes).position(start))
}

/// Reads JSONL: one record per line; blank lines are skipped. Each bad line becomes one problem
/// naming its line, and reading goes on with the next line.
pub fn parse_osv_jsonl(bytes: &[u8]) -> OsvBatch {
    let mut batch = OsvBatch::default();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let mut column = 1;
        let mut text = line;
        if index == 0 && text.starts_with(BOM) {
            text = &text[BOM.len()..];
            column += BOM.len();
        }
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let position = Position {
            line: index + 1,
            column,
        };
        match serde_json::from_slice::<OsvRecord>(text) {
            Ok(record) => match check_record(record, position) {
                Ok(record) => batch.records.push(LocatedRecord { position, record }),
                Err(problem) => batch.problems.push(problem),
            },
            Err(e) => batch.problems.push(OsvError::from_json(&e, position)),
        }
    }
    if batch.records.is_empty() && batch.problems.is_empty() {
        batch.problems.push(OsvError::Empty);
    }
    batch
}

/// Reads a JSON array of records. A record that is valid JSON but not a valid OSV record is one
/// problem; a syntax error ends the reading, keeping the records complete before it.
pub fn parse_osv_array(bytes: &[u8]) -> OsvBatch {
    let mut raws: Vec<&RawValue> = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let outcome = CollectRaw(&mut raws)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    let mut batch = records_from_raw(bytes, &raws);
    if let Err(e) = outcome {
        batch
            .problems
            .push(OsvError::from_json(&e, Position::START));
    }
    batch
}

/// Reads one or more JSON documents separated by whitespace (a single pretty-printed record, or
/// several concatenated).
pub fn parse_osv_documents(bytes: &[u8]) -> OsvBatch {
    let start = content_start(bytes);
    let body = &bytes[start..];
    let mut raws: Vec<&RawValue> = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<&RawValue>();
    let mut failure = None;
    for item in stream.by_ref() {
        match item {
            Ok(raw) => raws.push(raw),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let mut batch = records_from_raw(bytes, &raws);
    if let Some(e) = failure {
        let base = LineCursor::new(bytes).position(start);
        batch.problems.push(OsvError::from_json(&e, base));
    }
    if batch.records.is_empty() && batch.problems.is_empty() {
        batch.problems.push(OsvError::Empty);
    }
    batch
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Offset of the first byte that is neither a byte-order mark nor whitespace.
fn content_start(bytes: &[u8]) -> usize {
    let skip = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
    skip + bytes[skip..]
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len() - skip)
}

/// Whether one of the first three non-blank lines of `body` is a complete JSON object that
/// starts in column 1 (pretty-printed documents indent their nested objects).
fn looks_like_jsonl(body: &[u8]) -> bool {
    body.split(|&b| b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .take(3)
        .enumerate()
        .any(|(i, line)| {
            (i == 0 || line.first() == Some(&b'{'))
                && serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
        })
}

/// Deserializes collected raw values into records, with positions in `bytes`.
fn records_from_raw(bytes: &[u8], raws: &[&RawValue]) -> OsvBatch {
    let mut batch = OsvBatch::default();
    let mut cursor = LineCursor::new(bytes);
    for raw in raws {
        let text = raw.get();
        let position = cursor.position(offset_in(bytes, text));
        match serde_json::from_str::<OsvRecord>(text) {
            Ok(record) => match check_record(record, position) {
                Ok(record) => batch.records.push(LocatedRecord { position, record }),
                Err(problem) => batch.problems.push(problem),
            },
            Err(e) => batch.problems.push(OsvError::from_json(&e, position)),
        }
    }
    batch
}

/// Checks what serde cannot: the id is not empty.
fn check_record(record: OsvRecord, position: Position) -> Result<OsvRecord, OsvError> {
    if record.id.trim().is_empty() {
        return Err(OsvError::Shape {
            position,
            message: "the record's \"id\" is empty".to_owned(),
        });
    }
    Ok(record)
}

/// `serde_json` appends " at line L column C" to its messages; the position is reported
/// separately (and translated), so it is removed from the text.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Pushes each element of a JSON array as a raw value, so that elements read before a syntax
/// error are kept.
struct CollectRaw<'v, 'de>(&'v mut Vec<&'de RawValue>);

impl<'de> DeserializeSeed<'de> for CollectRaw<'_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for CollectRaw<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of OSV records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            self.0.push(raw);
        }
        Ok(())
    }
}
