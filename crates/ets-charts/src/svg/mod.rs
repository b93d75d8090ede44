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
    let area = plot_area(figure);
    let mut out = String::with_capacity(estimated_size(figure));
    let (w, h) = (f64::from(figure.width), f64::from(figure.height));
    out.push_str(r#"<svg xmlns="http://www.w3.org/2000/svg" width=""#);
    num(&mut out, w);
    out.push_str(r#"" height=""#);
    num(&mut out, h);
    out.push_str(r#"" viewBox="0 0 "#);
    num(&mut out, w);
    out.push(' ');
    num(&mut out, h);
    out.push_str(r#"" font-family=""#);
    out.push_str(FONT_FAMILY);
    out.push_str("\">\n");
    out.push_str(r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    out.push('\n');

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
    rect(&mut out, area.left, area.top, area.width, area.height, "");
    out.push_str("</clipPath></defs>\n");

    let parallel = figure.traces.iter().find_map(|t| match t {
        Trace::Parallel(p) => Some(p),
        _ => None,
    });
    if let Some(p) = parallel {
        parallel::draw(&mut out, p, &area, &clip);
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
            axes::grid(&mut out, figure, &frame, &x_ticks, &y_ticks);
        }
        out.push_str("<g clip-path=\"url(#");
        out.push_str(&frame.clip);
        out.push_str(")\">\n");
        traces::draw(&mut out, figure, &frame);
        traces::reference_lines(&mut out, &figure.lines, &frame);
        out.push_str("</g>\n");
        traces::reference_labels(&mut out, &figure.lines, &frame);
        axes::frame_and_labels(&mut out, figure, &frame, &x_ticks, &y_ticks);
    }

    let title = truncate(&figure.title, w - 20.0, 16.0, true);
    write::text(
        &mut out,
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
        legend::colorbar(&mut out, figure, &area);
    } else if figure.has_legend() {
        legend::legend(&mut out, figure, &area);
    }
    notes(&mut out, figure, &area);
    out.push_str("</svg>\n");
    out
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
