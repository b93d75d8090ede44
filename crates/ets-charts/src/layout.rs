//! Where the plot area sits in a figure. The SVG renderer draws into it and the chart service
//! reduces series to its pixel columns (M4) before drawing, so both must agree: this is the
//! one place that decides it. It depends only on the size, the legend and the notes, never on
//! the data, so it is known before any point is read.

/// A rectangle in CSS pixels from the top-left corner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

impl Rect {
    pub fn right(&self) -> f64 {
        self.left + self.width
    }
    pub fn bottom(&self) -> f64 {
        self.top + self.height
    }
}

pub const TITLE_HEIGHT: f64 = 40.0;
pub const LEFT_MARGIN: f64 = 80.0;
pub const RIGHT_MARGIN: f64 = 24.0;
/// Room for the x tick labels and the x axis title.
pub const BOTTOM_MARGIN: f64 = 56.0;
/// Width of the legend column, right of the plot, when the figure has a legend (or a colour bar).
pub const LEGEND_WIDTH: f64 = 180.0;
/// Height of one note line under the plot.
pub const NOTE_HEIGHT: f64 = 16.0;

/// The plot area of a `width` × `height` figure with or without a legend (or colour bar) and
/// with `notes` note lines.
pub fn plot_area(width: u32, height: u32, side_panel: bool, notes: usize) -> Rect {
    let right = RIGHT_MARGIN + if side_panel { LEGEND_WIDTH } else { 0.0 };
    let bottom = BOTTOM_MARGIN + NOTE_HEIGHT * notes as f64;
    Rect {
        left: LEFT_MARGIN,
        top: TITLE_HEIGHT,
        width: (f64::from(width) - LEFT_MARGIN - right).max(10.0),
        height: (f64::from(height) - TITLE_HEIGHT - bottom).max(10.0),
    }
}

/// The number of device pixel columns of the plot area at `scale` device pixels per CSS pixel
/// (PNG at `dpi` has `scale = dpi / 96`): the M4 grid width.
pub fn pixel_columns(area: &Rect, scale: f64) -> u32 {
    (area.width * scale).ceil().max(1.0) as u32
}
