//! DEFLATE behind a one-byte format tag: the one compression of stored blobs (the ranked
//! findings lists, migration 0033; the inventories' package lists, migration 0034). flate2 on
//! miniz_oxide, pure Rust (docs/design/decisions.md "Compressed inventories").

use std::io::{Read, Write};

use anyhow::Context;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

/// `tag`, then `bytes` compressed at `level`.
pub(crate) fn deflate(tag: u8, bytes: &[u8], level: Compression) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() / 8 + 16);
    out.push(tag);
    let mut encoder = DeflateEncoder::new(out, level);
    encoder.write_all(bytes).context("compressing")?;
    encoder.finish().context("compressing")
}

/// The bytes [`deflate`] compressed (without its tag: the caller read it).
pub(crate) fn inflate(deflated: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(deflated.len() * 8);
    DeflateDecoder::new(deflated)
        .read_to_end(&mut out)
        .context("not valid DEFLATE data")?;
    Ok(out)
}
