-- The format of each chunk's data (issue 18; see `store/chunks/mod.rs`): 0 for the chunks
-- written before (Gorilla-compressed or raw, told apart by length), 1 for appendable chunks
-- (blocks of up to 1,024 points and the encoder's state, so a batch is appended without
-- decoding the chunk). Existing rows keep 0 and stay readable; the first batch appended to
-- such a series' last chunk rewrites it as 1. The integers 0 and 1 take no bytes in a
-- SQLite record beyond their header byte.
ALTER TABLE metric_chunks ADD COLUMN encoding INTEGER NOT NULL DEFAULT 0;
