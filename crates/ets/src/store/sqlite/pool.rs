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

/// Read-only connections, handed out one per blocking task.
#[derive(Clone)]
pub(super) struct ReadPool {
    inner: Arc<ReadPoolInner>,
}

struct ReadPoolInner {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    size: usize,
}

impl ReadPool {
    pub(super) fn new(connections: Vec<Connection>) -> ReadPool {
        let size = connections.len();
        ReadPool {
            inner: Arc::new(ReadPoolInner {
                idle: Mutex::new(connections),
                permits: Arc::new(Semaphore::new(size)),
                size,
            }),
        }
    }

    /// Runs `work` on a pooled connection in a blocking task.
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
            let conn = inner.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(conn) = conn else {
                return Err(Error::internal("read pool is empty"));
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

    /// (connections, idle connections).
    pub(super) fn state(&self) -> (usize, usize) {
        (self.inner.size, self.inner.permits.available_permits())
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
