//! Parallel coordinates: a vertical axis per dimension, each with its own range (or its
//! categories), and one polyline per record coloured by its colour value.

use super::colors::{hex, sample};
use super::legend::extent;
use super::ticks;
use super::traces::position;
use super::write::{TextStyle, escaped, num, open_text, text, truncate, truncate_middle};
use crate::figure::{Dimension, ParallelTrace};
use crate::layout::Rect;

/// Horizontal room kept at each end for the first and last axis' labels.
const INSET: f64 = 30.0;

/// How one dimension's values map onto its axis.
enum DimensionMap {
    /// `(lo, hi)` of the values onto bottom..top.
    Numeric(f64, f64),
    /// Category `i` of `n`, evenly from bottom to top.
    Categories(usize),
}

impl DimensionMap {
    fn new(dimension: &Dimension) -> Self {
        if dimension.categories.is_empty() {
            let (lo, hi) = extent(&dimension.values);
            if hi > lo {
                DimensionMap::Numeric(lo, hi)
            } else {
                let half = if lo == 0.0 { 0.5 } else { lo.abs() * 0.05 };
                DimensionMap::Numeric(lo - half, hi + half)
            }
        } else {
            DimensionMap::Categories(dimension.categories.len())
        }
    }

    /// The fraction of the axis height for a value, `None` if it cannot be drawn.
    fn fraction(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        match *self {
            DimensionMap::Numeric(lo, hi) => Some(position(v, (lo, hi))),
            DimensionMap::Categories(n) => {
                let i = v.round();
                (i >= 0.0 && (i as usize) < n).then(|| if n > 1 { i / (n - 1) as f64 } else { 0.5 })
            }
        }
    }
}

pub fn draw(out: &mut String, trace: &ParallelTrace, area: &Rect, clip: &str) {
    let n = trace.dimensions.len();
    if n == 0 {
        return;
    }
    let inner = (area.width - 2.0 * INSET).max(1.0);
    let axis_x = |i: usize| {
        if n > 1 {
            area.left + INSET + inner * i as f64 / (n - 1) as f64
        } else {
            area.left + area.width / 2.0
        }
    };
    let spacing = if n > 1 {
        inner / (n - 1) as f64
    } else {
        area.width
    };
    let maps: Vec<DimensionMap> = trace.dimensions.iter().map(DimensionMap::new).collect();
    let y_of = |f: f64| area.bottom() - f * area.height;

    // Records first, under the axes and their labels.
    let records = trace
        .dimensions
        .iter()
        .map(|d| d.values.len())
        .min()
        .unwrap_or(0);
    let colors = extent(&trace.color_values);
    out.push_str("<g clip-path=\"url(#");
    out.push_str(clip);
    out.push_str(
        r#")" fill="none" stroke-width="1" stroke-opacity="0.7" stroke-linejoin="round">"#,
    );
    out.push('\n');
    for r in 0..records {
        let color = match trace.color_values.get(r).filter(|v| v.is_finite()) {
            Some(&v) => hex(sample(trace.colorscale, position(v, colors))),
            None => "#999999".to_owned(),
        };
        out.push_str("<path stroke=\"");
        out.push_str(&color);
        out.push_str("\" d=\"");
        let mut pen_down = false;
        for (i, (dimension, map)) in trace.dimensions.iter().zip(&maps).enumerate() {
            match map.fraction(dimension.values[r]) {
                Some(f) => {
                    out.push(if pen_down { ' ' } else { 'M' });
                    num(out, axis_x(i));
                    out.push(' ');
                    num(out, y_of(f));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        out.push_str("\"/>\n");
    }
    out.push_str("</g>\n");

    let label = TextStyle {
        size: 10.0,
        anchor: "start",
        bold: false,
        fill: "#333333",
    };
    // A white halo keeps tick labels readable over the records.
    let halo = r##" stroke="#ffffff" stroke-width="3" stroke-opacity="0.8" paint-order="stroke""##;
    for (i, (dimension, map)) in trace.dimensions.iter().zip(&maps).enumerate() {
        let x = axis_x(i);
        out.push_str(r##"<path stroke="#444444" stroke-width="1" d="M"##);
        num(out, x);
        out.push(' ');
        num(out, area.top);
        out.push('V');
        num(out, area.bottom());
        out.push_str("\"/>\n");
        let ticks: Vec<(f64, String)> = match *map {
            DimensionMap::Numeric(lo, hi) => {
                let target = ((area.height / 45.0) as usize).max(2);
                ticks::linear(lo, hi, target)
                    .into_iter()
                    .map(|t| (position(t.value, (lo, hi)), t.text))
                    .collect()
            }
            DimensionMap::Categories(count) => {
                let every = ticks::category(count, -0.5, count as f64 - 0.5, area.height, 14.0);
                every
                    .into_iter()
                    .filter_map(|c| {
                        Some((map.fraction(c as f64)?, dimension.categories[c].clone()))
                    })
                    .collect()
            }
        };
        let max = (spacing - 12.0).clamp(20.0, 140.0);
        for (f, tick) in ticks {
            let y = y_of(f);
            out.push_str(r##"<path stroke="#444444" d="M"##);
            num(out, x - 3.0);
            out.push(' ');
            num(out, y);
            out.push_str("h6\"/>");
            open_text(out, x + 5.0, y + 3.5, &label, halo);
            escaped(out, &truncate_middle(&tick, max, label.size, false));
            out.push_str("</text>\n");
        }
        let name_style = TextStyle {
            size: 11.0,
            anchor: "middle",
            bold: true,
            fill: "#222222",
        };
        let name = truncate(
            &dimension.label,
            (spacing - 6.0).max(30.0),
            name_style.size,
            true,
        );
        text(out, x, area.bottom() + 18.0, &name_style, &name);
    }
}
