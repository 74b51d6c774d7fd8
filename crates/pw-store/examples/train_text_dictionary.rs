//! Builds a dictionary for finding texts (`src/text_codec.rs`) and says what it does.
//!
//! ```sh
//! sqlite3 patchwarden.db "SELECT finding FROM finding_texts WHERE packed IS NULL" > texts.jsonl
//! cargo run --release -p pw-store --example train_text_dictionary -- texts.jsonl 65536 out.zdict
//! ```
//!
//! `texts.jsonl`: one finding text a line (a database written before migration 0040, or texts
//! exported any other way). Every other text (by line, from the second) is a training sample;
//! the rest are held out, and the dictionary's ratio and speed are measured on them (texts the
//! dictionary never saw), at several zstd levels, beside zstd alone and DEFLATE alone.

use std::io::Write;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, size, output] = args.as_slice() else {
        eprintln!("usage: train_text_dictionary TEXTS.jsonl MAX_DICTIONARY_BYTES OUT.zdict");
        std::process::exit(2);
    };
    let size: usize = size.parse().expect("a size in bytes");
    let all = std::fs::read_to_string(input).expect("reading the texts");
    let texts: Vec<&str> = all.lines().filter(|l| !l.is_empty()).collect();
    let samples: Vec<&[u8]> = texts.iter().step_by(2).map(|t| t.as_bytes()).collect();
    let held: Vec<&str> = texts.iter().skip(1).step_by(2).copied().collect();
    let started = Instant::now();
    let dictionary = zstd::dict::from_samples(&samples, size).expect("training");
    println!(
        "{} texts, {} samples, dictionary {} bytes in {:.1} s",
        texts.len(),
        samples.len(),
        dictionary.len(),
        started.elapsed().as_secs_f64()
    );
    let json: usize = held.iter().map(|t| t.len()).sum();
    for level in [1, 3, 9, 19] {
        let mut compressor =
            zstd::bulk::Compressor::with_dictionary(level, &dictionary).expect("compressor");
        compressor
            .set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false))
            .expect("parameter");
        let started = Instant::now();
        let packed: Vec<Vec<u8>> = held
            .iter()
            .map(|t| compressor.compress(t.as_bytes()).expect("compressing"))
            .collect();
        let compress = started.elapsed().as_secs_f64();
        let mut decompressor =
            zstd::bulk::Decompressor::with_dictionary(&dictionary).expect("decompressor");
        let started = Instant::now();
        for (p, t) in packed.iter().zip(&held) {
            let back = decompressor.decompress(p, t.len()).expect("decompressing");
            assert_eq!(back, t.as_bytes());
        }
        let decompress = started.elapsed().as_secs_f64();
        let bytes: usize = packed.iter().map(Vec::len).sum();
        println!(
            "level {level:2}: held-out {} texts, {json} bytes of JSON -> {bytes} ({:.1} %), \
             {:.1} µs to compress, {:.1} µs to decompress a text",
            held.len(),
            100.0 * bytes as f64 / json as f64,
            1e6 * compress / held.len() as f64,
            1e6 * decompress / held.len() as f64,
        );
    }
    let alone: usize = (held.iter())
        .map(|t| {
            zstd::bulk::compress(t.as_bytes(), 3)
                .expect("compressing")
                .len()
        })
        .sum();
    let deflated: usize = (held.iter())
        .map(|t| {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(t.as_bytes()).expect("deflating");
            e.finish().expect("deflating").len()
        })
        .sum();
    println!(
        "alone: zstd 3 {:.1} %, DEFLATE 6 {:.1} %",
        100.0 * alone as f64 / json as f64,
        100.0 * deflated as f64 / json as f64
    );
    std::fs::write(output, &dictionary).expect("writing the dictionary");
}
