//! Chart builders: run data in, a [`Figure`] out. Line charts stream their series through a
//! [`line::LinePlan`] (one series in memory at a time, each reduced with M4 to the plot's pixel
//! columns); every other type is drawn from the runs' params and metric summaries.

use std::collections::HashMap;

use ets_domain::model::{Experiment, Run};

use crate::figure::Figure;
use crate::spec::ChartSpec;

pub mod confusion;
pub mod healthcare;
pub mod line;
mod stats;
pub mod summary;
#[cfg(test)]
mod testutil;
mod values;

/// Output size of a figure: CSS pixels and device pixels per CSS pixel (PNG `dpi / 96`;
/// 1 for SVG, PDF and Plotly JSON), and what a line keeps of each pixel column: M4 for what
/// ETS draws (exact), min–max for Plotly JSON and HTML, which the browser draws.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size {
    pub width: u32,
    pub height: u32,
    pub scale: f64,
    pub reduction: crate::m4::Reduction,
}

/// What a builder draws from.
pub struct ChartInput<'a> {
    pub title: &'a str,
    pub spec: &'a ChartSpec,
    /// The chart's runs, in the order they are listed (legend order).
    pub runs: &'a [Run],
    /// The experiments the runs belong to, by id (names for labels and `group_by experiment`).
    pub experiments: &'a HashMap<String, Experiment>,
    /// `(run id, metric key)` → mean of every finite point of the series. Filled by the
    /// caller only when `spec.aggregate` is `mean`.
    pub means: &'a HashMap<(String, String), f64>,
    pub size: Size,
    /// Printed under the plot (e.g. the medical disclaimer).
    pub notes: &'a [String],
}

/// Draws a bar, scatter, heatmap, histogram or parallel-coordinates chart.
pub fn summary_chart(input: &ChartInput<'_>) -> Result<Figure, String> {
    summary::build(input)
}
