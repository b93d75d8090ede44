//! Connections to one SQLite database: a single writer thread with group commit, and a pool
//! of reader connections.
//!
//! SQLite allows one writer at a time. Rather than let many connections fight over the write
//! lock (and fail with SQLITE_BUSY), every write is a job sent to one thread that owns the
//! write connection. That thread takes all jobs waiting at the moment and commits them in one
//! transaction, each inside its own savepoint: a job that fails is rolled back alone, and many
//! small concurrent writes (one `log-metric` call each) share one commit, which is where the
//! time of a small write goes. Replies are sent only after the commit succeeds.
//!
//! Readers use WAL snapshots and never wait for the writer.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::error::{Error, Result};

/// Most jobs committed together; bounds the latency one commit adds to the first job.
const MAX_JOBS_PER_COMMIT: usize = 512;
/// Jobs that may wait for the writer before senders are made to wait (backpressure).
const WRITE_QUEUE_CAPACITY: usize = 4096;

trait WriteJob: Send {
    /// Runs the job inside the open transaction; returns whether it failed.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Sends the result; `commit_failure` is set when the shared commit failed.
    fn complete(self: Box<Self>, commit_failure: Option<&rusqlite::Error>);
}

struct PendingJob<T, F> {
    work: Option<F>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> WriteJob for PendingJob<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return true;
        };
        let result =
            std::panic::catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|_| {
                Err(Error::internal(
                    "a database write panicked; it was rolled back",
                ))
            });
        let failed = result.is_err();
        self.result = Some(result);
        failed
    }

    fn complete(self: Box<Self>, commit_failure: Option<&rusqlite::Error>) {
        let result = match (self.result, commit_failure) {
            (Some(Err(own_error)), _) => Err(own_error),
            // A full disk is the client's to know (507); anything else is ours.
            (Some(Ok(_)) | None, Some(failure)) if super::sql::is_disk_full(failure) => {
                Err(Error::storage_full())
            }
            (Some(Ok(_)) | None, Some(failure)) => {
                Err(Error::internal(format!("commit failed: {failure}")))
            }
            (Some(Ok(value)), None) => Ok(value),
            (None, None) => Err(Error::internal("write job was never run")),
        };
        let _ = self.reply.send(result);
    }
}

/// Handle to the writer thread.
pub(super) struct Writer {
    sender: mpsc::Sender<Box<dyn WriteJob>>,
    queue_depth: Arc<AtomicUsize>,
}

impl Writer {
    /// Starts the writer thread on `conn`. The thread ends when the last handle is dropped.
    pub(super) fn start(conn: Connection) -> Result<Writer> {
        let (sender, receiver) = mpsc::channel(WRITE_QUEUE_CAPACITY);
        let queue_depth = Arc::new(AtomicUsize::new(0));
        let depth = queue_depth.clone();
        std::thread::Builder::new()
            .name("ets-sqlite-writer".into())
            .spawn(move || writer_loop(conn, receiver, depth))
            .map_err(|e| Error::internal(format!("cannot start the SQLite writer thread: {e}")))?;
        Ok(Writer {
            sender,
            queue_depth,
        })
    }

    /// Runs `work` in a write transaction (shared with other jobs, isolated by a savepoint)
    /// and returns its result once committed. An error from `work` rolls back only its changes.
    /// The audit record of the write (`audit::take`, read here in the caller's task) is
    /// appended after `work`, inside the same savepoint.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let audit = crate::audit::take();
        let work = move |conn: &Connection| {
            let out = work(conn)?;
            super::audit::append(conn, audit)?;
            Ok(out)
        };
        let (reply, response) = oneshot::channel();
        let job: Box<dyn WriteJob> = Box::new(PendingJob {
            work: Some(work),
            result: None,
            reply,
        });
        self.queue_depth.fetch_add(1, Ordering::Relaxed);
        if self.sender.send(job).await.is_err() {
            self.queue_depth.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::internal("the SQLite writer has stopped"));
        }
        response
            .await
            .map_err(|_| Error::internal("the SQLite writer dropped a job"))?
    }

    pub(super) fn queue_depth(&self) -> usize {
        self.queue_depth.load(Ordering::Relaxed)
    }
}

fn writer_loop(
    conn: Connection,
    mut receiver: mpsc::Receiver<Box<dyn WriteJob>>,
    depth: Arc<AtomicUsize>,
) {
    while let Some(first) = receiver.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_JOBS_PER_COMMIT {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        depth.fetch_sub(jobs.len(), Ordering::Relaxed);
        commit_group(&conn, jobs);
    }
}

/// Runs transaction control statements, prepared once per connection (`execute_batch`
/// would parse them again on every commit).
fn control(conn: &Connection, statements: &[&str]) -> rusqlite::Result<()> {
    for sql in statements {
        conn.prepare_cached(sql)?.execute([])?;
    }
    Ok(())
}

fn commit_group(conn: &Connection, mut jobs: Vec<Box<dyn WriteJob>>) {
    if let Err(e) = control(conn, &["BEGIN IMMEDIATE"]) {
        jobs.into_iter().for_each(|job| job.complete(Some(&e)));
        return;
    }
    // A lone job needs no savepoint: if it fails, the whole transaction is rolled back.
    let isolate = jobs.len() > 1;
    let mut any_succeeded = false;
    for job in jobs.iter_mut() {
        if isolate && control(conn, &["SAVEPOINT job"]).is_err() {
            continue; // run() never called: complete() reports the job as failed
        }
        let failed = job.run(conn);
        if isolate {
            let undo: &[&str] = if failed {
                &["ROLLBACK TO job", "RELEASE job"]
            } else {
                &["RELEASE job"]
            };
            if let Err(e) = control(conn, undo) {
                tracing::error!(error = %e, "cannot close a write savepoint");
            }
        }
        any_succeeded |= !failed;
    }
    let outcome = if any_succeeded {
        control(conn, &["COMMIT"])
    } else {
        control(conn, &["ROLLBACK"])
    };
    let failure = match outcome {
        Ok(()) => None,
        Err(e) => {
            let _ = control(conn, &["ROLLBACK"]);
            tracing::error!(error = %e, jobs = jobs.len(), "SQLite commit failed");
            Some(e)
        }
    };
    jobs.into_iter()
        .for_each(|job| job.complete(failure.as_ref()));
}

/// Read-only connections, handed out one per blocking task. They are opened as concurrent
/// reads need them, up to the pool's size, and then kept: every connection parses the whole
/// schema when it opens (~0.5 ms and ~100 kB each with today's schema), which a server that
/// serves one reader at a time should not pay twenty times at start-up. Idle connections are
/// reused last-in first-out, so a quiet server keeps using the same few.
#[derive(Clone)]
pub(super) struct ReadPool {
    inner: Arc<ReadPoolInner>,
}

struct ReadPoolInner {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    size: usize,
    /// Connections opened so far (at most `size`).
    opened: AtomicUsize,
    /// Opens one more read connection.
    open: Box<dyn Fn() -> Result<Connection> + Send + Sync>,
}

impl ReadPool {
    /// A pool of at most `size` connections made by `open`, of which `first` is the first.
    pub(super) fn new(
        first: Connection,
        size: usize,
        open: impl Fn() -> Result<Connection> + Send + Sync + 'static,
    ) -> ReadPool {
        let size = size.max(1);
        ReadPool {
            inner: Arc::new(ReadPoolInner {
                idle: Mutex::new(vec![first]),
                permits: Arc::new(Semaphore::new(size)),
                size,
                opened: AtomicUsize::new(1),
                open: Box::new(open),
            }),
        }
    }

    /// Runs `work` on a pooled connection in a blocking task (opening one when every open
    /// connection is busy and the pool is not full).
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(Error::internal)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let idle = inner.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match idle {
                Some(conn) => conn,
                // Every open connection is in use by another permit holder, so fewer than
                // `size` are open: this permit's connection is yet to be made.
                None => {
                    let conn = (inner.open)().map_err(|e| {
                        Error::internal(format!("cannot open another read connection: {e}"))
                    })?;
                    inner.opened.fetch_add(1, Ordering::Relaxed);
                    conn
                }
            };
            let guard = Checkout {
                conn: Some(conn),
                pool: &inner,
            };
            let result = work(guard.conn.as_ref().expect("checked out"));
            drop(guard);
            drop(permit);
            result
        })
        .await
        .map_err(|e| Error::internal(format!("read task failed: {e}")))?
    }

    /// (open connections, idle open connections).
    pub(super) fn state(&self) -> (usize, usize) {
        let opened = self.inner.opened.load(Ordering::Relaxed);
        let in_use = self.inner.size - self.inner.permits.available_permits();
        (opened, opened.saturating_sub(in_use))
    }
}

/// Returns the connection to the pool even if the work panics.
struct Checkout<'a> {
    conn: Option<Connection>,
    pool: &'a ReadPoolInner,
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counting_pool(size: usize) -> (ReadPool, Arc<AtomicUsize>) {
        let opened = Arc::new(AtomicUsize::new(0));
        let counter = opened.clone();
        let pool = ReadPool::new(Connection::open_in_memory().unwrap(), size, move || {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(Connection::open_in_memory()?)
        });
        (pool, opened)
    }

    /// `rounds` rounds of `width` reads at once (each waits for the others of its round).
    async fn concurrent_reads(pool: &ReadPool, width: usize, rounds: usize) {
        for _ in 0..rounds {
            let together = Arc::new(std::sync::Barrier::new(width));
            let reads = (0..width).map(|_| {
                let (pool, together) = (pool.clone(), together.clone());
                tokio::spawn(async move {
                    pool.run(move |c| {
                        together.wait();
                        Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)
                    })
                    .await
                })
            });
            for read in futures_util::future::join_all(reads).await {
                assert_eq!(read.unwrap().unwrap(), 1);
            }
        }
    }

    #[tokio::test]
    async fn read_connections_are_opened_as_concurrent_reads_need_them_up_to_the_size() {
        let (pool, opened) = counting_pool(3);
        assert_eq!(pool.state(), (1, 1), "one connection is opened up front");
        concurrent_reads(&pool, 1, 5).await;
        assert_eq!(
            opened.load(Ordering::Relaxed),
            0,
            "one read at a time reuses it"
        );
        assert_eq!(pool.state(), (1, 1));
        concurrent_reads(&pool, 2, 2).await;
        assert_eq!(opened.load(Ordering::Relaxed), 1);
        assert_eq!(pool.state(), (2, 2));
        concurrent_reads(&pool, 3, 2).await;
        assert_eq!(opened.load(Ordering::Relaxed), 2);
        assert_eq!(pool.state(), (3, 3));
        // More reads at once than the pool's size wait for a connection; none is added.
        let reads = (0..12).map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    Ok(())
                })
                .await
            })
        });
        for read in futures_util::future::join_all(reads).await {
            read.unwrap().unwrap();
        }
        assert_eq!(opened.load(Ordering::Relaxed), 2);
        assert_eq!(pool.state(), (3, 3));
    }

    #[tokio::test]
    async fn a_read_connection_that_cannot_be_opened_fails_only_its_read() {
        let pool = ReadPool::new(Connection::open_in_memory().unwrap(), 2, || {
            Err(Error::internal("disk gone"))
        });
        let busy = Arc::new(std::sync::Barrier::new(2));
        let holder = {
            let (pool, busy) = (pool.clone(), busy.clone());
            tokio::spawn(async move {
                pool.run(move |_| {
                    busy.wait(); // the first connection is in use…
                    busy.wait(); // …until the second read has failed
                    Ok(())
                })
                .await
            })
        };
        let second = {
            let pool = pool.clone();
            tokio::spawn(async move {
                busy.wait();
                let result = pool.run(|_| Ok(())).await;
                busy.wait();
                result
            })
        };
        let error = second.await.unwrap().unwrap_err().to_string();
        assert!(
            error.contains("cannot open another read connection"),
            "{error}"
        );
        assert!(error.contains("disk gone"), "{error}");
        holder.await.unwrap().unwrap();
        assert_eq!(pool.state(), (1, 1), "the failed open is not counted");
        pool.run(|_| Ok(())).await.unwrap();
    }
}
