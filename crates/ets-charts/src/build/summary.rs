//! Bar, scatter, heatmap, histogram and parallel-coordinates charts from runs' params and
//! metric summaries.

use super::ChartInput;
use crate::figure::Figure;

pub fn build(input: &ChartInput<'_>) -> Result<Figure, String> {
    Err(format!("{} charts are not drawn yet", input.spec.kind.as_str()))
}
