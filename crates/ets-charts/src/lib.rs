//! ETS charts: what a chart asks for (`spec`), the figure model (`figure`), the builders that
//! draw run data into figures (`build`), M4 reduction (`m4`) and the renderers. Pure: no I/O.

pub mod build;
pub mod figure;
pub mod html;
pub mod layout;
pub mod m4;
pub mod plotly;
pub mod raster;
pub mod spec;
pub mod svg;
pub mod utc;

pub use figure::Figure;
pub use spec::ChartSpec;
