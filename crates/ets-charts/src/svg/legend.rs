//! The side panel right of the plot: the legend, or the colour bar of a heatmap or
//! parallel-coordinates trace.

use super::colors::{hex, safe, sample};
use super::ticks::{self, NumberFormat};
use super::traces::{position, z_range};
use super::write::{TextStyle, num, text, truncate, truncate_middle};
use crate::figure::{ColorScale, Figure, Trace};
use crate::layout::{self, Rect};

const ROW: f64 = 18.0;
const SIZE: f64 = 11.0;
/// Room for a legend name: the panel and the right margin less the swatch and gaps.
const NAME_WIDTH: f64 = layout::LEGEND_WIDTH + layout::RIGHT_MARGIN - 16.0 - 30.0 - 8.0;

enum Swatch {
    Line {
        dash: bool,
        width: f64,
        opacity: f64,
    },
    Band {
        opacity: f64,
    },
    Marker {
        ring: bool,
    },
    Bar,
}

struct Entry<'a> {
    name: &'a str,
    color: &'a str,
    swatch: Swatch,
}

fn entries(figure: &Figure) -> Vec<Entry<'_>> {
    let mut seen: Vec<(Option<&str>, &str)> = Vec::new();
    let mut entries = Vec::new();
    for trace in &figure.traces {
        let Some(name) = trace.legend_name() else {
            continue;
        };
        let (group, color, swatch) = match trace {
            Trace::Line(t) => (
                t.group.as_deref(),
                &t.color,
                Swatch::Line {
                    dash: t.dash,
                    width: t.width,
                    opacity: t.opacity,
                },
            ),
            Trace::Band(t) => (
                t.group.as_deref(),
                &t.color,
                Swatch::Band { opacity: t.opacity },
            ),
            Trace::Markers(t) => (None, &t.color, Swatch::Marker { ring: t.ring }),
            Trace::Bars(t) => (None, &t.color, Swatch::Bar),
            Trace::Heatmap(_) | Trace::Parallel(_) => continue,
        };
        // A group (raw and smoothed curve of one run) shows one entry per name.
        if seen.contains(&(group, name)) {
            continue;
        }
        seen.push((group, name));
        entries.push(Entry {
            name,
            color: safe(color),
            swatch,
        });
    }
    entries
}

/// One row per named trace, long names cut in the middle with an ellipsis; when they do not all fit the plot's
/// height, the last row says how many more there are.
pub fn legend(out: &mut String, figure: &Figure, area: &Rect) {
    let entries = entries(figure);
    let rows = ((area.height - 4.0) / ROW).floor().max(1.0) as usize;
    let (shown, more) = if entries.len() > rows {
        (rows - 1, entries.len() - (rows - 1))
    } else {
        (entries.len(), 0)
    };
    let x0 = area.right() + 16.0;
    let style = TextStyle {
        size: SIZE,
        anchor: "start",
        bold: false,
        fill: "#333333",
    };
    out.push_str("<g>\n");
    for (i, entry) in entries.iter().take(shown).enumerate() {
        let cy = area.top + 10.0 + i as f64 * ROW;
        swatch(out, entry, x0, cy);
        text(
            out,
            x0 + 30.0,
            cy + 4.0,
            &style,
            &truncate_middle(entry.name, NAME_WIDTH, SIZE, false),
        );
    }
    if more > 0 {
        let cy = area.top + 10.0 + shown as f64 * ROW;
        text(
            out,
            x0,
            cy + 4.0,
            &TextStyle {
                fill: "#666666",
                ..style
            },
            &format!("+{more} more"),
        );
    }
    out.push_str("</g>\n");
}

fn swatch(out: &mut String, entry: &Entry<'_>, x0: f64, cy: f64) {
    match entry.swatch {
        Swatch::Line {
            dash,
            width,
            opacity,
        } => {
            out.push_str(r#"<path fill="none" stroke=""#);
            out.push_str(entry.color);
            out.push_str(r#"" stroke-width=""#);
            num(out, width.clamp(1.0, 4.0));
            out.push('"');
            if opacity < 1.0 {
                out.push_str(r#" stroke-opacity=""#);
                num(out, opacity.max(0.3));
                out.push('"');
            }
            if dash {
                out.push_str(r#" stroke-dasharray="5 3""#);
            }
            out.push_str(" d=\"M");
            num(out, x0);
            out.push(' ');
            num(out, cy);
            out.push_str("h24\"/>\n");
        }
        Swatch::Band { opacity } => {
            let extra = format!(
                " fill=\"{}\" fill-opacity=\"{:.2}\"",
                entry.color,
                opacity.clamp(0.3, 1.0)
            );
            super::rect(out, x0, cy - 5.0, 24.0, 10.0, &extra);
        }
        Swatch::Marker { ring } => {
            out.push_str("<circle cx=\"");
            num(out, x0 + 12.0);
            out.push_str("\" cy=\"");
            num(out, cy);
            out.push_str("\" r=\"4\" ");
            out.push_str(if ring {
                r#"fill="none" stroke-width="1.5" stroke=""#
            } else {
                r#"fill=""#
            });
            out.push_str(entry.color);
            out.push_str("\"/>");
        }
        Swatch::Bar => {
            let extra = format!(" fill=\"{}\"", entry.color);
            super::rect(out, x0 + 4.0, cy - 5.0, 16.0, 10.0, &extra);
        }
    }
}

/// The colour bar of the first heatmap or parallel-coordinates trace: its scale from the
/// lowest value (bottom) to the highest (top), with ticks and its title.
pub fn colorbar(out: &mut String, figure: &Figure, area: &Rect) {
    let Some((scale, (lo, hi), title)) = figure.traces.iter().find_map(|t| match t {
        Trace::Heatmap(h) => Some((h.colorscale, z_range(h), h.value_title.as_str())),
        Trace::Parallel(p) => Some((
            p.colorscale,
            extent(&p.color_values),
            p.color_title.as_str(),
        )),
        _ => None,
    }) else {
        return;
    };
    let x0 = area.right() + 20.0;
    let (top, bottom) = (area.top + 18.0, area.bottom());
    bands(out, scale, x0, top, bottom);
    super::rect(
        out,
        x0,
        top,
        14.0,
        bottom - top,
        r##" fill="none" stroke="#b0b0b0" stroke-width="0.5""##,
    );
    out.push('\n');
    let style = TextStyle {
        size: SIZE,
        anchor: "start",
        bold: false,
        fill: "#333333",
    };
    let title = truncate(
        title,
        layout::LEGEND_WIDTH + layout::RIGHT_MARGIN - 28.0,
        SIZE,
        true,
    );
    text(
        out,
        x0,
        area.top + 8.0,
        &TextStyle {
            bold: true,
            ..style
        },
        &title,
    );
    let span = bottom - top;
    let target = ((span / 40.0) as usize).max(2);
    let ticks: Vec<_> = if hi > lo {
        ticks::linear(lo, hi, target)
    } else {
        let format = NumberFormat::new(lo.abs(), lo.abs().max(1.0) / 100.0);
        vec![ticks::Tick {
            value: lo,
            text: format.format(lo),
            sup: None,
            second: None,
        }]
    };
    out.push_str(r##"<path stroke="#666666" stroke-width="1" d=""##);
    for t in &ticks {
        let y = bottom - position(t.value, (lo, hi)) * span;
        out.push('M');
        num(out, x0 + 14.0);
        out.push(' ');
        num(out, y);
        out.push_str("h4");
    }
    out.push_str("\"/>\n");
    for t in &ticks {
        let y = bottom - position(t.value, (lo, hi)) * span;
        text(out, x0 + 21.0, y + 4.0, &style, &t.text);
    }
}

/// The finite extent of `values`, `(0, 1)` when there is none.
pub fn extent(values: &[f64]) -> (f64, f64) {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if lo <= hi { (lo, hi) } else { (0.0, 1.0) }
}

/// The scale as thin bands, low at the bottom. Bands rather than an SVG gradient: every
/// renderer (resvg, svg2pdf and PDF viewers, browsers) then shows the same colours. Each
/// band overlaps the next a little so no seam shows between them.
fn bands(out: &mut String, scale: ColorScale, x0: f64, top: f64, bottom: f64) {
    const BANDS: usize = 64;
    let step = (bottom - top) / BANDS as f64;
    out.push_str("<g>");
    for i in 0..BANDS {
        let color = sample(scale, i as f64 / (BANDS - 1) as f64);
        let y = bottom - (i + 1) as f64 * step;
        let overlap = if i > 0 { 0.5 } else { 0.0 };
        let fill = format!(" fill=\"{}\"", hex(color));
        super::rect(out, x0, y, 14.0, step + overlap, &fill);
    }
    out.push_str("</g>\n");
}
