//! SVG renderer tests. `samples` (one figure per trace type and axis kind) is shared with the
//! raster tests.

use super::*;
use crate::figure::{
    Axis, BandTrace, BarTrace, ColorScale, Dimension, HeatmapTrace, LineTrace, MarkerTrace,
    ParallelTrace, RefLine, Scale, palette,
};
use crate::raster;

pub(crate) fn line_figure() -> Figure {
    let x: Vec<f64> = (0..200).map(f64::from).collect();
    let mut a: Vec<f64> = x.iter().map(|v| (v / 20.0).sin()).collect();
    a[100] = f64::NAN;
    let b: Vec<f64> = x.iter().map(|v| (v / 30.0).cos() * 0.5).collect();
    let mut f = Figure::new(
        "Loss <train> & \"val\"",
        Axis::linear("step"),
        Axis::linear("loss"),
    );
    f.traces.push(Trace::Line(LineTrace::new(
        "run-a",
        x.clone(),
        a,
        palette(0),
    )));
    let mut dashed = LineTrace::new("run-b (smoothed)", x.clone(), b, palette(1));
    dashed.dash = true;
    dashed.opacity = 0.6;
    f.traces.push(Trace::Line(dashed));
    f.traces.push(Trace::Band(BandTrace {
        name: "spread".into(),
        x: x.clone(),
        low: x.iter().map(|v| (v / 20.0).sin() - 0.2).collect(),
        high: x.iter().map(|v| (v / 20.0).sin() + 0.2).collect(),
        color: palette(0),
        opacity: 0.2,
        show_legend: true,
        group: None,
    }));
    f.lines.push(RefLine {
        y: 0.8,
        label: "threshold 0.8".into(),
        color: "#d62728".into(),
        dash: true,
    });
    f.notes
        .push("Series reduced to 696 pixel columns (M4).".into());
    f
}

fn markers_figure() -> Figure {
    let mut f = Figure::new(
        "Accuracy vs learning rate",
        Axis::log("lr"),
        Axis::linear("acc"),
    );
    let x: Vec<f64> = (0..40)
        .map(|i| 10f64.powf(-5.0 + f64::from(i) / 10.0))
        .collect();
    let y: Vec<f64> = (0..40).map(|i| 0.5 + 0.01 * f64::from(i)).collect();
    f.traces.push(Trace::Markers(MarkerTrace {
        name: "trials".into(),
        x: x.clone(),
        y: y.clone(),
        labels: vec![],
        color: palette(2),
        size: 8.0,
        ring: false,
        show_legend: true,
    }));
    f.traces.push(Trace::Markers(MarkerTrace {
        name: "breaching".into(),
        x: x[..5].to_vec(),
        y: y[..5].to_vec(),
        labels: vec![],
        color: "#d62728".into(),
        size: 12.0,
        ring: true,
        show_legend: true,
    }));
    f
}

fn bars_figure() -> Figure {
    let names: Vec<String> = [
        "baseline",
        "a much longer model name here",
        "tiny",
        "another-long-run-name-2024",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut f = Figure::new(
        "Final metrics",
        Axis::category("run", names),
        Axis::linear("value"),
    );
    for (k, name) in ["precision", "recall"].iter().enumerate() {
        f.traces.push(Trace::Bars(BarTrace {
            name: (*name).into(),
            x: vec![0.0, 1.0, 2.0, 3.0],
            y: vec![0.8 - 0.1 * k as f64, 0.6, 0.9, 0.7],
            error: vec![0.05, 0.02, 0.0, 0.1],
            color: palette(k),
            width: None,
            show_legend: true,
        }));
    }
    f
}

fn histogram_figure() -> Figure {
    let mut f = Figure::new("Latency", Axis::linear("ms"), Axis::linear("count"));
    f.traces.push(Trace::Bars(BarTrace {
        name: "latency".into(),
        x: (0..20).map(|i| 2.5 + 5.0 * f64::from(i)).collect(),
        y: (0..20).map(|i| f64::from((i * 7) % 13 + 1)).collect(),
        error: vec![],
        color: palette(3),
        width: Some(5.0),
        show_legend: false,
    }));
    f
}

pub(crate) fn heatmap_figure() -> Figure {
    let classes: Vec<String> = ["negative", "neutral", "positive"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut f = Figure::new(
        "Confusion matrix",
        Axis::category("predicted", classes.clone()),
        Axis::category("actual", classes),
    );
    f.traces.push(Trace::Heatmap(HeatmapTrace {
        z: vec![
            vec![Some(50.0), Some(3.0), Some(1.0)],
            vec![Some(4.0), Some(40.0), None],
            vec![Some(0.0), Some(6.0), Some(45.0)],
        ],
        colorscale: ColorScale::Blues,
        annotate: true,
        value_title: "count".into(),
    }));
    f
}

fn parallel_figure() -> Figure {
    let mut f = Figure::new("HPO trials", Axis::linear(""), Axis::linear(""));
    let n = 30;
    f.traces.push(Trace::Parallel(ParallelTrace {
        dimensions: vec![
            Dimension {
                label: "learning rate".into(),
                values: (0..n).map(|i| 0.001 * f64::from(i + 1)).collect(),
                categories: vec![],
            },
            Dimension {
                label: "optimizer".into(),
                values: (0..n).map(|i| f64::from(i % 3)).collect(),
                categories: vec!["adam".into(), "sgd".into(), "rmsprop".into()],
            },
            Dimension {
                label: "layers".into(),
                values: (0..n).map(|i| f64::from(2 + i % 5)).collect(),
                categories: vec![],
            },
        ],
        color_values: (0..n).map(|i| f64::from(i) / f64::from(n)).collect(),
        color_title: "accuracy".into(),
        colorscale: ColorScale::Viridis,
    }));
    f
}

fn time_figure() -> Figure {
    let start = crate::utc::midnight_ms(2024, 3, 10).unwrap() as f64 + 3_600_000.0;
    let x: Vec<f64> = (0..300).map(|i| start + f64::from(i) * 60_000.0).collect();
    let y: Vec<f64> = (0..300).map(|i| 10f64.powf(f64::from(i) / 100.0)).collect();
    let mut f = Figure::new(
        "GPU memory",
        Axis {
            scale: Scale::Time,
            ..Axis::linear("time (UTC)")
        },
        Axis::log("bytes"),
    );
    f.traces
        .push(Trace::Line(LineTrace::new("gpu0", x, y, palette(4))));
    f
}

fn crowded_figure() -> Figure {
    let names: Vec<String> = (0..30)
        .map(|i| format!("experiment-number-{i}-long"))
        .collect();
    let mut figure = Figure::new(
        "Thirty runs",
        Axis::category("run", names),
        Axis::linear("v"),
    );
    figure.traces.push(Trace::Bars(BarTrace {
        name: "v".into(),
        x: (0..30).map(f64::from).collect(),
        y: (0..30).map(|i| f64::from(i % 7 + 1)).collect(),
        error: vec![],
        color: palette(0),
        width: None,
        show_legend: false,
    }));
    figure
}

fn many_lines_figure() -> Figure {
    let mut figure = Figure::new("Forty runs", Axis::linear("x"), Axis::linear("y"));
    for i in 0..40 {
        let name = format!("run {i} with a rather long descriptive name");
        let y = vec![0.0, f64::from(i)];
        figure.traces.push(Trace::Line(LineTrace::new(
            name,
            vec![0.0, 1.0],
            y,
            palette(i as usize),
        )));
    }
    figure
}

/// One figure per trace type and axis kind.
pub(crate) fn samples() -> Vec<(&'static str, Figure)> {
    vec![
        ("line", line_figure()),
        ("markers", markers_figure()),
        ("bars", bars_figure()),
        ("histogram", histogram_figure()),
        ("heatmap", heatmap_figure()),
        ("parallel", parallel_figure()),
        ("time", time_figure()),
        ("categories", crowded_figure()),
        ("legend", many_lines_figure()),
    ]
}

/// Writes every sample as SVG, PNG and PDF into `$ETS_CHART_SAMPLES` for a person to look at:
/// `ETS_CHART_SAMPLES=target/chart-samples cargo test -p ets-charts write_samples -- --ignored`.
#[test]
#[ignore = "writes files for a visual check"]
fn write_samples() {
    let Ok(dir) = std::env::var("ETS_CHART_SAMPLES") else {
        panic!("set ETS_CHART_SAMPLES to a directory");
    };
    std::fs::create_dir_all(&dir).expect("create the samples directory");
    for (name, figure) in samples() {
        let svg = render(&figure);
        std::fs::write(format!("{dir}/{name}.svg"), &svg).expect("write svg");
        std::fs::write(
            format!("{dir}/{name}.png"),
            raster::png(&svg, 1.0).expect("png"),
        )
        .expect("write png");
        std::fs::write(format!("{dir}/{name}.pdf"), raster::pdf(&svg).expect("pdf"))
            .expect("write pdf");
    }
}

/// The `d` attribute of every `<path>` whose opening tag contains `marker`.
fn paths_with<'a>(svg: &'a str, marker: &str) -> Vec<&'a str> {
    svg.split("<path")
        .skip(1)
        .filter(|tag| tag[..tag.find("/>").unwrap_or(tag.len())].contains(marker))
        .filter_map(|tag| {
            let d = &tag[tag.find(" d=\"")? + 4..];
            Some(&d[..d.find('"')?])
        })
        .collect()
}

/// The subpaths of relative path data (`m x y dx dy … m dx dy …`) as absolute points.
fn subpaths(d: &str) -> Vec<Vec<(f64, f64)>> {
    let mut paths: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut numbers: Vec<f64> = Vec::new();
    let mut at = (0.0, 0.0);
    let mut flush = |numbers: &mut Vec<f64>, paths: &mut Vec<Vec<(f64, f64)>>| {
        let mut points = Vec::new();
        for pair in numbers.chunks_exact(2) {
            at = (at.0 + pair[0], at.1 + pair[1]);
            points.push(at);
        }
        if !points.is_empty() {
            paths.push(points);
        }
        numbers.clear();
    };
    for part in d.split('m') {
        flush(&mut numbers, &mut paths);
        let spaced = part.replace('-', " -");
        numbers.extend(
            spaced
                .split_whitespace()
                .map(|v| v.parse::<f64>().expect("a number")),
        );
    }
    flush(&mut numbers, &mut paths);
    paths
}

#[test]
fn every_sample_is_valid_svg_of_the_figure_size() {
    for (name, figure) in samples() {
        let svg = render(&figure);
        let tree = raster::parse(&svg).unwrap_or_else(|e| panic!("{name}: {e}\n{svg}"));
        assert_eq!(tree.size().width(), figure.width as f32, "{name}");
        assert_eq!(tree.size().height(), figure.height as f32, "{name}");
        assert!(tree.root().has_children(), "{name}");
    }
}

#[test]
fn text_is_escaped() {
    let mut figure = line_figure();
    figure.x.title = "a</text><script>".into();
    let svg = render(&figure);
    assert!(svg.contains("Loss &lt;train&gt; &amp; &quot;val&quot;"));
    assert!(svg.contains("a&lt;/text&gt;&lt;script&gt;"));
    assert!(!svg.contains("<script>") && !svg.contains("<train>"));
    raster::parse(&svg).expect("still valid");
}

#[test]
fn lines_map_their_x_extent_onto_the_plot_area_and_break_at_gaps() {
    let mut figure = Figure::new("t", Axis::linear("x"), Axis::linear("y"));
    let y = vec![1.0, 2.0, f64::NAN, 3.0, 4.0, 2.0];
    figure.traces.push(Trace::Line(LineTrace::new(
        "a",
        vec![10.0, 11.0, 12.0, 13.0, 14.0, 20.0],
        y,
        "#123456".into(),
    )));
    let area = plot_area(&figure);
    let svg = render(&figure);
    let d = paths_with(&svg, "stroke=\"#123456\"");
    assert_eq!(d.len(), 1);
    let pieces = subpaths(d[0]);
    assert_eq!(pieces.len(), 2, "the NaN splits the line: {}", d[0]);
    let close = |a: f64, b: f64| (a - b).abs() < 0.005;
    assert!(close(pieces[0][0].0, area.left), "x = 10 is the left edge");
    assert!(
        close(pieces[1][2].0, area.right()),
        "x = 20 is the right edge"
    );
    assert!(
        close(pieces[0][0].1, area.bottom() - 0.05 / 1.1 * area.height),
        "y = 1 just above the bottom"
    );
    assert_eq!(pieces[0].len(), 2, "two points before the gap");
    assert_eq!(pieces[1].len(), 3, "three after it");
}

#[test]
fn log_axes_break_lines_at_non_positive_values_and_label_decades() {
    let mut figure = Figure::new("t", Axis::linear("x"), Axis::log("y"));
    let y = vec![1.0, 10.0, 0.0, 100.0, 1000.0, -5.0, 10.0, 20.0];
    let x = (0..8).map(f64::from).collect();
    figure
        .traces
        .push(Trace::Line(LineTrace::new("a", x, y, "#123456".into())));
    let svg = render(&figure);
    let d = paths_with(&svg, "stroke=\"#123456\"");
    let lengths: Vec<usize> = subpaths(d[0]).iter().map(Vec::len).collect();
    assert_eq!(lengths, [2, 2, 2], "{}", d[0]);
    for n in ["0", "1", "2", "3"] {
        assert!(
            svg.contains(&format!(r#">10<tspan dy="-5" font-size="8">{n}</tspan>"#)),
            "10^{n}"
        );
    }
}

#[test]
fn the_legend_cuts_long_names_and_counts_what_does_not_fit() {
    let figure = many_lines_figure();
    let svg = render(&figure);
    let area = plot_area(&figure);
    let rows = ((area.height - 4.0) / 18.0).floor() as usize;
    assert!(rows < 40);
    assert!(
        svg.contains(&format!(">+{} more<", 40 - (rows - 1))),
        "{svg}"
    );
    let cut: Vec<&str> = svg
        .split(">run ")
        .skip(1)
        .filter(|t| t.contains("…"))
        .collect();
    assert_eq!(cut.len(), rows - 1, "every shown name is cut");
    assert!(
        cut.iter().all(|t| t.contains("name</text>")),
        "the end of the name is kept: {}",
        cut[0]
    );
    assert!(!svg.contains(&format!(">run {} with", rows - 1)));
}

#[test]
fn a_single_trace_has_no_legend_and_no_side_panel() {
    let mut figure = Figure::new("one", Axis::linear("x"), Axis::linear("y"));
    figure.traces.push(Trace::Line(LineTrace::new(
        "only",
        vec![0.0, 1.0],
        vec![0.0, 1.0],
        palette(0),
    )));
    assert!(!side_panel(&figure));
    assert!(!render(&figure).contains(">only<"));
    assert_eq!(
        plot_area(&figure).right(),
        f64::from(figure.width) - crate::layout::RIGHT_MARGIN
    );
}

#[test]
fn heatmap_cells_print_their_values_in_a_contrasting_colour() {
    let figure = heatmap_figure();
    let svg = render(&figure);
    // Eight cells with values (one is empty), each with its label.
    let rects = svg.matches("<rect").count();
    let (bands, others) = (64, 4);
    assert_eq!(
        rects,
        8 + bands + others,
        "cells, colour bar bands, background, clip, frame, bar outline"
    );
    assert!(
        svg.contains(r##"fill="#ffffff" text-anchor="middle">50</text>"##),
        "dark cell, white text"
    );
    assert!(
        svg.contains(r##"fill="#222222" text-anchor="middle">0</text>"##),
        "light cell, dark text"
    );
    assert!(svg.contains(">count</text>"), "colour bar title");
    assert!(svg.contains(">negative</text>") && svg.contains(">positive</text>"));
}

#[test]
fn a_reversed_y_range_puts_the_first_row_on_top() {
    let label_y = |svg: &str, label: &str| -> f64 {
        // The y tick labels come after the x ones.
        let at = svg.rfind(&format!(">{label}</text>")).expect("label");
        let tag = &svg[svg[..at].rfind("<text").expect("tag")..at];
        let y = &tag[tag.find(" y=\"").expect("y") + 4..];
        y[..y.find('"').expect("end")].parse().expect("number")
    };
    let mut figure = heatmap_figure();
    let svg = render(&figure);
    assert!(
        label_y(&svg, "negative") > label_y(&svg, "positive"),
        "row 0 at the bottom"
    );
    figure.y.range = Some((2.5, -0.5));
    let svg = render(&figure);
    assert!(
        label_y(&svg, "negative") < label_y(&svg, "positive"),
        "row 0 on top"
    );
}

#[test]
fn grouped_bars_sit_side_by_side_with_error_bars() {
    let figure = bars_figure();
    let svg = render(&figure);
    let bars: Vec<(f64, f64)> = svg
        .split("<rect x=\"")
        .skip(1)
        .filter_map(|r| {
            let x: f64 = r[..r.find('"')?].parse().ok()?;
            let w = &r[r.find("width=\"")? + 7..];
            Some((x, w[..w.find('"')?].parse().ok()?))
        })
        .filter(|&(x, w)| w < 200.0 && x < plot_area(&figure).right())
        .collect();
    assert_eq!(bars.len(), 8, "two traces of four bars");
    let (first, second) = (bars[0], bars[4]);
    assert!((first.1 - second.1).abs() < 0.02, "equal widths");
    assert!(
        (second.0 - (first.0 + first.1)).abs() < 0.02,
        "the second trace's bar right of the first's"
    );
    let errors = paths_with(&svg, "stroke=\"#333333\"");
    assert_eq!(errors.len(), 2);
    assert_eq!(
        errors[0].matches('V').count(),
        3,
        "three non-zero errors: {}",
        errors[0]
    );
}

#[test]
fn crowded_long_category_names_are_rotated_and_cut() {
    let svg = render(&crowded_figure());
    let labels: Vec<&str> = svg.split("transform=\"rotate(-30 ").skip(1).collect();
    assert_eq!(labels.len(), 30, "every category, slanted");
    assert!(
        labels
            .iter()
            .all(|l| l.contains(">exp") && l.contains("…") && l.contains("-long</text>")),
        "{}",
        labels[0]
    );
    raster::parse(&svg).expect("valid");
}

#[test]
fn time_axes_show_utc_times_with_the_date() {
    let svg = render(&time_figure());
    for label in [">01:00<", ">02:00<", ">Mar 10, 2024<"] {
        assert!(svg.contains(label), "{label}");
    }
}

#[test]
fn traces_are_clipped_to_the_plot_area() {
    let figure = line_figure();
    let area = plot_area(&figure);
    let svg = render(&figure);
    let id = format!(
        "ets-plot-{}-{}-{}-{}",
        area.left, area.top, area.width, area.height
    );
    assert!(svg.contains(&format!(
        r#"<clipPath id="{id}"><rect x="{}" y="{}" width="{}" height="{}"/></clipPath>"#,
        area.left, area.top, area.width, area.height
    )));
    assert!(svg.contains(&format!(r#"<g clip-path="url(#{id})">"#)));
    let clipped = &svg[svg.find("<g clip-path").expect("clip group")..];
    assert!(
        clipped.find("stroke=\"#636efa\"").expect("the line") < clipped.find("</g>").expect("end")
    );
}

#[test]
fn reference_lines_and_notes_are_drawn() {
    let figure = line_figure();
    let svg = render(&figure);
    let area = plot_area(&figure);
    let d = paths_with(&svg, "stroke=\"#d62728\"");
    assert_eq!(d.len(), 1);
    assert!(d[0].ends_with(&format!("H{}", area.right())));
    assert!(svg.contains(">threshold 0.8</text>"));
    let note_y = area.bottom() + crate::layout::BOTTOM_MARGIN + 12.0;
    assert!(svg.contains(&format!(r#"<text x="8" y="{note_y}""#)));
    assert!(svg.contains(">Series reduced to 696 pixel columns (M4).</text>"));
}

#[test]
fn parallel_coordinates_draw_a_line_per_record_and_an_axis_per_dimension() {
    let figure = parallel_figure();
    let svg = render(&figure);
    assert_eq!(
        svg.matches("stroke-opacity=\"0.7\"").count(),
        1,
        "one record group"
    );
    let records = svg
        .split("stroke-linejoin=\"round\">")
        .nth(1)
        .expect("records");
    let records = &records[..records.find("</g>").expect("end")];
    assert_eq!(records.matches("<path").count(), 30);
    for label in [
        ">learning rate<",
        ">optimizer<",
        ">layers<",
        ">rmsprop<",
        ">adam<",
        ">accuracy<",
    ] {
        assert!(svg.contains(label), "{label}");
    }
    // Viridis: the lowest record is dark purple, the highest near yellow.
    assert!(records.contains("stroke=\"#440154\""));
}

#[test]
fn markers_are_circles_and_rings_are_hollow() {
    let svg = render(&markers_figure());
    assert_eq!(
        svg.matches("<circle").count(),
        40 + 5 + 2,
        "points and two legend swatches"
    );
    assert!(svg.contains(r##"<g fill="none" stroke-width="1.5" stroke="#d62728">"##));
}

/// `render_parts` cuts the line traces out of `render`'s document, in order, and nothing
/// else: figures without lines are one part equal to `render`.
#[test]
fn parts_cut_out_the_line_traces_in_order() {
    for (name, figure) in samples() {
        let parts = render_parts(&figure);
        let lines: Vec<usize> = figure
            .traces
            .iter()
            .enumerate()
            .filter(|(_, t)| matches!(t, Trace::Line(_)))
            .map(|(i, _)| i)
            .collect();
        let parallel = figure
            .traces
            .iter()
            .any(|t| matches!(t, Trace::Parallel(_)));
        if lines.is_empty() || parallel {
            assert!(
                matches!(&parts[..], [Part::Svg(svg)] if *svg == render(&figure)),
                "{name}"
            );
            continue;
        }
        let mut lifted: Vec<usize> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            match part {
                Part::Svg(svg) => {
                    assert!(!svg.contains("stroke-linejoin"), "{name}: no line left");
                    assert_eq!(svg.matches("<svg").count(), 1, "{name}");
                    assert!(
                        svg.contains("<clipPath") && svg.ends_with("</svg>\n"),
                        "{name}"
                    );
                    let background = r##"<rect width="100%" height="100%" fill="#ffffff"/>"##;
                    assert_eq!(svg.contains(background), i == 0, "{name}");
                    raster::parse(svg).expect(name);
                }
                Part::Lines { traces, map } => {
                    assert!(i % 2 == 1, "{name}: lines between SVG parts");
                    assert_eq!(map.area, plot_area(&figure));
                    lifted.extend(traces);
                }
            }
        }
        assert_eq!(lifted, lines, "{name}");
    }
}

/// A band between two lines splits them into two runs; the band stays in its SVG part.
#[test]
fn parts_keep_other_traces_between_lines() {
    let mut figure = line_figure();
    figure.traces.swap(1, 2); // line, band, dashed line
    let parts = render_parts(&figure);
    assert_eq!(parts.len(), 5);
    assert!(matches!(&parts[1], Part::Lines { traces, .. } if traces == &[0]));
    assert!(matches!(&parts[2], Part::Svg(svg) if svg.contains("fill-opacity=\"0.2\"")));
    assert!(matches!(&parts[3], Part::Lines { traces, .. } if traces == &[2]));
    let Part::Lines { map, .. } = &parts[1] else {
        unreachable!()
    };
    let area = plot_area(&figure);
    let (x, y) = map.px(0.0, 0.0).expect("drawable");
    assert!((x - area.left).abs() < 1e-9 && y > area.top && y < area.bottom());
    assert_eq!(map.px(0.0, f64::NAN), None);
}
