//! PostgreSQL: metric points alone (a training loop's `log_metric`) in one round trip.
//!
//! The ordinary write (`metrics::log` in `PgStore::write_pipelined`) must read the series —
//! ids, aggregates, last chunk — before it knows what to write: three round trips (the read,
//! the writes, then the audit record with `COMMIT`). A request that only appends to series
//! this instance wrote last is planned on its cached state instead
//! (`store::series_cache`), and everything goes out at once: `BEGIN`, the run row's lock,
//! a check that each series is still as cached, the chunk rows and aggregates, the audit
//! record (placed by the server) and `COMMIT`.
//!
//! Another instance may have written one of the series since: the check — its own
//! statement, after the run row's lock, so at READ COMMITTED it sees every write committed
//! before (all writes of a run's series take that lock first) — then fails on purpose (a
//! cast of its message to `int`, the one error it can raise), which aborts the transaction;
//! the statements after it fail and the `COMMIT` ends it with a rollback. The request is then
//! written the ordinary way, which puts the series back in the cache.

use deadpool_postgres::GenericClient;
use ets_domain::Timestamp;
use ets_domain::model::SeriesPoints;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::metrics::{self, INSERT_CHUNKS, TOUCH_RUN};
use super::{Error, InTransaction, PendingAudit, PgStore, Result, audit, pipelined_values};
use crate::audit::{Entry, UnplacedRecord};
use crate::store::ingest;
use crate::store::series_cache::{PlannedAppend, SeriesCheck};

/// Whether every series (`$2`…`$6`: id, point count, last step, last chunk and its size, as
/// cached) is as cached, in run `$1`, which exists outside the trash. Otherwise the cast of
/// the message fails (22P02), which names what happened in the server's log.
const CHECK_CACHED: &str = "SELECT CASE WHEN count(*) = cardinality($2::int8[]) THEN 0 \
       ELSE ('ETS: metric series changed since this instance cached them (another instance \
              wrote): ' || count(*) || ' of ' || cardinality($2::int8[]) || ' as cached')::int END \
     FROM runs r \
     JOIN UNNEST($2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int4[]) \
       AS e (id, point_count, last_step, tail_id, tail_count) ON true \
     JOIN metric_series s ON s.id = e.id AND s.run_id = r.id \
       AND s.point_count = e.point_count AND s.last_step = e.last_step \
     JOIN metric_chunks c ON c.id = e.tail_id AND c.series_id = s.id \
       AND c.point_count = e.tail_count \
     WHERE r.id = $1 AND r.deleted_at IS NULL";

/// The statements a planned append may send besides the audit trail's.
const STATEMENTS: [&str; 5] = [
    TOUCH_RUN,
    CHECK_CACHED,
    INSERT_CHUNKS,
    metrics::REWRITE_TAILS,
    metrics::UPDATE_AGGREGATES,
];

/// How a planned append ended.
enum Appended {
    Done {
        written: usize,
        duplicates: usize,
    },
    /// Another instance wrote one of the series: nothing was written; the points back.
    Stale(Vec<SeriesPoints>),
}

impl PgStore {
    /// Logs metric points alone (no params, tags or contexts): planned on the cached series
    /// when it can be, else (or when the cache was stale) the ordinary way.
    pub(super) async fn log_points(
        &self,
        run_id: &str,
        points: Vec<SeriesPoints>,
    ) -> Result<(usize, usize)> {
        let entries = crate::audit::take();
        let groups = ingest::merge_groups(points);
        let (groups, audit) = if entries.iter().any(Entry::waits_for_write) {
            self.series_cache
                .forget(run_id, groups.iter().map(|g| g.key.as_str()));
            (groups, PendingAudit::Entries(entries))
        } else {
            let records: Vec<UnplacedRecord> = entries.into_iter().map(Entry::unplaced).collect();
            match self.series_cache.take_planned(run_id, groups) {
                Err(groups) => (groups, PendingAudit::Unplaced(records)),
                Ok(planned) => match self.append_planned(run_id, planned, &records).await? {
                    Appended::Done {
                        written,
                        duplicates,
                    } => return Ok((written, duplicates)),
                    Appended::Stale(groups) => {
                        self.series_cache.stale();
                        (groups, PendingAudit::Unplaced(records))
                    }
                },
            }
        };
        let (owned_run, limits) = (run_id.to_owned(), self.limits);
        let logged = self
            .write_pipelined(audit, move |client| {
                Box::pin(async move { metrics::log(client, &owned_run, groups, &limits).await })
            })
            .await?;
        self.series_cache.remember(run_id, logged.appended);
        Ok((logged.written, logged.duplicates))
    }

    /// Sends a planned append and its audit `records` in one round trip.
    async fn append_planned(
        &self,
        run_id: &str,
        planned: Vec<PlannedAppend>,
        records: &[UnplacedRecord],
    ) -> Result<Appended> {
        let client = self.client().await?;
        // Prepared (cached) first, so that every statement below goes out when first polled.
        let statements = STATEMENTS.iter().chain(&audit::PLACED_STATEMENTS);
        futures_util::future::try_join_all(statements.map(|sql| client.prepare_cached(sql)))
            .await?;
        let (mut keys, mut checks, mut batches) = (Vec::new(), Vec::new(), Vec::new());
        for p in planned {
            keys.push(p.key);
            checks.push(p.check);
            batches.push(p.batch);
        }
        let duplicates = ingest::prepare(&mut batches);
        debug_assert!(batches.iter().all(|b| b.stored_range().is_none()));
        let written = ingest::written(&batches);
        let appends = vec![true; batches.len()];
        let open = InTransaction(Some(client));
        let c = open.client();
        let now = Timestamp::now().millis();
        let (begun, touched, checked, states, appended, committed) = tokio::join!(
            async { c.batch_execute("BEGIN").await.map_err(Error::from) },
            async {
                let touch = c.prepare_cached(TOUCH_RUN).await?;
                c.query_opt(&touch, &[&run_id, &now])
                    .await
                    .map_err(Error::from)
            },
            check_cached(c, run_id, &checks),
            metrics::write_batches(c, &keys, &batches, &appends),
            audit::append_placed(c, records),
            async { c.batch_execute("COMMIT").await.map_err(Error::from) },
        );
        // Whatever failed, an answered `COMMIT` ended the transaction (with a rollback if a
        // statement failed): the connection goes back to the pool.
        let ended = committed.is_ok();
        let outcome = match checked {
            Ok(false) => Ok(None),
            checked => pipelined_values((begun, touched, checked, states, appended, committed))
                .map(|(_, _, _, states, _, _)| Some(states)),
        };
        if ended {
            open.ended();
        }
        match outcome? {
            None => {
                // The points go back as they came (sorted and without repeats now).
                let groups = keys
                    .into_iter()
                    .zip(batches)
                    .map(|(key, batch)| SeriesPoints {
                        key,
                        points: batch.points,
                    });
                Ok(Appended::Stale(groups.collect()))
            }
            Some(states) => {
                self.series_cache.remember(run_id, states);
                Ok(Appended::Done {
                    written,
                    duplicates,
                })
            }
        }
    }
}

/// Sends [`CHECK_CACHED`]: `Ok(false)` when a series is not as cached.
async fn check_cached(
    c: &impl GenericClient,
    run_id: &str,
    checks: &[SeriesCheck],
) -> Result<bool> {
    let statement = c.prepare_cached(CHECK_CACHED).await?;
    let ids: Vec<i64> = checks.iter().map(|k| k.series_id).collect();
    let counts: Vec<i64> = checks.iter().map(|k| k.point_count).collect();
    let last_steps: Vec<i64> = checks.iter().map(|k| k.last_step).collect();
    let tail_ids: Vec<i64> = checks.iter().map(|k| k.tail_id).collect();
    let tail_counts: Vec<i32> = checks.iter().map(|k| k.tail_count).collect();
    let params: [&(dyn ToSql + Sync); 6] =
        [&run_id, &ids, &counts, &last_steps, &tail_ids, &tail_counts];
    match c.query_one(&statement, &params).await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some(&SqlState::INVALID_TEXT_REPRESENTATION) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Run with `PG_TEST_URL=postgres://…` (skipped otherwise), as `metrics.rs`' tests.
#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::metrics::tests::{RUN, TestDb, bits, group, p, sqlite};
    use super::*;
    use crate::store::{SeriesRequest, Store, log_metrics};

    const EVERY_POINT: SeriesRequest = SeriesRequest {
        start_step: None,
        end_step: None,
        max_points: None,
    };

    fn one(key: &str, step: i64) -> Vec<SeriesPoints> {
        vec![group(key, vec![p(step, 1000 + step, (step as f64).sin())])]
    }

    /// The series' aggregate count, and the points its chunks hold.
    async fn stored_counts(db: &TestDb, key: &str) -> (i64, i64) {
        let row = db
            .admin
            .query_one(
                &format!(
                    "SELECT s.point_count, (SELECT sum(point_count)::int8 FROM {0}.metric_chunks c \
                     WHERE c.series_id = s.id) FROM {0}.metric_series s WHERE s.key = $1",
                    db.schema
                ),
                &[&key],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }

    /// Two instances append to one series in turn: after the other one wrote, an instance's
    /// cache is stale; its write finds out, is written the ordinary way, and nothing is lost,
    /// repeated or out of order — the series is what SQLite holds for the same calls.
    #[tokio::test]
    async fn a_stale_cache_falls_back_and_loses_nothing() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let (a, b) = (db.store(10).await, db.store(10).await);
        let dir = tempfile::tempdir().unwrap();
        let lite = sqlite(&dir, 10).await;
        let mut step = 0;
        for round in 0..6 {
            let writer = if round % 2 == 0 { &a } else { &b };
            for _ in 0..(3 + round) {
                let calls = [one("loss", step), one("acc", step)];
                for call in calls {
                    let expected = log_metrics(&lite, RUN, call.clone()).await.unwrap();
                    assert_eq!(expected, (1, 0));
                    assert_eq!(log_metrics(writer, RUN, call).await.unwrap(), expected);
                }
                // Both keys in one call.
                let both = vec![
                    one("loss", step + 1).remove(0),
                    one("acc", step + 1).remove(0),
                ];
                let expected = log_metrics(&lite, RUN, both.clone()).await.unwrap();
                assert_eq!(log_metrics(writer, RUN, both).await.unwrap(), expected);
                step += 2;
            }
            // A retry of the last call through the other instance: duplicates, not appends.
            let other = if round % 2 == 0 { &b } else { &a };
            let retry = one("loss", step - 1);
            assert_eq!(log_metrics(other, RUN, retry).await.unwrap(), (0, 1));
        }
        let (planned_a, stale_a) = a.series_cache.planned_and_stale();
        let (planned_b, stale_b) = b.series_cache.planned_and_stale();
        assert!(
            planned_a > 20 && planned_b > 20,
            "{planned_a} / {planned_b} planned"
        );
        assert!(stale_a >= 2 && stale_b >= 2, "{stale_a} / {stale_b} stale");
        for key in ["loss", "acc"] {
            let want = lite.metric_series(RUN, key, EVERY_POINT).await.unwrap();
            for store in [&a, &b] {
                let got = store.metric_series(RUN, key, EVERY_POINT).await.unwrap();
                assert_eq!(bits(&got.points), bits(&want.points), "{key}");
            }
            let steps: Vec<i64> = want.points.iter().map(|p| p.step).collect();
            assert_eq!(steps, (0..step).collect::<Vec<_>>());
            assert_eq!(stored_counts(&db, key).await, (step, step), "{key}");
        }
        let summaries = |s: Vec<ets_domain::model::MetricSummary>| {
            s.iter()
                .map(|s| (s.key.clone(), s.count, s.last_step, s.min, s.max))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            summaries(a.metric_summaries(RUN).await.unwrap()),
            summaries(lite.metric_summaries(RUN).await.unwrap())
        );
        let report = a.verify_audit().await.unwrap();
        assert!(report.ok, "{report:?}");
        db.drop().await;
    }

    /// Two instances appending to one series at once, each its own steps: every point is
    /// stored once, the aggregates count the chunks' points, and the audit chain is whole.
    #[tokio::test]
    async fn concurrent_appends_through_two_instances_keep_every_point() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let stores = [Arc::new(db.store(10).await), Arc::new(db.store(10).await)];
        let tasks: Vec<_> = (0..2i64)
            .map(|i| {
                let store = Arc::clone(&stores[i as usize]);
                tokio::spawn(async move {
                    for k in 0..150 {
                        let step = 2 * k + i;
                        let logged = log_metrics(store.as_ref(), RUN, one("loss", step)).await;
                        assert_eq!(logged.unwrap(), (1, 0), "step {step}");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let series = stores[0]
            .metric_series(RUN, "loss", EVERY_POINT)
            .await
            .unwrap();
        let steps: Vec<i64> = series.points.iter().map(|p| p.step).collect();
        assert_eq!(steps, (0..300).collect::<Vec<_>>());
        assert_eq!(stored_counts(&db, "loss").await, (300, 300));
        let report = stores[1].verify_audit().await.unwrap();
        assert!(report.ok, "{report:?}");
        db.drop().await;
    }

    /// A planned write abandoned while PostgreSQL works on it (its statements, `COMMIT`
    /// included, all sent; the run row held by another transaction): once that transaction
    /// ends, the abandoned one finishes or rolls back on its own, nothing stays locked or
    /// open, the write is whole or absent, and the next writes (one pooled connection) go on.
    #[tokio::test]
    async fn an_abandoned_planned_write_leaves_no_lock_or_transaction() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let pg = PgStore::open(
            &super::super::test_options(&db.url),
            1,
            super::super::metrics::tests::limits(10),
            false,
        )
        .await
        .unwrap();
        for step in 0..3 {
            log_metrics(&pg, RUN, one("loss", step)).await.unwrap();
        }
        assert!(pg.series_cache.planned_and_stale().0 >= 1, "planned writes");
        let (blocker, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        blocker
            .batch_execute(&format!(
                "BEGIN; SELECT 1 FROM {}.runs WHERE id = '{RUN}' FOR UPDATE",
                db.schema
            ))
            .await
            .unwrap();
        let planned_before = pg.series_cache.planned_and_stale().0;
        {
            let abandoned = log_metrics(&pg, RUN, one("loss", 3));
            tokio::pin!(abandoned);
            // Polled until its statements wait behind the run row's lock, then dropped.
            let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND query LIKE 'UPDATE runs SET updated_at%' AND datname = current_database()";
            let mut blocked = false;
            for _ in 0..200 {
                assert!(futures_util::poll!(&mut abandoned).is_pending());
                let n: i64 = db.admin.query_one(waiting, &[]).await.unwrap().get(0);
                if n > 0 {
                    blocked = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(blocked, "the planned write reached the run row's lock");
        }
        assert_eq!(pg.series_cache.planned_and_stale().0, planned_before + 1);
        blocker.batch_execute("ROLLBACK").await.unwrap();
        // Nothing stays open: the run row and the audit chain are free again.
        let free = format!(
            "BEGIN; SELECT 1 FROM {}.runs WHERE id = '{RUN}' FOR UPDATE NOWAIT; \
             SELECT pg_advisory_xact_lock(7406072, hashtext('{}')); ROLLBACK",
            db.schema, db.schema
        );
        let mut freed = false;
        for _ in 0..100 {
            if db.admin.batch_execute(&free).await.is_ok() {
                freed = true;
                break;
            }
            let _ = db.admin.batch_execute("ROLLBACK").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(freed, "the abandoned write still holds a lock");
        // The locks can be free a moment before the abandoned write's backend takes the run
        // row (woken by the blocker's rollback) and ends: what must not happen is that its
        // transaction stays open.
        let mut open: i64 = 0;
        for _ in 0..100 {
            open = db
                .admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE state LIKE 'idle in transaction%' \
                     AND query LIKE 'UPDATE runs SET updated_at%'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if open == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(open, 0, "a transaction was left open");
        // The abandoned write sent its COMMIT: it is whole (the cache did not keep it, so the
        // next write reads the series), or absent.
        for step in 4..7 {
            let next = tokio::time::timeout(
                Duration::from_secs(10),
                log_metrics(&pg, RUN, one("loss", step)),
            )
            .await
            .expect("the pool's connection is not left in a transaction");
            assert_eq!(next.unwrap(), (1, 0));
        }
        let series = pg.metric_series(RUN, "loss", EVERY_POINT).await.unwrap();
        let steps: Vec<i64> = series.points.iter().map(|p| p.step).collect();
        assert!(
            steps == [0, 1, 2, 3, 4, 5, 6] || steps == [0, 1, 2, 4, 5, 6],
            "{steps:?}"
        );
        let n = steps.len() as i64;
        assert_eq!(stored_counts(&db, "loss").await, (n, n));
        let report = pg.verify_audit().await.unwrap();
        assert!(report.ok, "{report:?}");
        db.drop().await;
    }
}
