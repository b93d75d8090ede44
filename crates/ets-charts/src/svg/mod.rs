//! Figure → SVG text, drawn server-side (PNG and PDF are rasterised from it by `raster`).
//!
//! The plot is drawn exactly into [`layout::plot_area`]: x maps `x_range` linearly (log10 on
//! a log axis) onto `area.left..=area.right`, which is what the chart service's M4 reduction
//! (`m4`) assumes. Text uses the font family "DejaVu Sans", which `raster` embeds.
//!
//! The SVG is written straight into one `String`: path data for long series costs no
//! allocation per point, and coordinates have two decimals.

mod axes;
mod colors;
mod legend;
mod page;
mod parallel;
mod scale;
mod ticks;
mod traces;
mod write;

pub use colors::{sample as colorscale_sample, stops as colorscale_stops};
pub use page::text_page;
pub use scale::{PADDING, x_range, y_range};
pub use traces::{LineStyle, line_style};
pub(crate) use write::escaped;

use crate::figure::{Figure, Trace};
use crate::layout::{self, Rect};
use scale::AxisMap;
use write::{num, truncate};

/// The font family every text in the SVG uses; `raster` embeds this font.
pub const FONT_FAMILY: &str = "DejaVu Sans";

/// Whether the figure has a side panel right of the plot (a legend or a colour bar); the
/// plot area depends on it (see [`layout::plot_area`]).
pub fn side_panel(figure: &Figure) -> bool {
    figure.has_legend() || has_colorbar(figure)
}

/// The plot area the figure is drawn into.
pub fn plot_area(figure: &Figure) -> Rect {
    layout::plot_area(
        figure.width,
        figure.height,
        side_panel(figure),
        figure.notes.len(),
    )
}

fn has_colorbar(figure: &Figure) -> bool {
    figure
        .traces
        .iter()
        .any(|t| matches!(t, Trace::Heatmap(_) | Trace::Parallel(_)))
}

/// The plot rectangle and how data maps onto it.
pub(crate) struct Frame {
    pub area: Rect,
    pub x: AxisMap,
    pub y: AxisMap,
    /// Id of the clip path of the plot area; derived from its geometry, so two SVGs inlined
    /// in one page that share an id also share the rectangle.
    pub clip: String,
}

/// Draws the figure as a standalone SVG document of `figure.width` × `figure.height` CSS px.
///
/// A figure with a `Parallel` trace is drawn as parallel coordinates only (its own vertical
/// axes; x, y and the other traces are not drawn). A colour bar (heatmap, parallel) takes the
/// side panel; a legend is drawn there otherwise, when the figure has one.
pub fn render(figure: &Figure) -> String {
    let mut canvas = Canvas {
        out: String::with_capacity(estimated_size(figure)),
        split: None,
    };
    draw(&mut canvas, figure);
    canvas.out
}

/// One piece of a figure's picture; drawn one over the other in order they give the picture
/// of [`render`].
#[derive(Debug, Clone)]
pub enum Part {
    /// A standalone SVG document of the figure's size (transparent except for the first,
    /// which has the white background), with the plot's clip path where it draws traces.
    Svg(String),
    /// Consecutive line traces (indices into `figure.traces`, in order), to be stroked as
    /// [`line_style`] says through `map` and clipped to `map.area`, as the SVG would.
    Lines { traces: Vec<usize>, map: PlotMap },
}

/// The figure as [`Part`]s: SVG documents with the line traces cut out, for a rasteriser
/// that strokes long lines itself instead of parsing them from SVG text (`raster`).
/// Parallel-coordinates figures and figures without line traces are one `Svg` part, equal
/// to [`render`]'s document.
pub fn render_parts(figure: &Figure) -> Vec<Part> {
    let mut canvas = Canvas {
        out: String::with_capacity(8192),
        split: Some(Split::default()),
    };
    draw(&mut canvas, figure);
    let mut parts = canvas.split.map(|s| s.parts).unwrap_or_default();
    parts.push(Part::Svg(canvas.out));
    parts
}

/// How data maps onto the plot's CSS pixels, for drawing a [`Part::Lines`].
#[derive(Debug, Clone, Copy)]
pub struct PlotMap {
    /// The plot area, which clips the lines.
    pub area: Rect,
    x: AxisMap,
    y: AxisMap,
}

impl PlotMap {
    /// The CSS pixel of a point, `None` if it cannot be drawn (non-finite, or `<= 0` on a log
    /// axis): the SVG lifts the pen there.
    #[inline]
    pub fn px(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        match (self.x.px(x), self.y.px(y)) {
            (Some(px), Some(py)) => Some((px, py)),
            _ => None,
        }
    }
}

/// Where the document is written. When splitting (for [`render_parts`]), a line trace ends
/// the current document and becomes a [`Part::Lines`]; the next document starts with the same
/// `<svg>` element and clip path, inside the same clip group.
pub(crate) struct Canvas {
    pub out: String,
    split: Option<Split>,
}

#[derive(Default)]
struct Split {
    parts: Vec<Part>,
    /// The `<svg>` start tag and the clip path's `<defs>`: how every later document starts.
    head: String,
    /// The length of `out` just after the last split: nothing was drawn since while equal.
    fresh: usize,
}

impl Canvas {
    /// Takes line trace `index` out of the document when splitting; `false` means: write it.
    pub fn lift_line(&mut self, index: usize, frame: &Frame) -> bool {
        let Some(split) = &mut self.split else {
            return false;
        };
        if self.out.len() == split.fresh
            && let Some(Part::Lines { traces, .. }) = split.parts.last_mut()
        {
            traces.push(index);
            return true;
        }
        self.out.push_str("</g>\n</svg>\n");
        let mut next = split.head.clone();
        open_clip_group(&mut next, &frame.clip);
        let done = std::mem::replace(&mut self.out, next);
        split.parts.push(Part::Svg(done));
        split.parts.push(Part::Lines {
            traces: vec![index],
            map: PlotMap {
                area: frame.area,
                x: frame.x,
                y: frame.y,
            },
        });
        split.fresh = self.out.len();
        true
    }
}

fn open_clip_group(out: &mut String, clip: &str) {
    out.push_str("<g clip-path=\"url(#");
    out.push_str(clip);
    out.push_str(")\">\n");
}

/// The one drawing code path of [`render`] and [`render_parts`].
fn draw(canvas: &mut Canvas, figure: &Figure) {
    let area = plot_area(figure);
    let out = &mut canvas.out;
    let (w, h) = (f64::from(figure.width), f64::from(figure.height));
    out.push_str(r#"<svg xmlns="http://www.w3.org/2000/svg" width=""#);
    num(out, w);
    out.push_str(r#"" height=""#);
    num(out, h);
    out.push_str(r#"" viewBox="0 0 "#);
    num(out, w);
    out.push(' ');
    num(out, h);
    out.push_str(r#"" font-family=""#);
    out.push_str(FONT_FAMILY);
    out.push_str("\">\n");
    let start_tag = out.len();
    out.push_str(r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    out.push('\n');
    let defs = out.len();

    let clip = format!(
        "ets-plot-{}-{}-{}-{}",
        area.left.round(),
        area.top.round(),
        area.width.round(),
        area.height.round()
    );
    out.push_str("<defs><clipPath id=\"");
    out.push_str(&clip);
    out.push_str("\">");
    rect(out, area.left, area.top, area.width, area.height, "");
    out.push_str("</clipPath></defs>\n");
    if let Some(split) = &mut canvas.split {
        split.head = format!("{}{}", &out[..start_tag], &out[defs..]);
    }

    let parallel = figure.traces.iter().find_map(|t| match t {
        Trace::Parallel(p) => Some(p),
        _ => None,
    });
    if let Some(p) = parallel {
        parallel::draw(&mut canvas.out, p, &area, &clip);
    } else {
        let frame = Frame {
            area,
            x: AxisMap::new(figure.x.scale, x_range(figure), area.left, area.right()),
            y: AxisMap::new(figure.y.scale, y_range(figure), area.bottom(), area.top),
            clip,
        };
        let heatmap = figure.traces.iter().any(|t| matches!(t, Trace::Heatmap(_)));
        let (x_ticks, y_ticks) = axes::ticks(figure, &frame);
        if !heatmap {
            axes::grid(&mut canvas.out, figure, &frame, &x_ticks, &y_ticks);
        }
        open_clip_group(&mut canvas.out, &frame.clip);
        traces::draw(canvas, figure, &frame);
        let out = &mut canvas.out;
        traces::reference_lines(out, &figure.lines, &frame);
        out.push_str("</g>\n");
        traces::reference_labels(out, &figure.lines, &frame);
        axes::frame_and_labels(out, figure, &frame, &x_ticks, &y_ticks);
    }

    let out = &mut canvas.out;
    let title = truncate(&figure.title, w - 20.0, 16.0, true);
    write::text(
        out,
        w / 2.0,
        26.0,
        &write::TextStyle {
            size: 16.0,
            anchor: "middle",
            bold: true,
            fill: "#222222",
        },
        &title,
    );
    if has_colorbar(figure) {
        legend::colorbar(out, figure, &area);
    } else if figure.has_legend() {
        legend::legend(out, figure, &area);
    }
    notes(out, figure, &area);
    out.push_str("</svg>\n");
}

/// The notes, one line each under the x axis, in the space `layout` keeps for them.
fn notes(out: &mut String, figure: &Figure, area: &Rect) {
    let style = write::TextStyle {
        size: 10.5,
        anchor: "start",
        bold: false,
        fill: "#555555",
    };
    for (i, note) in figure.notes.iter().enumerate() {
        let y = area.bottom() + layout::BOTTOM_MARGIN + layout::NOTE_HEIGHT * i as f64 + 12.0;
        let line = truncate(note, f64::from(figure.width) - 16.0, style.size, false);
        write::text(out, 8.0, y, &style, &line);
    }
}

/// `<rect x y width height` + `extra` + `/>`.
pub(crate) fn rect(out: &mut String, x: f64, y: f64, w: f64, h: f64, extra: &str) {
    out.push_str("<rect x=\"");
    num(out, x);
    out.push_str("\" y=\"");
    num(out, y);
    out.push_str("\" width=\"");
    num(out, w.max(0.0));
    out.push_str("\" height=\"");
    num(out, h.max(0.0));
    out.push('"');
    out.push_str(extra);
    out.push_str("/>");
}

/// A capacity that avoids regrowing the output for long series (about 14 bytes a point).
fn estimated_size(figure: &Figure) -> usize {
    let points: usize = figure
        .traces
        .iter()
        .map(|t| match t {
            Trace::Line(l) => l.x.len() * 14,
            Trace::Band(b) => b.x.len() * 28,
            Trace::Markers(m) => m.x.len() * 40,
            Trace::Bars(b) => b.x.len() * 120,
            Trace::Heatmap(h) => h.z.iter().map(Vec::len).sum::<usize>() * 120,
            Trace::Parallel(p) => p.color_values.len() * (p.dimensions.len() * 14 + 80),
        })
        .sum();
    8192 + points + figure.notes.iter().map(String::len).sum::<usize>()
}

#[cfg(test)]
pub(crate) mod tests;
