//! One figure trace as Plotly traces.

use serde_json::{Map, Value, json};

use super::{coords, label, num};
use crate::figure::{
    BandTrace, BarTrace, ColorScale, Dimension, Figure, HeatmapTrace, LineTrace, MarkerTrace,
    ParallelTrace, Trace,
};

/// Appends the Plotly traces drawing `trace` (a band is two). `gl` draws scatter-type traces
/// with WebGL (see [`super::WEBGL_MIN_POINTS`]); a figure uses one kind for all of them, since
/// a band's `tonexty` fill only pairs traces of the same type.
pub(super) fn push(data: &mut Vec<Value>, trace: &Trace, fig: &Figure, gl: bool) {
    let scatter = if gl { "scattergl" } else { "scatter" };
    match trace {
        Trace::Line(t) => data.push(line(t, fig, scatter)),
        Trace::Band(t) => data.extend(band(t, fig, scatter)),
        Trace::Markers(t) => data.push(markers(t, fig, scatter)),
        Trace::Bars(t) => data.push(bars(t, fig)),
        Trace::Heatmap(t) => data.push(heatmap(t, fig)),
        Trace::Parallel(t) => data.push(parallel(t)),
    }
}

fn line(t: &LineTrace, fig: &Figure, scatter: &str) -> Value {
    let mut out = json!({
        "type": scatter,
        "mode": "lines",
        "name": label(&t.name),
        "x": coords(&fig.x, &t.x),
        "y": coords(&fig.y, &t.y),
        "line": {
            "color": t.color,
            "width": positive(t.width, 1.5),
            "dash": if t.dash { "dash" } else { "solid" },
        },
        "opacity": unit(t.opacity),
        "showlegend": t.show_legend && !t.name.is_empty(),
        // A null y is a gap in the series: never bridge it.
        "connectgaps": false,
    });
    if let Some(group) = &t.group {
        out["legendgroup"] = json!(group);
    }
    out
}

/// The lower edge (no legend entry, no hover), then the upper edge filled down to it. Both
/// share a legend group, so the band's legend entry hides both.
fn band(t: &BandTrace, fig: &Figure, scatter: &str) -> [Value; 2] {
    let group = t
        .group
        .clone()
        .unwrap_or_else(|| format!("band: {}", t.name));
    let edge = |y: &[f64]| {
        json!({
            "type": scatter,
            "mode": "lines",
            "x": coords(&fig.x, &t.x),
            "y": coords(&fig.y, y),
            "line": { "color": t.color, "width": 0 },
            "connectgaps": false,
            "legendgroup": group,
            "hoverinfo": "skip",
        })
    };
    let mut lower = edge(&t.low);
    lower["name"] = json!(label(&format!("{} (low)", t.name)));
    lower["showlegend"] = json!(false);
    let mut upper = edge(&t.high);
    upper["name"] = json!(label(&t.name));
    upper["showlegend"] = json!(t.show_legend && !t.name.is_empty());
    upper["fill"] = json!("tonexty");
    upper["fillcolor"] = json!(rgba(&t.color, unit(t.opacity)));
    [lower, upper]
}

fn markers(t: &MarkerTrace, fig: &Figure, scatter: &str) -> Value {
    let mut marker = json!({
        "color": t.color,
        "size": positive(t.size, 8.0),
        "symbol": if t.ring { "circle-open" } else { "circle" },
    });
    if t.ring {
        // The ring's stroke; the colour of an open symbol is `marker.color`.
        marker["line"] = json!({ "width": 2 });
    }
    let mut out = json!({
        "type": scatter,
        "mode": "markers",
        "name": label(&t.name),
        "x": coords(&fig.x, &t.x),
        "y": coords(&fig.y, &t.y),
        "marker": marker,
        "showlegend": t.show_legend && !t.name.is_empty(),
    });
    if !t.labels.is_empty() {
        out["text"] = json!(t.labels.iter().map(|l| label(l)).collect::<Vec<_>>());
        out["hovertemplate"] = json!("%{text}<br>x: %{x}<br>y: %{y}");
    }
    out
}

fn bars(t: &BarTrace, fig: &Figure) -> Value {
    let mut out = json!({
        "type": "bar",
        "name": label(&t.name),
        "x": coords(&fig.x, &t.x),
        "y": coords(&fig.y, &t.y),
        "marker": { "color": t.color },
        "showlegend": t.show_legend && !t.name.is_empty(),
    });
    if let Some(width) = t.width.filter(|w| w.is_finite() && *w > 0.0) {
        out["width"] = num(width);
    }
    if !t.error.is_empty() {
        out["error_y"] = json!({
            "type": "data",
            "array": t.error.iter().map(|&e| num(e)).collect::<Vec<_>>(),
            "visible": true,
        });
    }
    out
}

fn heatmap(t: &HeatmapTrace, fig: &Figure) -> Value {
    let z: Vec<Value> =
        t.z.iter()
            .map(|row| Value::Array(row.iter().map(|c| c.map_or(Value::Null, num)).collect()))
            .collect();
    let mut out = Map::new();
    out.insert("type".into(), json!("heatmap"));
    out.insert("z".into(), Value::Array(z));
    // Category names along the axes; other axes place cells at 0, 1, 2, ….
    for (key, axis) in [("x", &fig.x), ("y", &fig.y)] {
        if !axis.categories.is_empty() {
            let names: Vec<String> = axis.categories.iter().map(|c| label(c)).collect();
            out.insert(key.into(), json!(names));
        }
    }
    out.insert("colorscale".into(), json!(colorscale(t.colorscale)));
    out.insert(
        "colorbar".into(),
        json!({ "title": { "text": label(&t.value_title) } }),
    );
    out.insert("hoverongaps".into(), json!(false));
    out.insert(
        "hovertemplate".into(),
        json!("x: %{x}<br>y: %{y}<br>value: %{z}<extra></extra>"),
    );
    if t.annotate {
        // Counts print whole; fractions (a normalised confusion matrix) to three significant
        // digits, where plotly would print seven.
        let whole =
            t.z.iter()
                .flatten()
                .flatten()
                .all(|v| v.fract() == 0.0 || !v.is_finite());
        let template = if whole { "%{z}" } else { "%{z:.3~r}" };
        out.insert("texttemplate".into(), json!(template));
    }
    Value::Object(out)
}

/// Records with a missing value (non-finite, on any axis or in the colour) are left out:
/// plotly.js draws a missing value as 0 (plotly.js issue 4341), which would show a wrong
/// value, and rejects `null` colours.
fn parallel(t: &ParallelTrace) -> Value {
    let records = t
        .dimensions
        .iter()
        .map(|d| d.values.len())
        .min()
        .unwrap_or(0);
    let colored = !t.color_values.is_empty() && t.color_values.len() >= records;
    let kept: Vec<usize> = (0..records)
        .filter(|&i| {
            t.dimensions.iter().all(|d| d.values[i].is_finite())
                && (!colored || t.color_values[i].is_finite())
        })
        .collect();
    let dimensions: Vec<Value> = t.dimensions.iter().map(|d| dimension(d, &kept)).collect();
    let line = if colored {
        json!({
            "color": kept.iter().map(|&i| num(t.color_values[i])).collect::<Vec<_>>(),
            "colorscale": colorscale(t.colorscale),
            "showscale": true,
            "colorbar": { "title": { "text": label(&t.color_title) } },
        })
    } else {
        json!({ "color": crate::figure::PALETTE[0] })
    };
    json!({ "type": "parcoords", "dimensions": dimensions, "line": line })
}

/// One axis over the `kept` records.
fn dimension(d: &Dimension, kept: &[usize]) -> Value {
    let values: Vec<f64> = kept.iter().map(|&i| d.values[i]).collect();
    let mut out = json!({
        "label": label(&d.label),
        "values": values.iter().map(|&v| num(v)).collect::<Vec<_>>(),
    });
    if d.categories.is_empty() {
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        // A constant axis has no span: plotly centres its value by itself.
        if lo < hi {
            out["range"] = json!([num(lo), num(hi)]);
        }
    } else {
        let n = d.categories.len();
        out["tickvals"] = json!((0..n).collect::<Vec<_>>());
        out["ticktext"] = json!(d.categories.iter().map(|c| label(c)).collect::<Vec<_>>());
        if n > 1 {
            out["range"] = json!([0, n - 1]);
        }
    }
    out
}

/// Viridis by name (plotly.js and plotly.py have the same); Blues as ColorBrewer's stops,
/// light to dark, which plotly.py means by "Blues": plotly.js's own "Blues" runs the other way,
/// from dark blue to grey.
fn colorscale(scale: ColorScale) -> Value {
    match scale {
        ColorScale::Viridis => json!("Viridis"),
        ColorScale::Blues => {
            let last = (super::BLUES.len() - 1) as f64;
            let stops: Vec<Value> = super::BLUES
                .iter()
                .enumerate()
                .map(|(i, c)| json!([num(i as f64 / last), c]))
                .collect();
            Value::Array(stops)
        }
    }
}

/// `#rrggbb` with an alpha as `rgba(r,g,b,a)`; any other colour string is passed on as it is.
pub(super) fn rgba(color: &str, alpha: f64) -> String {
    let hex = color.strip_prefix('#').filter(|h| h.len() == 6);
    let channel = |i: usize| hex.and_then(|h| u8::from_str_radix(h.get(i..i + 2)?, 16).ok());
    match (channel(0), channel(2), channel(4)) {
        (Some(r), Some(g), Some(b)) => format!("rgba({r},{g},{b},{alpha})"),
        _ => color.to_owned(),
    }
}

/// An opacity plotly accepts: clamped to `0..=1`, fully opaque when not a number.
fn unit(v: f64) -> f64 {
    if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// A size or width plotly accepts (`>= 0`), `default` when not a number.
fn positive(v: f64, default: f64) -> f64 {
    if v.is_finite() { v.max(0.0) } else { default }
}
