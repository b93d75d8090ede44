//! The figure model: what a chart shows, independent of how it is drawn.
//!
//! Chart builders (`build`) turn run data into a [`Figure`]; renderers turn a figure into
//! Plotly JSON (`plotly`), SVG (`svg`), PNG and PDF (`raster`) or a self-contained HTML page
//! (`html`). Every format is drawn from the same figure, so they show the same thing.
//!
//! Coordinates are data values. On a [`Scale::Category`] axis a value `i` stands for
//! `Axis::categories[i]`, so every trace keeps plain `f64` coordinates.

use serde::{Deserialize, Serialize};

/// Default size of a rendered figure, in CSS pixels.
pub const DEFAULT_WIDTH: u32 = 900;
pub const DEFAULT_HEIGHT: u32 = 500;

/// A chart ready to draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub traces: Vec<Trace>,
    /// Reference lines drawn across the plot (thresholds).
    pub lines: Vec<RefLine>,
    /// Short lines printed under the plot: how series were reduced, the medical disclaimer.
    pub notes: Vec<String>,
    /// Size in CSS pixels (PNG multiplies by `dpi / 96`).
    pub width: u32,
    pub height: u32,
}

impl Figure {
    pub fn new(title: impl Into<String>, x: Axis, y: Axis) -> Self {
        Figure {
            title: title.into(),
            x,
            y,
            traces: Vec::new(),
            lines: Vec::new(),
            notes: Vec::new(),
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
        }
    }

    /// Whether the figure needs a legend: more than one named trace shown in it.
    pub fn has_legend(&self) -> bool {
        self.traces
            .iter()
            .filter(|t| t.legend_name().is_some())
            .count()
            > 1
    }
}

/// One axis of a figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    pub title: String,
    pub scale: Scale,
    /// Names of the values `0, 1, 2, …` on a category axis (empty otherwise).
    pub categories: Vec<String>,
    /// Fixed range; `None` fits the data (with a little padding).
    pub range: Option<(f64, f64)>,
}

impl Axis {
    pub fn linear(title: impl Into<String>) -> Self {
        Axis {
            title: title.into(),
            scale: Scale::Linear,
            categories: Vec::new(),
            range: None,
        }
    }

    pub fn log(title: impl Into<String>) -> Self {
        Axis {
            scale: Scale::Log,
            ..Axis::linear(title)
        }
    }

    pub fn category(title: impl Into<String>, categories: Vec<String>) -> Self {
        Axis {
            title: title.into(),
            scale: Scale::Category,
            categories,
            range: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    Linear,
    /// Base 10; values `<= 0` are not drawn.
    Log,
    Category,
    /// Milliseconds since the Unix epoch, shown as UTC dates and times.
    Time,
}

/// A colour as `#rrggbb`.
pub type Color = String;

/// Plotly's default qualitative palette (`plotly.colors.qualitative.Plotly`), so ETS charts
/// look like the ones users already know.
pub const PALETTE: [&str; 10] = [
    "#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880",
    "#FF97FF", "#FECB52",
];

/// The palette colour for the `i`-th series.
pub fn palette(i: usize) -> Color {
    PALETTE[i % PALETTE.len()].to_owned()
}

/// One thing drawn in a figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trace {
    Line(LineTrace),
    Band(BandTrace),
    Markers(MarkerTrace),
    Bars(BarTrace),
    Heatmap(HeatmapTrace),
    Parallel(ParallelTrace),
}

impl Trace {
    /// The name shown in the legend, if the trace has an entry there.
    pub fn legend_name(&self) -> Option<&str> {
        let (name, shown) = match self {
            Trace::Line(t) => (&t.name, t.show_legend),
            Trace::Band(t) => (&t.name, t.show_legend),
            Trace::Markers(t) => (&t.name, t.show_legend),
            Trace::Bars(t) => (&t.name, t.show_legend),
            Trace::Heatmap(_) | Trace::Parallel(_) => return None,
        };
        (shown && !name.is_empty()).then_some(name.as_str())
    }
}

/// A polyline through `(x[i], y[i])` in order. A non-finite `y` (NaN, ±inf) breaks the line:
/// the points on either side are not joined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineTrace {
    pub name: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub color: Color,
    /// Stroke width in CSS pixels.
    pub width: f64,
    /// 0..=1; a smoothed chart draws the raw curve faded (about 0.25) behind the smooth one.
    pub opacity: f64,
    pub dash: bool,
    pub show_legend: bool,
    /// Traces with the same group toggle together in the legend (raw + smoothed curve of a run).
    pub group: Option<String>,
    /// Points of the series before reduction (for the note and hover), `x.len()` if unreduced.
    pub total_points: u64,
}

impl LineTrace {
    pub fn new(name: impl Into<String>, x: Vec<f64>, y: Vec<f64>, color: Color) -> Self {
        let total_points = x.len() as u64;
        LineTrace {
            name: name.into(),
            x,
            y,
            color,
            width: 1.5,
            opacity: 1.0,
            dash: false,
            show_legend: true,
            group: None,
            total_points,
        }
    }
}

/// A filled area between `low[i]` and `high[i]` over `x[i]` (an aggregate's spread).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandTrace {
    pub name: String,
    pub x: Vec<f64>,
    pub low: Vec<f64>,
    pub high: Vec<f64>,
    pub color: Color,
    pub opacity: f64,
    pub show_legend: bool,
    pub group: Option<String>,
}

/// Points drawn as markers (scatter), each with an optional hover label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkerTrace {
    pub name: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// One per point, or empty.
    pub labels: Vec<String>,
    pub color: Color,
    /// Marker diameter in CSS pixels.
    pub size: f64,
    /// Drawn as a hollow ring (e.g. runs that breach a threshold), else filled.
    pub ring: bool,
    pub show_legend: bool,
}

/// Bars at the category (or numeric) positions `x[i]` with heights `y[i]`. Several bar traces
/// in one figure are drawn side by side (grouped). `width` is the bar width in data units for
/// numeric x (histograms: the bin width); `None` on a category axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarTrace {
    pub name: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Symmetric error bar per bar, or empty.
    pub error: Vec<f64>,
    pub color: Color,
    pub width: Option<f64>,
    pub show_legend: bool,
}

/// A matrix of cells: `z[row][column]`, rows along y (`Axis::categories` of y), columns along
/// x. `None` cells are empty. With `annotate`, each cell prints its value (confusion matrix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeatmapTrace {
    pub z: Vec<Vec<Option<f64>>>,
    pub colorscale: ColorScale,
    pub annotate: bool,
    /// Title of the colour bar.
    pub value_title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorScale {
    /// Plotly's `Viridis` (sequential).
    Viridis,
    /// Plotly's `Blues` (confusion matrices).
    Blues,
}

/// Parallel coordinates: one polyline per record across every dimension, coloured by
/// `color_values` (e.g. the objective of an HPO trial).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParallelTrace {
    pub dimensions: Vec<Dimension>,
    pub color_values: Vec<f64>,
    pub color_title: String,
    pub colorscale: ColorScale,
}

/// One vertical axis of a parallel-coordinates trace. `values[i]` is record `i`; a categorical
/// dimension stores indices into `categories`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    pub label: String,
    pub values: Vec<f64>,
    pub categories: Vec<String>,
}

/// A horizontal reference line at `y` (a threshold), labelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefLine {
    pub y: f64,
    pub label: String,
    pub color: Color,
    pub dash: bool,
}
