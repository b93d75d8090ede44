use serde_json::{Value, json};

use super::*;
use crate::figure::{
    BandTrace, BarTrace, ColorScale, Dimension, HeatmapTrace, LineTrace, MarkerTrace,
    ParallelTrace, RefLine,
};

fn fig_with(traces: Vec<Trace>) -> Figure {
    let mut fig = Figure::new("t", Axis::linear("x"), Axis::linear("y"));
    fig.traces = traces;
    fig
}

fn line(name: &str, y: Vec<f64>) -> LineTrace {
    let x = (0..y.len()).map(|i| i as f64).collect();
    LineTrace::new(name, x, y, "#636efa".to_owned())
}

fn bar(name: &str) -> BarTrace {
    BarTrace {
        name: name.to_owned(),
        x: vec![0.0, 1.0],
        y: vec![3.0, f64::NAN],
        error: Vec::new(),
        color: "#EF553B".to_owned(),
        width: None,
        show_legend: true,
    }
}

#[test]
fn line_is_a_scatter_in_lines_mode_with_null_gaps() {
    let mut t = line("run-1", vec![1.0, f64::NAN, f64::INFINITY, 4.0]);
    t.dash = true;
    t.width = 2.5;
    t.opacity = 0.25;
    t.group = Some("g1".into());
    let out = figure_json(&fig_with(vec![Trace::Line(t)]));
    let trace = &out["data"][0];
    assert_eq!(trace["type"], "scatter");
    assert_eq!(trace["mode"], "lines");
    assert_eq!(trace["name"], "run-1");
    assert_eq!(trace["x"], json!([0.0, 1.0, 2.0, 3.0]));
    assert_eq!(trace["y"], json!([1.0, null, null, 4.0]));
    assert_eq!(trace["connectgaps"], false);
    assert_eq!(
        trace["line"],
        json!({"color": "#636efa", "width": 2.5, "dash": "dash"})
    );
    assert_eq!(trace["opacity"], 0.25);
    assert_eq!(trace["legendgroup"], "g1");
    assert_eq!(trace["showlegend"], true);
}

#[test]
fn out_of_range_styles_are_clamped_to_what_plotly_accepts() {
    let mut t = line("a", vec![1.0]);
    t.opacity = 3.0;
    t.width = f64::NAN;
    let mut hidden = line("", vec![1.0]);
    hidden.opacity = f64::NAN;
    let out = figure_json(&fig_with(vec![Trace::Line(t), Trace::Line(hidden)]));
    assert_eq!(out["data"][0]["opacity"], 1.0);
    assert_eq!(out["data"][0]["line"]["width"], 1.5);
    assert_eq!(out["data"][1]["opacity"], 1.0);
    // An unnamed trace has no legend entry even when asked for one.
    assert_eq!(out["data"][1]["showlegend"], false);
    assert!(out["data"][1].get("legendgroup").is_none());
}

#[test]
fn band_is_lower_then_filled_upper_in_one_legend_group() {
    let band = BandTrace {
        name: "min–max".into(),
        x: vec![0.0, 1.0, 2.0],
        low: vec![1.0, f64::NAN, 1.0],
        high: vec![2.0, 3.0, 2.0],
        color: "#00cc96".into(),
        opacity: 0.2,
        show_legend: true,
        group: None,
    };
    let out = figure_json(&fig_with(vec![Trace::Band(band)]));
    let data = out["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let (lower, upper) = (&data[0], &data[1]);
    assert_eq!(lower["y"], json!([1.0, null, 1.0]));
    assert_eq!(upper["y"], json!([2.0, 3.0, 2.0]));
    assert!(lower.get("fill").is_none());
    assert_eq!(upper["fill"], "tonexty");
    assert_eq!(upper["fillcolor"], "rgba(0,204,150,0.2)");
    for edge in [lower, upper] {
        assert_eq!(edge["type"], "scatter");
        assert_eq!(edge["line"]["width"], 0);
        assert_eq!(edge["hoverinfo"], "skip");
        assert_eq!(edge["legendgroup"], lower["legendgroup"]);
    }
    assert!(lower["legendgroup"].as_str().unwrap().contains("min–max"));
    assert_eq!(lower["showlegend"], false);
    assert_eq!(upper["showlegend"], true);
    assert_eq!(upper["name"], "min–max");
}

#[test]
fn band_joins_the_group_of_its_line() {
    let band = BandTrace {
        name: "g".into(),
        x: vec![0.0],
        low: vec![0.0],
        high: vec![1.0],
        color: "#00cc96".into(),
        opacity: 0.3,
        show_legend: false,
        group: Some("group-a".into()),
    };
    let out = figure_json(&fig_with(vec![Trace::Band(band)]));
    assert_eq!(out["data"][0]["legendgroup"], "group-a");
    assert_eq!(out["data"][1]["legendgroup"], "group-a");
    assert_eq!(out["data"][1]["showlegend"], false);
}

#[test]
fn rgba_reads_hex_colours_and_passes_others_on() {
    assert_eq!(traces::rgba("#EF553B", 0.5), "rgba(239,85,59,0.5)");
    assert_eq!(traces::rgba("#fff", 0.5), "#fff");
    assert_eq!(traces::rgba("#zz0000", 0.5), "#zz0000");
    assert_eq!(traces::rgba("red", 1.0), "red");
}

#[test]
fn markers_carry_labels_and_rings_are_open_circles() {
    let marker = |ring: bool, labels: Vec<String>| MarkerTrace {
        name: "runs".into(),
        x: vec![1.0, 2.0],
        y: vec![0.5, f64::NAN],
        labels,
        color: "#ab63fa".into(),
        size: 9.0,
        ring,
        show_legend: true,
    };
    let out = figure_json(&fig_with(vec![
        Trace::Markers(marker(false, vec!["run <a>".into(), "run b".into()])),
        Trace::Markers(marker(true, Vec::new())),
    ]));
    let (filled, ring) = (&out["data"][0], &out["data"][1]);
    assert_eq!(filled["mode"], "markers");
    assert_eq!(filled["y"], json!([0.5, null]));
    assert_eq!(filled["marker"]["symbol"], "circle");
    assert_eq!(filled["marker"]["size"], 9.0);
    assert_eq!(filled["text"], json!(["run &lt;a&gt;", "run b"]));
    assert!(
        filled["hovertemplate"]
            .as_str()
            .unwrap()
            .contains("%{text}")
    );
    assert_eq!(ring["marker"]["symbol"], "circle-open");
    assert_eq!(ring["marker"]["color"], "#ab63fa");
    assert!(ring.get("text").is_none() && ring.get("hovertemplate").is_none());
}

#[test]
fn several_bar_traces_are_grouped_one_is_not() {
    let one = figure_json(&fig_with(vec![Trace::Bars(bar("a"))]));
    assert!(one["layout"].get("barmode").is_none());
    let two = figure_json(&fig_with(vec![
        Trace::Bars(bar("a")),
        Trace::Bars(bar("b")),
    ]));
    assert_eq!(two["layout"]["barmode"], "group");
    let b = &two["data"][0];
    assert_eq!(b["type"], "bar");
    assert_eq!(b["y"], json!([3.0, null]));
    assert_eq!(b["marker"]["color"], "#EF553B");
    assert!(b.get("width").is_none() && b.get("error_y").is_none());
}

#[test]
fn histogram_bars_have_a_width_and_error_bars_are_data_arrays() {
    let mut b = bar("h");
    b.width = Some(0.25);
    b.error = vec![0.1, f64::NAN];
    let out = figure_json(&fig_with(vec![Trace::Bars(b)]));
    let b = &out["data"][0];
    assert_eq!(b["width"], 0.25);
    assert_eq!(
        b["error_y"],
        json!({"type": "data", "array": [0.1, null], "visible": true})
    );
}

#[test]
fn category_indices_become_names_in_the_axis_order() {
    let cats = vec!["adam".to_owned(), "sgd".to_owned(), "a<b".to_owned()];
    let mut fig = Figure::new("c", Axis::category("opt", cats), Axis::linear("acc"));
    let mut t = line("r", vec![1.0; 6]);
    t.x = vec![2.0, 0.0, 1.0, 3.0, 0.5, -1.0];
    fig.traces.push(Trace::Line(t));
    let out = figure_json(&fig);
    assert_eq!(
        out["data"][0]["x"],
        json!(["a&lt;b", "adam", "sgd", null, null, null])
    );
    let xaxis = &out["layout"]["xaxis"];
    assert_eq!(xaxis["type"], "category");
    assert_eq!(xaxis["categoryorder"], "array");
    assert_eq!(xaxis["categoryarray"], json!(["adam", "sgd", "a&lt;b"]));
    assert_eq!(out["layout"]["yaxis"]["type"], "linear");
    assert!(out["layout"]["yaxis"].get("categoryarray").is_none());
}

#[test]
fn log_axes_take_log10_ranges_and_drop_values_they_cannot_draw() {
    let mut y = Axis::log("lr");
    y.range = Some((1e-4, 10.0));
    let mut fig = Figure::new("l", Axis::linear("step"), y);
    fig.traces
        .push(Trace::Line(line("r", vec![0.01, 0.0, -1.0, 100.0])));
    let out = figure_json(&fig);
    let yaxis = &out["layout"]["yaxis"];
    assert_eq!(yaxis["type"], "log");
    assert_eq!(yaxis["range"], json!([-4.0, 1.0]));
    assert_eq!(yaxis["autorange"], false);
    assert_eq!(out["data"][0]["y"], json!([0.01, null, null, 100.0]));

    // A log range reaching zero cannot be drawn: plotly fits the data instead.
    fig.y.range = Some((0.0, 10.0));
    assert!(figure_json(&fig)["layout"]["yaxis"].get("range").is_none());
}

#[test]
fn linear_and_category_ranges_pass_as_they_are() {
    let mut fig = Figure::new(
        "r",
        Axis::linear("x"),
        Axis::category("y", vec!["a".into()]),
    );
    fig.x.range = Some((-1.5, 3.0));
    fig.y.range = Some((2.5, -0.5));
    fig.traces.push(Trace::Line(line("r", vec![0.0])));
    let out = figure_json(&fig);
    assert_eq!(out["layout"]["xaxis"]["range"], json!([-1.5, 3.0]));
    assert_eq!(out["layout"]["yaxis"]["range"], json!([2.5, -0.5]));
    fig.x.range = Some((f64::NAN, 1.0));
    assert!(figure_json(&fig)["layout"]["xaxis"].get("range").is_none());
}

#[test]
fn time_values_become_utc_date_strings() {
    assert_eq!(date(1_714_521_600_000.0), "2024-05-01 00:00:00.000");
    assert_eq!(
        date(951_782_400_000.0 + 3_723_004.0),
        "2000-02-29 01:02:03.004"
    );
    assert_eq!(date(-1.0), "1969-12-31 23:59:59.999");
    assert_eq!(date(0.0), "1970-01-01 00:00:00.000");
    assert_eq!(date(253_402_300_799_999.0), "9999-12-31 23:59:59.999");
    assert_eq!(date(253_402_300_800_000.0), Value::Null);
    assert_eq!(date(f64::NAN), Value::Null);

    let x = Axis {
        scale: Scale::Time,
        range: Some((1_714_521_600_000.0, 1_714_525_200_000.0)),
        ..Axis::linear("time")
    };
    let mut fig = Figure::new("t", x, Axis::linear("y"));
    let mut t = line("r", vec![1.0, 2.0]);
    t.x = vec![1_714_521_600_000.0, f64::NAN];
    fig.traces.push(Trace::Line(t));
    let out = figure_json(&fig);
    assert_eq!(out["layout"]["xaxis"]["type"], "date");
    assert_eq!(
        out["layout"]["xaxis"]["range"],
        json!(["2024-05-01 00:00:00.000", "2024-05-01 01:00:00.000"])
    );
    assert_eq!(
        out["data"][0]["x"],
        json!(["2024-05-01 00:00:00.000", null])
    );
}

#[test]
fn heatmap_has_category_names_null_cells_and_annotations() {
    let mut fig = Figure::new(
        "cm",
        Axis::category("predicted", vec!["a".into(), "b".into()]),
        Axis::category("actual", vec!["a".into(), "b".into()]),
    );
    fig.traces.push(Trace::Heatmap(HeatmapTrace {
        z: vec![vec![Some(5.0), None], vec![Some(f64::NAN), Some(7.0)]],
        colorscale: ColorScale::Blues,
        annotate: true,
        value_title: "count".into(),
    }));
    let out = figure_json(&fig);
    let h = &out["data"][0];
    assert_eq!(h["type"], "heatmap");
    assert_eq!(h["x"], json!(["a", "b"]));
    assert_eq!(h["y"], json!(["a", "b"]));
    assert_eq!(h["z"], json!([[5.0, null], [null, 7.0]]));
    // Light to dark, as plotly.py reads "Blues" (plotly.js's "Blues" is dark to grey).
    let stops = h["colorscale"].as_array().unwrap();
    assert_eq!(stops.len(), BLUES.len());
    assert_eq!(stops[0], json!([0.0, "rgb(247,251,255)"]));
    assert_eq!(stops[8], json!([1.0, "rgb(8,48,107)"]));
    assert_eq!(h["texttemplate"], "%{z}");
    assert_eq!(h["colorbar"]["title"]["text"], "count");

    let Trace::Heatmap(t) = &mut fig.traces[0] else {
        unreachable!()
    };
    t.z[0][0] = Some(0.8333333333333334);
    let out = figure_json(&fig);
    assert_eq!(out["data"][0]["texttemplate"], "%{z:.3~r}");
    let Trace::Heatmap(t) = &mut fig.traces[0] else {
        unreachable!()
    };
    t.annotate = false;
    t.colorscale = ColorScale::Viridis;
    let out = figure_json(&fig);
    assert!(out["data"][0].get("texttemplate").is_none());
    assert_eq!(out["data"][0]["colorscale"], "Viridis");
}

#[test]
fn parallel_coordinates_have_ranges_ticks_and_a_colour_scale() {
    let mut fig = Figure::new("hpo", Axis::linear("x"), Axis::linear("y"));
    fig.traces.push(Trace::Parallel(ParallelTrace {
        dimensions: vec![
            Dimension {
                label: "lr".into(),
                values: vec![0.1, f64::NAN, 0.001, 0.01, 0.05],
                categories: Vec::new(),
            },
            Dimension {
                label: "optimizer".into(),
                values: vec![0.0, 1.0, 2.0, 1.0, 0.0],
                categories: vec!["adam".into(), "sgd".into(), "rms".into()],
            },
            Dimension {
                label: "constant".into(),
                values: vec![4.0, 4.0, 4.0, 4.0, 4.0],
                categories: Vec::new(),
            },
        ],
        color_values: vec![0.9, 0.8, 0.7, f64::NAN, 0.6],
        color_title: "acc".into(),
        colorscale: ColorScale::Viridis,
    }));
    let out = figure_json(&fig);
    let p = &out["data"][0];
    assert_eq!(p["type"], "parcoords");
    let dims = p["dimensions"].as_array().unwrap();
    // Records 1 (no lr) and 3 (no colour value) are left out everywhere.
    assert_eq!(dims[0]["label"], "lr");
    assert_eq!(dims[0]["values"], json!([0.1, 0.001, 0.05]));
    assert_eq!(dims[0]["range"], json!([0.001, 0.1]));
    assert_eq!(dims[1]["values"], json!([0.0, 2.0, 0.0]));
    assert_eq!(dims[1]["tickvals"], json!([0, 1, 2]));
    assert_eq!(dims[1]["ticktext"], json!(["adam", "sgd", "rms"]));
    assert_eq!(dims[1]["range"], json!([0, 2]));
    assert!(dims[2].get("range").is_none());
    assert_eq!(p["line"]["color"], json!([0.9, 0.7, 0.6]));
    assert_eq!(p["line"]["colorscale"], "Viridis");
    assert_eq!(p["line"]["showscale"], true);
    assert_eq!(p["line"]["colorbar"]["title"]["text"], "acc");
    // No empty cartesian plot under the parallel axes.
    assert!(out["layout"].get("xaxis").is_none() && out["layout"].get("yaxis").is_none());
    // Room above the plot for the axis labels and the title.
    assert!(out["layout"]["margin"]["t"].as_f64().unwrap() >= 100.0);
}

#[test]
fn parallel_coordinates_without_colour_values_use_one_colour() {
    let mut fig = Figure::new("hpo", Axis::linear("x"), Axis::linear("y"));
    fig.traces.push(Trace::Parallel(ParallelTrace {
        dimensions: vec![Dimension {
            label: "a".into(),
            values: vec![1.0, f64::NAN, 2.0],
            categories: Vec::new(),
        }],
        color_values: Vec::new(),
        color_title: String::new(),
        colorscale: ColorScale::Viridis,
    }));
    let out = figure_json(&fig);
    assert_eq!(
        out["data"][0]["line"],
        json!({"color": crate::figure::PALETTE[0]})
    );
    assert_eq!(out["data"][0]["dimensions"][0]["values"], json!([1.0, 2.0]));
}

#[test]
fn reference_lines_are_shapes_with_a_label() {
    let mut fig = Figure::new("r", Axis::linear("x"), Axis::log("y"));
    fig.traces.push(Trace::Line(line("r", vec![1.0, 10.0])));
    fig.lines.push(RefLine {
        y: 100.0,
        label: "max < 100".into(),
        color: "#b00020".into(),
        dash: true,
    });
    let out = figure_json(&fig);
    let shape = &out["layout"]["shapes"][0];
    assert_eq!(shape["type"], "line");
    assert_eq!(shape["xref"], "paper");
    assert_eq!((&shape["x0"], &shape["x1"]), (&json!(0), &json!(1)));
    assert_eq!(shape["yref"], "y");
    // Shapes take data values on a log axis, annotations log10 of them.
    assert_eq!((&shape["y0"], &shape["y1"]), (&json!(100.0), &json!(100.0)));
    assert_eq!(shape["line"]["dash"], "dash");
    assert_eq!(shape["line"]["color"], "#b00020");
    let label = &out["layout"]["annotations"][0];
    assert_eq!(label["text"], "max &lt; 100");
    assert_eq!(label["y"], 2.0);
    assert_eq!(label["yref"], "y");
    assert_eq!(label["showarrow"], false);

    fig.y = Axis::linear("y");
    let out = figure_json(&fig);
    assert_eq!(out["layout"]["annotations"][0]["y"], 100.0);
}

#[test]
fn notes_sit_under_the_plot_with_room_for_each() {
    let mut fig = fig_with(vec![Trace::Line(line("r", vec![1.0]))]);
    let bottom = |fig: &Figure| figure_json(fig)["layout"]["margin"]["b"].as_f64().unwrap();
    let without = bottom(&fig);
    assert!(figure_json(&fig)["layout"].get("annotations").is_none());
    fig.notes = vec!["reduced with M4".into(), "not a medical device".into()];
    let out = figure_json(&fig);
    let notes = out["layout"]["annotations"].as_array().unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0]["text"], "reduced with M4");
    assert_eq!(notes[1]["text"], "not a medical device");
    for n in notes {
        assert_eq!(n["yref"], "paper");
        assert_eq!(n["yanchor"], "top");
        assert_eq!(n["showarrow"], false);
    }
    let (y0, y1) = (
        notes[0]["yshift"].as_f64().unwrap(),
        notes[1]["yshift"].as_f64().unwrap(),
    );
    assert!(y0 < 0.0 && y1 < y0, "each note below the last: {y0}, {y1}");
    assert!(bottom(&fig) >= without + 2.0 * NOTE_LINE);
    // The lowest note fits inside the bottom margin.
    assert!(-y1 + NOTE_LINE <= bottom(&fig));
}

#[test]
fn layout_has_title_size_legend_and_escaped_labels() {
    let mut fig = fig_with(vec![
        Trace::Line(line("a", vec![1.0])),
        Trace::Line(line("b & c", vec![2.0])),
    ]);
    fig.title = "<b>loss</b> & more".into();
    fig.x.title = "step <n>".into();
    fig.width = 640;
    fig.height = 480;
    let out = figure_json(&fig);
    let layout = &out["layout"];
    assert_eq!(
        layout["title"]["text"],
        "&lt;b&gt;loss&lt;/b&gt; &amp; more"
    );
    assert_eq!(layout["xaxis"]["title"]["text"], "step &lt;n&gt;");
    assert_eq!(layout["width"], 640);
    assert_eq!(layout["height"], 480);
    assert_eq!(layout["showlegend"], true);
    assert_eq!(out["data"][1]["name"], "b &amp; c");
    fig.traces.truncate(1);
    assert_eq!(figure_json(&fig)["layout"]["showlegend"], false);
}

#[test]
fn many_points_switch_every_scatter_trace_to_webgl() {
    let band = |n: usize| BandTrace {
        name: "b".into(),
        x: vec![0.0; n],
        low: vec![0.0; n],
        high: vec![1.0; n],
        color: "#00cc96".into(),
        opacity: 0.2,
        show_legend: true,
        group: None,
    };
    let small = fig_with(vec![
        Trace::Line(line("a", vec![1.0; WEBGL_MIN_POINTS - 200])),
        Trace::Band(band(100)),
        Trace::Bars(bar("c")),
    ]);
    let types = |fig: &Figure| -> Vec<Value> {
        figure_json(fig)["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["type"].clone())
            .collect()
    };
    assert_eq!(
        types(&small),
        json!(["scatter", "scatter", "scatter", "bar"])
            .as_array()
            .unwrap()
            .clone()
    );
    let mut big = small.clone();
    big.traces.push(Trace::Line(line("d", vec![1.0])));
    assert_eq!(
        types(&big),
        json!(["scattergl", "scattergl", "scattergl", "bar", "scattergl"])
            .as_array()
            .unwrap()
            .clone()
    );
}

#[test]
fn json_never_holds_non_finite_numbers() {
    let mut fig = fig_with(vec![Trace::Line(line(
        "r",
        vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.25],
    ))]);
    fig.x.range = Some((f64::NEG_INFINITY, f64::INFINITY));
    fig.lines.push(RefLine {
        y: f64::NAN,
        label: "missing".into(),
        color: "#000000".into(),
        dash: false,
    });
    let text = serde_json::to_string(&figure_json(&fig)).unwrap();
    for bad in ["NaN", "Infinity"] {
        assert!(!text.contains(bad), "{bad} in {text}");
    }
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back["data"][0]["y"], json!([null, null, null, 0.25]));
    assert_eq!(back["layout"]["shapes"][0]["y0"], Value::Null);
}

#[test]
fn numbers_are_written_shortest_round_trip() {
    let fig = fig_with(vec![Trace::Line(line("r", vec![0.1, 1.0 / 3.0, 1e21]))]);
    let text = serde_json::to_string(&figure_json(&fig)["data"][0]["y"]).unwrap();
    assert_eq!(text, "[0.1,0.3333333333333333,1e+21]");
}

/// The numbers of a typed array (`{"dtype", "bdata"}`), as plotly.js reads them.
fn decode_typed(v: &Value) -> (String, Vec<f64>) {
    let dtype = v["dtype"].as_str().expect("a dtype").to_owned();
    let bytes = BASE64
        .decode(v["bdata"].as_str().expect("bdata"))
        .expect("base64");
    let values = match dtype.as_str() {
        "i4" => bytes
            .chunks_exact(4)
            .map(|c| f64::from(i32::from_le_bytes(c.try_into().unwrap())))
            .collect(),
        "f4" => bytes
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
            .collect(),
        "f8" => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        other => panic!("unexpected dtype {other}"),
    };
    (dtype, values)
}

#[test]
fn long_columns_are_exact_typed_arrays_in_the_smallest_type() {
    let n = TYPED_ARRAY_MIN;
    let doubles: Vec<f64> = (0..n).map(|i| 0.1 + i as f64 / 3.0).collect();
    let singles: Vec<f64> = (0..n).map(|i| f64::from(i as f32 * 0.25 + 0.1)).collect();
    let out = figure_json(&fig_with(vec![
        Trace::Line(line("doubles", doubles.clone())),
        Trace::Line(line("singles", singles.clone())),
    ]));
    let (x_type, x) = decode_typed(&out["data"][0]["x"]);
    assert_eq!(x_type, "i4", "steps are integers");
    assert_eq!(x, (0..n).map(|i| i as f64).collect::<Vec<_>>());
    assert_eq!(
        decode_typed(&out["data"][0]["y"]),
        ("f8".to_owned(), doubles)
    );
    assert_eq!(
        decode_typed(&out["data"][1]["y"]),
        ("f4".to_owned(), singles),
        "values a float32 holds exactly take 4 bytes"
    );
}

#[test]
fn typed_arrays_only_where_every_value_is_a_drawable_number() {
    let n = TYPED_ARRAY_MIN;
    let mut gappy: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
    gappy[7] = f64::NAN;
    let short = figure_json(&fig_with(vec![Trace::Line(line("short", vec![1.5; 10]))]));
    assert!(short["data"][0]["y"].is_array(), "short columns stay lists");
    let out = figure_json(&fig_with(vec![Trace::Line(line("gap", gappy))]));
    let y = &out["data"][0]["y"];
    assert!(
        y.is_array() && y[7].is_null(),
        "a gap needs a null: {}",
        y[6]
    );
    assert!(out["data"][0]["x"]["bdata"].is_string(), "x has no gap");

    let mut log = Figure::new("t", Axis::linear("x"), Axis::log("y"));
    let mut values: Vec<f64> = (1..=n).map(|i| i as f64).collect();
    log.traces = vec![Trace::Line(line("log", values.clone()))];
    assert!(figure_json(&log)["data"][0]["y"]["bdata"].is_string());
    values[3] = 0.0;
    log.traces = vec![Trace::Line(line("log", values))];
    assert!(
        figure_json(&log)["data"][0]["y"][3].is_null(),
        "zero cannot be drawn on a log axis"
    );
}
