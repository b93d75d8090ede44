//! Continuous colour scales (heatmaps, parallel coordinates) as Plotly defines them, and the
//! text colour that stays readable on a given fill.

use crate::figure::ColorScale;

/// `plotly.colors.sequential.Viridis`, evenly spaced from 0 to 1.
const VIRIDIS: [[u8; 3]; 10] = [
    [0x44, 0x01, 0x54],
    [0x48, 0x28, 0x78],
    [0x3e, 0x49, 0x89],
    [0x31, 0x68, 0x8e],
    [0x26, 0x82, 0x8e],
    [0x1f, 0x9e, 0x89],
    [0x35, 0xb7, 0x79],
    [0x6e, 0xce, 0x58],
    [0xb5, 0xde, 0x2b],
    [0xfd, 0xe7, 0x25],
];

/// `plotly.colors.sequential.Blues` (ColorBrewer, light to dark), evenly spaced from 0 to 1.
/// Note: plotly.js's built-in colour scale *named* "Blues" is a different one (dark blue to
/// grey); a Plotly JSON renderer should send these stops explicitly to match.
const BLUES: [[u8; 3]; 9] = [
    [247, 251, 255],
    [222, 235, 247],
    [198, 219, 239],
    [158, 202, 225],
    [107, 174, 214],
    [66, 146, 198],
    [33, 113, 181],
    [8, 81, 156],
    [8, 48, 107],
];

/// The colours of a scale, evenly spaced from 0 (low) to 1 (high).
pub fn stops(scale: ColorScale) -> &'static [[u8; 3]] {
    match scale {
        ColorScale::Viridis => &VIRIDIS,
        ColorScale::Blues => &BLUES,
    }
}

/// The colour at `t` in 0..=1 (clamped), interpolated linearly in RGB between stops.
pub fn sample(scale: ColorScale, t: f64) -> [u8; 3] {
    let stops = stops(scale);
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let position = t * (stops.len() - 1) as f64;
    let i = (position.floor() as usize).min(stops.len() - 2);
    let f = position - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    std::array::from_fn(|c| {
        (f64::from(a[c]) + (f64::from(b[c]) - f64::from(a[c])) * f).round() as u8
    })
}

/// `#rrggbb`.
pub fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Black or white, whichever reads better on `fill` (perceived luminance).
pub fn contrasting_text([r, g, b]: [u8; 3]) -> &'static str {
    let luminance = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
    if luminance < 140.0 {
        "#ffffff"
    } else {
        "#222222"
    }
}

/// A figure colour as it may be written into SVG: `#rgb`/`#rrggbb` or a plain colour name,
/// anything else (which could break out of the attribute) replaced by a neutral grey.
pub fn safe(color: &str) -> &str {
    let hex = color
        .strip_prefix('#')
        .is_some_and(|h| matches!(h.len(), 3 | 6) && h.chars().all(|c| c.is_ascii_hexdigit()));
    let name =
        !color.is_empty() && color.len() <= 20 && color.chars().all(|c| c.is_ascii_alphabetic());
    if hex || name { color } else { "#444444" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_run_from_low_to_high_colour() {
        assert_eq!(sample(ColorScale::Viridis, 0.0), [0x44, 0x01, 0x54]);
        assert_eq!(sample(ColorScale::Viridis, 1.0), [0xfd, 0xe7, 0x25]);
        assert_eq!(sample(ColorScale::Blues, -3.0), [247, 251, 255]);
        assert_eq!(sample(ColorScale::Blues, 1.0), [8, 48, 107]);
        // Halfway between the 5th and 6th Blues stop (t = 4.5 / 8).
        assert_eq!(sample(ColorScale::Blues, 4.5 / 8.0), [87, 160, 206]);
        assert_eq!(hex([8, 48, 107]), "#08306b");
    }

    #[test]
    fn text_contrasts_with_its_cell() {
        assert_eq!(contrasting_text([8, 48, 107]), "#ffffff");
        assert_eq!(contrasting_text([247, 251, 255]), "#222222");
        assert_eq!(contrasting_text([0xfd, 0xe7, 0x25]), "#222222");
    }

    #[test]
    fn unsafe_colours_are_replaced() {
        assert_eq!(safe("#636efa"), "#636efa");
        assert_eq!(safe("red"), "red");
        assert_eq!(safe("\"/><script>"), "#444444");
        assert_eq!(safe("#12345"), "#444444");
    }
}
