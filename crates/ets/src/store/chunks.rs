//! The packed form of a chunk of metric points (`metric_chunks.data`, both backends), points
//! in series order (`MetricPoint::series_key`: step, timestamp, value). NaN and ±infinity keep
//! their exact bits. Two forms, told apart by length alone (the row keeps the point count):
//!
//! - **compressed** (shorter than 24 bytes a point), as in Gorilla (Pelkonen et al., VLDB
//!   2015): one bit stream of the steps, then the timestamps, each as its first value, first
//!   difference and then differences of differences in variable-length buckets (a constant
//!   stride costs one bit a point), then the values, each XORed with the one before and only
//!   the bits that changed written (an unchanged value costs one bit; a float32 curve stored
//!   as f64 keeps at most 23 changing bits);
//! - **raw**: three little-endian arrays (steps as i64, timestamps as i64, values as f64 bits),
//!   24 bytes a point. Chunks written before compression existed are raw, and so is a chunk
//!   whose compressed form would not be shorter, which keeps the two forms apart.

use ets_domain::downsample::Extremes;
use ets_domain::model::MetricPoint;

/// Most points in one chunk; a logged batch larger than this becomes several chunks.
pub(super) const MAX_CHUNK_POINTS: usize = 1024;

/// Bytes per point of the raw form.
const POINT_BYTES: usize = 24;

/// Packs points (already in series order): compressed, unless that is not shorter.
pub(super) fn encode(points: &[MetricPoint]) -> Vec<u8> {
    debug_assert!(points.is_sorted_by_key(MetricPoint::series_key));
    let compressed = compress(points);
    if compressed.len() < points.len() * POINT_BYTES {
        return compressed;
    }
    let mut data = Vec::with_capacity(points.len() * POINT_BYTES);
    data.extend(points.iter().flat_map(|p| p.step.to_le_bytes()));
    data.extend(points.iter().flat_map(|p| p.timestamp.to_le_bytes()));
    data.extend(points.iter().flat_map(|p| p.value.to_bits().to_le_bytes()));
    data
}

/// Chunks of fewer points carry no summary: decoding them costs about as little as reading it.
const SUMMARY_MIN_POINTS: usize = 128;

/// A chunk's summary (`metric_chunks.summary`): the [`Extremes`] of its points, as a byte of
/// flags (which of low, high, NaN are there) and each point there raw (step, timestamp, value
/// bits; little-endian). `None` for a chunk shorter than `SUMMARY_MIN_POINTS`.
pub(super) fn summarize(points: &[MetricPoint]) -> Option<Vec<u8>> {
    if points.len() < SUMMARY_MIN_POINTS {
        return None;
    }
    let extremes = Extremes::of(points);
    let present = [extremes.low, extremes.high, extremes.nan];
    let mut out = Vec::with_capacity(1 + 3 * POINT_BYTES);
    out.push(
        present
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_some())
            .fold(0u8, |flags, (i, _)| flags | 1 << i),
    );
    for point in present.into_iter().flatten() {
        out.extend(point.step.to_le_bytes());
        out.extend(point.timestamp.to_le_bytes());
        out.extend(point.value.to_bits().to_le_bytes());
    }
    Some(out)
}

/// Reads a summary written by [`summarize`]; `None` if it is not one (a corrupt row).
pub(super) fn read_summary(data: &[u8]) -> Option<Extremes> {
    let (&flags, mut rest) = data.split_first()?;
    let mut point = |present: bool| -> Option<Option<MetricPoint>> {
        if !present {
            return Some(None);
        }
        let (bytes, after) = rest.split_at_checked(POINT_BYTES)?;
        rest = after;
        let word =
            |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Some(Some(MetricPoint::new(
            word(0) as i64,
            word(1) as i64,
            f64::from_bits(word(2)),
        )))
    };
    let extremes = Extremes {
        low: point(flags & 1 != 0)?,
        high: point(flags & 2 != 0)?,
        nan: point(flags & 4 != 0)?,
    };
    (rest.is_empty() && flags < 8).then_some(extremes)
}

/// Unpacks a chunk of `count` points, appending them to `out`. Returns `None` if the blob is
/// not `count` points in either form (a corrupt row), so the caller can report it.
pub(super) fn decode_into(data: &[u8], count: usize, out: &mut Vec<MetricPoint>) -> Option<()> {
    // A corrupt row's count must neither overflow nor reserve memory its data cannot hold:
    // a compressed point takes at least three bits.
    let raw_len = count.checked_mul(POINT_BYTES)?;
    if count > data.len().saturating_mul(8) / 3 + 1 {
        return None;
    }
    out.reserve(count);
    match data.len().cmp(&raw_len) {
        std::cmp::Ordering::Equal => decode_raw(data, count, out),
        std::cmp::Ordering::Less => decompress(data, count, out),
        std::cmp::Ordering::Greater => None,
    }
}

fn decode_raw(data: &[u8], n: usize, out: &mut Vec<MetricPoint>) -> Option<()> {
    let (steps, rest) = data.split_at(n * 8);
    let (timestamps, values) = rest.split_at(n * 8);
    let word = |bytes: &[u8], i: usize| {
        u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
    };
    for i in 0..n {
        out.push(MetricPoint {
            step: word(steps, i) as i64,
            timestamp: word(timestamps, i) as i64,
            value: f64::from_bits(word(values, i)),
        });
    }
    Some(())
}

fn compress(points: &[MetricPoint]) -> Vec<u8> {
    let mut bits = BitWriter::with_capacity(points.len() * 4);
    write_integers(&mut bits, points.iter().map(|p| p.step));
    write_integers(&mut bits, points.iter().map(|p| p.timestamp));
    write_values(&mut bits, points.iter().map(|p| p.value.to_bits()));
    bits.finish()
}

fn decompress(data: &[u8], n: usize, out: &mut Vec<MetricPoint>) -> Option<()> {
    let mut bits = BitReader::new(data);
    let steps = read_integers(&mut bits, n)?;
    let timestamps = read_integers(&mut bits, n)?;
    let start = out.len();
    out.extend(
        steps
            .into_iter()
            .zip(timestamps)
            .map(|(step, timestamp)| MetricPoint::new(step, timestamp, 0.0)),
    );
    let mut previous = 0u64;
    let mut window = (0u32, 0u32);
    for (i, point) in out[start..].iter_mut().enumerate() {
        previous = if i == 0 {
            bits.read(64)?
        } else {
            previous ^ read_xor(&mut bits, &mut window)?
        };
        point.value = f64::from_bits(previous);
    }
    Some(())
}

/// First value, first difference, then differences of differences (wrapping: any i64 goes).
fn write_integers(bits: &mut BitWriter, values: impl Iterator<Item = i64>) {
    let (mut previous, mut delta) = (0i64, 0i64);
    for (i, value) in values.enumerate() {
        match i {
            0 => write_signed(bits, value),
            _ => {
                let next = value.wrapping_sub(previous);
                write_signed(
                    bits,
                    if i == 1 {
                        next
                    } else {
                        next.wrapping_sub(delta)
                    },
                );
                delta = next;
            }
        }
        previous = value;
    }
}

fn read_integers(bits: &mut BitReader, n: usize) -> Option<Vec<i64>> {
    let mut out = Vec::with_capacity(n);
    let (mut previous, mut delta) = (0i64, 0i64);
    for i in 0..n {
        let coded = read_signed(bits)?;
        let value = match i {
            0 => coded,
            1 => {
                delta = coded;
                previous.wrapping_add(delta)
            }
            _ => {
                delta = delta.wrapping_add(coded);
                previous.wrapping_add(delta)
            }
        };
        out.push(value);
        previous = value;
    }
    Some(out)
}

/// Buckets of a zigzag-coded integer: (prefix, prefix length, payload bits). Small
/// differences of differences (the usual case) take few bits; any i64 fits the last.
const BUCKETS: [(u64, u32, u32); 6] = [
    (0b0, 1, 0),
    (0b10, 2, 4),
    (0b110, 3, 8),
    (0b1110, 4, 16),
    (0b11110, 5, 32),
    (0b11111, 5, 64),
];

fn write_signed(bits: &mut BitWriter, value: i64) {
    let zigzag = ((value << 1) ^ (value >> 63)) as u64;
    for (prefix, length, payload) in BUCKETS {
        if payload == 64 || zigzag < (1u64 << payload) {
            bits.write(prefix, length);
            bits.write(zigzag, payload);
            return;
        }
    }
}

fn read_signed(bits: &mut BitReader) -> Option<i64> {
    let mut ones = 0;
    while ones < 5 && bits.read(1)? == 1 {
        ones += 1;
    }
    let payload = BUCKETS[ones].2;
    let zigzag = bits.read(payload)?;
    Some(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64))
}

/// Values as Gorilla does: the first whole, then each XOR with the one before: `0` when equal;
/// `10` and the changed bits when they fit the previous window of changed bits; else `11`, 5
/// bits of leading zeros, 6 bits of length − 1, and the bits.
fn write_values(bits: &mut BitWriter, values: impl Iterator<Item = u64>) {
    let mut previous = 0u64;
    let mut window: Option<(u32, u32)> = None;
    for (i, value) in values.enumerate() {
        if i == 0 {
            bits.write(value, 64);
            previous = value;
            continue;
        }
        let xor = value ^ previous;
        previous = value;
        if xor == 0 {
            bits.write(0, 1);
            continue;
        }
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        match window {
            Some((lead, trail)) if leading >= lead && trailing >= trail => {
                bits.write(0b10, 2);
                bits.write(xor >> trail, 64 - lead - trail);
            }
            _ => {
                let length = 64 - leading - trailing;
                bits.write(0b11, 2);
                bits.write(u64::from(leading), 5);
                bits.write(u64::from(length - 1), 6);
                bits.write(xor >> trailing, length);
                window = Some((leading, trailing));
            }
        }
    }
}

fn read_xor(bits: &mut BitReader, window: &mut (u32, u32)) -> Option<u64> {
    if bits.read(1)? == 0 {
        return Some(0);
    }
    if bits.read(1)? == 1 {
        let leading = bits.read(5)? as u32;
        let length = bits.read(6)? as u32 + 1;
        // A corrupt row could claim more bits than a word has.
        let trailing = 64u32.checked_sub(leading + length)?;
        *window = (leading, trailing);
    }
    let (leading, trailing) = *window;
    let length = 64u32.checked_sub(leading + trailing).filter(|l| *l > 0)?;
    Some(bits.read(length)? << trailing)
}

/// Bits written most significant first, gathered in a word and stored eight bytes at a time.
struct BitWriter {
    out: Vec<u8>,
    /// The next bits to store, from the most significant bit down.
    word: u64,
    /// How many bits of `word` are taken.
    filled: u32,
}

impl BitWriter {
    fn with_capacity(bytes: usize) -> BitWriter {
        BitWriter {
            out: Vec::with_capacity(bytes),
            word: 0,
            filled: 0,
        }
    }

    /// Writes the low `count` bits of `value` (0 to 64).
    fn write(&mut self, value: u64, count: u32) {
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

    fn finish(mut self) -> Vec<u8> {
        let bytes = self.filled.div_ceil(8) as usize;
        self.out
            .extend_from_slice(&self.word.to_be_bytes()[..bytes]);
        self.out
    }
}

struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    at: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader { data, at: 0 }
    }

    /// The next `count` bits (0 to 64) as the low bits of a word; `None` past the end.
    fn read(&mut self, count: u32) -> Option<u64> {
        if count == 0 {
            return Some(0);
        }
        if self.at + count as usize > self.data.len() * 8 {
            return None;
        }
        // The 16 bytes from the one holding the next bit hold every bit asked for (at most
        // 7 + 64); near the end, the missing ones read as zeros and are never returned.
        let first = self.at / 8;
        let bytes: [u8; 16] = match self.data.get(first..first + 16) {
            Some(bytes) => bytes.try_into().expect("16 bytes"),
            None => {
                let mut bytes = [0u8; 16];
                bytes[..self.data.len() - first].copy_from_slice(&self.data[first..]);
                bytes
            }
        };
        let window = u128::from_be_bytes(bytes) << (self.at % 8);
        self.at += count as usize;
        Some((window >> (128 - count)) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(points: &[MetricPoint]) -> Vec<u8> {
        let data = encode(points);
        let mut out = Vec::new();
        decode_into(&data, points.len(), &mut out).expect("decodes");
        assert_eq!(out.len(), points.len());
        for (a, b) in points.iter().zip(&out) {
            assert_eq!((a.step, a.timestamp), (b.step, b.timestamp));
            assert_eq!(a.value.to_bits(), b.value.to_bits(), "{a:?} {b:?}");
        }
        data
    }

    #[test]
    fn round_trip_keeps_exact_values() {
        let mut points = vec![
            MetricPoint::new(-5, 1, f64::NAN),
            MetricPoint::new(0, i64::MAX, f64::NEG_INFINITY),
            MetricPoint::new(7, 3, 0.1),
            MetricPoint::new(7, 3, -0.0),
            MetricPoint::new(i64::MAX, i64::MIN, f64::MIN_POSITIVE),
        ];
        points.sort_by_key(MetricPoint::series_key);
        round_trip(&points);
        let mut out = Vec::new();
        assert!(decode_into(&[1, 2, 3], 1, &mut out).is_none(), "too short");
        assert!(decode_into(&[0; 25], 1, &mut out).is_none(), "too long");
    }

    /// A float32 training curve with a constant step stride and millisecond timestamps: the
    /// issue's "typical" series, well under 4 bytes a point.
    #[test]
    fn a_training_curve_takes_under_four_bytes_a_point() {
        let points: Vec<MetricPoint> = (0..1000)
            .map(|i| {
                let loss =
                    (2.0 * (-(i as f64) / 300.0).exp() + 0.01 * (i as f64 * 0.7).sin()) as f32;
                MetricPoint::new(i, 1_700_000_000_000 + i * 37 + (i % 3), f64::from(loss))
            })
            .collect();
        let data = round_trip(&points);
        assert!(data.len() < 4 * points.len(), "{} bytes", data.len());
        let constant: Vec<MetricPoint> = (0..1000)
            .map(|i| MetricPoint::new(i * 10, 5, 0.5))
            .collect();
        let data = round_trip(&constant);
        assert!(
            data.len() < 8 + 8 + 8 + 3 * 1000 / 8 + 8,
            "{} bytes",
            data.len()
        );
    }

    /// Chunks written before compression existed (raw, 24 bytes a point) still read.
    #[test]
    fn raw_chunks_of_earlier_versions_read() {
        let points: Vec<MetricPoint> = (0..10)
            .map(|i| MetricPoint::new(i, 1000 + i, i as f64 / 4.0))
            .collect();
        let mut raw = Vec::new();
        raw.extend(points.iter().flat_map(|p| p.step.to_le_bytes()));
        raw.extend(points.iter().flat_map(|p| p.timestamp.to_le_bytes()));
        raw.extend(points.iter().flat_map(|p| p.value.to_bits().to_le_bytes()));
        let mut out = Vec::new();
        decode_into(&raw, points.len(), &mut out).unwrap();
        assert_eq!(out, points);
        assert!(
            encode(&points).len() < raw.len(),
            "new chunks are compressed"
        );
    }

    /// Random bits in every field: the compressed form would be longer, so the chunk stays raw
    /// (24 bytes a point) and still decodes.
    #[test]
    fn incompressible_points_stay_raw() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut points: Vec<MetricPoint> = (0..200)
            .map(|_| MetricPoint::new(next() as i64, next() as i64, f64::from_bits(next())))
            .collect();
        points.sort_by_key(MetricPoint::series_key);
        let data = round_trip(&points);
        assert_eq!(data.len(), 24 * points.len());
    }

    /// Every prefix of a compressed chunk is refused (or decodes to what it holds), never a
    /// panic: corrupt rows are reported, not crashed on.
    #[test]
    fn truncated_chunks_are_refused() {
        let points: Vec<MetricPoint> = (0..50)
            .map(|i| MetricPoint::new(i, i * 1000, (i as f64).sqrt()))
            .collect();
        let data = round_trip(&points);
        for cut in 0..data.len() {
            let mut out = Vec::new();
            assert!(decode_into(&data[..cut], points.len(), &mut out).is_none());
        }
        let mut out = Vec::new();
        let garbage = vec![0xffu8; 100];
        let _ = decode_into(&garbage, 10, &mut out);
        // A count no chunk can hold (a corrupt or negative `point_count`): refused, no panic.
        assert!(decode_into(&data, usize::MAX, &mut out).is_none());
        assert!(decode_into(&data, data.len() * 8, &mut out).is_none());
    }

    #[test]
    fn bits_round_trip() {
        let mut writer = BitWriter::with_capacity(16);
        let words = [
            (1u64, 1u32),
            (0, 3),
            (u64::MAX, 64),
            (0x1234, 13),
            (5, 0),
            (7, 3),
        ];
        for (value, count) in words {
            writer.write(value, count);
        }
        let data = writer.finish();
        let mut reader = BitReader::new(&data);
        for (value, count) in words {
            let mask = if count == 64 {
                u64::MAX
            } else {
                (1u64 << count) - 1
            };
            assert_eq!(reader.read(count), Some(value & mask));
        }
    }

    #[test]
    fn summaries_round_trip_and_refuse_garbage() {
        let mut points: Vec<MetricPoint> = (0..200)
            .map(|i| MetricPoint::new(i, 10 * i, ((i * 37) % 101) as f64))
            .collect();
        points[150].value = f64::NAN;
        let data = summarize(&points).expect("long enough");
        let extremes = read_summary(&data).expect("reads");
        assert_eq!(extremes.low.map(|p| p.step), Some(0));
        // 100.0 at steps 30 and 131: the first is kept.
        assert_eq!(extremes.high.map(|p| (p.step, p.value)), Some((30, 100.0)));
        assert_eq!(extremes.nan.map(|p| p.step), Some(150));
        assert_eq!(1 + 3 * 24, data.len());
        assert!(summarize(&points[..SUMMARY_MIN_POINTS - 1]).is_none());
        for cut in 0..data.len() {
            assert!(read_summary(&data[..cut]).is_none(), "cut at {cut}");
        }
        assert!(read_summary(&[8]).is_none(), "unknown flag");
    }
}
