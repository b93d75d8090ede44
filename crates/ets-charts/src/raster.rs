//! SVG → PNG (resvg) and PDF (svg2pdf), and figures → PNG with their line traces stroked
//! directly (`lines`), with the embedded DejaVu Sans fonts only: no system
//! font is looked up, so output is the same on every machine. Text stays text in PDFs (the
//! font is subset and embedded), so it can be searched and copied.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref};
use resvg::tiny_skia;
use usvg::fontdb;

use crate::figure::Figure;
use crate::svg::{self, Part};

mod lines;

/// What went wrong turning an SVG into PNG or PDF.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the SVG could not be read: {0}")]
    Svg(#[from] usvg::Error),
    #[error("a PNG scale must be a positive number, got {0}")]
    Scale(f64),
    #[error(
        "a {width}×{height} px image is too large to render (at most {MAX_PIXELS} pixels); \
         ask for a smaller size or dpi"
    )]
    TooLarge { width: f64, height: f64 },
    #[error("the PNG could not be encoded: {0}")]
    Png(String),
    #[error("page {page} could not be converted to PDF: {reason}")]
    Pdf { page: usize, reason: String },
    #[error("a PDF needs at least one page")]
    NoPages,
}

/// The largest image rendered, in device pixels (about 8000 × 5000: 160 MB of RGBA).
pub const MAX_PIXELS: f64 = 40_000_000.0;

/// The fonts SVG text may use: DejaVu Sans (regular and bold), embedded in the binary.
static FONTS: LazyLock<Arc<fontdb::Database>> = LazyLock::new(|| {
    let mut db = fontdb::Database::new();
    db.load_font_data(include_bytes!("../fonts/DejaVuSans.ttf").to_vec());
    db.load_font_data(include_bytes!("../fonts/DejaVuSans-Bold.ttf").to_vec());
    db.set_sans_serif_family(crate::svg::FONT_FAMILY);
    Arc::new(db)
});

/// Parses an SVG with the embedded fonts (unknown families fall back to DejaVu Sans). No
/// `<image>` is loaded, neither from a file nor from a data URL: the renderer reads nothing
/// but the text it is given.
pub fn parse(svg: &str) -> Result<usvg::Tree, RenderError> {
    let options = usvg::Options {
        font_family: crate::svg::FONT_FAMILY.to_owned(),
        fontdb: Arc::clone(&FONTS),
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    };
    Ok(usvg::Tree::from_str(svg, &options)?)
}

/// Renders an SVG onto a white pixmap of `width × scale` by `height × scale` device pixels
/// (rounded up).
pub fn pixmap(svg: &str, scale: f64) -> Result<tiny_skia::Pixmap, RenderError> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(RenderError::Scale(scale));
    }
    let tree = parse(svg)?;
    let size = tree.size();
    let mut pixmap = blank(f64::from(size.width()), f64::from(size.height()), scale)?;
    let s = scale as f32;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(s, s),
        &mut pixmap.as_mut(),
    );
    Ok(pixmap)
}

/// A PNG of the SVG at `scale` device pixels per CSS pixel (`dpi / 96`), on white.
pub fn png(svg: &str, scale: f64) -> Result<Vec<u8>, RenderError> {
    encode(&pixmap(svg, scale)?)
}

/// The picture of `raster::png(&svg::render(figure), scale)`, with the line traces stroked
/// straight into the pixmap instead of written into and parsed back from SVG text: a chart of
/// 100 long lines renders several times faster. The rest of the figure (grid, other traces,
/// axes, text, legend) still goes through SVG ([`svg::render_parts`](crate::svg::render_parts)).
pub fn png_figure(figure: &Figure, scale: f64) -> Result<Vec<u8>, RenderError> {
    encode(&pixmap_figure(figure, scale)?)
}

/// The pixmap of [`png_figure`], drawn on two threads when the machine has two cores.
pub fn pixmap_figure(figure: &Figure, scale: f64) -> Result<tiny_skia::Pixmap, RenderError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    pixmap_figure_on(figure, scale, threads)
}

/// [`pixmap_figure`] on one thread, or (`threads` ≥ 2) with every part of the figure drawn at
/// once into its own transparent layer — each SVG part, and long runs of lines in two halves —
/// then composited in order onto white. Source-over is associative, so that is the one-thread
/// picture up to 8-bit rounding; on two cores the SVG text and legend (~65 ms for 100 runs)
/// are drawn while the lines are stroked.
pub fn pixmap_figure_on(
    figure: &Figure,
    scale: f64,
    threads: usize,
) -> Result<tiny_skia::Pixmap, RenderError> {
    let mut page = blank(f64::from(figure.width), f64::from(figure.height), scale)?;
    let s = scale as f32;
    let parts = svg::render_parts(figure);
    if threads < 2 {
        for part in &parts {
            match part {
                Part::Svg(text) => resvg::render(
                    &parse(text)?,
                    tiny_skia::Transform::from_scale(s, s),
                    &mut page.as_mut(),
                ),
                Part::Lines { traces, map } => {
                    for layer in lines::layers(figure, traces, map, scale, 1) {
                        layer.composite(&mut page);
                    }
                }
            }
        }
        return Ok(page);
    }
    let (width, height) = (page.width(), page.height());
    let layers: Vec<Result<Vec<lines::Layer>, RenderError>> = std::thread::scope(|scope| {
        let jobs: Vec<_> = parts
            .iter()
            .map(|part| {
                scope.spawn(move || match part {
                    Part::Svg(text) => {
                        let tree = parse(text)?;
                        let mut layer =
                            tiny_skia::Pixmap::new(width, height).ok_or(RenderError::TooLarge {
                                width: f64::from(width),
                                height: f64::from(height),
                            })?;
                        resvg::render(
                            &tree,
                            tiny_skia::Transform::from_scale(s, s),
                            &mut layer.as_mut(),
                        );
                        Ok(vec![lines::Layer::page(layer)])
                    }
                    Part::Lines { traces, map } => {
                        Ok(lines::layers(figure, traces, map, scale, threads))
                    }
                })
            })
            .collect();
        jobs.into_iter()
            .map(|job| job.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    for part in layers {
        for layer in part? {
            layer.composite(&mut page);
        }
    }
    Ok(page)
}

/// A white pixmap of `width × scale` by `height × scale` device pixels (rounded up).
fn blank(width: f64, height: f64, scale: f64) -> Result<tiny_skia::Pixmap, RenderError> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(RenderError::Scale(scale));
    }
    let (width, height) = ((width * scale).ceil(), (height * scale).ceil());
    if width * height > MAX_PIXELS {
        return Err(RenderError::TooLarge { width, height });
    }
    let mut pixmap = tiny_skia::Pixmap::new(width as u32, height as u32)
        .ok_or(RenderError::TooLarge { width, height })?;
    pixmap.fill(tiny_skia::Color::WHITE);
    Ok(pixmap)
}

fn encode(pixmap: &tiny_skia::Pixmap) -> Result<Vec<u8>, RenderError> {
    pixmap
        .encode_png()
        .map_err(|e| RenderError::Png(e.to_string()))
}

/// The RGBA pixels of a PNG (to check a rendering, e.g. that it is not blank).
pub fn decode_png(bytes: &[u8]) -> Result<Vec<u8>, RenderError> {
    tiny_skia::Pixmap::decode_png(bytes)
        .map(|pixmap| pixmap.data().to_vec())
        .map_err(|e| RenderError::Png(e.to_string()))
}

/// Options shared by every page: text embedded as text (searchable), streams compressed.
fn conversion() -> svg2pdf::ConversionOptions {
    svg2pdf::ConversionOptions {
        embed_text: true,
        ..svg2pdf::ConversionOptions::default()
    }
}

/// A one-page PDF of the SVG; one CSS pixel is 0.75 pt (96 dpi), as in browsers.
pub fn pdf(svg: &str) -> Result<Vec<u8>, RenderError> {
    let tree = parse(svg)?;
    svg2pdf::to_pdf(&tree, conversion(), svg2pdf::PageOptions { dpi: 96.0 }).map_err(|e| {
        RenderError::Pdf {
            page: 1,
            reason: e.to_string(),
        }
    })
}

/// A PDF with one page per SVG, each page the size of its SVG (0.75 pt per CSS pixel).
pub fn pdf_pages(svgs: &[String]) -> Result<Vec<u8>, RenderError> {
    if svgs.is_empty() {
        return Err(RenderError::NoPages);
    }
    let mut next = Ref::new(1);
    let catalog = next.bump();
    let page_tree = next.bump();
    let mut pdf = Pdf::new();
    let mut pages = Vec::with_capacity(svgs.len());
    for (index, svg) in svgs.iter().enumerate() {
        let tree = parse(svg)?;
        // svg2pdf draws the SVG as a form XObject one point square; the page scales it.
        let (chunk, root) =
            svg2pdf::to_chunk(&tree, conversion()).map_err(|e| RenderError::Pdf {
                page: index + 1,
                reason: e.to_string(),
            })?;
        let mut renumbered = HashMap::new();
        let chunk = chunk.renumber(|old| *renumbered.entry(old).or_insert_with(|| next.bump()));
        let root = renumbered[&root];
        let (page_id, content_id) = (next.bump(), next.bump());
        let width = tree.size().width() * 0.75;
        let height = tree.size().height() * 0.75;
        let name = Name(b"S1");
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, width, height));
        page.parent(page_tree);
        page.contents(content_id);
        page.resources().x_objects().pair(name, root);
        page.finish();
        let mut content = Content::new();
        content
            .transform([width, 0.0, 0.0, height, 0.0, 0.0])
            .x_object(name);
        pdf.stream(content_id, &content.finish());
        pdf.extend(&chunk);
        pages.push(page_id);
    }
    pdf.catalog(catalog).pages(page_tree);
    pdf.pages(page_tree)
        .kids(pages.iter().copied())
        .count(pages.len() as i32);
    Ok(pdf.finish())
}

#[cfg(test)]
mod tests;
