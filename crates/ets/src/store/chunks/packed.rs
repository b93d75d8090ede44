//! The chunk format written before appendable chunks (`metric_chunks.encoding` 0): still read,
//! no longer written. Two forms, told apart by length alone (the row keeps the point count):
//!
//! - **compressed** (shorter than 24 bytes a point), as in Gorilla (Pelkonen et al., VLDB
//!   2015): one bit stream of the steps, then the timestamps, each as its first value, first
//!   difference and then differences of differences in variable-length buckets, then the
//!   values, each XORed with the one before and only the bits that changed written;
//! - **raw**: three little-endian arrays (steps as i64, timestamps as i64, values as f64 bits),
//!   24 bytes a point.
//!
//! Steps, then timestamps, then values in one stream is what kept these chunks from growing
//! without being decoded and encoded again.

use ets_domain::model::MetricPoint;

use super::bits::{BitReader, read_signed};

/// Bytes per point of the raw form.
pub(super) const POINT_BYTES: usize = 24;

/// Unpacks a chunk of `count` points, appending them to `out`; `None` if the blob is not
/// `count` points in either form.
pub(super) fn decode_into(data: &[u8], count: usize, out: &mut Vec<MetricPoint>) -> Option<()> {
    let raw_len = count.checked_mul(POINT_BYTES)?;
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

/// A value's XOR with the one before: `0` when equal; `10` and the changed bits when they fit
/// the previous window of changed bits; else `11`, 5 bits of leading zeros, 6 bits of
/// length − 1, and the bits.
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

/// The encoder of this format, kept to write chunks as earlier versions did (tests of old
/// rows still reading).
#[cfg(test)]
pub(super) fn encode(points: &[MetricPoint]) -> Vec<u8> {
    use super::bits::{BitWriter, write_signed};

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

    let mut bits = BitWriter::with_capacity(points.len() * 4);
    write_integers(&mut bits, points.iter().map(|p| p.step));
    write_integers(&mut bits, points.iter().map(|p| p.timestamp));
    let mut previous = 0u64;
    let mut window: Option<(u32, u32)> = None;
    for (i, value) in points.iter().map(|p| p.value.to_bits()).enumerate() {
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
    let compressed = bits.finish();
    if compressed.len() < points.len() * POINT_BYTES {
        return compressed;
    }
    raw(points)
}

/// The raw form (what chunks were before compression).
#[cfg(test)]
pub(super) fn raw(points: &[MetricPoint]) -> Vec<u8> {
    let mut data = Vec::with_capacity(points.len() * POINT_BYTES);
    data.extend(points.iter().flat_map(|p| p.step.to_le_bytes()));
    data.extend(points.iter().flat_map(|p| p.timestamp.to_le_bytes()));
    data.extend(points.iter().flat_map(|p| p.value.to_bits().to_le_bytes()));
    data
}
