//! How long the server-side renderer takes for a large line chart: 100 series of 3,600
//! points (what M4 leaves of long series on a 900 px wide plot) and of 2,000 points.
//!
//! `cargo run --release -p ets-charts --example render_timing`

use std::time::{Duration, Instant};

use ets_charts::figure::{Axis, Figure, LineTrace, Trace, palette};
use ets_charts::{raster, svg};

fn figure(series: usize, points: usize) -> Figure {
    let mut f = Figure::new("Timing", Axis::linear("step"), Axis::linear("loss"));
    f.width = 1200;
    f.height = 600;
    for s in 0..series {
        let x: Vec<f64> = (0..points).map(|i| i as f64).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|&v| (v / 50.0 + s as f64).sin() * (1.0 + s as f64 / 10.0) + (v * 7.3).sin() * 0.1)
            .collect();
        f.traces.push(Trace::Line(LineTrace::new(
            format!("run {s}"),
            x,
            y,
            palette(s),
        )));
    }
    f
}

/// The fastest of `runs` timings of `f`: on a shared machine the least disturbed one.
fn fastest(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[0]
}

fn main() {
    for (series, points) in [(100, 2_000), (100, 3_600)] {
        let f = figure(series, points);
        let svg_text = svg::render(&f);
        let svg_time = fastest(30, || {
            std::hint::black_box(svg::render(&f));
        });
        let parse_time = fastest(5, || {
            std::hint::black_box(raster::parse(&svg_text).expect("parse"));
        });
        let png_time = fastest(5, || {
            std::hint::black_box(raster::png(&svg_text, 1.0).expect("png"));
        });
        let png2_time = fastest(3, || {
            std::hint::black_box(raster::png(&svg_text, 2.0).expect("png"));
        });
        let pdf_time = fastest(3, || {
            std::hint::black_box(raster::pdf(&svg_text).expect("pdf"));
        });
        println!(
            "{series} lines × {points} points ({:.1} MB SVG): svg {:?}, parse {:?}, png@1x {:?} (incl. parse), png@2x {:?}, pdf {:?}",
            svg_text.len() as f64 / 1e6,
            svg_time,
            parse_time,
            png_time,
            png2_time,
            pdf_time
        );
    }
}
