//! PostgreSQL: sql. (To be written.)
