//! Byte scanning for the dpkg status parser. Line ends are found 64 bytes at a time: one bitmask
//! of newline positions per block, then one bit per line, which is cheaper than a search call
//! per line when lines are short (a status file averages 40 bytes a line). Safe code only: the
//! byte comparisons compile to SSE2 compares and the bits are gathered with one multiplication
//! per 8 bytes. The colon of a field line is found 8 bytes at a time.

/// Positions of the `\n` bytes of `input`, in order.
pub(super) struct NewlineIter<'a> {
    input: &'a [u8],
    /// Offset of the block `mask` describes.
    base: usize,
    /// Newlines of the current block not yet returned (bit `i`: byte `base + i`).
    mask: u64,
}

impl<'a> NewlineIter<'a> {
    pub(super) fn new(input: &'a [u8]) -> Self {
        NewlineIter {
            input,
            base: 0,
            mask: block_mask(input, 0),
        }
    }
}

impl Iterator for NewlineIter<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.base += 64;
            if self.base >= self.input.len() {
                return None;
            }
            self.mask = block_mask(self.input, self.base);
        }
        let at = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// The newline bitmask of the 64 bytes from `base` (zero-padded past the end of `input`).
#[inline]
fn block_mask(input: &[u8], base: usize) -> u64 {
    match input.get(base..base + 64) {
        Some(block) => newline_mask(block.try_into().expect("64-byte block")),
        None => {
            let mut block = [0u8; 64];
            let tail = input.get(base..).unwrap_or_default();
            block[..tail.len()].copy_from_slice(tail);
            newline_mask(&block)
        }
    }
}

/// Bit `i` set when `block[i]` is `\n`.
#[inline]
fn newline_mask(block: &[u8; 64]) -> u64 {
    // One byte per position, 1 for a newline (vectorized), then 8 bytes -> 8 bits by multiplying:
    // byte j (0 or 1) of a word lands on bit 56 + j of the product.
    let ones: [u8; 64] = std::array::from_fn(|i| u8::from(block[i] == b'\n'));
    let mut mask = 0;
    for (k, word) in ones.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(word.try_into().expect("8-byte word"));
        mask |= (word.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
    }
    mask
}

/// Position of the first `:` of `line`, which starts at byte `at` of `input`. Field names are
/// short: the first 16 bytes are searched 8 at a time, the rest (rare) byte by byte.
#[inline]
pub(super) fn first_colon(input: &[u8], at: usize, line: &[u8]) -> Option<usize> {
    const COLONS: u64 = u64::from_ne_bytes([b':'; 8]);
    let Some(head) = input.get(at..at + 16) else {
        return line.iter().position(|&b| b == b':');
    };
    let word = |i: usize| u64::from_le_bytes(head[i..i + 8].try_into().expect("8 bytes"));
    let first = match (zero_bytes(word(0) ^ COLONS), zero_bytes(word(8) ^ COLONS)) {
        (0, 0) => 16,
        (0, high) => 8 + high.trailing_zeros() as usize / 8,
        (low, _) => low.trailing_zeros() as usize / 8,
    };
    if first < 16 {
        // A colon past the end of the line is in the next one.
        return (first < line.len()).then_some(first);
    }
    let rest = line.get(16..)?;
    rest.iter().position(|&b| b == b':').map(|c| c + 16)
}

/// The high bit of each zero byte of `x` (exact: no false positives).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
    !(((x & LOW7).wrapping_add(LOW7)) | x) & !LOW7
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8]) {
        let expected: Vec<usize> = memchr::memchr_iter(b'\n', input).collect();
        assert_eq!(NewlineIter::new(input).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn every_position_and_length() {
        for len in 0..200 {
            for at in 0..len {
                let mut input = vec![b'x'; len];
                input[at] = b'\n';
                check(&input);
                input.iter_mut().step_by(3).for_each(|b| *b = b'\n');
                check(&input);
            }
            check(&vec![b'\n'; len]);
        }
    }

    #[test]
    fn bytes_next_to_a_newline_do_not_leak() {
        for b in 0..=255u8 {
            check(&[b, b'\n', b, b, 0x0b, b'\n', 0x0b, 0xff, 0x8a, 0x0a]);
        }
    }
}
