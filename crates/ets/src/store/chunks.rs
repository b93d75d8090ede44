//! The packed form of a chunk of metric points: three little-endian arrays of the same length
//! (steps as i64, timestamps as i64, values as f64 bits), points in series order
//! (`MetricPoint::series_key`: step, timestamp, value).
//! NaN and ±infinity keep their exact bits. Shared by both backends (`metric_chunks.data`).

use ets_domain::model::MetricPoint;

/// Most points in one chunk; a logged batch larger than this becomes several chunks.
pub(super) const MAX_CHUNK_POINTS: usize = 1024;

/// Bytes per point.
const POINT_BYTES: usize = 24;

/// Packs points (already in series order).
pub(super) fn encode(points: &[MetricPoint]) -> Vec<u8> {
    debug_assert!(points.is_sorted_by_key(MetricPoint::series_key));
    let mut data = Vec::with_capacity(points.len() * POINT_BYTES);
    data.extend(points.iter().flat_map(|p| p.step.to_le_bytes()));
    data.extend(points.iter().flat_map(|p| p.timestamp.to_le_bytes()));
    data.extend(points.iter().flat_map(|p| p.value.to_bits().to_le_bytes()));
    data
}

/// Unpacks a chunk, appending its points to `out`. Returns `None` if the blob is not a whole
/// number of points (a corrupt row), so the caller can report it.
pub(super) fn decode_into(data: &[u8], out: &mut Vec<MetricPoint>) -> Option<()> {
    if !data.len().is_multiple_of(POINT_BYTES) {
        return None;
    }
    let n = data.len() / POINT_BYTES;
    let (steps, rest) = data.split_at(n * 8);
    let (timestamps, values) = rest.split_at(n * 8);
    let word = |bytes: &[u8], i: usize| {
        u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
    };
    out.reserve(n);
    for i in 0..n {
        out.push(MetricPoint {
            step: word(steps, i) as i64,
            timestamp: word(timestamps, i) as i64,
            value: f64::from_bits(word(values, i)),
        });
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_exact_values() {
        let points = vec![
            MetricPoint {
                step: -5,
                timestamp: 1,
                value: f64::NAN,
            },
            MetricPoint {
                step: 0,
                timestamp: i64::MAX,
                value: f64::NEG_INFINITY,
            },
            MetricPoint {
                step: 7,
                timestamp: 3,
                value: 0.1,
            },
        ];
        let mut out = Vec::new();
        decode_into(&encode(&points), &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert!(out[0].value.is_nan());
        assert_eq!(out[1], points[1]);
        assert_eq!(out[2], points[2]);
        assert!(decode_into(&[1, 2, 3], &mut out).is_none());
    }
}
