//! ETS charts: the figure model, M4 reduction and the renderers. Pure: no I/O, no database.

pub mod figure;
pub mod layout;
pub mod m4;

pub use figure::Figure;
