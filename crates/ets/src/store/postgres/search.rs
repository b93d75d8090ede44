//! PostgreSQL: search. (To be written.)
