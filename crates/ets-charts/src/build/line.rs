//! Line charts, streamed: the caller reads the series [`series_reads`] lists, one at a time,
//! in that order, and pushes each into a [`LinePlan`]; [`LinePlan::finish`] gives the figure.
