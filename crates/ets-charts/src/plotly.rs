//! Plotly JSON: a [`Figure`] as `{"data": [...], "layout": {...}}`, which plotly.js 3.0 draws
//! and plotly.py 6 (`plotly.graph_objects.Figure(d)`) accepts without error or warning.
//!
//! Coordinates go through the axis they are drawn on: category indices become the category
//! names, times (ms since the epoch) become UTC date strings and values a log axis cannot draw
//! become `null`, like every non-finite number (the JSON never holds NaN or infinity, and a
//! `null` y breaks a line, so gaps stay visible).
//!
//! Plotly reads every label (titles, names, categories, notes) as pseudo-HTML, so they are
//! escaped (`&`, `<`, `>` as entities, which plotly decodes) to show as written.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::figure::{Axis, Figure, RefLine, Scale, Trace};

mod traces;

/// Above this many points in the figure's line, band and marker traces, those traces are
/// drawn with WebGL (`scattergl`) instead of SVG (`scatter`). M4 already caps a line at four
/// points per pixel column (about 3,600 for a 900 px figure), so only charts of many runs get
/// there; past a few tens of thousands of points SVG panning and hovering turn sluggish, which
/// is where plotly's documentation recommends WebGL. Below it SVG stays the better choice:
/// each WebGL chart holds a GL context and browsers keep only about 16 per page (a report with
/// many charts would lose some), and SVG prints and zooms crisply.
pub const WEBGL_MIN_POINTS: usize = 50_000;

/// ColorBrewer's sequential Blues, light to dark (plotly.py's `plotly.colors.sequential.Blues`):
/// the stops of [`ColorScale::Blues`](crate::figure::ColorScale::Blues).
pub const BLUES: [&str; 9] = [
    "rgb(247,251,255)",
    "rgb(222,235,247)",
    "rgb(198,219,239)",
    "rgb(158,202,225)",
    "rgb(107,174,214)",
    "rgb(66,146,198)",
    "rgb(33,113,181)",
    "rgb(8,81,156)",
    "rgb(8,48,107)",
];

/// Vertical room under the plot area for the x tick labels and the x axis title, in CSS pixels.
const X_AXIS_ROOM: f64 = 56.0;
/// Height of one note line printed under the plot.
const NOTE_LINE: f64 = 16.0;

/// The figure as Plotly JSON.
pub fn figure_json(fig: &Figure) -> Value {
    let gl = scatter_points(fig) > WEBGL_MIN_POINTS;
    let mut data = Vec::new();
    for trace in &fig.traces {
        traces::push(&mut data, trace, fig, gl);
    }
    json!({ "data": data, "layout": layout(fig) })
}

/// Points drawn by the scatter-type traces (lines, bands, markers).
fn scatter_points(fig: &Figure) -> usize {
    fig.traces
        .iter()
        .map(|t| match t {
            Trace::Line(l) => l.x.len(),
            Trace::Band(b) => 2 * b.x.len(),
            Trace::Markers(m) => m.x.len(),
            Trace::Bars(_) | Trace::Heatmap(_) | Trace::Parallel(_) => 0,
        })
        .sum()
}

fn layout(fig: &Figure) -> Value {
    let notes = fig.notes.len() as f64;
    let mut layout = Map::new();
    layout.insert("title".into(), json!({ "text": label(&fig.title) }));
    layout.insert("width".into(), json!(fig.width));
    layout.insert("height".into(), json!(fig.height));
    layout.insert("showlegend".into(), json!(fig.has_legend()));
    layout.insert("hovermode".into(), json!("closest"));
    // Parallel coordinates print their axis labels above the plot area.
    let parallel = fig.traces.iter().any(|t| matches!(t, Trace::Parallel(_)));
    let top = match (fig.title.is_empty(), parallel) {
        (true, false) => 30,
        (false, false) => 60,
        (true, true) => 70,
        (false, true) => 110,
    };
    layout.insert(
        "margin".into(),
        json!({ "l": 80, "r": 24, "t": top, "b": X_AXIS_ROOM + NOTE_LINE * notes + 8.0 }),
    );
    // Parallel coordinates draw their own axes: cartesian axes would show as an empty plot.
    if fig.traces.iter().any(|t| !matches!(t, Trace::Parallel(_))) {
        layout.insert("xaxis".into(), axis(&fig.x));
        layout.insert("yaxis".into(), axis(&fig.y));
    }
    if fig
        .traces
        .iter()
        .filter(|t| matches!(t, Trace::Bars(_)))
        .count()
        > 1
    {
        layout.insert("barmode".into(), json!("group"));
    }
    let shapes: Vec<Value> = fig.lines.iter().map(|l| ref_line(l, &fig.y)).collect();
    let mut annotations: Vec<Value> = fig.lines.iter().map(|l| ref_label(l, &fig.y)).collect();
    annotations.extend(fig.notes.iter().enumerate().map(|(i, n)| note(i, n)));
    if !shapes.is_empty() {
        layout.insert("shapes".into(), Value::Array(shapes));
    }
    if !annotations.is_empty() {
        layout.insert("annotations".into(), Value::Array(annotations));
    }
    Value::Object(layout)
}

fn axis(axis: &Axis) -> Value {
    let kind = match axis.scale {
        Scale::Linear => "linear",
        Scale::Log => "log",
        Scale::Category => "category",
        Scale::Time => "date",
    };
    let mut out = Map::new();
    out.insert("title".into(), json!({ "text": label(&axis.title) }));
    out.insert("type".into(), json!(kind));
    out.insert("automargin".into(), json!(true));
    if axis.scale == Scale::Category {
        // Every category in the figure's order, even those without data.
        out.insert("categoryorder".into(), json!("array"));
        let names: Vec<Value> = axis.categories.iter().map(|c| json!(label(c))).collect();
        out.insert("categoryarray".into(), Value::Array(names));
    }
    if let Some(range) = axis_range(axis) {
        out.insert("range".into(), range);
        out.insert("autorange".into(), json!(false));
    }
    Value::Object(out)
}

/// The fixed range of an axis in plotly's terms: log axes take `log10` of the ends, date axes
/// date strings, category axes the index range as it is.
fn axis_range(axis: &Axis) -> Option<Value> {
    let (lo, hi) = axis.range?;
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    match axis.scale {
        Scale::Log if lo > 0.0 && hi > 0.0 => Some(json!([num(lo.log10()), num(hi.log10())])),
        Scale::Log => None,
        Scale::Time => Some(json!([date(lo), date(hi)])),
        Scale::Linear | Scale::Category => Some(json!([num(lo), num(hi)])),
    }
}

/// A reference line across the whole plot width at data value `y`. Shapes take data values on
/// log axes (plotly converts them), unlike annotations.
fn ref_line(line: &RefLine, y_axis: &Axis) -> Value {
    let y = position(y_axis, line.y);
    json!({
        "type": "line",
        "xref": "paper", "x0": 0, "x1": 1,
        "yref": "y", "y0": y, "y1": y,
        "line": { "color": line.color, "width": 1.5, "dash": if line.dash { "dash" } else { "solid" } },
    })
}

/// The label of a reference line, right-aligned just above it. Annotations on a log axis take
/// `log10` of the value.
fn ref_label(line: &RefLine, y_axis: &Axis) -> Value {
    let y = match y_axis.scale {
        Scale::Log if line.y > 0.0 => num(line.y.log10()),
        Scale::Log => Value::Null,
        _ => position(y_axis, line.y),
    };
    json!({
        "text": label(&line.label),
        "xref": "paper", "x": 1, "xanchor": "right",
        "yref": "y", "y": y, "yanchor": "bottom",
        "showarrow": false,
        "font": { "color": line.color, "size": 11 },
    })
}

/// Note line `i` under the plot, below the x axis title. Placed in pixels from the bottom of
/// the plot area (`y` 0 in paper units, shifted down), so it keeps its place whatever the
/// figure's height; the bottom margin leaves room for every note.
fn note(i: usize, text: &str) -> Value {
    json!({
        "text": label(text),
        "xref": "paper", "x": 0, "xanchor": "left",
        "yref": "paper", "y": 0, "yanchor": "top",
        "yshift": -(X_AXIS_ROOM + NOTE_LINE * i as f64),
        "showarrow": false,
        "align": "left",
        "font": { "size": 11, "color": "#444444" },
    })
}

/// A number, or `null` when it is not finite (serde_json would write `null` too; this makes it
/// the rule rather than an accident).
pub(crate) fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// A position on an axis for shapes and annotations: a date string on a time axis, else the
/// number (category axes take the index).
fn position(axis: &Axis, v: f64) -> Value {
    match axis.scale {
        Scale::Time => date(v),
        _ => num(v),
    }
}

/// Data coordinate `v` on `axis`, as plotly reads it on that axis type.
pub(crate) fn coord(axis: &Axis, v: f64) -> Value {
    if !v.is_finite() {
        return Value::Null;
    }
    match axis.scale {
        Scale::Linear => num(v),
        Scale::Log if v > 0.0 => num(v),
        Scale::Log => Value::Null,
        Scale::Category => category(axis, v),
        Scale::Time => date(v),
    }
}

/// Columns of at least this many values are sent as typed arrays when they can be (see
/// [`typed_array`]); shorter ones stay plain lists, easy to read and to script against.
pub const TYPED_ARRAY_MIN: usize = 1000;

pub(crate) fn coords(axis: &Axis, values: &[f64]) -> Value {
    if values.len() >= TYPED_ARRAY_MIN
        && let Some(typed) = typed_array(axis, values)
    {
        return typed;
    }
    Value::Array(values.iter().map(|&v| coord(axis, v)).collect())
}

/// `values` as a Plotly typed array (`{"dtype", "bdata"}`: little-endian bytes in base64,
/// which plotly.js ≥ 2.28 and plotly.py ≥ 6 read), in the smallest type that holds every value
/// exactly: `i4` for integers (steps), `f4` for values a float32 holds (what most training
/// code logs), else `f8`. A decimal in JSON text takes ~19 bytes; these take 5.3 (`i4`, `f4`)
/// or 10.7 (`f8`). Only for numbers on linear and log axes, all of them drawable: a typed array
/// has no `null` to break a line, and dates and categories are sent as text.
fn typed_array(axis: &Axis, values: &[f64]) -> Option<Value> {
    let drawable = |v: f64| match axis.scale {
        Scale::Linear => v.is_finite(),
        Scale::Log => v.is_finite() && v > 0.0,
        Scale::Category | Scale::Time => false,
    };
    if !values.iter().all(|&v| drawable(v)) {
        return None;
    }
    let int32 =
        |v: f64| v.fract() == 0.0 && (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&v);
    let (dtype, bytes): (&str, Vec<u8>) = if values.iter().all(|&v| int32(v)) {
        (
            "i4",
            values
                .iter()
                .flat_map(|&v| (v as i32).to_le_bytes())
                .collect(),
        )
    } else if values.iter().all(|&v| f64::from(v as f32) == v) {
        (
            "f4",
            values
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes())
                .collect(),
        )
    } else {
        ("f8", values.iter().flat_map(|&v| v.to_le_bytes()).collect())
    };
    Some(json!({ "dtype": dtype, "bdata": BASE64.encode(bytes) }))
}

/// The name of category index `v`, or `null` for an index the axis does not have.
fn category(axis: &Axis, v: f64) -> Value {
    if v < 0.0 || v.fract() != 0.0 {
        return Value::Null;
    }
    axis.categories
        .get(v as usize)
        .map_or(Value::Null, |c| json!(label(c)))
}

/// Milliseconds since the Unix epoch as a UTC date string (`2024-05-01 12:30:00.250`). Plotly
/// reads a bare number on a date axis as milliseconds in the viewer's local time zone; a date
/// string has no zone and shows as written, so charts show UTC everywhere.
pub(crate) fn date(ms: f64) -> Value {
    // Plotly's dates run from year -9999 to 9999; keep to the years 0..=9999 it formats plainly.
    const MAX_MS: f64 = 253_402_300_799_999.0; // 9999-12-31 23:59:59.999
    const MIN_MS: f64 = -62_167_219_200_000.0; // 0000-01-01 00:00:00
    if !(MIN_MS..=MAX_MS).contains(&ms) {
        return Value::Null;
    }
    crate::utc::at(ms.round() as i64).map_or(Value::Null, |t| {
        json!(t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
    })
}

/// Text plotly shows as written: it reads labels as pseudo-HTML and decodes these entities.
pub(crate) fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
