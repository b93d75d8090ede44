//! Line traces stroked straight into tiny-skia, as resvg would stroke them from the SVG
//! (`svg::render_parts`): no path text to write and parse for long series.
//!
//! Same geometry as the SVG: points rounded to hundredths of a CSS pixel (the SVG's path
//! data), the stroke width and dashes to two decimals, then the same `PathBuilder` calls and
//! `stroke_path` (bevel joins, round caps, anti-aliased) with the same transform, up to a
//! whole-device-pixel translation. The plot area clips them as the SVG's clip path does: the
//! lines are drawn into a transparent layer over the plot area (and a margin), masked to the
//! plot area, then composited onto the page.

use resvg::tiny_skia::{
    self, FillRule, LineCap, LineJoin, Mask, Paint, PathBuilder, Pixmap, PixmapPaint, Stroke,
    StrokeDash, Transform,
};

use crate::figure::{Figure, LineTrace, Trace};
use crate::svg::{PlotMap, line_style};

/// Fewer points than this in a run of lines are drawn on one thread: a second thread costs
/// a spawn and a second layer to mask and composite (about a millisecond at 1x), worth it
/// only for long runs (a judgement, not a measured break-even).
const SPLIT_POINTS: usize = 20_000;

/// A drawn layer and where it goes on the page (device pixels).
pub struct Layer {
    x: i32,
    y: i32,
    pixels: Pixmap,
}

impl Layer {
    /// A layer covering the whole page.
    pub fn page(pixels: Pixmap) -> Layer {
        Layer { x: 0, y: 0, pixels }
    }

    /// Draws the layer over `page` (source-over).
    pub fn composite(&self, page: &mut Pixmap) {
        page.draw_pixmap(
            self.x,
            self.y,
            self.pixels.as_ref(),
            &PixmapPaint::default(),
            Transform::identity(),
            None,
        );
    }
}

/// Line traces `traces` of `figure` (a `Part::Lines`) at `scale` device pixels per CSS
/// pixel, clipped to the plot area, as layers to composite in order: one, or two drawn on two
/// threads when `threads` ≥ 2 and the run is long.
pub fn layers(
    figure: &Figure,
    traces: &[usize],
    map: &PlotMap,
    scale: f64,
    threads: usize,
) -> Vec<Layer> {
    let lines: Vec<&LineTrace> = traces
        .iter()
        .filter_map(|&i| match figure.traces.get(i) {
            Some(Trace::Line(t)) => Some(t),
            _ => None,
        })
        .collect();
    let widest = lines
        .iter()
        .map(|t| line_style(t).width)
        .fold(0.0, f64::max);
    let Some(clip) = Clip::new(map, scale, widest) else {
        return Vec::new();
    };
    let points: usize = lines.iter().map(|t| t.x.len().min(t.y.len())).sum();
    let drawn: Vec<Pixmap> = if threads >= 2 && points > SPLIT_POINTS && lines.len() > 1 {
        // Two halves of about equal points; composited in order, which gives the one-layer
        // picture (source-over is associative) up to 8-bit rounding.
        let mut half = 0;
        let mut count = 0;
        while half < lines.len() && count * 2 < points {
            count += lines[half].x.len().min(lines[half].y.len());
            half += 1;
        }
        let (first, second) = lines.split_at(half.clamp(1, lines.len() - 1));
        std::thread::scope(|scope| {
            let other = scope.spawn(|| clip.layer(second, map));
            let mine = clip.layer(first, map);
            [
                mine,
                other
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            ]
            .into_iter()
            .flatten()
            .collect()
        })
    } else {
        clip.layer(&lines, map).into_iter().collect()
    };
    drawn
        .into_iter()
        .map(|pixels| Layer {
            x: clip.x,
            y: clip.y,
            pixels,
        })
        .collect()
}

/// Where the lines are drawn: a transparent layer over the plot area and a margin as wide as
/// the widest stroke, at `(x, y)` on the page; the transform from CSS pixels into it; and the
/// mask of the plot area (the SVG's clip path, anti-aliased where an edge falls inside a
/// device pixel, at fractional scales).
///
/// The margin matters: tiny-skia chops path edges that leave the pixmap, and a chopped edge
/// rounds slightly differently along its whole length. resvg draws the SVG's clip group into
/// a layer around everything drawn in it, so its edges are chopped only far outside the plot;
/// with the margin, neither chops edges that reach into the plot.
struct Clip {
    x: i32,
    y: i32,
    width: u32,
    height: u32,
    transform: Transform,
    mask: Mask,
}

impl Clip {
    fn new(map: &PlotMap, scale: f64, widest: f64) -> Option<Clip> {
        let area = map.area;
        // Capped: a stroke wider than that is still drawn, only chopped at the margin.
        let margin = ((widest * scale / 2.0).ceil() + 2.0).min(64.0);
        let left = (area.left * scale - margin).floor();
        let top = (area.top * scale - margin).floor();
        let right = (area.right() * scale + margin).ceil();
        let bottom = (area.bottom() * scale + margin).ceil();
        let (width, height) = ((right - left) as u32, (bottom - top) as u32);
        let s = scale as f32;
        let transform = Transform::from_row(s, 0.0, 0.0, s, -left as f32, -top as f32);
        let rect = tiny_skia::Rect::from_xywh(
            area.left as f32,
            area.top as f32,
            area.width as f32,
            area.height as f32,
        )?;
        let mut mask = Mask::new(width, height)?;
        mask.fill_path(
            &PathBuilder::from_rect(rect),
            FillRule::Winding,
            true,
            transform,
        );
        Some(Clip {
            x: left as i32,
            y: top as i32,
            width,
            height,
            transform,
            mask,
        })
    }

    /// A transparent layer of the plot area with `lines` stroked on it in order.
    fn layer(&self, lines: &[&LineTrace], map: &PlotMap) -> Option<Pixmap> {
        let mut layer = Pixmap::new(self.width, self.height)?;
        for t in lines {
            stroke(&mut layer, t, map, self.transform);
        }
        layer.apply_mask(&self.mask);
        Some(layer)
    }
}

/// `v` as the SVG writes it: rounded to hundredths, half away from zero.
fn hundredths(v: f64) -> f32 {
    ((v * 100.0).round() / 100.0) as f32
}

/// Strokes one line trace as `svg/traces.rs`'s `line` and resvg would.
fn stroke(layer: &mut Pixmap, t: &LineTrace, map: &PlotMap, transform: Transform) {
    let style = line_style(t);
    let width = hundredths(style.width);
    // usvg drops a stroke of width 0, and one whose colour it cannot read.
    let Some([r, g, b]) = color(style.color).filter(|_| width > 0.0) else {
        return;
    };
    let mut path = PathBuilder::with_capacity(t.x.len() + 1, t.x.len() + 1);
    let mut pen_down = false;
    let mut drawn = 0usize;
    for (&x, &y) in t.x.iter().zip(&t.y) {
        match map.px(x, y) {
            Some((px, py)) => {
                if pen_down {
                    path.line_to(hundredths(px), hundredths(py));
                } else {
                    path.move_to(hundredths(px), hundredths(py));
                }
                pen_down = true;
                drawn += 1;
            }
            None => pen_down = false,
        }
    }
    if drawn < 2 {
        return;
    }
    let Some(path) = path.finish() else {
        return;
    };
    let opacity = style.opacity.map_or(1.0, hundredths);
    let mut paint = Paint::default();
    paint.set_color_rgba8(r, g, b, usvg::Opacity::new_clamped(opacity).to_u8());
    paint.anti_alias = true;
    let stroke = Stroke {
        width,
        miter_limit: 4.0,
        line_cap: LineCap::Round,
        line_join: LineJoin::Bevel,
        dash: style
            .dash
            .and_then(|(dash, gap)| StrokeDash::new(vec![hundredths(dash), hundredths(gap)], 0.0)),
    };
    layer.stroke_path(&path, &paint, &stroke, transform, None);
}

/// The RGB of a colour as the SVG gives it: `#rgb`/`#rrggbb` read here, a name through usvg
/// (so it means what it means in the SVG); `None` when usvg would not draw it.
pub(super) fn color(text: &str) -> Option<[u8; 3]> {
    if let Some(hex) = text.strip_prefix('#') {
        let digit = |i: usize| u8::from_str_radix(hex.get(i..=i)?, 16).ok();
        return match hex.len() {
            3 => Some([digit(0)? * 17, digit(1)? * 17, digit(2)? * 17]),
            6 => Some([
                digit(0)? * 16 + digit(1)?,
                digit(2)? * 16 + digit(3)?,
                digit(4)? * 16 + digit(5)?,
            ]),
            _ => None,
        };
    }
    let probe = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="2" height="2"><path stroke="{text}" d="M0 0 1 1"/></svg>"#
    );
    let tree = usvg::Tree::from_str(&probe, &usvg::Options::default()).ok()?;
    tree.root().children().iter().find_map(|node| match node {
        usvg::Node::Path(path) => match path.stroke()?.paint() {
            usvg::Paint::Color(c) => Some([c.red, c.green, c.blue]),
            _ => None,
        },
        _ => None,
    })
}
