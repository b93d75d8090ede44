-- The format of each chunk's data (issue 18; see `store/chunks/mod.rs`): 0 for the chunks
-- written before (Gorilla-compressed or raw, told apart by length), 1 for appendable chunks
-- (blocks of up to 1,024 points and the encoder's state, so a batch is appended without
-- decoding the chunk). Existing rows keep 0 and stay readable; the first batch appended to
-- such a series' last chunk rewrites it as 1. A constant default: no table rewrite.
ALTER TABLE metric_chunks ADD COLUMN encoding SMALLINT NOT NULL DEFAULT 0;

-- Chunks are compressed by ETS itself now (~3 bytes a point, no redundancy left for lz4 or
-- pglz to find): TOAST stores them out of line without trying to compress them again, which
-- spared nothing and cost a compression attempt on every rewrite of an appended chunk.
-- Values stored before keep their compression and read as before.
ALTER TABLE metric_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
