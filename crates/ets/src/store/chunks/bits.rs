//! Bit streams and the integer codes the chunk formats share: a writer that can resume a
//! stream where it ended (what lets a chunk grow without being decoded), a reader, the
//! bucketed code of a zigzag integer, and varints for headers.

/// Bits written most significant first, gathered in a word and stored eight bytes at a time.
pub(super) struct BitWriter {
    out: Vec<u8>,
    /// The next bits to store, from the most significant bit down.
    word: u64,
    /// How many bits of `word` are taken.
    filled: u32,
}

impl BitWriter {
    pub(super) fn with_capacity(bytes: usize) -> BitWriter {
        BitWriter {
            out: Vec::with_capacity(bytes),
            word: 0,
            filled: 0,
        }
    }

    /// A writer that continues the stream `bytes`, of which the first `bits` are written (the
    /// rest of its last byte is ignored): copies the stream, decodes nothing.
    pub(super) fn resume(bytes: &[u8], bits: usize, extra_bytes: usize) -> Option<BitWriter> {
        if bits > bytes.len() * 8 || bytes.len() > bits.div_ceil(8) {
            return None;
        }
        let whole = bits / 64 * 8;
        let mut out = Vec::with_capacity(bytes.len() + extra_bytes);
        out.extend_from_slice(&bytes[..whole]);
        let mut last = [0u8; 8];
        last[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
        let filled = (bits - whole * 8) as u32;
        let word = match filled {
            0 => 0,
            _ => u64::from_be_bytes(last) & !(u64::MAX >> filled),
        };
        Some(BitWriter { out, word, filled })
    }

    /// Bits written so far.
    pub(super) fn len(&self) -> usize {
        self.out.len() * 8 + self.filled as usize
    }

    /// Writes the low `count` bits of `value` (0 to 64).
    #[inline]
    pub(super) fn write(&mut self, value: u64, count: u32) {
        if count == 0 {
            return;
        }
        let value = if count == 64 {
            value
        } else {
            value & ((1u64 << count) - 1)
        };
        let free = 64 - self.filled;
        if count < free {
            self.word |= value << (free - count);
            self.filled += count;
        } else {
            // Fill the word, store it, keep the rest (`count - free` bits, under 64).
            let rest = count - free;
            self.word |= value >> rest;
            self.out.extend_from_slice(&self.word.to_be_bytes());
            self.word = if rest == 0 { 0 } else { value << (64 - rest) };
            self.filled = rest;
        }
    }

    /// The stream, its last byte padded with zeros.
    pub(super) fn finish(mut self) -> Vec<u8> {
        let bytes = self.filled.div_ceil(8) as usize;
        self.out
            .extend_from_slice(&self.word.to_be_bytes()[..bytes]);
        self.out
    }
}

pub(super) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    at: usize,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader { data, at: 0 }
    }

    /// The next 64 bits, most significant first; past the end they read as zeros.
    #[inline]
    pub(super) fn peek(&self) -> u64 {
        // The 16 bytes from the one holding the next bit hold the 64 bits asked for (at
        // most 7 + 64); near the end, the missing ones read as zeros.
        let first = self.at / 8;
        let bytes: [u8; 16] = match self.data.get(first..first + 16) {
            Some(bytes) => bytes.try_into().expect("16 bytes"),
            None => {
                let mut bytes = [0u8; 16];
                let rest = self.data.get(first..).unwrap_or_default();
                bytes[..rest.len()].copy_from_slice(rest);
                bytes
            }
        };
        ((u128::from_be_bytes(bytes) << (self.at % 8)) >> 64) as u64
    }

    /// Moves past `count` bits; `None` past the end.
    #[inline]
    pub(super) fn skip(&mut self, count: u32) -> Option<()> {
        let at = self.at + count as usize;
        if at > self.data.len() * 8 {
            return None;
        }
        self.at = at;
        Some(())
    }

    /// The next `count` bits (0 to 64) as the low bits of a word; `None` past the end.
    #[inline]
    pub(super) fn read(&mut self, count: u32) -> Option<u64> {
        if count == 0 {
            return Some(0);
        }
        let value = self.peek() >> (64 - count);
        self.skip(count)?;
        Some(value)
    }
}

/// Buckets of a zigzag-coded integer: (prefix, prefix length, payload bits). Small
/// differences of differences take few bits; any 64-bit value fits the last.
const BUCKETS: [(u64, u32, u32); 6] = [
    (0b0, 1, 0),
    (0b10, 2, 4),
    (0b110, 3, 8),
    (0b1110, 4, 16),
    (0b11110, 5, 32),
    (0b11111, 5, 64),
];

pub(super) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

pub(super) fn unzigzag(zigzag: u64) -> i64 {
    ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64)
}

/// Writes a zigzag-coded integer in the bucket of the fewest bits that holds it.
pub(super) fn write_bucketed(bits: &mut BitWriter, zigzag: u64) {
    for (prefix, length, payload) in BUCKETS {
        if payload == 64 || zigzag < (1u64 << payload) {
            bits.write(prefix, length);
            bits.write(zigzag, payload);
            return;
        }
    }
}

pub(super) fn read_bucketed(bits: &mut BitReader) -> Option<u64> {
    let ones = bits.peek().leading_ones().min(5);
    bits.skip(if ones == 5 { 5 } else { ones + 1 })?;
    bits.read(BUCKETS[ones as usize].2)
}

pub(super) fn write_signed(bits: &mut BitWriter, value: i64) {
    write_bucketed(bits, zigzag(value));
}

pub(super) fn read_signed(bits: &mut BitReader) -> Option<i64> {
    read_bucketed(bits).map(unzigzag)
}

pub(super) fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a varint at `*at`, moving `*at` past it; `None` if the bytes end first or it runs
/// past 64 bits (a corrupt row).
pub(super) fn read_varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_and_resume() {
        let words = [
            (1u64, 1u32),
            (0, 3),
            (u64::MAX, 64),
            (0x1234, 13),
            (5, 0),
            (7, 3),
            (0xdead_beef, 61),
        ];
        // Written in one go, or stopped after each word and resumed from the bytes.
        let mut whole = BitWriter::with_capacity(16);
        let mut pieces = Vec::new();
        let mut length = 0;
        for (value, count) in words {
            whole.write(value, count);
            let mut resumed = BitWriter::resume(&pieces, length, 16).expect("resumes");
            resumed.write(value, count);
            length = resumed.len();
            pieces = resumed.finish();
        }
        assert_eq!(whole.len(), length);
        let data = whole.finish();
        assert_eq!(data, pieces);
        let mut reader = BitReader::new(&data);
        for (value, count) in words {
            let mask = if count == 64 {
                u64::MAX
            } else {
                (1u64 << count) - 1
            };
            assert_eq!(reader.read(count), Some(value & mask));
        }
        assert!(
            BitWriter::resume(&[0xff], 9, 0).is_none(),
            "more bits than bytes"
        );
        assert!(
            BitWriter::resume(&[0xff, 0], 3, 0).is_none(),
            "bytes past the bits"
        );
    }

    #[test]
    fn integer_codes_round_trip() {
        let values = [0i64, 1, -1, 7, -8, 300, -70_000, i64::MAX, i64::MIN];
        let mut bits = BitWriter::with_capacity(64);
        let mut bytes = Vec::new();
        for &v in &values {
            write_signed(&mut bits, v);
            write_varint(&mut bytes, zigzag(v));
        }
        let data = bits.finish();
        let mut reader = BitReader::new(&data);
        let mut at = 0;
        for &v in &values {
            assert_eq!(read_signed(&mut reader), Some(v));
            assert_eq!(read_varint(&bytes, &mut at).map(unzigzag), Some(v));
        }
        assert_eq!(at, bytes.len());
        assert!(
            read_varint(&[0xff; 11], &mut 0).is_none(),
            "longer than 64 bits"
        );
        assert!(read_varint(&[0x80], &mut 0).is_none(), "cut short");
    }
}
