//! PostgreSQL: datasets. (To be written.)
