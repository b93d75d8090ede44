//! A fresh PostgreSQL schema for one benchmark process (shared by the benchmark binaries).

use anyhow::{Context, Result};

/// Creates schema `<prefix>_<pid>` (dropping a leftover) on the server of `url`; returns the
/// client and the URL that selects the schema.
pub async fn fresh_pg_schema(url: &str, prefix: &str) -> Result<(tokio_postgres::Client, String)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(connection);
    let schema = format!("{prefix}_{}", std::process::id());
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await?;
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    Ok((client, url))
}
