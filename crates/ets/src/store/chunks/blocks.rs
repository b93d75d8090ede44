//! Appendable chunks (`metric_chunks.encoding` 1): a chunk is a row of blocks of at most
//! [`BLOCK_POINTS`] points, each a header and a bit stream, followed by the state its encoder
//! stopped in. Appending to a chunk copies its bytes and continues the last block's stream
//! from that state: nothing is decoded or encoded again, so a chunk can grow to
//! `MAX_CHUNK_POINTS` (8 blocks) at a cost per appended point that does not grow with it.
//!
//! A block's header holds its point count, its stream's length in bytes, its first and last
//! step and its [`Extremes`], so that a downsampled read decodes only the blocks spanning one
//! of its bucket boundaries and takes the extremes of the others (a read of a series decodes
//! about as many points as with 1,024-point chunks). Blocks start their streams afresh, which
//! costs ~20 bytes a block.
//!
//! In a block's stream, each point is its step, its timestamp and its value, in turn:
//!
//! - steps and timestamps: the first as is, then the first difference, then differences of
//!   differences (wrapping: any i64 goes), zigzag-coded. The first two, and the first
//!   difference of differences, go in bit-length buckets (`bits::write_bucketed`); the
//!   others in an adaptive Rice code: `q = z >> k` in unary (at most 15 ones and a zero)
//!   and the low `k` bits, `k` the log₂ of the running mean of recent codes — a constant
//!   stride costs one bit, millisecond jitter of a wall clock 2–4 bits, where fixed buckets
//!   took 5–6; a larger difference escapes (16 ones, then the bucketed code);
//! - values: the first whole (with a 6-bit `shift`: its trailing zero bits), then the
//!   difference of each from the one before as integers ordered like the floats
//!   (`MetricPoint::rank_of`'s order) with the low `shift` bits — zeros in every value of
//!   the block — dropped: a float32 curve stored as f64 has 29 of them. The difference goes
//!   in the same adaptive Rice code; the noise of a training curve costs its entropy plus
//!   ~1.5 bits, where Gorilla's XOR window took ~5 more. A value with fewer trailing zeros
//!   escapes with the smaller shift, which the rest of the block keeps.
//!
//! The state after the last point (`Trailer`) is in the last bytes: the offset of the last
//! block's header, its stream's length in bits and each field's previous value, difference
//! and Rice statistics, then one byte with the trailer's length.

use std::ops::Range;

use ets_domain::downsample::Extremes;
use ets_domain::model::MetricPoint;

use super::bits::{
    BitReader, BitWriter, read_bucketed, read_signed, read_varint, unzigzag, write_bucketed,
    write_signed, write_varint, zigzag,
};

/// Most points in a block: what a downsampled read decodes at most for a bucket boundary, as
/// a whole 1,024-point chunk was before.
pub(super) const BLOCK_POINTS: usize = 1024;

/// Codes whose quotient reaches this escape to the bucketed code.
const ESCAPE: u32 = 16;

/// The Rice statistics halve when this many codes are counted, so `k` follows the recent ones.
const RICE_WINDOW: u64 = 32;

/// The first code of a field seeds the statistics with at most this (an odd first gap must
/// not cost every later point tens of bits while it decays).
const RICE_SEED_CAP: u64 = 1 << 32;

/// The running statistics of one field's adaptive Rice code: encoder and decoder update them
/// alike from each code.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
struct Rice {
    sum: u64,
    count: u64,
}

impl Rice {
    /// The parameter of the next code: ⌊log₂ of the mean⌋ (0 below 1).
    #[inline]
    fn k(&self) -> u32 {
        if self.count == 0 || self.sum < self.count {
            return 0;
        }
        (self.sum / self.count).ilog2().min(62)
    }

    #[inline]
    fn update(&mut self, zigzag: u64, k: u32) {
        if self.count == 0 {
            self.sum = zigzag.min(RICE_SEED_CAP);
            self.count = 1;
            return;
        }
        // An escape counts as the largest code it stands above, so one outlier moves `k` by
        // at most 4.
        self.sum = self
            .sum
            .saturating_add(zigzag.min(u64::from(ESCAPE) << k.min(59)));
        self.count += 1;
        if self.count == RICE_WINDOW {
            self.sum /= 2;
            self.count /= 2;
        }
    }

    /// Writes `zigzag` in the Rice code (`false`, nothing written, when it must escape).
    #[inline]
    fn write(&self, bits: &mut BitWriter, zigzag: u64, k: u32) -> bool {
        let q = zigzag >> k;
        if q >= u64::from(ESCAPE) {
            return false;
        }
        let q = q as u32;
        bits.write((1u64 << (q + 1)) - 2, q + 1);
        bits.write(zigzag, k);
        true
    }

    /// Reads a Rice code: `Some(None)` at an escape (its 16 ones read).
    #[inline]
    fn read(bits: &mut BitReader, k: u32) -> Option<Option<u64>> {
        let ones = bits.peek().leading_ones();
        if ones >= ESCAPE {
            bits.skip(ESCAPE)?;
            return Some(None);
        }
        bits.skip(ones + 1)?;
        Some(Some((u64::from(ones) << k) | bits.read(k)?))
    }
}

fn write_escape(bits: &mut BitWriter) {
    bits.write((1u64 << ESCAPE) - 1, ESCAPE);
}

/// A step or timestamp field's coder state.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
struct IntCoder {
    previous: i64,
    delta: i64,
    rice: Rice,
}

impl IntCoder {
    #[inline]
    fn write(&mut self, bits: &mut BitWriter, index: usize, value: i64) {
        match index {
            0 => write_signed(bits, value),
            1 => {
                self.delta = value.wrapping_sub(self.previous);
                write_signed(bits, self.delta);
            }
            _ => {
                let next = value.wrapping_sub(self.previous);
                let z = zigzag(next.wrapping_sub(self.delta));
                let k = self.rice.k();
                if self.rice.count == 0 {
                    write_bucketed(bits, z);
                } else if !self.rice.write(bits, z, k) {
                    write_escape(bits);
                    write_bucketed(bits, z);
                }
                self.rice.update(z, k);
                self.delta = next;
            }
        }
        self.previous = value;
    }

    #[inline]
    fn read(&mut self, bits: &mut BitReader, index: usize) -> Option<i64> {
        let value = match index {
            0 => read_signed(bits)?,
            1 => {
                self.delta = read_signed(bits)?;
                self.previous.wrapping_add(self.delta)
            }
            _ => {
                let k = self.rice.k();
                let z = match self.rice.count {
                    0 => read_bucketed(bits)?,
                    _ => match Rice::read(bits, k)? {
                        Some(z) => z,
                        None => read_bucketed(bits)?,
                    },
                };
                self.rice.update(z, k);
                self.delta = self.delta.wrapping_add(unzigzag(z));
                self.previous.wrapping_add(self.delta)
            }
        };
        self.previous = value;
        Some(value)
    }
}

/// A float's bits as an integer in the float's order (`f64::total_cmp`); its own inverse.
#[inline]
fn ordered(bits: u64) -> i64 {
    (bits ^ ((((bits as i64) >> 63) as u64) >> 1)) as i64
}

#[inline]
fn low_mask(shift: u32) -> u64 {
    if shift == 0 {
        0
    } else {
        u64::MAX >> (64 - shift)
    }
}

/// The value field's coder state: the previous value's bits, the low bits every value of the
/// block has as zeros, the Rice statistics.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
struct ValueCoder {
    previous: u64,
    shift: u32,
    rice: Rice,
}

impl ValueCoder {
    #[inline]
    fn write(&mut self, bits: &mut BitWriter, index: usize, value: u64) {
        if index == 0 {
            self.shift = value.trailing_zeros().min(63);
            bits.write(u64::from(self.shift), 6);
            bits.write(value, 64);
            self.previous = value;
            return;
        }
        let shift = if value & low_mask(self.shift) != 0 {
            value.trailing_zeros()
        } else {
            self.shift
        };
        let z = zigzag((ordered(value) >> shift).wrapping_sub(ordered(self.previous) >> shift));
        let k = self.rice.k();
        let coded = shift == self.shift && self.rice.count > 0 && self.rice.write(bits, z, k);
        if !coded {
            if self.rice.count > 0 {
                write_escape(bits);
            }
            bits.write(u64::from(shift), 6);
            write_bucketed(bits, z);
        }
        self.rice.update(z, k);
        self.shift = shift;
        self.previous = value;
    }

    #[inline]
    fn read(&mut self, bits: &mut BitReader, index: usize) -> Option<u64> {
        if index == 0 {
            self.shift = bits.read(6)? as u32;
            self.previous = bits.read(64)?;
            return Some(self.previous);
        }
        let k = self.rice.k();
        let rice = match self.rice.count {
            0 => None,
            _ => Rice::read(bits, k)?,
        };
        let z = match rice {
            Some(z) => z,
            None => {
                self.shift = bits.read(6)? as u32;
                read_bucketed(bits)?
            }
        };
        self.rice.update(z, k);
        let q = (ordered(self.previous) >> self.shift).wrapping_add(unzigzag(z));
        let low = if q < 0 { low_mask(self.shift) } else { 0 };
        self.previous = ordered((q << self.shift) as u64 | low) as u64;
        Some(self.previous)
    }
}

/// The coder state of a block after its last point.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
struct PointCoder {
    step: IntCoder,
    timestamp: IntCoder,
    value: ValueCoder,
}

impl PointCoder {
    #[inline]
    fn write(&mut self, bits: &mut BitWriter, index: usize, point: &MetricPoint) {
        self.step.write(bits, index, point.step);
        self.timestamp.write(bits, index, point.timestamp);
        self.value.write(bits, index, point.value.to_bits());
    }

    #[inline]
    fn read(&mut self, bits: &mut BitReader, index: usize) -> Option<MetricPoint> {
        Some(MetricPoint {
            step: self.step.read(bits, index)?,
            timestamp: self.timestamp.read(bits, index)?,
            value: f64::from_bits(self.value.read(bits, index)?),
        })
    }

    fn write_state(&self, out: &mut Vec<u8>) {
        for field in [self.step, self.timestamp] {
            write_varint(out, zigzag(field.previous));
            write_varint(out, zigzag(field.delta));
            write_varint(out, field.rice.sum);
            write_varint(out, field.rice.count);
        }
        out.extend_from_slice(&self.value.previous.to_le_bytes());
        out.push(self.value.shift as u8);
        write_varint(out, self.value.rice.sum);
        write_varint(out, self.value.rice.count);
    }

    fn read_state(data: &[u8], at: &mut usize) -> Option<PointCoder> {
        let mut int = || -> Option<IntCoder> {
            Some(IntCoder {
                previous: unzigzag(read_varint(data, at)?),
                delta: unzigzag(read_varint(data, at)?),
                rice: Rice {
                    sum: read_varint(data, at)?,
                    count: read_varint(data, at)?,
                },
            })
        };
        let (step, timestamp) = (int()?, int()?);
        let previous = u64::from_le_bytes(data.get(*at..*at + 8)?.try_into().ok()?);
        *at += 8;
        let shift = u32::from(*data.get(*at)?);
        *at += 1;
        let rice = Rice {
            sum: read_varint(data, at)?,
            count: read_varint(data, at)?,
        };
        (shift < 64 && rice.count < RICE_WINDOW).then_some(PointCoder {
            step,
            timestamp,
            value: ValueCoder {
                previous,
                shift,
                rice,
            },
        })
    }
}

/// A block as its header describes it.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) count: usize,
    pub(crate) first_step: i64,
    pub(crate) last_step: i64,
    pub(crate) extremes: Extremes,
    /// Where its stream lies in the chunk's data.
    stream: Range<usize>,
}

/// Bytes of one point in a block header's extremes.
const EXTREME_BYTES: usize = 24;

pub(super) fn write_extremes(out: &mut Vec<u8>, extremes: &Extremes) {
    let present = [extremes.low, extremes.high, extremes.nan];
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
}

/// Reads extremes written by [`write_extremes`] at `*at`, moving past them.
pub(super) fn read_extremes(data: &[u8], at: &mut usize) -> Option<Extremes> {
    let flags = *data.get(*at)?;
    if flags >= 8 {
        return None;
    }
    *at += 1;
    let mut point = |present: bool| -> Option<Option<MetricPoint>> {
        if !present {
            return Some(None);
        }
        let bytes = data.get(*at..*at + EXTREME_BYTES)?;
        *at += EXTREME_BYTES;
        let word =
            |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Some(Some(MetricPoint::new(
            word(0) as i64,
            word(1) as i64,
            f64::from_bits(word(2)),
        )))
    };
    Some(Extremes {
        low: point(flags & 1 != 0)?,
        high: point(flags & 2 != 0)?,
        nan: point(flags & 4 != 0)?,
    })
}

/// Reads the block header at `*at` and moves past the block (header and stream).
fn read_block(data: &[u8], at: &mut usize) -> Option<Block> {
    let count = usize::try_from(read_varint(data, at)?).ok()?;
    let stream_bytes = usize::try_from(read_varint(data, at)?).ok()?;
    let first_step = unzigzag(read_varint(data, at)?);
    let last_step = first_step.wrapping_add(read_varint(data, at)? as i64);
    let extremes = read_extremes(data, at)?;
    let stream = *at..at.checked_add(stream_bytes)?;
    if !(1..=BLOCK_POINTS).contains(&count) || stream.end > data.len() {
        return None;
    }
    *at = stream.end;
    Some(Block {
        count,
        first_step,
        last_step,
        extremes,
        stream,
    })
}

/// The state the last block's encoder stopped in (the end of the chunk's data).
struct Trailer {
    /// Where the blocks end and the trailer starts.
    blocks_end: usize,
    /// Where the last block's header starts.
    last_block: usize,
    /// The length of the last block's stream in bits.
    stream_bits: usize,
    coder: PointCoder,
}

impl Trailer {
    fn write(&self, out: &mut Vec<u8>) {
        let at = out.len();
        write_varint(out, self.last_block as u64);
        write_varint(out, self.stream_bits as u64);
        self.coder.write_state(out);
        let length = out.len() - at;
        out.push(u8::try_from(length).expect("a trailer is under 256 bytes"));
    }

    /// Reads the trailer of `data`; `None` unless it is one, whole (a truncated chunk is
    /// refused even where its blocks would still decode).
    fn read(data: &[u8]) -> Option<Trailer> {
        let (&length, rest) = data.split_last()?;
        let blocks_end = rest.len().checked_sub(usize::from(length))?;
        let mut at = blocks_end;
        let last_block = usize::try_from(read_varint(rest, &mut at)?).ok()?;
        let stream_bits = usize::try_from(read_varint(rest, &mut at)?).ok()?;
        let coder = PointCoder::read_state(rest, &mut at)?;
        (at == rest.len() && last_block < blocks_end).then_some(Trailer {
            blocks_end,
            last_block,
            stream_bits,
            coder,
        })
    }
}

/// Where the blocks end (the trailer starts), once the trailer is checked.
fn blocks_end(data: &[u8]) -> Option<usize> {
    Trailer::read(data).map(|t| t.blocks_end)
}

/// The blocks of a chunk, in order; `None` if the data is not a chunk of this format.
pub(super) fn blocks(data: &[u8]) -> Option<Vec<Block>> {
    let end = blocks_end(data)?;
    let blocks_data = &data[..end];
    let mut at = 0;
    let mut out = Vec::new();
    while at < end {
        out.push(read_block(blocks_data, &mut at)?);
    }
    Some(out)
}

/// Decodes one block of `data` (one of [`blocks`]`(data)`), appending its points to `out`.
pub(super) fn decode_block(data: &[u8], block: &Block, out: &mut Vec<MetricPoint>) -> Option<()> {
    let mut bits = BitReader::new(data.get(block.stream.clone())?);
    let mut coder = PointCoder::default();
    out.reserve(block.count);
    for index in 0..block.count {
        out.push(coder.read(&mut bits, index)?);
    }
    Some(())
}

/// Decodes a chunk of `count` points, appending them to `out`.
pub(super) fn decode_into(data: &[u8], count: usize, out: &mut Vec<MetricPoint>) -> Option<()> {
    let end = blocks_end(data)?;
    let mut at = 0;
    let mut decoded = 0usize;
    while at < end {
        let block = read_block(&data[..end], &mut at)?;
        decoded += block.count;
        if decoded > count {
            return None;
        }
        decode_block(data, &block, out)?;
    }
    (decoded == count).then_some(())
}

/// The block being written: what its header will say, its coder and its stream.
struct OpenBlock {
    count: usize,
    first_step: i64,
    last_step: i64,
    extremes: Extremes,
    coder: PointCoder,
    bits: BitWriter,
}

impl OpenBlock {
    fn new(points: usize) -> OpenBlock {
        OpenBlock {
            count: 0,
            first_step: 0,
            last_step: 0,
            extremes: Extremes::default(),
            coder: PointCoder::default(),
            bits: BitWriter::with_capacity(points.min(BLOCK_POINTS) * 4),
        }
    }

    /// Writes the block (header, then stream) to `out`.
    fn write_to(self, out: &mut Vec<u8>) {
        let stream = self.bits.finish();
        write_varint(out, self.count as u64);
        write_varint(out, stream.len() as u64);
        write_varint(out, zigzag(self.first_step));
        write_varint(out, self.last_step.wrapping_sub(self.first_step) as u64);
        write_extremes(out, &self.extremes);
        out.extend_from_slice(&stream);
    }

    fn push(&mut self, point: &MetricPoint) {
        if self.count == 0 {
            self.first_step = point.step;
        }
        self.last_step = point.step;
        self.extremes.push(*point);
        self.coder.write(&mut self.bits, self.count, point);
        self.count += 1;
    }
}

/// Writes a chunk: a new one, or one resumed from its data.
pub(super) struct ChunkWriter {
    /// The closed blocks, written out.
    out: Vec<u8>,
    open: Option<OpenBlock>,
}

impl ChunkWriter {
    pub(super) fn new(points: usize) -> ChunkWriter {
        ChunkWriter {
            out: Vec::with_capacity(points * 4 + 128),
            open: None,
        }
    }

    /// A writer continuing the chunk `data` (to which `points` more will be pushed): copies
    /// its bytes and takes the last block's coder from the trailer. `None` if `data` is not
    /// a chunk of this format.
    pub(super) fn resume(data: &[u8], points: usize) -> Option<ChunkWriter> {
        let Trailer {
            blocks_end: end,
            last_block: header_at,
            stream_bits,
            coder,
        } = Trailer::read(data)?;
        let mut block_at = header_at;
        let block = read_block(&data[..end], &mut block_at)?;
        if block_at != end {
            return None;
        }
        let extra = points.min(BLOCK_POINTS) * 4;
        let bits = BitWriter::resume(&data[block.stream.clone()], stream_bits, extra)?;
        let mut out = Vec::with_capacity(data.len() + extra + 128);
        out.extend_from_slice(&data[..header_at]);
        Some(ChunkWriter {
            out,
            open: Some(OpenBlock {
                count: block.count,
                first_step: block.first_step,
                last_step: block.last_step,
                extremes: block.extremes,
                coder,
                bits,
            }),
        })
    }

    /// Adds the next point (in series order after those pushed before); `left`: how many
    /// points will be pushed in all from this one on (sizes a new block's buffer).
    pub(super) fn push(&mut self, point: &MetricPoint, left: usize) {
        if self.open.as_ref().is_none_or(|b| b.count == BLOCK_POINTS) {
            if let Some(block) = self.open.take() {
                block.write_to(&mut self.out);
            }
            self.open = Some(OpenBlock::new(left));
        }
        self.open.as_mut().expect("a block is open").push(point);
    }

    /// The chunk's data.
    pub(super) fn finish(mut self) -> Vec<u8> {
        let Some(block) = self.open.take() else {
            return self.out;
        };
        let last_block = self.out.len();
        let stream_bits = block.bits.len();
        let coder = block.coder;
        block.write_to(&mut self.out);
        let trailer = Trailer {
            blocks_end: self.out.len(),
            last_block,
            stream_bits,
            coder,
        };
        trailer.write(&mut self.out);
        self.out
    }
}
