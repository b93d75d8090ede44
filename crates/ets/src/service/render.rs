//! Figures to bytes in the format a client asked for. Rendering is CPU work (rasterising,
//! PDF font subsetting), so it runs on the blocking pool, off the request threads.

use std::io::Write;

use ets_charts::build::Size;
use ets_charts::figure::{DEFAULT_HEIGHT, DEFAULT_WIDTH};
use ets_charts::html::ReportSection;
use ets_charts::m4::Reduction;
use ets_charts::{Figure, html, plotly, raster, svg};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::error::{Error, Result};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A Plotly figure (`data` + `layout`), for plotly.js and plotly.py.
    Json,
    Svg,
    Png,
    Pdf,
    /// One self-contained, interactive page (plotly.js inlined; nothing fetched).
    Html,
    /// PNG and SVG of every chart in one archive (exports).
    Zip,
}

/// Size and format of a rendering (`width`, `height` in CSS pixels; `dpi` for PNG).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RenderParams {
    pub format: Option<Format>,
    /// 100–4000, default 900.
    pub width: Option<u32>,
    /// 100–4000, default 500.
    pub height: Option<u32>,
    /// PNG resolution, 24–600 (96 = one device pixel per CSS pixel; default 96).
    pub dpi: Option<f64>,
}

/// Largest PNG, in device pixels.
const MAX_PIXELS: f64 = 40e6;

impl RenderParams {
    /// The size asked for, checked.
    pub fn size(&self) -> Result<Size> {
        let width = self.width.unwrap_or(DEFAULT_WIDTH);
        let height = self.height.unwrap_or(DEFAULT_HEIGHT);
        for (name, value) in [("width", width), ("height", height)] {
            if !(100..=4000).contains(&value) {
                return Err(Error::BadRequest(format!(
                    "{name} must be between 100 and 4000 pixels, got {value}"
                )));
            }
        }
        let dpi = self.dpi.unwrap_or(96.0);
        if !(24.0..=600.0).contains(&dpi) {
            return Err(Error::BadRequest(format!(
                "dpi must be between 24 and 600, got {dpi}"
            )));
        }
        let scale = if self.format == Some(Format::Png) || self.format == Some(Format::Zip) {
            dpi / 96.0
        } else {
            1.0
        };
        if f64::from(width) * f64::from(height) * scale * scale > MAX_PIXELS {
            return Err(Error::BadRequest(format!(
                "{width}×{height} at {dpi} dpi is more than {} megapixels; lower the size or dpi",
                MAX_PIXELS / 1e6
            )));
        }
        // A browser draws Plotly JSON and HTML at its own resolution: the extremes of each
        // column are enough there, at half of M4's points (docs/benchmarks.md, issue 12).
        let reduction = match self.format {
            Some(Format::Json | Format::Html) => Reduction::MinMax,
            _ => Reduction::M4,
        };
        Ok(Size {
            width,
            height,
            scale,
            reduction,
        })
    }
}

/// Bytes of a rendering and their media type.
pub struct Rendered {
    pub content_type: &'static str,
    pub extension: &'static str,
    pub bytes: Vec<u8>,
}

/// One figure in `format` (a ZIP holds its PNG and SVG).
pub async fn figure(figure: Figure, format: Format, scale: f64) -> Result<Rendered> {
    blocking(move || {
        let name = file_stem(&figure.title);
        encode(&figure, format, scale, &name)
    })
    .await
}

fn encode(figure: &Figure, format: Format, scale: f64, name: &str) -> Result<Rendered> {
    Ok(match format {
        Format::Json => Rendered {
            content_type: "application/json",
            extension: "json",
            bytes: serde_json::to_vec(&plotly::figure_json(figure))
                .map_err(|e| Error::internal(format!("figure JSON: {e}")))?,
        },
        Format::Svg => Rendered {
            content_type: "image/svg+xml",
            extension: "svg",
            bytes: svg::render(figure).into_bytes(),
        },
        Format::Png => Rendered {
            content_type: "image/png",
            extension: "png",
            bytes: raster::png_figure(figure, scale).map_err(render_error)?,
        },
        Format::Pdf => Rendered {
            content_type: "application/pdf",
            extension: "pdf",
            bytes: raster::pdf(&svg::render(figure)).map_err(render_error)?,
        },
        Format::Html => Rendered {
            content_type: "text/html; charset=utf-8",
            extension: "html",
            bytes: html::figure_page(&figure.title, std::slice::from_ref(figure), None)
                .into_bytes(),
        },
        Format::Zip => zip(&[(name.to_owned(), figure.clone())], scale)?,
    })
}

/// A report: a title, its sections (text and figures) and, when required, a disclaimer on
/// every page.
pub struct Report {
    pub title: String,
    pub sections: Vec<ReportSection>,
    pub disclaimer: Option<String>,
}

/// A report in `format`: PDF (a title page, then one page per figure), HTML, a ZIP of PNG and
/// SVG, one Plotly JSON bundle, or (png, svg) a ZIP of that format only.
pub async fn report(report: Report, format: Format, scale: f64) -> Result<Rendered> {
    blocking(move || {
        let figures: Vec<(String, Figure)> = report
            .sections
            .iter()
            .flat_map(|s| s.figures.iter())
            .enumerate()
            .map(|(i, f)| (format!("{:02}-{}", i + 1, file_stem(&f.title)), f.clone()))
            .collect();
        match format {
            Format::Pdf => {
                let mut pages = vec![svg::text_page(
                    &report.title,
                    &report.sections,
                    report.disclaimer.as_deref(),
                )];
                pages.extend(figures.iter().map(|(_, f)| svg::render(f)));
                Ok(Rendered {
                    content_type: "application/pdf",
                    extension: "pdf",
                    bytes: raster::pdf_pages(&pages).map_err(render_error)?,
                })
            }
            Format::Html => Ok(Rendered {
                content_type: "text/html; charset=utf-8",
                extension: "html",
                bytes: html::report_page(
                    &report.title,
                    &report.sections,
                    report.disclaimer.as_deref(),
                )
                .into_bytes(),
            }),
            Format::Json => {
                let bundle = serde_json::json!({
                    "title": report.title,
                    "disclaimer": report.disclaimer,
                    "sections": report.sections.iter().map(|s| serde_json::json!({
                        "heading": s.heading,
                        "paragraphs": s.paragraphs,
                        "figures": s.figures.iter().map(plotly::figure_json).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                });
                Ok(Rendered {
                    content_type: "application/json",
                    extension: "json",
                    bytes: serde_json::to_vec(&bundle)
                        .map_err(|e| Error::internal(format!("report JSON: {e}")))?,
                })
            }
            Format::Zip => zip(&figures, scale),
            Format::Png | Format::Svg => zip_one(&figures, format, scale),
        }
    })
    .await
}

/// A ZIP of each figure as PNG and SVG.
fn zip(figures: &[(String, Figure)], scale: f64) -> Result<Rendered> {
    let mut files = Vec::with_capacity(figures.len() * 2);
    for (name, figure) in figures {
        files.push((
            format!("{name}.png"),
            raster::png_figure(figure, scale).map_err(render_error)?,
        ));
        files.push((format!("{name}.svg"), svg::render(figure).into_bytes()));
    }
    zip_files(files)
}

/// A ZIP of each figure in one format.
fn zip_one(figures: &[(String, Figure)], format: Format, scale: f64) -> Result<Rendered> {
    let mut files = Vec::with_capacity(figures.len());
    for (name, figure) in figures {
        let one = encode(figure, format, scale, name)?;
        files.push((format!("{name}.{}", one.extension), one.bytes));
    }
    zip_files(files)
}

fn zip_files(files: Vec<(String, Vec<u8>)>) -> Result<Rendered> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    // PNG is compressed already; SVG and JSON deflate well.
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        writer
            .start_file(name, options)
            .and_then(|()| writer.write_all(&bytes).map_err(Into::into))
            .map_err(|e| Error::internal(format!("zip: {e}")))?;
    }
    let cursor = writer
        .finish()
        .map_err(|e| Error::internal(format!("zip: {e}")))?;
    Ok(Rendered {
        content_type: "application/zip",
        extension: "zip",
        bytes: cursor.into_inner(),
    })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::internal(format!("rendering failed: {e}")))?
}

fn render_error(error: impl std::fmt::Display) -> Error {
    Error::internal(format!("rendering: {error}"))
}

/// A file name from a title: letters, digits, `-` and `_` only.
pub fn file_stem(title: &str) -> String {
    let stem: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if stem.is_empty() {
        "chart".into()
    } else {
        stem
    }
}
