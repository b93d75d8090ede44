-- Tag values are stored whole (MLflow accepts tags of any length and cuts them to 8,000
-- characters; ETS keeps up to 1,000,000). A B-tree entry holds at most about 2.7 kB in
-- PostgreSQL, so the (key, value) index refused long incompressible values; every tag query
-- looks tags up by run first (the primary key), and lookups by key alone use this index.
DROP INDEX run_tags_by_key_value;
CREATE INDEX run_tags_by_key ON run_tags (key);
