//! The traces drawn inside the plot area: lines, bands, markers, bars, heatmap cells, and the
//! reference lines.

use super::colors::{contrasting_text, hex, safe, sample};
use super::scale::{bar_slot, drawable};
use super::ticks::short_number;
use super::write::{RelativePath, TextStyle, num, text, text_width, truncate};
use super::{Canvas, Frame};
use crate::figure::{
    BandTrace, BarTrace, Figure, HeatmapTrace, LineTrace, MarkerTrace, RefLine, Scale, Trace,
};

/// Draws every trace in order (later ones on top). Bar traces are grouped side by side.
/// Line traces go through `canvas.lift_line` (which may take them out of the document).
pub fn draw(canvas: &mut Canvas, figure: &Figure, frame: &Frame) {
    let bar_count = figure
        .traces
        .iter()
        .filter(|t| matches!(t, Trace::Bars(_)))
        .count();
    let mut bar_index = 0;
    for (index, trace) in figure.traces.iter().enumerate() {
        if let Trace::Line(t) = trace {
            if !canvas.lift_line(index, frame) {
                line(&mut canvas.out, t, frame);
            }
            continue;
        }
        let out = &mut canvas.out;
        match trace {
            Trace::Line(_) => {}
            Trace::Band(t) => band(out, t, frame),
            Trace::Markers(t) => markers(out, t, frame),
            Trace::Bars(t) => {
                bars(out, figure, t, frame, bar_index, bar_count);
                bar_index += 1;
            }
            Trace::Heatmap(t) => heatmap(out, t, frame),
            Trace::Parallel(_) => {}
        }
    }
}

/// How a line trace is stroked, in CSS pixels, as the SVG writes it (to two decimals).
#[derive(Debug, Clone, PartialEq)]
pub struct LineStyle<'a> {
    /// `#rgb`, `#rrggbb` or a colour name (anything else was replaced by a grey).
    pub color: &'a str,
    pub width: f64,
    /// The stroke opacity, `None` when opaque.
    pub opacity: Option<f64>,
    /// Dash and gap lengths, `None` when solid.
    pub dash: Option<(f64, f64)>,
}

/// The stroke of a line trace. Joins are bevel and caps round (see `line`).
pub fn line_style(t: &LineTrace) -> LineStyle<'_> {
    let dash = 4.0 * t.width.max(0.5);
    LineStyle {
        color: safe(&t.color),
        width: t.width.max(0.0),
        opacity: (t.opacity.is_finite() && t.opacity < 1.0).then(|| t.opacity.max(0.0)),
        dash: t.dash.then(|| (dash, 3.0 * t.width.max(0.5))),
    }
}

/// A polyline; a point that cannot be drawn (non-finite, or `<= 0` on a log axis) lifts the
/// pen, so the points on either side are not joined. Bevel joins: no miter spikes at the
/// sharp turns of dense noisy series, and, unlike round joins (arcs the stroker turns into
/// curves), cheap to rasterise: a 100-line PNG draws in about half the time
/// (`examples/raster_probe.rs`, docs/benchmarks.md), differing only at the joins. Round caps.
/// `raster` strokes the same lines without SVG (`svg::render_parts`): keep the two alike.
fn line(out: &mut String, t: &LineTrace, frame: &Frame) {
    let start = out.len();
    let style = line_style(t);
    out.push_str(r#"<path fill="none" stroke-linejoin="bevel" stroke-linecap="round" stroke=""#);
    out.push_str(style.color);
    out.push_str(r#"" stroke-width=""#);
    num(out, style.width);
    out.push('"');
    if let Some(value) = style.opacity {
        out.push_str(r#" stroke-opacity=""#);
        num(out, value);
        out.push('"');
    }
    if let Some((dash, gap)) = style.dash {
        out.push_str(r#" stroke-dasharray=""#);
        num(out, dash);
        out.push(' ');
        num(out, gap);
        out.push('"');
    }
    out.push_str(r#" d=""#);
    let mut path = RelativePath::default();
    let mut pen_down = false;
    let mut drawn = 0usize;
    for (&x, &y) in t.x.iter().zip(&t.y) {
        match (frame.x.px(x), frame.y.px(y)) {
            (Some(px), Some(py)) => {
                if pen_down {
                    path.line_to(out, px, py);
                } else {
                    path.move_to(out, px, py);
                }
                pen_down = true;
                drawn += 1;
            }
            _ => pen_down = false,
        }
    }
    if drawn < 2 {
        out.truncate(start);
        return;
    }
    out.push_str("\"/>\n");
}

/// Filled polygons between `low` and `high`, split where a value cannot be drawn.
fn band(out: &mut String, t: &BandTrace, frame: &Frame) {
    let n = t.x.len().min(t.low.len()).min(t.high.len());
    let point = |i: usize| -> Option<(f64, f64, f64)> {
        Some((
            frame.x.px(t.x[i])?,
            frame.y.px(t.low[i])?,
            frame.y.px(t.high[i])?,
        ))
    };
    let start = out.len();
    out.push_str(r#"<path stroke="none" fill=""#);
    out.push_str(safe(&t.color));
    out.push('"');
    opacity(out, "fill-opacity", t.opacity);
    out.push_str(r#" d=""#);
    let mut any = false;
    let mut i = 0;
    while i < n {
        if point(i).is_none() {
            i += 1;
            continue;
        }
        let first = i;
        while i < n && point(i).is_some() {
            i += 1;
        }
        if i - first < 2 {
            continue;
        }
        any = true;
        out.push('M');
        for j in first..i {
            let (px, _, high) = point(j).unwrap_or_default();
            if j > first {
                out.push(' ');
            }
            num(out, px);
            out.push(' ');
            num(out, high);
        }
        for j in (first..i).rev() {
            let (px, low, _) = point(j).unwrap_or_default();
            out.push(' ');
            num(out, px);
            out.push(' ');
            num(out, low);
        }
        out.push('Z');
    }
    if !any {
        out.truncate(start);
        return;
    }
    out.push_str("\"/>\n");
}

/// Circles, filled or as hollow rings. The points' labels are for hover in interactive
/// charts; a static image does not print them.
fn markers(out: &mut String, t: &MarkerTrace, frame: &Frame) {
    let color = safe(&t.color);
    out.push_str("<g ");
    if t.ring {
        out.push_str(r#"fill="none" stroke-width="1.5" stroke=""#);
    } else {
        out.push_str(r##"fill-opacity="0.9" stroke="#ffffff" stroke-width="0.5" fill=""##);
    }
    out.push_str(color);
    out.push_str("\">\n");
    let r = (t.size / 2.0).max(0.5);
    for (&x, &y) in t.x.iter().zip(&t.y) {
        if let (Some(px), Some(py)) = (frame.x.px(x), frame.y.px(y)) {
            out.push_str("<circle cx=\"");
            num(out, px);
            out.push_str("\" cy=\"");
            num(out, py);
            out.push_str("\" r=\"");
            num(out, r);
            out.push_str("\"/>");
        }
    }
    out.push_str("</g>\n");
}

/// Bars from the baseline (0, or the bottom of a log axis) to `y`, the `index`-th of `count`
/// bar traces sharing each slot, with symmetric error bars.
fn bars(
    out: &mut String,
    figure: &Figure,
    t: &BarTrace,
    frame: &Frame,
    index: usize,
    count: usize,
) {
    let slot = bar_slot(figure, t.width);
    // Histogram bins (an explicit width) touch; categories and points leave a gap.
    let group = if t.width.is_some() && figure.x.scale != Scale::Category {
        slot
    } else {
        slot * 0.8
    };
    let width = group / count.max(1) as f64;
    let offset = -group / 2.0 + (index as f64 + 0.5) * width;
    let baseline = match figure.y.scale {
        Scale::Log => frame.y.p0,
        _ => frame.y.px(0.0).unwrap_or(frame.y.p0),
    };
    let touching = group == slot;
    out.push_str("<g fill=\"");
    out.push_str(safe(&t.color));
    out.push('"');
    if touching {
        out.push_str(r##" stroke="#ffffff" stroke-width="0.5""##);
    }
    out.push_str(">\n");
    let mut errors = String::new();
    for (i, (&x, &y)) in t.x.iter().zip(&t.y).enumerate() {
        let centre = x + offset;
        let (Some(left), Some(right), Some(top)) = (
            frame.x.px(centre - width / 2.0),
            frame.x.px(centre + width / 2.0),
            frame.y.px(y),
        ) else {
            continue;
        };
        let (x0, x1) = (left.min(right), left.max(right));
        super::rect(
            out,
            x0,
            top.min(baseline),
            x1 - x0,
            (top - baseline).abs(),
            "",
        );
        let error = t.error.get(i).copied().unwrap_or(0.0).abs();
        if error > 0.0 && drawable(error, Scale::Linear) {
            let (Some(e0), Some(e1)) = (frame.y.px(y - error), frame.y.px(y + error)) else {
                continue;
            };
            let cx = (x0 + x1) / 2.0;
            let cap = ((x1 - x0) * 0.25).min(6.0);
            errors.push('M');
            num(&mut errors, cx);
            errors.push(' ');
            num(&mut errors, e0);
            errors.push('V');
            num(&mut errors, e1);
            for e in [e0, e1] {
                errors.push('M');
                num(&mut errors, cx - cap);
                errors.push(' ');
                num(&mut errors, e);
                errors.push('H');
                num(&mut errors, cx + cap);
            }
        }
    }
    out.push_str("</g>\n");
    if !errors.is_empty() {
        out.push_str(r##"<path fill="none" stroke="#333333" stroke-width="1.2" d=""##);
        out.push_str(&errors);
        out.push_str("\"/>\n");
    }
}

/// The finite extent of a heatmap's values, `(0, 1)` when it has none.
pub fn z_range(t: &HeatmapTrace) -> (f64, f64) {
    let (lo, hi) =
        t.z.iter()
            .flatten()
            .flatten()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
    if lo <= hi { (lo, hi) } else { (0.0, 1.0) }
}

/// Where `v` falls in `lo..=hi`, 0.5 when the range is a single value.
pub fn position(v: f64, (lo, hi): (f64, f64)) -> f64 {
    if hi > lo { (v - lo) / (hi - lo) } else { 0.5 }
}

/// One rectangle per cell (column `j` spans `j ± 0.5` on x, row `i` spans `i ± 0.5` on y),
/// with the value printed in a contrasting colour when asked and when it fits. Row 0 is at the
/// bottom, as on any y axis; a builder that wants it on top (a confusion matrix read like a
/// table) sets `figure.y.range` to `(rows - 0.5, -0.5)`.
fn heatmap(out: &mut String, t: &HeatmapTrace, frame: &Frame) {
    let range = z_range(t);
    let mut labels = String::new();
    out.push_str("<g shape-rendering=\"crispEdges\">\n");
    for (i, row) in t.z.iter().enumerate() {
        let (Some(r0), Some(r1)) = (frame.y.px(i as f64 - 0.5), frame.y.px(i as f64 + 0.5)) else {
            continue;
        };
        let (top, height) = (r0.min(r1), (r1 - r0).abs());
        for (j, cell) in row.iter().enumerate() {
            let Some(v) = cell.filter(|v| v.is_finite()) else {
                continue;
            };
            let (Some(c0), Some(c1)) = (frame.x.px(j as f64 - 0.5), frame.x.px(j as f64 + 0.5))
            else {
                continue;
            };
            let (left, width) = (c0.min(c1), (c1 - c0).abs());
            let color = sample(t.colorscale, position(v, range));
            let fill = format!(" fill=\"{}\"", hex(color));
            super::rect(out, left, top, width, height, &fill);
            if t.annotate {
                let value = short_number(v);
                let size = (height * 0.45)
                    .min(12.0)
                    .min((width - 4.0) * 11.0 / text_width(&value, 11.0, false).max(1.0));
                if size >= 6.0 {
                    let style = TextStyle {
                        size,
                        anchor: "middle",
                        bold: false,
                        fill: contrasting_text(color),
                    };
                    text(
                        &mut labels,
                        left + width / 2.0,
                        top + height / 2.0 + size * 0.36,
                        &style,
                        &value,
                    );
                }
            }
        }
    }
    out.push_str("</g>\n");
    out.push_str(&labels);
}

/// Horizontal reference lines across the plot (inside the clip group).
pub fn reference_lines(out: &mut String, lines: &[RefLine], frame: &Frame) {
    for line in lines {
        let Some(py) = frame.y.px(line.y) else {
            continue;
        };
        out.push_str(r#"<path fill="none" stroke-width="1.5" stroke=""#);
        out.push_str(safe(&line.color));
        out.push('"');
        if line.dash {
            out.push_str(r#" stroke-dasharray="6 4""#);
        }
        out.push_str(" d=\"M");
        num(out, frame.area.left);
        out.push(' ');
        num(out, py);
        out.push('H');
        num(out, frame.area.right());
        out.push_str("\"/>\n");
    }
}

/// The reference lines' labels, right-aligned just above each line inside the plot.
pub fn reference_labels(out: &mut String, lines: &[RefLine], frame: &Frame) {
    let area = &frame.area;
    for line in lines {
        let Some(py) = frame.y.px(line.y) else {
            continue;
        };
        if py < area.top || py > area.bottom() {
            continue;
        }
        let label = truncate(&line.label, area.width - 8.0, 11.0, false);
        let style = TextStyle {
            size: 11.0,
            anchor: "end",
            bold: false,
            fill: safe(&line.color),
        };
        // Below the line when it runs along the top edge.
        let y = if py - area.top < 14.0 {
            py + 13.0
        } else {
            py - 4.0
        };
        text(out, area.right() - 4.0, y, &style, &label);
    }
}

fn opacity(out: &mut String, attribute: &str, value: f64) {
    if value.is_finite() && value < 1.0 {
        out.push(' ');
        out.push_str(attribute);
        out.push_str("=\"");
        num(out, value.max(0.0));
        out.push('"');
    }
}
