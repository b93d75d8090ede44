//! Confusion matrices: how a run logs one, and the chart.
