use super::*;
use crate::build::testutil::{Fixture, points, run, with_series};
use crate::figure::BandTrace;
use crate::spec::{Band, Breach, ChartKind, GroupAggregate};

fn line_spec(metrics: &[&str]) -> ChartSpec {
    let mut spec = ChartSpec::new(ChartKind::Line);
    spec.metrics = metrics.iter().map(|m| m.to_string()).collect();
    spec
}

fn lines(figure: &Figure) -> Vec<&LineTrace> {
    figure
        .traces
        .iter()
        .filter_map(|t| match t {
            Trace::Line(l) => Some(l),
            _ => None,
        })
        .collect()
}

/// Pushes every read of the plan from `series(run, key)` and finishes it, with the x range
/// computed as a caller would.
fn draw(fixture: &Fixture, series: impl Fn(usize, &str) -> Vec<MetricPoint>) -> Figure {
    let input = fixture.input();
    let reads = series_reads(input.spec, input.runs);
    let extent = if input.spec.x_axis == XAxis::Metric {
        x_extent_from_summaries(input.spec, input.runs)
    } else {
        let mut extent = None;
        for r in &reads {
            extend_x_extent(
                &mut extent,
                input.spec,
                &input.runs[r.run],
                &series(r.run, &r.key),
            );
        }
        extent
    };
    let mut plan = LinePlan::new(&input, extent);
    for (i, r) in reads.iter().enumerate() {
        plan.push(i, &series(r.run, &r.key));
    }
    plan.finish()
}

#[test]
fn reads_list_only_keys_runs_have_with_the_x_metric_first() {
    let p = points(&[(0, 1.0)]);
    let a = with_series(with_series(run("a"), "loss", &p), "acc", &p);
    let b = with_series(run("b"), "acc", &p);
    let c = run("c");
    let runs = vec![a, b, c];
    let reads = series_reads(&line_spec(&["loss", "acc", "loss"]), &runs);
    let got: Vec<(usize, &str)> = reads.iter().map(|r| (r.run, r.key.as_str())).collect();
    assert_eq!(got, [(0, "loss"), (0, "acc"), (1, "acc")]);

    let mut spec = line_spec(&["acc"]);
    spec.x_axis = XAxis::Metric;
    spec.x_metric = Some("loss".into());
    let reads = series_reads(&spec, &runs);
    let got: Vec<(usize, &str)> = reads.iter().map(|r| (r.run, r.key.as_str())).collect();
    assert_eq!(got, [(0, "loss"), (0, "acc")], "run b has no x metric");
}

#[test]
fn m4_inside_the_plan_keeps_a_spike_and_counts_the_points() {
    let n: i64 = 100_000;
    let series: Vec<(i64, f64)> = (0..n)
        .map(|s| {
            (
                s,
                if s == 31_337 {
                    50.0
                } else {
                    (s as f64 / 700.0).sin()
                },
            )
        })
        .collect();
    let fixture = Fixture::new(
        line_spec(&["loss"]),
        vec![with_series(run("a"), "loss", &points(&series))],
    );
    let figure = draw(&fixture, |_, _| points(&series));
    let traces = lines(&figure);
    assert_eq!(traces.len(), 1);
    let t = traces[0];
    assert_eq!(t.total_points, n as u64);
    // No legend: the plot is 900 − 80 − 24 = 796 columns wide, at most 4 points each.
    assert!(t.x.len() <= 4 * 796, "{}", t.x.len());
    assert!(t.x.len() > 796);
    let spike =
        t.y.iter()
            .position(|&y| y == 50.0)
            .expect("the spike survives");
    assert_eq!(t.x[spike], 31_337.0);
    assert_eq!((t.x[0], *t.x.last().unwrap()), (0.0, (n - 1) as f64));
    assert_eq!(figure.x.range, Some((0.0, (n - 1) as f64)));
    let note = format!(
        "{} of 100,000 points drawn (M4: first, last, lowest and highest point of each pixel column)",
        thousands(t.x.len() as u64)
    );
    assert_eq!(figure.notes, [note]);
    assert_eq!(t.name, "a");
    assert!(!figure.has_legend());
}

#[test]
fn the_grid_is_sized_for_the_legend_the_figure_gets() {
    let n: i64 = 20_000;
    let series: Vec<(i64, f64)> = (0..n).map(|s| (s, (s % 7) as f64)).collect();
    let runs = vec![
        with_series(run("a"), "loss", &points(&series)),
        with_series(run("b"), "loss", &points(&series)),
    ];
    let fixture = Fixture::new(line_spec(&["loss"]), runs);
    let figure = draw(&fixture, |_, _| points(&series));
    assert!(figure.has_legend());
    // With a legend the plot is 900 − 80 − 24 − 180 = 616 columns wide (796 without).
    let x: Vec<f64> = series.iter().map(|p| p.0 as f64).collect();
    let y: Vec<f64> = series.iter().map(|p| p.1).collect();
    let kept = |columns| {
        let grid = XGrid::new(0.0, (n - 1) as f64, columns, Scale::Linear);
        m4::reduce(&x, &y, &grid, Scale::Linear, Scale::Linear).len()
    };
    assert_ne!(kept(616), kept(796));
    for t in lines(&figure) {
        assert_eq!(t.x.len(), kept(616), "{}", t.name);
    }
    assert_eq!(
        lines(&figure)
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[test]
fn smoothing_draws_the_raw_curve_faded_behind_tensorboards_ema() {
    let mut spec = line_spec(&["loss"]);
    spec.smoothing = 0.6;
    let series = [(0, 1.0), (1, 2.0), (2, 4.0)];
    let fixture = Fixture::new(spec, vec![with_series(run("a"), "loss", &points(&series))]);
    let figure = draw(&fixture, |_, _| points(&series));
    let traces = lines(&figure);
    let (raw, smooth) = (traces[0], traces[1]);
    assert_eq!(raw.y, [1.0, 2.0, 4.0]);
    assert_eq!((raw.opacity, raw.show_legend), (RAW_OPACITY, false));
    assert_eq!(raw.group, smooth.group);
    assert!(raw.group.is_some());
    assert_eq!(
        (smooth.color.as_str(), smooth.show_legend),
        (raw.color.as_str(), true)
    );
    // TensorBoard: ema 0.4, 1.04, 2.224 over debias 0.4, 0.64, 0.784.
    let want = [1.0, 1.04 / 0.64, 2.224 / 0.784];
    for (got, want) in smooth.y.iter().zip(want) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    assert!(!figure.has_legend(), "the raw curve has no legend entry");
}

#[test]
fn relative_time_counts_seconds_from_the_run_start() {
    let mut spec = line_spec(&["loss"]);
    spec.x_axis = XAxis::RelativeTime;
    let series = [(0, 1.0), (5, 2.0)];
    let mut r = with_series(run("a"), "loss", &points(&series));
    r.started_at = None; // falls back to created_at, 999 000 ms
    assert_eq!(
        x_of(XAxis::RelativeTime, &r, &points(&series)[1]),
        Some(6.0)
    );
    let fixture = Fixture::new(spec, vec![r]);
    let figure = draw(&fixture, |_, _| points(&series));
    assert_eq!(lines(&figure)[0].x, [1.0, 6.0]);
    assert_eq!(figure.x.title, "relative time (s)");

    let mut spec = line_spec(&["loss"]);
    spec.x_axis = XAxis::Time;
    let fixture = Fixture::new(spec, fixture.runs.clone());
    let figure = draw(&fixture, |_, _| points(&series));
    assert_eq!(lines(&figure)[0].x, [1_000_000.0, 1_005_000.0]);
    assert_eq!(
        (figure.x.scale, figure.x.title.as_str()),
        (Scale::Time, "time (UTC)")
    );
}

#[test]
fn a_metric_axis_joins_points_by_step() {
    let mut spec = line_spec(&["acc"]);
    spec.x_axis = XAxis::Metric;
    spec.x_metric = Some("recall".into());
    let recall = [(0, 0.1), (1, 0.5), (1, 0.6), (3, 0.9)];
    let acc = [(0, 0.2), (1, 0.7), (2, 0.8), (3, 0.95)];
    let r = with_series(
        with_series(run("a"), "recall", &points(&recall)),
        "acc",
        &points(&acc),
    );
    let fixture = Fixture::new(spec, vec![r]);
    assert_eq!(
        x_extent_from_summaries(&fixture.spec, &fixture.runs),
        Some((0.1, 0.9))
    );
    let figure = draw(&fixture, |_, key| {
        points(if key == "recall" { &recall } else { &acc })
    });
    let t = lines(&figure)[0];
    // Step 1 takes the latest recall logged there; step 2 has none.
    assert_eq!(t.x, [0.1, 0.6, 0.9]);
    assert_eq!(t.y, [0.2, 0.7, 0.95]);
    assert_eq!(figure.x.title, "recall");
    assert_eq!(
        figure.notes,
        ["1 point(s) without a recall value at their step left out"]
    );
}

#[test]
fn log_axes_and_their_extent() {
    let mut spec = line_spec(&["loss"]);
    spec.log_x = true;
    spec.log_y = true;
    let series = [(0, 1.0), (1, 0.5), (10, 0.1)];
    let r = with_series(run("a"), "loss", &points(&series));
    let mut extent = None;
    extend_x_extent(&mut extent, &spec, &r, &points(&series));
    assert_eq!(
        extent,
        Some((1.0, 10.0)),
        "step 0 cannot be drawn on a log axis"
    );
    let fixture = Fixture::new(spec, vec![r]);
    let figure = draw(&fixture, |_, _| points(&series));
    assert_eq!((figure.x.scale, figure.y.scale), (Scale::Log, Scale::Log));
    assert_eq!(figure.x.range, None);
    assert_eq!(
        lines(&figure)[0].x,
        [0.0, 1.0, 10.0],
        "the gap point is kept"
    );
}

#[test]
fn several_keys_name_lines_by_run_and_key() {
    let p = points(&[(0, 1.0)]);
    let r = with_series(with_series(run("a"), "loss", &p), "acc", &p);
    let fixture = Fixture::new(line_spec(&["loss", "acc"]), vec![r]);
    let figure = draw(&fixture, |_, _| p.clone());
    let names: Vec<&str> = lines(&figure).iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a · loss", "a · acc"]);
    assert_eq!(figure.y.title, "value");
}

#[test]
fn thresholds_mark_runs_whose_latest_value_breaches() {
    let mut spec = line_spec(&["recall"]);
    spec.thresholds = vec![Threshold {
        value: 0.9,
        label: "min recall".into(),
        breach: Some(Breach::Below),
    }];
    let good = [(0, 0.5), (1, 0.95)];
    let bad = [(0, 0.99), (1, 0.8)];
    let runs = vec![
        with_series(run("good"), "recall", &points(&good)),
        with_series(run("bad"), "recall", &points(&bad)),
    ];
    let fixture = Fixture::new(spec, runs);
    let figure = draw(&fixture, |r, _| points(if r == 0 { &good } else { &bad }));
    let names: Vec<&str> = lines(&figure).iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["good", "bad ⚠"]);
    assert_eq!(figure.lines.len(), 1);
    assert_eq!(
        (figure.lines[0].y, figure.lines[0].label.as_str()),
        (0.9, "min recall")
    );
    let rings: Vec<&MarkerTrace> = figure
        .traces
        .iter()
        .filter_map(|t| match t {
            Trace::Markers(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(rings.len(), 1);
    assert!(rings[0].ring && !rings[0].show_legend);
    assert_eq!(
        (rings[0].x.as_slice(), rings[0].y.as_slice()),
        ([1.0].as_slice(), [0.8].as_slice())
    );
    assert_eq!(rings[0].labels, ["bad"]);
    assert_eq!(figure.notes, ["1 run(s) breach min recall"]);
    assert!(figure.has_legend());
}

#[test]
fn group_lines_aggregate_runs_per_pixel_column_with_a_ci_band() {
    let mut spec = line_spec(&["loss"]);
    spec.group_by = Some("params.opt".into());
    spec.band = Band::Ci95;
    let full: Vec<i64> = (0..=10).collect();
    let mut runs = Vec::new();
    let mut data = Vec::new();
    for (name, value, last_step, opt) in [
        ("a", 1.0, 10, "adam"),
        ("b", 2.0, 10, "adam"),
        ("c", 3.0, 5, "adam"),
        ("d", 7.0, 10, "sgd"),
    ] {
        let s: Vec<(i64, f64)> = full
            .iter()
            .filter(|&&s| s <= last_step)
            .map(|&s| (s, value))
            .collect();
        let mut r = with_series(run(name), "loss", &points(&s));
        r.params.insert("opt".into(), serde_json::json!(opt));
        runs.push(r);
        data.push(s);
    }
    let fixture = Fixture::new(spec, runs);
    let figure = draw(&fixture, |r, _| points(&data[r]));
    let traces = lines(&figure);
    let names: Vec<&str> = traces.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["adam (3 runs)", "sgd (1 run)"]);
    let adam = traces[0];
    assert_eq!(adam.x.len(), 11, "one point per step's column");
    assert!((adam.x[0] - 0.0).abs() < 0.01 && (adam.x[10] - 10.0).abs() < 0.01);
    assert_eq!(adam.y[0], 2.0, "mean of 1, 2, 3");
    assert_eq!(adam.y[8], 1.5, "run c has no point there");
    let band: &BandTrace = figure
        .traces
        .iter()
        .find_map(|t| match t {
            Trace::Band(b) if b.name == adam.name => Some(b),
            _ => None,
        })
        .unwrap();
    // n = 3: 2 ± t(0.975, 2) · 1 / √3 (scipy: 4.48413771175033); n = 2 at step 8:
    // 1.5 ± t(0.975, 1) · 0.7071068 / √2 = 1.5 ± 6.353102368087347.
    assert!(
        (band.high[0] - 4.48413771175033).abs() < 1e-9,
        "{}",
        band.high[0]
    );
    assert!(
        (band.low[8] - (1.5 - 6.353102368087347)).abs() < 1e-9,
        "{}",
        band.low[8]
    );
    let sgd_band = figure
        .traces
        .iter()
        .any(|t| matches!(t, Trace::Band(b) if b.name.starts_with("sgd")));
    assert!(!sgd_band, "one run has no confidence interval");
    assert!(
        figure.notes[0].contains("95 % confidence interval"),
        "{:?}",
        figure.notes
    );

    let mut median = fixture.spec.clone();
    median.group_aggregate = GroupAggregate::Median;
    median.band = Band::MinMax;
    let fixture = Fixture {
        spec: median,
        ..fixture
    };
    let figure = draw(&fixture, |r, _| points(&data[r]));
    let adam = lines(&figure)[0].clone();
    assert_eq!((adam.y[0], adam.y[8]), (2.0, 1.5));
}

#[test]
fn reads_never_pushed_still_get_their_legend_entry() {
    let p = points(&[(0, 1.0), (1, 2.0)]);
    let runs = vec![
        with_series(run("a"), "loss", &p),
        with_series(run("b"), "loss", &p),
    ];
    let fixture = Fixture::new(line_spec(&["loss"]), runs);
    let input = fixture.input();
    let mut plan = LinePlan::new(&input, Some((0.0, 1.0)));
    assert!(plan.side_panel());
    plan.push(0, &p);
    plan.push(7, &p); // no such read: ignored
    let figure = plan.finish();
    let traces = lines(&figure);
    assert_eq!(
        (traces[0].y.as_slice(), traces[1].y.len()),
        ([1.0, 2.0].as_slice(), 0)
    );
    assert!(figure.has_legend());
}

#[test]
fn a_line_of_one_point_gets_a_dot() {
    let p = points(&[(3, 0.5)]);
    let fixture = Fixture::new(
        line_spec(&["loss"]),
        vec![with_series(run("a"), "loss", &p)],
    );
    let figure = draw(&fixture, |_, _| p.clone());
    let dots: Vec<&MarkerTrace> = figure
        .traces
        .iter()
        .filter_map(|t| match t {
            Trace::Markers(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(dots.len(), 1, "{:?}", figure.traces);
    assert_eq!(
        (dots[0].x.clone(), dots[0].y.clone()),
        (vec![3.0], vec![0.5])
    );
    assert!(!dots[0].show_legend);
}

#[test]
fn many_runs_draw_thinner_lines() {
    let p = points(&[(0, 1.0), (1, 2.0)]);
    for (count, width) in [(THIN_LINES_ABOVE, 1.5), (THIN_LINES_ABOVE + 1, 1.0)] {
        let runs = (0..count)
            .map(|i| with_series(run(&format!("r{i}")), "loss", &p))
            .collect();
        let figure = draw(&Fixture::new(line_spec(&["loss"]), runs), |_, _| p.clone());
        assert!(
            lines(&figure).iter().all(|l| l.width == width),
            "{count} runs: {:?}",
            lines(&figure).iter().map(|l| l.width).collect::<Vec<_>>()
        );
    }
}
