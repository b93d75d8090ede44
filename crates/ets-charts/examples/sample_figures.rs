//! Writes one figure of each trace type (and each axis type) as Plotly JSON (`NAME.json`) and
//! as a self-contained page (`NAME.html`), plus `report.html` (every figure, with a
//! disclaimer) into a directory, for the checks in `tests/visualizations/`:
//!
//!     cargo run -p ets-charts --example sample_figures -- OUT_DIR

use std::path::{Path, PathBuf};

use ets_charts::figure::{
    Axis, BandTrace, BarTrace, ColorScale, Dimension, Figure, HeatmapTrace, LineTrace, MarkerTrace,
    ParallelTrace, RefLine, Scale, Trace, palette,
};
use ets_charts::html::{ReportSection, figure_page, report_page};
use ets_charts::plotly::{WEBGL_MIN_POINTS, figure_json};

const DISCLAIMER: &str = "Research use only. Not a medical device: these results must not be \
used for diagnosis or treatment decisions.";

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: sample_figures OUT_DIR");
        std::process::exit(2);
    };
    if let Err(e) = write_all(&dir) {
        eprintln!("sample_figures: {e}");
        std::process::exit(1);
    }
}

fn write_all(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let figures = samples();
    for (name, fig) in &figures {
        let json = serde_json::to_string(&figure_json(fig)).map_err(|e| e.to_string())?;
        write(&dir.join(format!("{name}.json")), &json)?;
        write(
            &dir.join(format!("{name}.html")),
            &figure_page(&fig.title, std::slice::from_ref(fig), None),
        )?;
    }
    let sections: Vec<ReportSection> = figures
        .chunks(4)
        .enumerate()
        .map(|(i, chunk)| ReportSection {
            heading: format!("Part {} <of> the sample report", i + 1),
            paragraphs: vec![
                "Config: lr=0.01, batch_size=32 & dropout=<0.1>".to_owned(),
                "Objective: maximise val/accuracy".to_owned(),
            ],
            figures: chunk.iter().map(|(_, f)| f.clone()).collect(),
        })
        .collect();
    write(
        &dir.join("report.html"),
        &report_page("Sample report", &sections, Some(DISCLAIMER)),
    )?;
    println!(
        "wrote {} figures (.json, .html) and report.html to {}",
        figures.len(),
        dir.display()
    );
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn samples() -> Vec<(&'static str, Figure)> {
    vec![
        ("line", line()),
        ("line_log", line_log()),
        ("line_time", line_time()),
        ("line_webgl", line_webgl()),
        ("scatter", scatter()),
        ("bars", bars()),
        ("histogram", histogram()),
        ("confusion", confusion()),
        ("heatmap", heatmap()),
        ("parallel", parallel()),
    ]
}

/// Two runs, raw (faded) and smoothed, a gap (NaN) in one, a min–max band, a threshold and
/// notes.
fn line() -> Figure {
    let mut fig = Figure::new(
        "Loss <by> step & run",
        Axis::linear("step"),
        Axis::linear("loss"),
    );
    let steps: Vec<f64> = (0..200).map(f64::from).collect();
    for run in 0..2 {
        let raw: Vec<f64> = steps
            .iter()
            .map(|s| {
                let noise = ((s * 1.7 + f64::from(run)).sin()) * 0.08;
                if run == 1 && (80.0..95.0).contains(s) {
                    f64::NAN
                } else {
                    1.0 / (1.0 + s / 20.0) + noise + 0.1 * f64::from(run)
                }
            })
            .collect();
        let smooth = ema(&raw, 0.8);
        let group = format!("run-{run}");
        let mut faded = LineTrace::new(&group, steps.clone(), raw, palette(run as usize));
        faded.opacity = 0.25;
        faded.show_legend = false;
        faded.group = Some(group.clone());
        let mut main = LineTrace::new(&group, steps.clone(), smooth, palette(run as usize));
        main.group = Some(group);
        main.dash = run == 1;
        fig.traces.push(Trace::Line(faded));
        fig.traces.push(Trace::Line(main));
    }
    fig.traces.push(Trace::Band(BandTrace {
        name: "min–max".to_owned(),
        x: steps.clone(),
        low: steps.iter().map(|s| 0.9 / (1.0 + s / 20.0)).collect(),
        high: steps.iter().map(|s| 1.3 / (1.0 + s / 20.0)).collect(),
        color: palette(2),
        opacity: 0.2,
        show_legend: true,
        group: None,
    }));
    fig.lines.push(RefLine {
        y: 0.3,
        label: "target < 0.3".to_owned(),
        color: "#b00020".to_owned(),
        dash: true,
    });
    fig.notes = vec![
        "Series reduced to 4 points per pixel column (M4); 400 of 400 points drawn.".to_owned(),
        DISCLAIMER.to_owned(),
    ];
    fig
}

fn ema(values: &[f64], weight: f64) -> Vec<f64> {
    let mut last: Option<f64> = None;
    values
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                return v;
            }
            let s = last.map_or(v, |l| l * weight + v * (1.0 - weight));
            last = Some(s);
            s
        })
        .collect()
}

fn line_log() -> Figure {
    let mut y = Axis::log("learning rate");
    y.range = Some((1e-5, 1.0));
    let mut fig = Figure::new("Learning rate (log y)", Axis::linear("step"), y);
    let x: Vec<f64> = (0..100).map(f64::from).collect();
    let values = x.iter().map(|s| 0.1 * 0.93f64.powf(*s)).collect();
    fig.traces
        .push(Trace::Line(LineTrace::new("lr", x, values, palette(0))));
    fig.lines.push(RefLine {
        y: 1e-3,
        label: "floor 1e-3".to_owned(),
        color: "#444444".to_owned(),
        dash: true,
    });
    fig
}

fn line_time() -> Figure {
    let x_axis = Axis {
        scale: Scale::Time,
        ..Axis::linear("time (UTC)")
    };
    let mut fig = Figure::new(
        "Accuracy over wall-clock time",
        x_axis,
        Axis::linear("accuracy"),
    );
    // 2024-05-01 00:00:00 UTC, one point a minute for three hours.
    let start = 1_714_521_600_000.0;
    let x: Vec<f64> = (0..180).map(|i| start + f64::from(i) * 60_000.0).collect();
    let y = (0..180)
        .map(|i| 1.0 - 0.5 * (-f64::from(i) / 40.0).exp())
        .collect();
    fig.traces
        .push(Trace::Line(LineTrace::new("run-a", x, y, palette(0))));
    fig
}

/// Enough points to switch to WebGL.
fn line_webgl() -> Figure {
    let mut fig = Figure::new(
        "Many runs (WebGL)",
        Axis::linear("step"),
        Axis::linear("value"),
    );
    let per_run = 3_000;
    let runs = WEBGL_MIN_POINTS / per_run + 1;
    for run in 0..runs {
        let x: Vec<f64> = (0..per_run).map(|i| i as f64).collect();
        let y = x
            .iter()
            .map(|s| (s / 300.0 + run as f64 * 0.3).sin() + run as f64 * 0.05)
            .collect();
        let mut t = LineTrace::new(format!("run-{run}"), x, y, palette(run));
        t.width = 1.0;
        fig.traces.push(Trace::Line(t));
    }
    fig
}

/// Markers on a category x axis, with hover labels, one run as a ring (a threshold breach).
fn scatter() -> Figure {
    let categories = vec!["adam".to_owned(), "sgd".to_owned(), "rmsprop".to_owned()];
    let mut fig = Figure::new(
        "Accuracy by optimizer",
        Axis::category("params.optimizer", categories),
        Axis::linear("accuracy"),
    );
    fig.traces.push(Trace::Markers(MarkerTrace {
        name: "runs".to_owned(),
        x: vec![0.0, 0.0, 1.0, 2.0, 2.0],
        y: vec![0.91, 0.89, 0.84, 0.9, f64::NAN],
        labels: ["run-1", "run-2", "run-3", "run-4", "run-5"]
            .map(String::from)
            .to_vec(),
        color: palette(0),
        size: 10.0,
        ring: false,
        show_legend: true,
    }));
    fig.traces.push(Trace::Markers(MarkerTrace {
        name: "breach".to_owned(),
        x: vec![1.0],
        y: vec![0.84],
        labels: vec!["run-3 <below 0.85>".to_owned()],
        color: "#b00020".to_owned(),
        size: 16.0,
        ring: true,
        show_legend: true,
    }));
    fig.lines.push(RefLine {
        y: 0.85,
        label: "minimum 0.85".to_owned(),
        color: "#b00020".to_owned(),
        dash: false,
    });
    fig
}

fn bars() -> Figure {
    let categories = vec![
        "baseline".to_owned(),
        "tuned".to_owned(),
        "distilled".to_owned(),
    ];
    let mut fig = Figure::new(
        "F1 by model and split",
        Axis::category("model", categories),
        Axis::linear("f1"),
    );
    for (i, (split, ys)) in [("val", [0.81, 0.86, 0.84]), ("test", [0.79, 0.85, 0.8])]
        .into_iter()
        .enumerate()
    {
        fig.traces.push(Trace::Bars(BarTrace {
            name: split.to_owned(),
            x: vec![0.0, 1.0, 2.0],
            y: ys.to_vec(),
            error: vec![0.02, 0.01, 0.03],
            color: palette(i),
            width: None,
            show_legend: true,
        }));
    }
    fig
}

fn histogram() -> Figure {
    let mut fig = Figure::new(
        "Final loss over runs",
        Axis::linear("loss"),
        Axis::linear("runs"),
    );
    let width = 0.05;
    fig.traces.push(Trace::Bars(BarTrace {
        name: "runs".to_owned(),
        x: (0..8).map(|i| 0.2 + width * (f64::from(i) + 0.5)).collect(),
        y: vec![1.0, 3.0, 7.0, 12.0, 9.0, 4.0, 2.0, 1.0],
        error: Vec::new(),
        color: palette(0),
        width: Some(width),
        show_legend: false,
    }));
    fig
}

/// A confusion matrix: annotated cells, actual classes top to bottom (reversed y range).
fn confusion() -> Figure {
    let classes: Vec<String> = ["crisis", "concern", "none"].map(String::from).to_vec();
    let mut y = Axis::category("actual", classes.clone());
    y.range = Some((2.5, -0.5));
    let mut fig = Figure::new("Confusion matrix", Axis::category("predicted", classes), y);
    fig.traces.push(Trace::Heatmap(HeatmapTrace {
        z: vec![
            vec![Some(42.0), Some(5.0), Some(1.0)],
            vec![Some(4.0), Some(37.0), Some(9.0)],
            vec![Some(0.0), Some(6.0), Some(96.0)],
        ],
        colorscale: ColorScale::Blues,
        annotate: true,
        value_title: "count".to_owned(),
    }));
    fig.notes.push(DISCLAIMER.to_owned());
    fig
}

/// Mean metric per pair of params, with an empty cell.
fn heatmap() -> Figure {
    let mut fig = Figure::new(
        "val/accuracy by lr and batch size",
        Axis::category(
            "params.lr",
            ["0.001", "0.01", "0.1"].map(String::from).to_vec(),
        ),
        Axis::category("params.batch_size", ["16", "32"].map(String::from).to_vec()),
    );
    fig.traces.push(Trace::Heatmap(HeatmapTrace {
        z: vec![
            vec![Some(0.82), Some(0.88), None],
            vec![Some(0.8), Some(0.9), Some(0.71)],
        ],
        colorscale: ColorScale::Viridis,
        annotate: false,
        value_title: "mean val/accuracy".to_owned(),
    }));
    fig
}

fn parallel() -> Figure {
    let mut fig = Figure::new("HPO trials", Axis::linear(""), Axis::linear(""));
    let lr = vec![0.001, 0.01, 0.1, 0.003, 0.03];
    let accuracy = vec![0.82, 0.9, 0.71, 0.86, f64::NAN];
    fig.traces.push(Trace::Parallel(ParallelTrace {
        dimensions: vec![
            Dimension {
                label: "params.lr".to_owned(),
                values: lr,
                categories: Vec::new(),
            },
            Dimension {
                label: "params.optimizer".to_owned(),
                values: vec![0.0, 1.0, 1.0, 0.0, 2.0],
                categories: ["adam", "sgd", "rmsprop"].map(String::from).to_vec(),
            },
            Dimension {
                label: "val/accuracy".to_owned(),
                values: accuracy.clone(),
                categories: Vec::new(),
            },
        ],
        color_values: accuracy,
        color_title: "val/accuracy".to_owned(),
        colorscale: ColorScale::Viridis,
    }));
    fig
}
