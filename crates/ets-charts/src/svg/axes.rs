//! Gridlines, the plot frame, tick labels and axis titles.

use super::Frame;
use super::ticks::{self, Tick};
use super::write::{
    TextStyle, escaped, num, open_text, text, text_width, truncate, truncate_middle,
};
use crate::figure::{Axis, Figure, Scale};
use crate::layout;

const LABEL_SIZE: f64 = 11.0;
const TITLE_SIZE: f64 = 12.0;
/// Room for y tick labels: the left margin less the tick gap and the rotated y title.
const Y_LABEL_WIDTH: f64 = layout::LEFT_MARGIN - 26.0;
/// Font size of rotated x category labels.
const ROTATED_SIZE: f64 = 10.0;

/// Category slots at least this wide (px) keep level labels, cut to fit, rather than
/// rotated ones: a level label shows more of a name than a rotated one has room for.
const MIN_LEVEL_SLOT: f64 = 60.0;

const LABEL: TextStyle<'static> = TextStyle {
    size: LABEL_SIZE,
    anchor: "middle",
    bold: false,
    fill: "#444444",
};

/// The ticks of the x and y axes. Category ticks carry their (untruncated) names.
pub fn ticks(figure: &Figure, frame: &Frame) -> (Vec<Tick>, Vec<Tick>) {
    let width = frame.area.width;
    let height = frame.area.height;
    let x = match figure.x.scale {
        Scale::Category => category_ticks(&figure.x, frame.x.axis_bounds(), width, true),
        Scale::Time => axis_ticks(&figure.x, frame, true, (width / 120.0) as usize),
        _ => axis_ticks(&figure.x, frame, true, (width / 80.0) as usize),
    };
    let y = match figure.y.scale {
        Scale::Category => category_ticks(&figure.y, frame.y.axis_bounds(), height, false),
        _ => axis_ticks(&figure.y, frame, false, (height / 45.0) as usize),
    };
    (x, y)
}

fn axis_ticks(axis: &Axis, frame: &Frame, x: bool, target: usize) -> Vec<Tick> {
    let map = if x { &frame.x } else { &frame.y };
    let (a0, a1) = map.axis_bounds();
    let (lo, hi) = match axis.scale {
        Scale::Log => (10f64.powf(a0), 10f64.powf(a1)),
        _ => (a0, a1),
    };
    ticks::numeric(axis.scale, lo, hi, target.max(2))
}

fn category_ticks(axis: &Axis, (lo, hi): (f64, f64), length: f64, x: bool) -> Vec<Tick> {
    let count = axis.categories.len();
    let name = |i: usize| axis.categories.get(i).cloned().unwrap_or_default();
    // Horizontal x labels need their own width; rotated ones (and y labels) a line height.
    let widest = axis
        .categories
        .iter()
        .map(|c| text_width(c, LABEL_SIZE, false))
        .fold(0.0, f64::max);
    let spacing = if x { widest + 8.0 } else { 14.0 };
    let mut shown = ticks::category(count, lo, hi, length, spacing);
    if x && shown.len() < visible(count, lo, hi) {
        shown = ticks::category(count, lo, hi, length, 16.0);
    }
    shown
        .into_iter()
        .map(|i| Tick {
            value: i as f64,
            text: name(i),
            sup: None,
            second: None,
        })
        .collect()
}

fn visible(count: usize, lo: f64, hi: f64) -> usize {
    ticks::category(count, lo, hi, 1.0, 0.0).len()
}

/// Light gridlines at the ticks (none along category axes), and the zero line.
pub fn grid(out: &mut String, figure: &Figure, frame: &Frame, x: &[Tick], y: &[Tick]) {
    let area = &frame.area;
    out.push_str(
        r##"<path fill="none" stroke="#e8e8e8" stroke-width="1" shape-rendering="crispEdges" d=""##,
    );
    if figure.x.scale != Scale::Category {
        for t in x {
            if let Some(px) = frame.x.px(t.value) {
                out.push('M');
                num(out, px);
                out.push(' ');
                num(out, area.top);
                out.push('V');
                num(out, area.bottom());
            }
        }
    }
    if figure.y.scale != Scale::Category {
        for t in y {
            if let Some(py) = frame.y.px(t.value) {
                out.push('M');
                num(out, area.left);
                out.push(' ');
                num(out, py);
                out.push('H');
                num(out, area.right());
            }
        }
    }
    out.push_str("\"/>\n");
    let zero = |axis: &Axis, ticks: &[Tick]| {
        axis.scale == Scale::Linear && ticks.len() > 1 && ticks.iter().any(|t| t.value == 0.0)
    };
    if zero(&figure.y, y)
        && let Some(py) = frame.y.px(0.0)
    {
        zero_line(out, area.left, py, area.right(), py);
    }
    if zero(&figure.x, x)
        && let Some(px) = frame.x.px(0.0)
    {
        zero_line(out, px, area.top, px, area.bottom());
    }
}

fn zero_line(out: &mut String, x0: f64, y0: f64, x1: f64, y1: f64) {
    out.push_str(r##"<path stroke="#bdbdbd" stroke-width="1" shape-rendering="crispEdges" d="M"##);
    for (i, v) in [x0, y0, x1, y1].into_iter().enumerate() {
        if i == 2 {
            out.push('L');
        } else if i > 0 {
            out.push(' ');
        }
        num(out, v);
    }
    out.push_str("\"/>\n");
}

/// The frame around the plot, the tick labels and the axis titles.
pub fn frame_and_labels(out: &mut String, figure: &Figure, frame: &Frame, x: &[Tick], y: &[Tick]) {
    let area = &frame.area;
    super::rect(
        out,
        area.left,
        area.top,
        area.width,
        area.height,
        r##" fill="none" stroke="#b0b0b0" stroke-width="1" shape-rendering="crispEdges""##,
    );
    out.push('\n');

    // Category names that do not fit side by side are rotated (and the x title gives way to
    // them: the bottom margin is fixed by `layout`, so they cannot both fit).
    // Wide slots keep their labels level, cut to the slot.
    let slot = {
        let step = x
            .windows(2)
            .map(|w| (w[1].value - w[0].value).abs())
            .fold(f64::INFINITY, f64::min);
        if step.is_finite() {
            frame.x.per_unit().abs() * step
        } else {
            area.width
        }
    };
    let rotated = figure.x.scale == Scale::Category
        && slot < MIN_LEVEL_SLOT
        && x.iter()
            .any(|t| text_width(&t.text, LABEL_SIZE, false) + 6.0 > slot);
    for t in x {
        let Some(px) = frame.x.px(t.value) else {
            continue;
        };
        if px < area.left - 0.5 || px > area.right() + 0.5 {
            continue;
        }
        if rotated {
            // 30° when the slots are wide enough for the slanted lines not to touch, else 45°;
            // as long as the bottom margin allows at that angle.
            let angle: f64 = if slot >= 22.0 { 30.0 } else { 45.0 };
            let (sin, cos) = angle.to_radians().sin_cos();
            let room = (layout::BOTTOM_MARGIN - 14.0 - 0.76 * ROTATED_SIZE * cos) / sin;
            let label = truncate_middle(&t.text, room, ROTATED_SIZE, false);
            let (lx, ly) = (px + 3.0, area.bottom() + 12.0);
            let mut transform = format!(" transform=\"rotate(-{angle} ");
            num(&mut transform, lx);
            transform.push(' ');
            num(&mut transform, ly);
            transform.push_str(")\"");
            let style = TextStyle {
                anchor: "end",
                size: ROTATED_SIZE,
                ..LABEL
            };
            open_text(out, lx, ly, &style, &transform);
            escaped(out, &label);
            out.push_str("</text>\n");
            continue;
        }
        let max = if figure.x.scale == Scale::Category {
            slot - 8.0
        } else {
            160.0
        };
        tick_label(out, t, px, area.bottom() + 15.0, &LABEL, max);
        if let Some(second) = &t.second {
            text(out, px, area.bottom() + 28.0, &LABEL, second);
        }
    }
    let y_style = TextStyle {
        anchor: "end",
        ..LABEL
    };
    for t in y {
        let Some(py) = frame.y.px(t.value) else {
            continue;
        };
        if py < area.top - 0.5 || py > area.bottom() + 0.5 {
            continue;
        }
        tick_label(out, t, area.left - 6.0, py + 4.0, &y_style, Y_LABEL_WIDTH);
    }

    let title = TextStyle {
        size: TITLE_SIZE,
        anchor: "middle",
        bold: false,
        fill: "#222222",
    };
    if !rotated {
        let x_title = truncate(&figure.x.title, area.width, TITLE_SIZE, false);
        text(
            out,
            area.left + area.width / 2.0,
            area.bottom() + 46.0,
            &title,
            &x_title,
        );
    }
    let y_title = truncate(&figure.y.title, area.height, TITLE_SIZE, false);
    if !y_title.is_empty() {
        let (tx, ty) = (16.0, area.top + area.height / 2.0);
        let mut transform = String::from(" transform=\"rotate(-90 ");
        num(&mut transform, tx);
        transform.push(' ');
        num(&mut transform, ty);
        transform.push_str(")\"");
        open_text(out, tx, ty, &title, &transform);
        escaped(out, &y_title);
        out.push_str("</text>\n");
    }
}

/// A tick label, with its superscript (`10ⁿ`) when it has one.
fn tick_label(out: &mut String, t: &Tick, x: f64, y: f64, style: &TextStyle<'_>, max: f64) {
    open_text(out, x, y, style, "");
    escaped(out, &truncate_middle(&t.text, max, style.size, false));
    if let Some(sup) = &t.sup {
        out.push_str(r#"<tspan dy="-5" font-size="8">"#);
        escaped(out, sup);
        out.push_str("</tspan>");
    }
    out.push_str("</text>\n");
}
