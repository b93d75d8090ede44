//! Where the time of a 100-line PNG goes (usvg parse, resvg draw, PNG encode), and what other
//! strokes would cost: the measurements behind the issue-12 section of docs/benchmarks.md.
//! The figure is what M4 leaves of 100 runs × 100,000 noisy points on the default 900 × 500
//! chart with a legend: 100 lines of 2,450 points.
//!
//! `raster::png_figure` skips the SVG text for line traces and strokes them straight into
//! tiny-skia, on one or two threads: timed below beside the SVG route, and whether cutting
//! each line into sub-paths (separate strokes) would make tiny-skia faster.
//!
//! `cargo run --release -p ets-charts --example raster_probe`
//! (`RASTER_PROBE_PNG=dir` also writes the 1x PNG with round and with bevel joins there.)

use std::time::{Duration, Instant};

use ets_charts::figure::{Axis, Figure, LineTrace, Trace, palette};
use ets_charts::svg::Part;
use ets_charts::{raster, svg};
use resvg::tiny_skia;

const POINTS: usize = 2450;
const ROUND: &str = r#"stroke-linejoin="round""#;
const BEVEL: &str = r#"stroke-linejoin="bevel""#;

/// `series` noisy decaying lines of `POINTS` points, stroked `width` CSS pixels wide.
fn figure(series: usize, width: f64) -> Figure {
    let mut f = Figure::new("loss", Axis::linear("step"), Axis::linear("loss"));
    let mut state = 12345u64;
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
    };
    for s in 0..series {
        let x: Vec<f64> = (0..POINTS).map(|i| (i * 40) as f64).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|&v| 0.1 + (2.0 + s as f64 / 50.0) * (-v / 20000.0).exp() + 0.12 * noise())
            .collect();
        let mut t = LineTrace::new(format!("run-{s:03}"), x, y, palette(s));
        t.width = width;
        f.traces.push(Trace::Line(t));
    }
    f
}

/// The fastest of `runs` timings: on a shared machine the least disturbed one.
fn fastest(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .expect("at least one run")
}

fn blank(tree: &usvg::Tree, scale: f32) -> tiny_skia::Pixmap {
    let size = tree.size();
    let (w, h) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    tiny_skia::Pixmap::new(w, h).expect("a non-empty pixmap")
}

/// Times parse, draw and encode of `svg_text` at `scale`.
fn stages(label: &str, svg_text: &str, scale: f32) {
    let parse = fastest(5, || {
        std::hint::black_box(raster::parse(svg_text).expect("parse"));
    });
    let tree = raster::parse(svg_text).expect("parse");
    let mut pixmap = blank(&tree, scale);
    let draw = fastest(5, || {
        pixmap.fill(tiny_skia::Color::WHITE);
        let ts = tiny_skia::Transform::from_scale(scale, scale);
        resvg::render(&tree, ts, &mut pixmap.as_mut());
    });
    let encode = fastest(5, || {
        std::hint::black_box(pixmap.encode_png().expect("encode"));
    });
    println!("{label}: usvg parse {parse:.1?}, resvg draw {draw:.1?}, PNG encode {encode:.1?}");
}

/// Draws the traces in two halves on two threads into transparent layers, then composites
/// them in order (source-over is associative, so the result is the one-layer drawing's up to
/// 8-bit rounding). Times draw + composite; parsing is left out.
fn two_layers(label: &str, f: &Figure, joins: &str) {
    let half = f.traces.len() / 2;
    let trees: Vec<usvg::Tree> = [0..half, half..f.traces.len()]
        .into_iter()
        .map(|range| {
            let mut part = f.clone();
            part.traces = part.traces[range].to_vec();
            raster::parse(&svg::render(&part).replace(ROUND, joins)).expect("parse")
        })
        .collect();
    let time = fastest(5, || {
        let layers: Vec<tiny_skia::Pixmap> = std::thread::scope(|scope| {
            let handles: Vec<_> = trees
                .iter()
                .map(|tree| {
                    scope.spawn(move || {
                        let mut layer = blank(tree, 1.0);
                        let ts = tiny_skia::Transform::identity();
                        resvg::render(tree, ts, &mut layer.as_mut());
                        layer
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("draw thread"))
                .collect()
        });
        let mut out = blank(&trees[0], 1.0);
        out.fill(tiny_skia::Color::WHITE);
        for layer in &layers {
            out.draw_pixmap(
                0,
                0,
                layer.as_ref(),
                &tiny_skia::PixmapPaint::default(),
                tiny_skia::Transform::identity(),
                None,
            );
        }
        std::hint::black_box(out);
    });
    println!("{label}: two layers on two threads, draw + composite {time:.1?}");
}

/// The figure route end to end (`png_figure`) and its stages, at `scale`.
fn direct(label: &str, f: &Figure, scale: f64) {
    let parts = fastest(5, || {
        std::hint::black_box(svg::render_parts(f));
    });
    let draw: Vec<Duration> = [1, 2]
        .into_iter()
        .map(|threads| {
            fastest(5, || {
                std::hint::black_box(raster::pixmap_figure_on(f, scale, threads).expect("draw"));
            })
        })
        .collect();
    let pixmap = raster::pixmap_figure_on(f, scale, 2).expect("draw");
    let encode = fastest(5, || {
        std::hint::black_box(pixmap.encode_png().expect("encode"));
    });
    let total = fastest(5, || {
        std::hint::black_box(raster::png_figure(f, scale).expect("png"));
    });
    let svg_route = fastest(5, || {
        std::hint::black_box(raster::png(&svg::render(f), scale).expect("png"));
    });
    println!(
        "{label}: render_parts {parts:.1?}, parts drawn on 1 thread {:.1?}, on 2 threads \
         {:.1?}, PNG encode {encode:.1?}; png_figure end to end {total:.1?} (SVG route \
         {svg_route:.1?})",
        draw[0], draw[1]
    );
}

/// One layer of the plot with every line stroked as one path each (`chunk = None`) or as
/// sub-paths of `chunk` points, each stroked on its own (neighbours share an end point).
fn stroke_lines(f: &Figure, chunk: Option<usize>) -> tiny_skia::Pixmap {
    let parts = svg::render_parts(f);
    let Some(Part::Lines { traces, map }) = parts.iter().find(|p| matches!(p, Part::Lines { .. }))
    else {
        panic!("a figure with lines");
    };
    let mut layer = tiny_skia::Pixmap::new(f.width, f.height).expect("layer");
    for &i in traces {
        let Trace::Line(t) = &f.traces[i] else {
            continue;
        };
        let style = svg::line_style(t);
        let mut paint = tiny_skia::Paint::default();
        paint.set_color_rgba8(0x63, 0x6e, 0xfa, 255);
        paint.anti_alias = true;
        let stroke = tiny_skia::Stroke {
            width: style.width as f32,
            line_cap: tiny_skia::LineCap::Round,
            line_join: tiny_skia::LineJoin::Bevel,
            ..tiny_skia::Stroke::default()
        };
        let points: Vec<(f32, f32)> =
            t.x.iter()
                .zip(&t.y)
                .filter_map(|(&x, &y)| map.px(x, y))
                .map(|(x, y)| (x as f32, y as f32))
                .collect();
        let step = chunk.unwrap_or(points.len()).max(2);
        let mut start = 0;
        while start + 1 < points.len() {
            let end = (start + step).min(points.len());
            let mut path = tiny_skia::PathBuilder::new();
            path.move_to(points[start].0, points[start].1);
            for &(x, y) in &points[start + 1..end] {
                path.line_to(x, y);
            }
            if let Some(path) = path.finish() {
                let ts = tiny_skia::Transform::identity();
                layer.stroke_path(&path, &paint, &stroke, ts, None);
            }
            start = end - 1;
        }
    }
    layer
}

/// Whether sub-paths stroke faster, and how much the picture changes (joins become caps).
fn sub_paths(f: &Figure) {
    let whole = stroke_lines(f, None);
    let time = fastest(5, || {
        std::hint::black_box(stroke_lines(f, None));
    });
    println!("stroking 100 lines as whole paths, 1 thread: {time:.1?}");
    for chunk in [100, 250, 500, 1000] {
        let time = fastest(5, || {
            std::hint::black_box(stroke_lines(f, Some(chunk)));
        });
        let cut = stroke_lines(f, Some(chunk));
        let (mut over, mut most) = (0, 0);
        for (p, q) in whole.data().chunks_exact(4).zip(cut.data().chunks_exact(4)) {
            let d = p
                .iter()
                .zip(q)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap_or(0);
            over += usize::from(d > 3);
            most = most.max(d);
        }
        println!(
            "  as sub-paths of {chunk} points: {time:.1?}; {over} pixels differ by more than 3 \
             levels, at most {most}"
        );
    }
}

fn main() {
    let today = figure(100, 1.5);
    let text = svg::render(&today);
    let write = fastest(10, || {
        std::hint::black_box(svg::render(&today));
    });
    println!(
        "100 lines × {POINTS} points: SVG {:.1} MB written in {write:.1?}",
        text.len() as f64 / 1e6
    );
    let bevel = text.replace(ROUND, BEVEL);
    if let Ok(dir) = std::env::var("RASTER_PROBE_PNG") {
        for (name, t) in [("round", &text), ("bevel", &bevel)] {
            let png = raster::png(t, 1.0).expect("png");
            std::fs::write(format!("{dir}/probe-{name}.png"), png).expect("write the PNG");
        }
    }
    stages("1.5 px, round joins (today), 1x", &text, 1.0);
    stages("1.5 px, round joins (today), 2x", &text, 2.0);
    stages("1.5 px, bevel joins, 1x", &bevel, 1.0);
    stages("1.5 px, bevel joins, 2x", &bevel, 2.0);
    let thin = svg::render(&figure(100, 1.0));
    stages(
        "1.0 px (tiny-skia's hairline path), round joins, 1x",
        &thin,
        1.0,
    );
    stages("1.0 px, bevel joins, 1x", &thin.replace(ROUND, BEVEL), 1.0);
    two_layers("1.5 px, round joins, 1x", &today, ROUND);
    two_layers("1.5 px, bevel joins, 1x", &today, BEVEL);
    direct("png_figure, 1.5 px, 1x", &today, 1.0);
    direct("png_figure, 1.5 px, 2x", &today, 2.0);
    sub_paths(&today);
}
