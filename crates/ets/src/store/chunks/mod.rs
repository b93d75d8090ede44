//! The packed form of a chunk of metric points (`metric_chunks.data`, both backends), points
//! in series order (`MetricPoint::series_key`: step, timestamp, value). NaN and ±infinity keep
//! their exact bits. A row's `encoding` column says which format its data is in:
//!
//! - 1, [`Encoding::Blocks`] (`blocks.rs`), what is written now: blocks of up to 1,024
//!   points, delta-of-delta steps and timestamps and value differences in an adaptive Rice
//!   code, and the encoder's state at the end, so a batch is appended to a chunk without
//!   decoding it, and chunks grow to `MAX_CHUNK_POINTS`;
//! - 0, [`Encoding::Packed`] (`packed.rs`), chunks written before: Gorilla-compressed or raw,
//!   read (and appended to by decoding them once and writing them in the new format).

mod bits;
mod blocks;
mod packed;

use ets_domain::downsample::Extremes;
use ets_domain::model::MetricPoint;

use blocks::Block;

/// Most points in one chunk (8 blocks). A chunk of a float32 curve is then ~25–30 kB: its
/// row's last overflow page and its leaf cell waste about as much as a 1,024-point chunk's
/// 4 kB row did, spread over 8× the points (free page space measured 0.77 bytes a point
/// with 1,024-point chunks, simulated 0.30 with 8,192).
pub(super) const MAX_CHUNK_POINTS: usize = 8 * blocks::BLOCK_POINTS;

/// The most points one block holds (see `blocks.rs`): what a downsampled read decodes for a
/// bucket boundary.
pub(super) const BLOCK_POINTS: usize = blocks::BLOCK_POINTS;

/// The format of a chunk's data (`metric_chunks.encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    /// Written before appendable chunks: Gorilla-compressed or raw, told apart by length.
    Packed,
    /// Appendable blocks (`blocks.rs`).
    Blocks,
}

impl Encoding {
    /// The format a row's `encoding` column names; `None` for one this build does not know
    /// (a row written by a newer version).
    pub(super) fn from_column(value: i64) -> Option<Encoding> {
        match value {
            0 => Some(Encoding::Packed),
            1 => Some(Encoding::Blocks),
            _ => None,
        }
    }

    /// The value of the `encoding` column for this format.
    pub(super) const fn column(self) -> i64 {
        match self {
            Encoding::Packed => 0,
            Encoding::Blocks => 1,
        }
    }
}

/// Packs points (in series order) as a new chunk ([`Encoding::Blocks`]).
pub(super) fn encode(points: &[MetricPoint]) -> Vec<u8> {
    debug_assert!(points.is_sorted_by_key(MetricPoint::series_key));
    let mut writer = blocks::ChunkWriter::new(points.len());
    for (i, point) in points.iter().enumerate() {
        writer.push(point, points.len() - i);
    }
    writer.finish()
}

/// The data of the chunk `data` ([`Encoding::Blocks`]) with `points` (in series order, after
/// its own) appended: its bytes copied and its last block's stream continued, nothing
/// decoded. Decodes as [`encode`] of all the points would (and is byte for byte the same).
/// `None` if `data` is not a chunk of that format (a corrupt row).
pub(super) fn append(data: &[u8], points: &[MetricPoint]) -> Option<Vec<u8>> {
    debug_assert!(points.is_sorted_by_key(MetricPoint::series_key));
    let mut writer = blocks::ChunkWriter::resume(data, points.len())?;
    for (i, point) in points.iter().enumerate() {
        writer.push(point, points.len() - i);
    }
    Some(writer.finish())
}

/// Unpacks a chunk of `count` points, appending them to `out`. Returns `None` if the blob is
/// not `count` points in the given format (a corrupt row), so the caller can report it.
pub(super) fn decode_into(
    data: &[u8],
    count: usize,
    encoding: Encoding,
    out: &mut Vec<MetricPoint>,
) -> Option<()> {
    // A corrupt row's count must neither overflow nor reserve memory its data cannot hold:
    // a point takes at least three bits in either format.
    if count > data.len().saturating_mul(8) / 3 + 1 {
        return None;
    }
    out.reserve(count);
    match encoding {
        Encoding::Packed => packed::decode_into(data, count, out),
        Encoding::Blocks => blocks::decode_into(data, count, out),
    }
}

/// A chunk as its row stores it: the `data`, `point_count` and `encoding` columns.
#[derive(Debug, Clone, Copy)]
pub(super) struct StoredChunk<'a> {
    pub data: &'a [u8],
    pub count: usize,
    pub encoding: Encoding,
}

impl<'a> StoredChunk<'a> {
    /// `None` when the columns are not a chunk this build reads (a corrupt row, or one
    /// written in a format of a later version).
    pub(super) fn new(data: &'a [u8], point_count: i64, encoding: i64) -> Option<StoredChunk<'a>> {
        Some(StoredChunk {
            data,
            count: usize::try_from(point_count).ok()?,
            encoding: Encoding::from_column(encoding)?,
        })
    }

    /// Decodes the chunk, appending its points to `out`; `None` if corrupt.
    pub(super) fn decode_into(&self, out: &mut Vec<MetricPoint>) -> Option<()> {
        decode_into(self.data, self.count, self.encoding, out)
    }
}

/// The blocks of a chunk ([`Encoding::Blocks`]), each with its step range and extremes, for
/// a read that decodes only some of them ([`decode_block`]); `None` if corrupt.
pub(super) fn blocks(data: &[u8]) -> Option<Vec<Block>> {
    blocks::blocks(data)
}

/// Decodes one of [`blocks`]`(data)`, appending its points to `out`.
pub(super) fn decode_block(data: &[u8], block: &Block, out: &mut Vec<MetricPoint>) -> Option<()> {
    blocks::decode_block(data, block, out)
}

/// The extremes of a chunk ([`Encoding::Blocks`]) from its block headers, without decoding.
pub(super) fn extremes(data: &[u8]) -> Option<Extremes> {
    Some(
        blocks(data)?
            .iter()
            .fold(Extremes::default(), |all, block| all.then(&block.extremes)),
    )
}

/// Chunks of fewer points carry no summary: decoding them costs about as little as reading it.
const SUMMARY_MIN_POINTS: usize = 128;

/// A chunk's summary (`metric_chunks.summary`) from its points' [`Extremes`]: a byte of flags
/// (which of low, high, NaN are there) and each point there raw (step, timestamp, value bits;
/// little-endian). `None` for a chunk of fewer than `SUMMARY_MIN_POINTS` points.
pub(super) fn summary(extremes: &Extremes, points: usize) -> Option<Vec<u8>> {
    if points < SUMMARY_MIN_POINTS {
        return None;
    }
    let mut out = Vec::with_capacity(1 + 3 * 24);
    blocks::write_extremes(&mut out, extremes);
    Some(out)
}

/// Reads a summary written by [`summary`]; `None` if it is not one (a corrupt row).
pub(super) fn read_summary(data: &[u8]) -> Option<Extremes> {
    let mut at = 0;
    let extremes = blocks::read_extremes(data, &mut at)?;
    (at == data.len()).then_some(extremes)
}

/// A chunk in the earlier format ([`Encoding::Packed`]), as versions before wrote them: for
/// tests of reading and appending to such rows.
#[cfg(test)]
pub(super) fn packed_for_tests(points: &[MetricPoint]) -> Vec<u8> {
    packed::encode(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small seeded generator (xorshift64): the property tests below are reproducible.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const SPECIAL: [f64; 9] = [
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
    ];

    /// A random series in one of several shapes: strides constant, jittered or random,
    /// repeated steps, timestamps going back, float32 curves, full-width floats, special
    /// values (NaN with payloads, ±infinity, -0.0), and mixtures; sorted in series order
    /// (which a chunk is). Lengths up to a few chunks' worth of blocks.
    fn random_series(random: &mut Random) -> Vec<MetricPoint> {
        let len = match random.below(4) {
            0 => 1 + random.below(4) as usize,
            1 => 1 + random.below(200) as usize,
            _ => 1 + random.below(3 * BLOCK_POINTS as u64) as usize,
        };
        let step_shape = random.below(5);
        let time_shape = random.below(5);
        let value_shape = random.below(6);
        let mut step = random.next() as i64 >> random.below(64);
        let mut time = 1_765_000_000_000i64 + random.below(1_000_000) as i64;
        let mut value = random.below(1000) as f64 / 7.0;
        let mut points: Vec<MetricPoint> = (0..len)
            .map(|i| {
                step = match step_shape {
                    0 => step.wrapping_add(1),
                    1 => step.wrapping_add(10),
                    2 => step.wrapping_add(random.below(3) as i64),
                    3 => random.next() as i64,
                    _ => step.wrapping_add(if random.below(50) == 0 { 1 << 40 } else { 1 }),
                };
                time = match time_shape {
                    0 => time + 50 + random.below(4) as i64,
                    1 => time + 1000,
                    2 => time - 7 + random.below(15) as i64,
                    3 => random.next() as i64,
                    _ => [i64::MIN, i64::MAX, 0, -1][random.below(4) as usize],
                };
                value = match value_shape {
                    0 => f64::from(
                        (2.0 * (-(i as f64) / 300.0).exp()
                            + 0.05 * random.below(1000) as f64 / 1000.0)
                            as f32,
                    ),
                    1 => f64::from_bits(random.next()),
                    2 => SPECIAL[random.below(SPECIAL.len() as u64) as usize],
                    3 => (i % 7) as f64,
                    4 => match random.below(10) {
                        0 => SPECIAL[random.below(SPECIAL.len() as u64) as usize],
                        1 => f64::from_bits(random.next()),
                        _ => -f64::from(value as f32 + 0.25),
                    },
                    _ => value - 0.001 * random.below(3) as f64,
                };
                MetricPoint::new(step, time, value)
            })
            .collect();
        points.sort_by_key(MetricPoint::series_key);
        points
    }

    fn bits(points: &[MetricPoint]) -> Vec<(i64, i64, u64)> {
        points
            .iter()
            .map(|p| (p.step, p.timestamp, p.value.to_bits()))
            .collect()
    }

    fn decoded(data: &[u8], count: usize, encoding: Encoding) -> Vec<MetricPoint> {
        let mut out = Vec::new();
        decode_into(data, count, encoding, &mut out).expect("decodes");
        out
    }

    #[test]
    fn random_series_round_trip_bit_for_bit() {
        let mut random = Random(0x2545_f491_4f6c_dd1d);
        for round in 0..600 {
            let points = random_series(&mut random);
            let data = encode(&points);
            let out = decoded(&data, points.len(), Encoding::Blocks);
            assert_eq!(bits(&out), bits(&points), "round {round}");
            // The wrong count is refused, not read as something else.
            let mut out = Vec::new();
            assert!(decode_into(&data, points.len() + 1, Encoding::Blocks, &mut out).is_none());
        }
    }

    /// Appending batch after batch gives the same bytes as encoding every point at once, and
    /// the chunk's extremes are those of all its points.
    #[test]
    fn appends_equal_one_shot_encoding() {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        for round in 0..300 {
            let points = random_series(&mut random);
            let mut cut = 1 + random.below(points.len() as u64) as usize;
            let mut data = encode(&points[..cut]);
            while cut < points.len() {
                let size = match random.below(3) {
                    0 => 1,
                    1 => 1 + random.below(100) as usize,
                    _ => 1 + random.below(2000) as usize,
                };
                let next = (cut + size).min(points.len());
                data = append(&data, &points[cut..next]).expect("appends");
                cut = next;
            }
            assert_eq!(data, encode(&points), "round {round}");
            let out = decoded(&data, points.len(), Encoding::Blocks);
            assert_eq!(bits(&out), bits(&points), "round {round}");
            let keys = |e: Extremes| [e.low, e.high, e.nan].map(|p| p.map(|p| p.series_key()));
            assert_eq!(
                keys(extremes(&data).expect("reads")),
                keys(Extremes::of(&points))
            );
        }
    }

    /// Blocks hold at most `BLOCK_POINTS` points each, and say truly what they hold: a read
    /// that decodes some and takes the others' extremes sees the same points.
    #[test]
    fn blocks_describe_their_points() {
        let mut random = Random(0x1234_5678_9abc_def1);
        for _ in 0..100 {
            let points = random_series(&mut random);
            let data = encode(&points);
            let blocks = blocks(&data).expect("reads");
            assert_eq!(blocks.len(), points.len().div_ceil(BLOCK_POINTS));
            let mut at = 0;
            for block in &blocks {
                let mut out = Vec::new();
                decode_block(&data, block, &mut out).expect("decodes");
                let expected = &points[at..at + block.count];
                assert_eq!(bits(&out), bits(expected));
                assert_eq!(
                    (block.first_step, block.last_step),
                    (expected[0].step, expected[block.count - 1].step)
                );
                let keys = |e: Extremes| [e.low, e.high, e.nan].map(|p| p.map(|p| p.series_key()));
                assert_eq!(keys(block.extremes), keys(Extremes::of(expected)));
                at += block.count;
            }
            assert_eq!(at, points.len());
        }
    }

    /// Chunks written before appendable chunks — Gorilla-compressed or raw — still read, and
    /// appending to one rewrites it in the new format (what `ingest` does with such a tail).
    #[test]
    fn chunks_of_earlier_versions_read() {
        let mut random = Random(0x0dd_ba11_cafe_f00d);
        for round in 0..200 {
            let points = random_series(&mut random);
            let old = packed::encode(&points);
            assert_eq!(
                bits(&decoded(&old, points.len(), Encoding::Packed)),
                bits(&points),
                "round {round}"
            );
            let raw = packed::raw(&points);
            assert_eq!(
                bits(&decoded(&raw, points.len(), Encoding::Packed)),
                bits(&points)
            );
        }
        let mut out = Vec::new();
        assert!(
            decode_into(&[0; 25], 1, Encoding::Packed, &mut out).is_none(),
            "too long"
        );
    }

    /// A float32 training curve logged every ~50 ms with millisecond jitter: the issue's
    /// "typical" series: 10 % under the Gorilla chunks' size, under 3.3 bytes a point.
    #[test]
    fn a_training_curve_takes_about_three_bytes_a_point() {
        let mut random = Random(7);
        let mut time = 1_765_000_000_000i64;
        let points: Vec<MetricPoint> = (0..MAX_CHUNK_POINTS as i64)
            .map(|i| {
                time += 50 + random.below(4) as i64;
                let noise = random.below(1 << 20) as f64 / f64::from(1 << 20);
                let loss = (2.0 * (-(i as f64) / 3000.0).exp() + 0.05 * noise) as f32;
                MetricPoint::new(i, time, f64::from(loss))
            })
            .collect();
        let data = encode(&points);
        let old = packed::encode(&points);
        assert!(
            data.len() * 10 < old.len() * 9,
            "{} vs {}",
            data.len(),
            old.len()
        );
        assert!(data.len() < 33 * points.len() / 10, "{} bytes", data.len());
        let constant: Vec<MetricPoint> = (0..1000)
            .map(|i| MetricPoint::new(i * 10, 5 + i * 1000, 0.5))
            .collect();
        let data = encode(&constant);
        assert!(data.len() < 3 * 1000 / 8 + 150, "{} bytes", data.len());
    }

    /// Every prefix of a chunk, and garbage, is refused (never a panic): corrupt rows are
    /// reported, not crashed on; appending to one is refused too.
    #[test]
    fn truncated_and_corrupt_chunks_are_refused() {
        let points: Vec<MetricPoint> = (0..1500)
            .map(|i| MetricPoint::new(i, i * 1000, (i as f64).sqrt()))
            .collect();
        let data = encode(&points);
        for cut in 0..data.len() {
            let mut out = Vec::new();
            assert!(
                decode_into(&data[..cut], points.len(), Encoding::Blocks, &mut out).is_none(),
                "cut at {cut}"
            );
            assert!(append(&data[..cut], &points[..1]).is_none(), "cut at {cut}");
        }
        let mut random = Random(99);
        for _ in 0..2000 {
            let mut bad = data.clone();
            let at = random.below(bad.len() as u64) as usize;
            bad[at] ^= 1 << random.below(8);
            let mut out = Vec::new();
            let _ = decode_into(&bad, points.len(), Encoding::Blocks, &mut out);
            let _ = append(&bad, &[MetricPoint::new(i64::MAX, 0, 1.0)]);
            let _ = blocks(&bad);
        }
        let mut out = Vec::new();
        assert!(decode_into(&data, usize::MAX, Encoding::Blocks, &mut out).is_none());
        assert!(decode_into(&[0xff; 100], 10, Encoding::Blocks, &mut out).is_none());
        assert!(decode_into(&[], 0, Encoding::Blocks, &mut out).is_none());
    }

    #[test]
    fn encodings_map_to_their_column() {
        for encoding in [Encoding::Packed, Encoding::Blocks] {
            assert_eq!(Encoding::from_column(encoding.column()), Some(encoding));
        }
        assert_eq!(Encoding::from_column(2), None);
    }

    #[test]
    fn summaries_round_trip_and_refuse_garbage() {
        let mut points: Vec<MetricPoint> = (0..200)
            .map(|i| MetricPoint::new(i, 10 * i, ((i * 37) % 101) as f64))
            .collect();
        points[150].value = f64::NAN;
        let data = summary(&Extremes::of(&points), points.len()).expect("long enough");
        let extremes = read_summary(&data).expect("reads");
        assert_eq!(extremes.low.map(|p| p.step), Some(0));
        // 100.0 at steps 30 and 131: the first is kept.
        assert_eq!(extremes.high.map(|p| (p.step, p.value)), Some((30, 100.0)));
        assert_eq!(extremes.nan.map(|p| p.step), Some(150));
        assert_eq!(1 + 3 * 24, data.len());
        assert!(summary(&Extremes::of(&points), SUMMARY_MIN_POINTS - 1).is_none());
        for cut in 0..data.len() {
            assert!(read_summary(&data[..cut]).is_none(), "cut at {cut}");
        }
        assert!(read_summary(&[8]).is_none(), "unknown flag");
    }
}
