//! libpq's `sslmode` against a cluster with `ssl = on` and a certificate signed by a test CA
//! (`tests/postgres/pg.sh` makes both and exports `PG_TEST_URL` and `PG_TEST_SSL_ROOTCERT`).
//! Whether a session is encrypted is read from the server (`pg_stat_ssl`).

mod common;

use ets::database_url::{DatabaseUrl, PgOptions};

/// The TLS cluster's URL (no query) and its CA file; `None` (skip) without them outside CI.
fn tls_cluster() -> Option<(String, String)> {
    let url = common::pg_test_url()?;
    match std::env::var("PG_TEST_SSL_ROOTCERT") {
        Ok(ca) if !ca.is_empty() => Some((url, ca)),
        _ => {
            assert!(
                !common::in_ci(),
                "CI is set but PG_TEST_SSL_ROOTCERT is not: scripts/test starts PostgreSQL with \
                 TLS (tests/postgres/pg.sh) and sets it"
            );
            eprintln!("PG_TEST_SSL_ROOTCERT is not set: skipping a PostgreSQL TLS test");
            None
        }
    }
}

fn options(url: &str) -> PgOptions {
    match url.parse() {
        Ok(DatabaseUrl::Postgres(options)) => *options,
        other => panic!("{url}: {other:?}"),
    }
}

/// `url` with its host replaced by `host` and `query` appended.
fn with(url: &str, host: &str, query: &str) -> String {
    let url = url.replacen("127.0.0.1", host, 1);
    if query.is_empty() {
        url
    } else {
        format!("{url}?{query}")
    }
}

/// Connects with `url` and answers whether the session is encrypted.
async fn encrypted(url: &str) -> Result<bool, String> {
    let client = ets::store::postgres::connect(&options(url))
        .await
        .map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn each_sslmode_connects_as_libpq_does() {
    let Some((url, ca)) = tls_cluster() else {
        return;
    };
    let cases = [
        // Debian's case: no sslmode (prefer) against a self-signed certificate.
        ("127.0.0.1", String::new(), true),
        ("127.0.0.1", "sslmode=prefer".into(), true),
        ("127.0.0.1", "sslmode=require".into(), true),
        ("127.0.0.1", "sslmode=allow".into(), false),
        ("127.0.0.1", "sslmode=disable".into(), false),
        (
            "127.0.0.1",
            format!("sslmode=require&sslrootcert={ca}"),
            true,
        ),
        (
            "127.0.0.1",
            format!("sslmode=verify-ca&sslrootcert={ca}"),
            true,
        ),
        (
            "localhost",
            format!("sslmode=verify-ca&sslrootcert={ca}"),
            true,
        ),
        (
            "127.0.0.1",
            format!("sslmode=verify-full&sslrootcert={ca}"),
            true,
        ),
        (
            "localhost",
            format!("sslmode=verify-full&sslrootcert={ca}"),
            true,
        ),
    ];
    for (host, query, tls) in cases {
        let url = with(&url, host, &query);
        assert_eq!(encrypted(&url).await, Ok(tls), "{url}");
    }
}

#[tokio::test]
async fn verification_without_a_trusted_ca_is_refused_with_what_to_do() {
    let Some((url, _ca)) = tls_cluster() else {
        return;
    };
    let home_root = std::env::var_os("HOME")
        .map(|home| std::path::Path::new(&home).join(".postgresql/root.crt"))
        .is_some_and(|path| path.exists());
    if !home_root {
        for mode in ["verify-full", "verify-ca"] {
            let error = encrypted(&with(&url, "127.0.0.1", &format!("sslmode={mode}")))
                .await
                .expect_err(mode);
            assert!(
                error.contains(&format!("sslmode={mode} verifies"))
                    && error.contains("sslrootcert=/path/to/ca.crt")
                    && error.contains("sslmode=require"),
                "{error}"
            );
        }
    }
    // The system's roots do not include the test CA: the certificate is not trusted.
    let error = encrypted(&with(
        &url,
        "127.0.0.1",
        "sslmode=verify-full&sslrootcert=system",
    ))
    .await
    .expect_err("self-signed against the system roots");
    assert!(
        error.contains("certificate is not trusted")
            && error.contains("sslrootcert=/path/to/ca.crt")
            && error.contains("sslmode=require"),
        "{error}"
    );
    // libpq: `require` with a root certificate verifies the chain (verify-ca).
    let other_ca = "/etc/ssl/certs/ca-certificates.crt";
    if std::path::Path::new(other_ca).exists() {
        let error = encrypted(&with(
            &url,
            "127.0.0.1",
            &format!("sslmode=require&sslrootcert={other_ca}"),
        ))
        .await
        .expect_err("require with another CA");
        assert!(error.contains("certificate is not trusted"), "{error}");
    }
}

#[tokio::test]
async fn the_pool_and_the_server_follow_sslmode() {
    let Some((url, _ca)) = tls_cluster() else {
        return;
    };
    // The whole server on the TLS cluster with the default sslmode: it starts and answers.
    let schema = common::create_pg_schema().await;
    let database: DatabaseUrl = schema.url.parse().unwrap();
    let limits = ets::store::StoreLimits {
        max_concurrent_experiments: 10,
        max_runs_per_experiment: 10,
        max_metric_keys_per_run: 10,
    };
    let store = ets::store::open(&database, 2, limits, true)
        .await
        .expect("opens with sslmode=prefer");
    store.ping().await.expect("ping");
    common::drop_pg_schema(&schema.name).await;
    assert!(schema.url.starts_with(&url));
}
