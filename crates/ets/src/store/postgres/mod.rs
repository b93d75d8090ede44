//! The PostgreSQL backend, for several ETS instances sharing one database.
//!
//! A `deadpool` pool of `tokio-postgres` connections, TLS by rustls as libpq's `sslmode` says
//! (`tls.rs`).
//! Every operation runs in one transaction: writes at READ COMMITTED with the rows they check
//! locked (`SELECT … FOR UPDATE`, advisory locks for counts), reads in a READ ONLY REPEATABLE
//! READ transaction so multi-statement reads see one snapshot, as on SQLite. Metric chunks are
//! loaded with binary COPY. Nothing is cached in the process but hints that the writes using
//! them check (`appends.rs`: what this instance last wrote of each metric series), so any
//! instance can serve any request.
//!
//! The `Store` methods are implemented as inherent methods of [`PgStore`] in the submodule of
//! their entity (`projects.rs`, `experiments.rs`, `runs.rs`, `models.rs`, `metrics.rs`,
//! `artifacts.rs`); the trait impl below forwards to them.

mod alerts;
mod appends;
mod artifacts;
mod audit;
mod datasets;
mod experiments;
mod files;
mod identity;
mod logs;
mod metrics;
mod models;
mod projects;
mod runs;
mod search;
mod signatures;
mod sql;
mod studies;
mod tls;
mod views;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use ets_domain::Timestamp;
use ets_domain::model::{
    Artifact, DatasetInput, Experiment, LoggedModel, MetricPoint, MetricSeries, MetricSummary,
    ParamValue, Project, ProjectStats, Run, RunModel, SeriesPoints, TagPatch,
};
use futures_util::future::BoxFuture;
use tokio_postgres::IsolationLevel;

use crate::audit::{AuditRecord, VerifyReport};
use crate::auth::Role;
use crate::database_url::{PgOptions, SslMode, SslOptions};
use crate::error::{Error, Result};
use crate::store::SignatureRecord;
use crate::store::identity::{
    ApiKeyRecord, KeyLogin, MemberRecord, SessionRecord, UserRecord, UserRef,
};
use crate::store::studies as q_attrs;
use crate::store::{
    AlertQuery, AlertRecord, AlertRuleRecord, AttrKind, AttrRecord, AuditQuery, DataOf,
    DeliveryOutcome, DeliveryRecord, ExperimentFilter, LatestMetric, Mutation, NewTrial,
    OpenTrials, Page, PageRequest, PointContext, PoolState, ProjectFilter, RunFilter, Search,
    SeriesRequest, Store, StoreLimits, StoredArtifact, StudyRecord, TrialRecord, TrialRunEnd,
    TrialState, ViewKind, ViewQuery, ViewRecord,
};

/// A transaction of the pool; every store function runs in one.
pub(crate) type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// Embedded migrations, the same numbering as SQLite's. Never edit a released one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "mlflow",
        include_str!("../../../migrations/postgres/0002_mlflow.sql"),
    ),
    (
        3,
        "artifact_objects",
        include_str!("../../../migrations/postgres/0003_artifact_objects.sql"),
    ),
    (
        4,
        "trash",
        include_str!("../../../migrations/postgres/0004_trash.sql"),
    ),
    (
        5,
        "tag_values",
        include_str!("../../../migrations/postgres/0005_tag_values.sql"),
    ),
    (
        6,
        "model_metric_values",
        include_str!("../../../migrations/postgres/0006_model_metric_values.sql"),
    ),
    (
        7,
        "auth",
        include_str!("../../../migrations/postgres/0007_auth.sql"),
    ),
    (
        8,
        "audit",
        include_str!("../../../migrations/postgres/0008_audit.sql"),
    ),
    (
        9,
        "views",
        include_str!("../../../migrations/postgres/0009_views.sql"),
    ),
    (
        10,
        "alerts",
        include_str!("../../../migrations/postgres/0010_alerts.sql"),
    ),
    (
        11,
        "signatures",
        include_str!("../../../migrations/postgres/0011_signatures.sql"),
    ),
    (
        12,
        "chunk_ranges",
        include_str!("../../../migrations/postgres/0012_chunk_ranges.sql"),
    ),
    (
        13,
        "artifact_locations",
        include_str!("../../../migrations/postgres/0013_artifact_locations.sql"),
    ),
    (
        14,
        "model_links",
        include_str!("../../../migrations/postgres/0014_model_links.sql"),
    ),
    (
        15,
        "studies",
        include_str!("../../../migrations/postgres/0015_studies.sql"),
    ),
    (
        16,
        "optuna_storage",
        include_str!("../../../migrations/postgres/0016_optuna_storage.sql"),
    ),
    (
        17,
        "run_count",
        include_str!("../../../migrations/postgres/0017_run_count.sql"),
    ),
    (
        18,
        "run_logs",
        include_str!("../../../migrations/postgres/0018_run_logs.sql"),
    ),
    (
        19,
        "chunk_summaries",
        include_str!("../../../migrations/postgres/0019_chunk_summaries.sql"),
    ),
    (
        20,
        "metric_order",
        include_str!("../../../migrations/postgres/0020_metric_order.sql"),
    ),
    (
        21,
        "chunk_encoding",
        include_str!("../../../migrations/postgres/0021_chunk_encoding.sql"),
    ),
];

/// Moves the children of an experiment (`project`: false) or project along with it into or
/// out of the trash (the statements of `store::statements`, which take the entity's id and `at`).
async fn move_children(
    tx: &Tx<'_>,
    project: bool,
    change: crate::store::rules::TrashMove,
    id: &str,
    at: Timestamp,
) -> Result<()> {
    for sql in crate::store::statements::children(project, change) {
        let statement = tx.prepare_cached(sql).await?;
        tx.execute(&statement, &[&id, &at.millis()]).await?;
    }
    Ok(())
}

/// Key of the advisory lock that serialises migrations of one schema: instances starting at
/// once wait for the first one's migration instead of racing it.
const MIGRATION_LOCK_SQL: &str =
    "SELECT pg_advisory_xact_lock(7406071, hashtext(current_schema()))";

/// PostgreSQL store.
pub struct PgStore {
    pool: Pool,
    limits: StoreLimits,
    /// The database URL, password redacted, for messages.
    label: String,
    /// For the hint in connection errors.
    ssl: SslOptions,
    /// What this instance last wrote of each metric series (`appends.rs`).
    series_cache: crate::store::series_cache::SeriesCache,
}

/// The TLS stream of a connection (plain or rustls, per `sslmode`).
type PgStream = <tokio_postgres_rustls::MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<
    tokio_postgres::Socket,
>>::Stream;

/// A connection's I/O half, to be polled (spawned) by the caller.
pub type PgConnection = tokio_postgres::Connection<tokio_postgres::Socket, PgStream>;

/// How connections are made: the options and the TLS configuration built from them once.
#[derive(Clone)]
pub struct Connector {
    options: PgOptions,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
}

impl Connector {
    /// Builds the TLS configuration `options.ssl` asks for (reading certificate files now, so
    /// a missing file stops start-up with its name).
    pub fn new(options: &PgOptions) -> Result<Connector> {
        Ok(Connector {
            options: options.clone(),
            tls: tls::make_tls(&options.ssl)?,
        })
    }

    /// One connection, as libpq's `sslmode` says: `allow` tries plain, then TLS; `prefer`
    /// uses TLS when the server offers it; `require` and stronger insist on TLS.
    pub async fn connect_raw(
        &self,
    ) -> std::result::Result<(tokio_postgres::Client, PgConnection), tokio_postgres::Error> {
        use tokio_postgres::config::SslMode as Pg;
        let attempts: &[Pg] = match self.options.ssl.mode {
            SslMode::Disable => &[Pg::Disable],
            SslMode::Allow => &[Pg::Disable, Pg::Require],
            SslMode::Prefer => &[Pg::Prefer],
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => &[Pg::Require],
        };
        let mut result = None;
        for mode in attempts {
            let mut config = self.options.config.clone();
            config.ssl_mode(*mode);
            match config.connect(self.tls.clone()).await {
                Ok(connected) => return Ok(connected),
                Err(e) => result = Some(e),
            }
        }
        Err(result.expect("at least one attempt"))
    }

    /// One connection outside the pool (migrations); the connection task is spawned.
    pub(crate) async fn connect(&self) -> Result<tokio_postgres::Client> {
        let (client, connection) = self.connect_raw().await.map_err(|e| {
            Error::internal(format!(
                "cannot connect to PostgreSQL '{}': {}",
                self.options.label(),
                tls::describe(&e, &self.options.ssl)
            ))
        })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection closed");
            }
        });
        Ok(client)
    }
}

impl deadpool_postgres::Connect for Connector {
    fn connect(
        &self,
        _config: &tokio_postgres::Config,
    ) -> BoxFuture<
        '_,
        std::result::Result<
            (tokio_postgres::Client, tokio::task::JoinHandle<()>),
            tokio_postgres::Error,
        >,
    > {
        Box::pin(async move {
            let (client, connection) = self.connect_raw().await?;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "PostgreSQL connection closed");
                }
            });
            Ok((client, task))
        })
    }
}

/// One connection outside the pool (migrations, LISTEN); the connection task is spawned.
pub async fn connect(options: &PgOptions) -> Result<tokio_postgres::Client> {
    Connector::new(options)?.connect().await
}

/// The options of a test database URL.
#[cfg(test)]
pub(crate) fn test_options(url: &str) -> PgOptions {
    match url.parse() {
        Ok(crate::database_url::DatabaseUrl::Postgres(options)) => *options,
        other => panic!("not a PostgreSQL URL: {other:?}"),
    }
}

/// Applies pending migrations (in one transaction, under an advisory lock); returns the
/// versions applied now. What `ets migrate` and `ets serve` at start-up run.
pub async fn migrate(options: &PgOptions) -> Result<Vec<i64>> {
    let mut client = connect(options).await?;
    let tx = client.transaction().await?;
    tx.batch_execute(MIGRATION_LOCK_SQL).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
         name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let done: Vec<i64> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        tx.batch_execute(sql)
            .await
            .map_err(|e| Error::internal(format!("migration {version} ({name}) failed: {e}")))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[version, name, &Timestamp::now().millis()],
        )
        .await?;
        applied.push(*version);
    }
    tx.commit().await?;
    Ok(applied)
}

/// Refuses to serve a schema older than this build (when start-up migration is off).
async fn check_schema_version(client: &tokio_postgres::Client, label: &str) -> Result<()> {
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    let current: Option<i64> = client
        .query_one(
            "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN NULL \
             ELSE (SELECT max(version) FROM schema_migrations) END",
            &[],
        )
        .await
        .ok()
        .and_then(|r| r.get(0));
    match current {
        Some(v) if v >= latest => Ok(()),
        other => Err(Error::internal(format!(
            "database '{label}' has schema version {} but this build needs {latest}: run \
             `ets migrate` (or start with migrations enabled)",
            other.map_or_else(|| "none".to_owned(), |v| v.to_string())
        ))),
    }
}

impl PgStore {
    /// Connects a pool of `pool_size` connections; migrates first when `migrate` is set, else
    /// checks that the schema is current.
    pub async fn open(
        options: &PgOptions,
        pool_size: u32,
        limits: StoreLimits,
        run_migrations: bool,
    ) -> Result<PgStore> {
        let label = options.label();
        let connector = Connector::new(options)?;
        if run_migrations {
            let applied = migrate(options).await?;
            if !applied.is_empty() {
                tracing::info!(database = %label, versions = ?applied, "applied migrations");
            }
        }
        let ssl = options.ssl.clone();
        let manager = Manager::from_connect(
            options.config.clone(),
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1) as usize)
            .build()
            .map_err(|e| Error::internal(format!("cannot build the PostgreSQL pool: {e}")))?;
        let store = PgStore {
            pool,
            limits,
            label,
            ssl,
            series_cache: Default::default(),
        };
        // At start-up the operator reads the error: it names the database and the cause.
        let client = store.pool.get().await.map_err(|e| {
            Error::internal(format!(
                "no PostgreSQL connection from the pool ({}): {}",
                store.label,
                store.pool_error(&e)
            ))
        })?;
        check_schema_version(&client, &store.label).await?;
        Ok(store)
    }

    /// A connection from the pool; when PostgreSQL cannot be reached, `Unavailable` (503: the
    /// client may retry) with the cause in the log, not in the answer.
    async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| {
            let reason = self.pool_error(&e);
            tracing::warn!(database = %self.label, %reason, "no PostgreSQL connection from the pool");
            database_unavailable()
        })
    }

    /// Why the pool gave no connection, with what to do about TLS.
    fn pool_error(&self, e: &deadpool_postgres::PoolError) -> String {
        match e {
            deadpool_postgres::PoolError::Backend(e) => tls::describe(e, &self.ssl),
            other => other.to_string(),
        }
    }

    /// Runs `work` in a read-write transaction and commits it when it succeeds (dropping an
    /// uncommitted transaction rolls it back), with the write's audit record (`audit::take`)
    /// appended last in the same transaction. Call as
    /// `self.write(move |tx| Box::pin(async move { … })).await`.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        F: for<'a> FnOnce(&'a Tx<'a>) -> BoxFuture<'a, Result<T>> + Send,
    {
        let audit = crate::audit::take();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let out = work(&tx).await?;
        audit::append(&tx, audit).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// [`write`](Self::write) with three round trips fewer, for work whose statements depend
    /// on earlier answers (so not [`write_at_once`](Self::write_at_once)): `BEGIN` goes out
    /// with `work`'s first statements, and the audit chain's lock, the records (placed by the
    /// server: `audit::append_placed`) and `COMMIT` together after them. `work` runs on the
    /// pooled client, inside the transaction begun by hand; it must send its first statement
    /// when first polled (nothing awaited before it), so that it follows the `BEGIN`.
    /// Abandoned mid-way, the connection is closed (`InTransaction`). `audit` is the write's
    /// records (`audit::take` when the caller has not taken them).
    pub(crate) async fn write_pipelined<T, F>(&self, audit: PendingAudit, work: F) -> Result<T>
    where
        F: for<'a> FnOnce(&'a deadpool_postgres::Client) -> BoxFuture<'a, Result<T>> + Send,
    {
        let client = self.client().await?;
        // Prepared (cached) before anything is sent, so each statement below goes out when
        // first polled: the inserts before the `COMMIT` they are joined with.
        futures_util::future::try_join_all(
            audit::PLACED_STATEMENTS.map(|sql| client.prepare_cached(sql)),
        )
        .await?;
        let open = InTransaction(Some(client));
        let c = open.client();
        let outcome = async {
            let (_, out) = tokio::try_join!(
                async { c.batch_execute("BEGIN").await.map_err(Error::from) },
                work(c),
            )?;
            let records = audit.into_records();
            let (appended, committed) = tokio::join!(audit::append_placed(c, &records), async {
                c.batch_execute("COMMIT").await.map_err(Error::from)
            });
            pipelined([appended, committed])?;
            Ok(out)
        }
        .await;
        match outcome {
            Ok(out) => {
                open.ended();
                Ok(out)
            }
            Err(e) => {
                open.roll_back().await;
                Err(e)
            }
        }
    }

    /// Runs a write in one round trip: `BEGIN`, `work`'s statements, the audit chain's lock
    /// and the write's records (placed by the server: `audit::append_placed`) and `COMMIT`
    /// all go out at once (`write` takes six round trips for the same). `statements` are
    /// every statement `work` sends: they are prepared first, so that each goes out when
    /// `work` is first polled, in order, and before the chain's lock (a write holding that
    /// lock never waits for a row lock). As the `COMMIT` goes out before any answer is read,
    /// whatever refuses the write must fail in the server (a guard statement); PostgreSQL then
    /// answers the `COMMIT` with a rollback, and `work` says why from the answers (its error).
    /// `work`'s audit records must not wait for its answers (`Entry::waits_for_write`).
    pub(crate) async fn write_at_once<T, F>(&self, statements: &[String], work: F) -> Result<T>
    where
        F: for<'a> FnOnce(&'a deadpool_postgres::Client) -> BoxFuture<'a, Result<T>> + Send,
    {
        let entries = crate::audit::take();
        debug_assert!(
            !entries.iter().any(crate::audit::Entry::waits_for_write),
            "a write sent at once cannot audit what it reads back"
        );
        let records: Vec<_> = entries
            .into_iter()
            .map(crate::audit::Entry::unplaced)
            .collect();
        let client = self.client().await?;
        let to_prepare = statements
            .iter()
            .map(String::as_str)
            .chain(audit::PLACED_STATEMENTS);
        futures_util::future::try_join_all(to_prepare.map(|sql| client.prepare_cached(sql)))
            .await?;
        let open = InTransaction(Some(client));
        let c = open.client();
        let (begun, out, appended, committed) = tokio::join!(
            async { c.batch_execute("BEGIN").await.map_err(Error::from) },
            work(c),
            audit::append_placed(c, &records),
            async { c.batch_execute("COMMIT").await.map_err(Error::from) },
        );
        // An answered `COMMIT` ended the transaction (with a rollback if a statement failed):
        // the connection goes back to the pool.
        let ended = committed.is_ok();
        let outcome = pipelined_values((begun, out, appended, committed));
        if ended {
            open.ended();
        }
        outcome.map(|(_, out, _, _)| out)
    }

    /// Runs `work` in a read-only transaction on one snapshot.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T>
    where
        F: for<'a> FnOnce(&'a Tx<'a>) -> BoxFuture<'a, Result<T>> + Send,
    {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(IsolationLevel::RepeatableRead)
            .start()
            .await?;
        let out = work(&tx).await?;
        tx.commit().await?;
        Ok(out)
    }
}

/// A write's audit records, before they are placed in the chain.
pub(crate) enum PendingAudit {
    /// As taken from the write's scope (`audit::take`): sealed once the write's answers are
    /// in (a mutation's result may be part of the digest).
    Entries(Vec<crate::audit::Entry>),
    /// Sealed before the write (nothing waited for its answers).
    Unplaced(Vec<crate::audit::UnplacedRecord>),
}

impl PendingAudit {
    fn into_records(self) -> Vec<crate::audit::UnplacedRecord> {
        match self {
            PendingAudit::Entries(entries) => entries
                .into_iter()
                .map(crate::audit::Entry::unplaced)
                .collect(),
            PendingAudit::Unplaced(records) => records,
        }
    }
}

/// A pooled connection inside a transaction opened by statement (`write_at_once`,
/// `write_pipelined`, the callers of `read_together`). Dropped
/// before the transaction ended (the request was cancelled mid-way), the connection leaves
/// the pool, closed, rather than going back to it inside the transaction.
struct InTransaction(Option<deadpool_postgres::Client>);

impl InTransaction {
    fn client(&self) -> &deadpool_postgres::Client {
        self.0.as_ref().expect("held until ended")
    }

    /// The transaction is over: the connection goes back to the pool.
    fn ended(mut self) {
        self.0.take();
    }

    /// Rolls the transaction back (the connection leaves the pool if even that fails).
    async fn roll_back(self) {
        if self.client().batch_execute("ROLLBACK").await.is_ok() {
            self.ended();
        }
    }
}

impl Drop for InTransaction {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(deadpool_postgres::Client::take(client));
        }
    }
}

/// A [`CopyInSink`](tokio_postgres::CopyInSink) of chunk rows, as `copy_in` answers it.
type CopyIn = std::result::Result<tokio_postgres::CopyInSink<bytes::Bytes>, tokio_postgres::Error>;

/// What the metric writes need of a connection: a transaction's ([`PgStore::write`]) or a
/// pooled client's inside a transaction begun by hand ([`PgStore::write_pipelined`]).
pub(crate) trait Conn: deadpool_postgres::GenericClient + Sync {
    /// `copy_in` of the transaction or client.
    fn copy_in_sink<'a>(
        &'a self,
        statement: &'a tokio_postgres::Statement,
    ) -> impl std::future::Future<Output = CopyIn> + Send + 'a;
}

macro_rules! conn_via_copy_in {
    ($($t:ty),+) => {$(
        impl Conn for $t {
            fn copy_in_sink<'a>(
                &'a self,
                statement: &'a tokio_postgres::Statement,
            ) -> impl std::future::Future<Output = CopyIn> + Send + 'a {
                self.copy_in(statement)
            }
        }
    )+};
}

conn_via_copy_in!(Tx<'_>, deadpool_postgres::Client);

/// Runs `reads` in a read-only transaction on one snapshot whose begin and end are sent
/// with them: one round trip, for reads that do not wait on each other's answers. `reads`
/// must send every statement when first polled (statements prepared beforehand, nothing
/// awaited between them), so they go out between `BEGIN` and `COMMIT`.
pub(crate) async fn read_together<T>(
    client: &deadpool_postgres::Client,
    reads: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let outcome = tokio::try_join!(
        async {
            client
                .batch_execute("BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ")
                .await
                .map_err(Error::from)
        },
        reads,
        async { client.batch_execute("COMMIT").await.map_err(Error::from) },
    );
    match outcome {
        Ok((_, out, _)) => Ok(out),
        Err(e) => {
            // Whatever failed, the pooled connection goes back outside any transaction.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// The outcome of writes pipelined in one transaction. Once one statement fails, PostgreSQL
/// answers the later ones "current transaction is aborted" (25P02, an internal error here),
/// and which answer a `try_join!` meets first depends on the order the statements went out (one
/// prepared on first use goes later): the error reported is the one that says what was wrong.
pub(crate) fn pipelined(results: impl IntoIterator<Item = Result<()>>) -> Result<()> {
    let mut internal = None;
    for result in results {
        match result {
            Err(Error::Internal(message)) => {
                internal.get_or_insert(Error::Internal(message));
            }
            Err(cause) => return Err(cause),
            Ok(()) => {}
        }
    }
    internal.map_or(Ok(()), Err)
}

/// [`pipelined`] for statements whose results carry values: the tuple of results that
/// `tokio::join!` gives becomes the tuple of values, or the error [`pipelined`] picks.
pub(crate) fn pipelined_values<R: JoinedResults>(results: R) -> Result<R::Values> {
    results.values()
}

/// A tuple of results, as [`pipelined_values`] takes it.
pub(crate) trait JoinedResults {
    type Values;
    fn values(self) -> Result<Self::Values>;
}

macro_rules! joined_results {
    ($($value:ident: $t:ident),+) => {
        impl<$($t),+> JoinedResults for ($(Result<$t>,)+) {
            type Values = ($($t,)+);
            fn values(self) -> Result<Self::Values> {
                let ($($value,)+) = self;
                match ($($value,)+) {
                    ($(Ok($value),)+) => Ok(($($value,)+)),
                    ($($value,)+) => {
                        Err(pipelined([$($value.map(drop)),+]).expect_err("one of them failed"))
                    }
                }
            }
        }
    };
}
joined_results!(a: A, b: B);
joined_results!(a: A, b: B, c: C);
joined_results!(a: A, b: B, c: C, d: D);
joined_results!(a: A, b: B, c: C, d: D, e: E);
joined_results!(a: A, b: B, c: C, d: D, e: E, f: F);

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        match e.as_db_error() {
            // Text PostgreSQL cannot store (a NUL character, in TEXT or JSONB): the client's
            // input, not our failure.
            Some(db)
                if *db.code() == SqlState::CHARACTER_NOT_IN_REPERTOIRE
                    || *db.code() == SqlState::UNTRANSLATABLE_CHARACTER =>
            {
                Error::BadRequest(format!(
                    "the request contains text the database cannot store: {} (NUL characters \
                     are not allowed in names, tags, params or descriptions)",
                    db.message()
                ))
            }
            // The server is shutting down, restarting or not accepting connections (class
            // 57P), or the connection failed (class 08): a retry may succeed.
            Some(db)
                if db.code().code().starts_with("57P") || db.code().code().starts_with("08") =>
            {
                tracing::warn!(
                    code = db.code().code(),
                    message = db.message(),
                    "PostgreSQL is unavailable"
                );
                database_unavailable()
            }
            Some(db) => Error::internal(format!(
                "PostgreSQL error {}: {}{}",
                db.code().code(),
                db.message(),
                db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
            )),
            None if e.is_closed() => {
                tracing::warn!(error = %e, "the connection to PostgreSQL was lost");
                database_unavailable()
            }
            None => Error::internal(format!("PostgreSQL: {e}")),
        }
    }
}

/// What a client is told while PostgreSQL cannot be reached.
fn database_unavailable() -> Error {
    Error::Unavailable("the database cannot be reached right now; retry shortly".into())
}

#[async_trait]
impl Store for PgStore {
    async fn create_project(&self, project: Project, admin: Option<String>) -> Result<Project> {
        PgStore::create_project(self, project, admin).await
    }
    async fn get_project(&self, id: &str) -> Result<Project> {
        PgStore::get_project(self, id).await
    }
    async fn list_projects(
        &self,
        filter: ProjectFilter,
        page: PageRequest,
    ) -> Result<Page<Project>> {
        PgStore::list_projects(self, filter, page).await
    }
    async fn update_project(&self, id: &str, mutation: Mutation<Project>) -> Result<Project> {
        PgStore::update_project(self, id, mutation).await
    }
    async fn delete_project(&self, id: &str, cascade: bool) -> Result<Vec<String>> {
        PgStore::delete_project(self, id, cascade).await
    }
    async fn set_project_deleted(&self, id: &str, deleted: bool, cascade: bool) -> Result<Project> {
        PgStore::set_project_deleted(self, id, deleted, cascade).await
    }
    async fn project_stats(&self, id: &str) -> Result<ProjectStats> {
        PgStore::project_stats(self, id).await
    }

    async fn create_experiment(&self, experiment: Experiment) -> Result<Experiment> {
        PgStore::create_experiment(self, experiment).await
    }
    async fn get_experiment(&self, id: &str) -> Result<Experiment> {
        PgStore::get_experiment(self, id).await
    }
    async fn list_experiments(
        &self,
        filter: ExperimentFilter,
        page: PageRequest,
    ) -> Result<Page<Experiment>> {
        PgStore::list_experiments(self, filter, page).await
    }
    async fn update_experiment(
        &self,
        id: &str,
        mutation: Mutation<Experiment>,
    ) -> Result<Experiment> {
        PgStore::update_experiment(self, id, mutation).await
    }
    async fn delete_experiment(&self, id: &str) -> Result<Vec<String>> {
        PgStore::delete_experiment(self, id).await
    }
    async fn set_experiment_deleted(&self, id: &str, deleted: bool) -> Result<Experiment> {
        PgStore::set_experiment_deleted(self, id, deleted).await
    }
    async fn search_experiments(&self, search: Search) -> Result<Vec<Experiment>> {
        PgStore::search_experiments(self, search).await
    }
    async fn find_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        PgStore::find_experiment_by_name(self, name).await
    }
    async fn count_runs(&self, experiment_ids: &[String]) -> Result<Vec<i64>> {
        PgStore::count_runs(self, experiment_ids).await
    }
    async fn latest_metrics(
        &self,
        experiment_ids: &[String],
        keys: Option<&[String]>,
    ) -> Result<Vec<LatestMetric>> {
        PgStore::latest_metrics(self, experiment_ids, keys).await
    }

    async fn create_run(&self, run: Run, params: Vec<(String, ParamValue)>) -> Result<Run> {
        PgStore::create_run(self, run, params).await
    }
    async fn get_run(&self, id: &str) -> Result<Run> {
        PgStore::get_run(self, id).await
    }
    async fn get_runs(&self, ids: Vec<String>) -> Result<Vec<Run>> {
        PgStore::get_runs(self, ids).await
    }
    async fn list_runs(&self, filter: RunFilter, page: PageRequest) -> Result<Page<Run>> {
        PgStore::list_runs(self, filter, page).await
    }
    async fn update_run(
        &self,
        id: &str,
        mutation: Mutation<Run>,
        params: Vec<(String, ParamValue)>,
        tags: TagPatch,
    ) -> Result<Run> {
        PgStore::update_run(self, id, mutation, params, tags).await
    }
    async fn delete_run(&self, id: &str) -> Result<()> {
        PgStore::delete_run(self, id).await
    }
    async fn search_runs(&self, search: Search) -> Result<Vec<Run>> {
        PgStore::search_runs(self, search).await
    }
    async fn log_inputs(&self, run_id: &str, inputs: Vec<DatasetInput>) -> Result<()> {
        PgStore::log_inputs(self, run_id, inputs).await
    }

    async fn log_run_models(&self, run_id: &str, models: Vec<RunModel>) -> Result<()> {
        PgStore::log_run_models(self, run_id, models).await
    }
    async fn create_logged_model(&self, model: LoggedModel) -> Result<LoggedModel> {
        PgStore::create_logged_model(self, model).await
    }
    async fn get_logged_model(&self, id: &str) -> Result<LoggedModel> {
        PgStore::get_logged_model(self, id).await
    }
    async fn update_logged_model(
        &self,
        id: &str,
        mutation: Mutation<LoggedModel>,
    ) -> Result<LoggedModel> {
        PgStore::update_logged_model(self, id, mutation).await
    }
    async fn delete_logged_model(&self, id: &str) -> Result<()> {
        PgStore::delete_logged_model(self, id).await
    }
    async fn search_logged_models(
        &self,
        experiment_ids: &[String],
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LoggedModel>> {
        PgStore::search_logged_models(self, experiment_ids, offset, limit).await
    }

    async fn log_batch(
        &self,
        run_id: &str,
        params: Vec<(String, ParamValue)>,
        tags: TagPatch,
        rename: Option<String>,
        points: Vec<SeriesPoints>,
        contexts: Vec<PointContext>,
    ) -> Result<(usize, usize)> {
        PgStore::log_batch(self, run_id, params, tags, rename, points, contexts).await
    }
    async fn metric_contexts(
        &self,
        run_ids: Vec<String>,
        key: String,
    ) -> Result<Vec<PointContext>> {
        PgStore::metric_contexts(self, run_ids, key).await
    }
    async fn metric_summaries(&self, run_id: &str) -> Result<Vec<MetricSummary>> {
        PgStore::metric_summaries(self, run_id).await
    }
    async fn metric_series(
        &self,
        run_id: &str,
        key: &str,
        request: SeriesRequest,
    ) -> Result<MetricSeries> {
        PgStore::metric_series(self, run_id, key, request).await
    }

    async fn append_logs(
        &self,
        run_id: &str,
        chunk: crate::store::logs::NewLogChunk,
    ) -> Result<crate::store::logs::LogAppend> {
        PgStore::append_logs(self, run_id, chunk).await
    }
    async fn log_chunks(
        &self,
        query: crate::store::logs::LogChunkQuery,
    ) -> Result<Vec<crate::store::logs::StoredLogChunk>> {
        PgStore::log_chunks(self, query).await
    }
    async fn log_line_count(&self, run_id: &str) -> Result<i64> {
        PgStore::log_line_count(self, run_id).await
    }
    async fn put_artifact(
        &self,
        run_id: &str,
        artifact: Artifact,
        object_key: String,
    ) -> Result<Option<StoredArtifact>> {
        PgStore::put_artifact(self, run_id, artifact, object_key).await
    }
    async fn list_artifacts(&self, run_id: &str, prefix: Option<&str>) -> Result<Vec<Artifact>> {
        PgStore::list_artifacts(self, run_id, prefix).await
    }
    async fn get_artifact(&self, run_id: &str, path: &str) -> Result<StoredArtifact> {
        PgStore::get_artifact(self, run_id, path).await
    }
    async fn delete_artifacts(&self, run_id: &str, path: &str) -> Result<Vec<StoredArtifact>> {
        PgStore::delete_artifacts(self, run_id, path).await
    }
    async fn artifact_object_keys(&self, run_id: &str) -> Result<Option<Vec<String>>> {
        PgStore::artifact_object_keys(self, run_id).await
    }
    async fn put_file(
        &self,
        experiment_id: Option<String>,
        file: Artifact,
        object_key: String,
    ) -> Result<Option<StoredArtifact>> {
        PgStore::put_file(self, experiment_id, file, object_key).await
    }
    async fn list_files(&self, prefix: Option<&str>) -> Result<Vec<StoredArtifact>> {
        PgStore::list_files(self, prefix).await
    }
    async fn get_file(&self, path: &str) -> Result<StoredArtifact> {
        PgStore::get_file(self, path).await
    }
    async fn delete_files(&self, path: &str) -> Result<Vec<StoredArtifact>> {
        PgStore::delete_files(self, path).await
    }
    async fn file_object_keys(&self) -> Result<Vec<String>> {
        PgStore::file_object_keys(self).await
    }
    async fn deleted_before(
        &self,
        kind: crate::store::Trashable,
        before: Timestamp,
    ) -> Result<Vec<String>> {
        PgStore::deleted_before(self, kind, before).await
    }

    async fn restore_times(
        &self,
        kind: crate::store::Trashable,
        id: &str,
        updated_at: Timestamp,
        deleted_at: Option<Timestamp>,
    ) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&kind.restore_times_sql()).await?;
                let changed = tx
                    .execute(
                        &statement,
                        &[
                            &id,
                            &updated_at.millis(),
                            &deleted_at.map(Timestamp::millis),
                        ],
                    )
                    .await?;
                match changed {
                    0 => Err(Error::not_found(kind.entity(), id)),
                    _ => Ok(()),
                }
            })
        })
        .await
    }
    async fn project_of(&self, entity: crate::error::EntityKind, id: &str) -> Result<String> {
        PgStore::project_of(self, entity, id).await
    }
    async fn create_user(&self, user: UserRecord) -> Result<UserRecord> {
        PgStore::create_user(self, user).await
    }
    async fn get_user(&self, by: UserRef) -> Result<UserRecord> {
        PgStore::get_user(self, by).await
    }
    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        PgStore::list_users(self).await
    }
    async fn update_user(&self, by: UserRef, mutation: Mutation<UserRecord>) -> Result<UserRecord> {
        PgStore::update_user(self, by, mutation).await
    }
    async fn create_api_key(&self, key: ApiKeyRecord) -> Result<ApiKeyRecord> {
        PgStore::create_api_key(self, key).await
    }
    async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>> {
        PgStore::list_api_keys(self, user_id).await
    }
    async fn revoke_api_key(&self, user_id: &str, key_id: &str, at: i64) -> Result<ApiKeyRecord> {
        PgStore::revoke_api_key(self, user_id, key_id, at).await
    }
    async fn key_login(&self, key_id: &str) -> Result<Option<KeyLogin>> {
        PgStore::key_login(self, key_id).await
    }
    async fn touch_api_key(&self, key_id: &str, at: i64) -> Result<()> {
        PgStore::touch_api_key(self, key_id, at).await
    }
    async fn user_roles(&self, user_id: &str) -> Result<Vec<(String, Role)>> {
        PgStore::user_roles(self, user_id).await
    }
    async fn list_members(&self, project_id: &str) -> Result<Vec<MemberRecord>> {
        PgStore::list_members(self, project_id).await
    }
    async fn set_member(
        &self,
        project_id: &str,
        user: UserRef,
        role: Option<Role>,
        at: i64,
    ) -> Result<Option<MemberRecord>> {
        PgStore::set_member(self, project_id, user, role, at).await
    }
    async fn create_session(&self, session: SessionRecord) -> Result<()> {
        PgStore::create_session(self, session).await
    }
    async fn get_session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
        PgStore::get_session(self, token_hash).await
    }
    async fn dataset_summaries(
        &self,
        experiment_ids: Vec<String>,
    ) -> Result<Vec<crate::store::datasets::DatasetSummary>> {
        self.read(move |tx| Box::pin(async move { datasets::summaries(tx, &experiment_ids).await }))
            .await
    }

    async fn create_study(&self, study: StudyRecord) -> Result<StudyRecord> {
        PgStore::create_study(self, study).await
    }

    async fn get_study(&self, id: &str) -> Result<StudyRecord> {
        PgStore::get_study(self, id).await
    }

    async fn study_by_seq(&self, seq: i64) -> Result<StudyRecord> {
        PgStore::study_by_seq(self, seq).await
    }

    async fn studies(&self, experiment_id: &str) -> Result<Vec<StudyRecord>> {
        PgStore::studies(self, experiment_id).await
    }

    async fn project_studies(&self, project_id: &str) -> Result<Vec<StudyRecord>> {
        PgStore::project_studies(self, project_id).await
    }

    async fn delete_study(&self, id: &str) -> Result<()> {
        PgStore::delete_study(self, id).await
    }

    async fn set_study_attr(
        &self,
        study_id: &str,
        kind: AttrKind,
        key: &str,
        value: &str,
    ) -> Result<()> {
        PgStore::set_study_attr(self, study_id, kind, key, value).await
    }

    async fn study_attrs(&self, study_id: &str) -> Result<Vec<AttrRecord>> {
        PgStore::study_attrs(self, q_attrs::STUDY_ATTRS, study_id).await
    }

    async fn project_study_attrs(&self, project_id: &str) -> Result<Vec<AttrRecord>> {
        PgStore::study_attrs(self, q_attrs::PROJECT_STUDY_ATTRS, project_id).await
    }

    async fn grow_search_space(
        &self,
        study_id: &str,
        name: &str,
        distribution: serde_json::Value,
    ) -> Result<()> {
        PgStore::grow_search_space(self, study_id, name, distribution).await
    }

    async fn add_trial(&self, trial: NewTrial) -> Result<TrialRecord> {
        PgStore::add_trial(self, trial).await
    }

    async fn start_trial(
        &self,
        run: Run,
        params: Vec<(String, ParamValue)>,
        trial: NewTrial,
        number: i64,
        seen: Option<OpenTrials>,
    ) -> Result<(Run, TrialRecord)> {
        PgStore::start_trial(self, run, params, trial, number, seen).await
    }
    async fn set_trial_param(
        &self,
        id: &str,
        name: &str,
        value: serde_json::Value,
        distribution: serde_json::Value,
    ) -> Result<()> {
        PgStore::set_trial_param(self, id, name, value, distribution).await
    }

    async fn get_trial(&self, id: &str) -> Result<TrialRecord> {
        PgStore::get_trial(self, id).await
    }

    async fn trial_with_study(&self, id: &str) -> Result<(TrialRecord, StudyRecord)> {
        PgStore::trial_with_study(self, id).await
    }

    async fn trial_by_number(&self, study_id: &str, number: i64) -> Result<TrialRecord> {
        PgStore::trial_by_number(self, study_id, number).await
    }

    async fn trials_after(
        &self,
        study_id: &str,
        after: i64,
    ) -> Result<(StudyRecord, Vec<TrialRecord>)> {
        PgStore::trials_after(self, study_id, after).await
    }

    async fn experiment_trials(
        &self,
        experiment_id: &str,
    ) -> Result<Vec<(StudyRecord, Vec<TrialRecord>)>> {
        PgStore::experiment_trials(self, experiment_id).await
    }

    async fn set_trial_state(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
    ) -> Result<Option<TrialRecord>> {
        PgStore::set_trial_state(self, id, state, values, at).await
    }

    async fn tell_trial(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
        run: Option<TrialRunEnd>,
    ) -> Result<(TrialRecord, Option<(Run, usize)>)> {
        PgStore::tell_trial(self, id, state, values, at, run).await
    }
    async fn set_trial_attr(&self, id: &str, kind: AttrKind, key: &str, value: &str) -> Result<()> {
        PgStore::set_trial_attr(self, id, kind, key, value).await
    }

    async fn report_trial_value(&self, id: &str, step: i64, value: f64) -> Result<()> {
        PgStore::report_trial_value(self, id, step, value).await
    }

    async fn add_signature(&self, signature: SignatureRecord) -> Result<SignatureRecord> {
        PgStore::add_signature(self, signature).await
    }

    async fn signatures(&self, run_ids: Vec<String>) -> Result<Vec<SignatureRecord>> {
        PgStore::signatures(self, run_ids).await
    }

    async fn create_alert_rule(&self, rule: AlertRuleRecord) -> Result<AlertRuleRecord> {
        PgStore::create_alert_rule(self, rule).await
    }

    async fn get_alert_rule(&self, id: &str) -> Result<AlertRuleRecord> {
        PgStore::get_alert_rule(self, id).await
    }

    async fn list_alert_rules(
        &self,
        projects: Option<Vec<String>>,
    ) -> Result<Vec<AlertRuleRecord>> {
        PgStore::list_alert_rules(self, projects).await
    }

    async fn update_alert_rule(
        &self,
        id: &str,
        mutation: Mutation<AlertRuleRecord>,
    ) -> Result<AlertRuleRecord> {
        PgStore::update_alert_rule(self, id, mutation).await
    }

    async fn delete_alert_rule(&self, id: &str) -> Result<()> {
        PgStore::delete_alert_rule(self, id).await
    }

    async fn fire_alert(
        &self,
        alert: AlertRecord,
        delivery: Option<DeliveryRecord>,
    ) -> Result<bool> {
        PgStore::fire_alert(self, alert, delivery).await
    }

    async fn resolve_alert(
        &self,
        id: &str,
        at: i64,
        delivery: Option<DeliveryRecord>,
    ) -> Result<bool> {
        PgStore::resolve_alert(self, id, at, delivery).await
    }

    async fn acknowledge_alert(&self, id: &str, by: &str, at: i64) -> Result<AlertRecord> {
        PgStore::acknowledge_alert(self, id, by, at).await
    }

    async fn get_alert(&self, id: &str) -> Result<AlertRecord> {
        PgStore::get_alert(self, id).await
    }

    async fn list_alerts(&self, query: AlertQuery) -> Result<Vec<AlertRecord>> {
        PgStore::list_alerts(self, query).await
    }

    async fn open_alerts(&self, run_ids: Vec<String>) -> Result<Vec<AlertRecord>> {
        PgStore::open_alerts(self, run_ids).await
    }

    async fn alert_deliveries(&self, alert_id: &str) -> Result<Vec<DeliveryRecord>> {
        PgStore::alert_deliveries(self, alert_id).await
    }

    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        PgStore::claim_deliveries(self, now, lease_until, limit).await
    }

    async fn finish_delivery(&self, id: &str, outcome: DeliveryOutcome) -> Result<()> {
        PgStore::finish_delivery(self, id, outcome).await
    }

    async fn alert_sweep_runs(
        &self,
        since: i64,
        experiment_ids: Vec<String>,
        project_ids: Vec<String>,
        limit: u32,
    ) -> Result<Vec<String>> {
        PgStore::alert_sweep_runs(self, since, experiment_ids, project_ids, limit).await
    }

    async fn create_view(&self, view: ViewRecord) -> Result<ViewRecord> {
        PgStore::create_view(self, view).await
    }
    async fn get_view(&self, kind: ViewKind, id: &str) -> Result<ViewRecord> {
        PgStore::get_view(self, kind, id).await
    }
    async fn list_views(&self, query: ViewQuery) -> Result<Vec<ViewRecord>> {
        PgStore::list_views(self, query).await
    }
    async fn update_view(
        &self,
        kind: ViewKind,
        id: &str,
        mutation: Mutation<ViewRecord>,
    ) -> Result<ViewRecord> {
        PgStore::update_view(self, kind, id, mutation).await
    }
    async fn delete_view(&self, kind: ViewKind, id: &str) -> Result<()> {
        PgStore::delete_view(self, kind, id).await
    }
    async fn stream_series(
        &self,
        series: Vec<(String, String)>,
        out: tokio::sync::mpsc::Sender<(usize, Vec<MetricPoint>)>,
    ) -> Result<()> {
        PgStore::stream_series(self, series, out).await
    }
    async fn series_step_bounds(
        &self,
        series: Vec<(String, String)>,
    ) -> Result<Vec<Option<(i64, i64)>>> {
        PgStore::series_step_bounds(self, series).await
    }
    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        PgStore::delete_session(self, token_hash).await
    }
    async fn audit_records(&self, query: AuditQuery) -> Result<Page<AuditRecord>> {
        self.read(move |tx| Box::pin(async move { audit::list(tx, &query).await }))
            .await
    }
    async fn verify_audit(&self) -> Result<VerifyReport> {
        self.read(|tx| Box::pin(audit::verify(tx))).await
    }
    async fn is_healthcare(&self, of: DataOf) -> Result<bool> {
        audit::is_healthcare(&self.client().await?, &of).await
    }
    async fn append_audit(&self) -> Result<()> {
        self.write(|_| Box::pin(async { Ok(()) })).await
    }

    async fn ping(&self) -> Result<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    fn pool_state(&self) -> PoolState {
        let status = self.pool.status();
        PoolState {
            read_connections: status.size,
            read_connections_idle: status.available,
            write_queue_depth: status.waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cause of a failed pipeline is reported, not the "transaction is aborted" answers of
    /// the statements after it, whichever order they come in.
    #[test]
    fn pipelined_writes_report_the_cause() {
        let aborted = || {
            Err(Error::internal(
                "PostgreSQL error 25P02: transaction is aborted",
            ))
        };
        let cause = || Err(Error::BadRequest("NUL characters are not allowed".into()));
        for results in [[Ok(()), aborted(), cause()], [cause(), aborted(), Ok(())]] {
            assert!(matches!(pipelined(results), Err(Error::BadRequest(_))));
        }
        assert!(matches!(
            pipelined([Ok(()), aborted(), Ok(())]),
            Err(Error::Internal(_))
        ));
        assert!(pipelined([Ok(()), Ok(())]).is_ok());
    }

    /// The same for statements whose results carry values: the values when all succeeded.
    #[test]
    fn pipelined_values_report_the_cause() {
        let aborted = || Error::internal("PostgreSQL error 25P02: transaction is aborted");
        let missing = || Error::not_found(crate::error::EntityKind::Run, "r1");
        let results: (Result<u64>, Result<&str>, Result<()>) =
            (Err(aborted()), Err(missing()), Ok(()));
        assert!(matches!(
            pipelined_values(results),
            Err(Error::NotFound { .. })
        ));
        let results: (Result<u64>, Result<&str>) = (Ok(1), Err(aborted()));
        assert!(matches!(pipelined_values(results), Err(Error::Internal(_))));
        let results: (Result<u64>, Result<&str>) = (Ok(1), Ok("a"));
        assert_eq!(pipelined_values(results).unwrap(), (1, "a"));
    }
}
