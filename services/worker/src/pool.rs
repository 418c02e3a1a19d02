//! The bounded [`WorkerPool`].

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::CatchUnwind;
use metrics::{Counter, Gauge, Histogram};
use pin_project_lite::pin_project;
use std::sync::{Mutex, PoisonError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Sleep;
use tokio_util::task::TaskTracker;

use crate::config::WorkerConfig;
use crate::error::{SubmitError, TaskError};

/// A bounded pool of asynchronous tasks on the current tokio runtime.
///
/// At most [`workers`](WorkerPoolBuilder::workers) tasks run at once and at most
/// [`queue_capacity`](WorkerPoolBuilder::queue_capacity) more wait for a worker. When both are
/// full, [`submit`](Self::submit) waits (backpressure) and [`try_submit`](Self::try_submit)
/// fails with [`SubmitError::Full`]. Each accepted task gives a [`TaskHandle`] that resolves to
/// the task's value or a [`TaskError`]: a panic is caught and reported as
/// [`TaskError::Panicked`] (the pool and the other tasks carry on), a task that outlives the
/// [`task_timeout`](WorkerPoolBuilder::task_timeout) is dropped with [`TaskError::TimedOut`].
/// [`shutdown`](Self::shutdown) stops accepting, drains what was accepted until a deadline and
/// aborts the rest.
///
/// `WorkerPool` is a cheap handle: clones share the same workers, queue and state.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use core_backend_worker::{TaskError, WorkerPool};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = WorkerPool::builder()
///     .workers(4)
///     .queue_capacity(100)
///     .task_timeout(Duration::from_secs(30))
///     .build();
///
/// let handle = pool.submit(async { 6 * 7 }).await.expect("pool is open");
/// assert_eq!(handle.await, Ok(42));
///
/// let boom = pool.submit(async { panic!("boom") }).await.expect("pool is open");
/// assert_eq!(boom.await, Err::<(), _>(TaskError::Panicked("boom".into())));
///
/// let report = pool.shutdown(Duration::from_secs(5)).await;
/// assert_eq!(report.aborted(), 0);
/// # }
/// ```
///
/// # Why one tokio task per submitted task?
///
/// The classic shape (N long-lived workers reading a bounded channel of boxed futures) costs an
/// allocation for the box, a channel send and receive, and a lock per task, and funnels all
/// tasks through N queues. Here a semaphore of `workers` permits bounds the running tasks and
/// a second one of `queue_capacity` permits bounds the waiting ones: a task that finds a free
/// worker takes its permit at submission and is spawned straight onto the runtime, whose
/// work-stealing scheduler is the queue; only when every worker is busy does it take a queue
/// slot and wait (inside its spawned task) for a worker. The hot path is therefore exactly
/// what a hand-written `Semaphore` + `tokio::spawn` costs plus the bookkeeping above; see
/// the crate README for the measured ratio.
#[derive(Clone)]
pub struct WorkerPool {
    inner: Arc<Inner>,
}

struct Inner {
    running: Arc<Semaphore>,
    // Closed when shutdown begins; it doubles as the "accepting tasks" flag.
    queue_slots: Arc<Semaphore>,
    workers: usize,
    queue_capacity: usize,
    task_timeout: Option<Duration>,
    tracker: TaskTracker,
    // Abort handles of the tasks, for the drain deadline; sharded to keep the locks cold.
    abort_handles: Box<[Mutex<Vec<AbortHandle>>]>,
    metrics: PoolMetrics,
}

struct PoolMetrics {
    queued: Gauge,
    running: Gauge,
    completed: Counter,
    failed: Counter,
    panicked: Counter,
    timed_out: Counter,
    rejected: Counter,
    duration: Histogram,
}

impl PoolMetrics {
    fn new(name: &str) -> Self {
        let labels = [("pool", name.to_owned())];
        Self {
            queued: metrics::gauge!("core_backend.worker.queued", &labels),
            running: metrics::gauge!("core_backend.worker.running", &labels),
            completed: metrics::counter!("core_backend.worker.completed", &labels),
            failed: metrics::counter!("core_backend.worker.failed", &labels),
            panicked: metrics::counter!("core_backend.worker.panicked", &labels),
            timed_out: metrics::counter!("core_backend.worker.timed_out", &labels),
            rejected: metrics::counter!("core_backend.worker.rejected", &labels),
            duration: metrics::histogram!("core_backend.worker.task.duration", &labels),
        }
    }
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("workers", &self.inner.workers)
            .field("queue_capacity", &self.inner.queue_capacity)
            .field("task_timeout", &self.inner.task_timeout)
            .field("in_flight", &self.in_flight())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Builds a [`WorkerPool`]; from [`WorkerPool::builder`].
#[derive(Debug, Clone)]
pub struct WorkerPoolBuilder {
    config: WorkerConfig,
    name: String,
}

impl WorkerPoolBuilder {
    /// Tasks that run at the same time (at least 1). Defaults to the number of CPUs.
    pub fn workers(mut self, workers: usize) -> Self {
        self.config.workers = workers.max(1);
        self
    }

    /// Tasks that may wait for a free worker on top of the running ones. Defaults to `1024`.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.config.queue_capacity = capacity;
        self
    }

    /// Longest a task may run (once it has a worker) before it is dropped and its handle
    /// resolves to [`TaskError::TimedOut`]. Defaults to no limit.
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.config.task_timeout = Some(timeout);
        self
    }

    /// Value of the `pool` label on the pool's metrics. Defaults to `"default"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Builds the pool.
    pub fn build(self) -> WorkerPool {
        let workers = self.config.workers.max(1);
        let workers = workers.min(Semaphore::MAX_PERMITS);
        let queue_capacity = self.config.queue_capacity.min(Semaphore::MAX_PERMITS);
        WorkerPool {
            inner: Arc::new(Inner {
                running: Arc::new(Semaphore::new(workers)),
                queue_slots: Arc::new(Semaphore::new(queue_capacity)),
                workers,
                queue_capacity,
                task_timeout: self.config.task_timeout,
                tracker: TaskTracker::new(),
                abort_handles: (0..ABORT_SHARDS).map(|_| Mutex::new(Vec::new())).collect(),
                metrics: PoolMetrics::new(&self.name),
            }),
        }
    }
}

/// What [`WorkerPool::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    drained: usize,
    aborted: usize,
}

impl ShutdownReport {
    /// Tasks (running or queued when the shutdown began) that finished before the deadline.
    pub const fn drained(&self) -> usize {
        self.drained
    }

    /// Tasks still running or queued at the deadline, which were aborted.
    pub const fn aborted(&self) -> usize {
        self.aborted
    }
}

impl WorkerPool {
    /// A builder with the defaults of [`WorkerConfig`].
    pub fn builder() -> WorkerPoolBuilder {
        WorkerPoolBuilder {
            config: WorkerConfig::default(),
            name: "default".to_owned(),
        }
    }

    /// A pool built from a [`WorkerConfig`].
    pub fn from_config(config: &WorkerConfig) -> Self {
        WorkerPoolBuilder {
            config: config.clone(),
            name: "default".to_owned(),
        }
        .build()
    }

    /// Submits a task, waiting while the pool is full (backpressure).
    ///
    /// Fails only with [`SubmitError::Closed`] once [`shutdown`](Self::shutdown) has begun.
    /// Dropping the returned future before it resolves submits nothing.
    pub async fn submit<F>(&self, task: F) -> Result<TaskHandle<F::Output>, SubmitError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let inner = &self.inner;
        if let Some(slot) = self.try_slot() {
            return Ok(self.spawn(slot, task));
        }
        if self.is_closed() {
            return Err(self.reject(SubmitError::Closed));
        }
        // Full: wait for whichever frees first, a worker or a queue slot.
        let slot = tokio::select! {
            worker = Arc::clone(&inner.running).acquire_owned() => worker.ok().map(Slot::Worker),
            queued = Arc::clone(&inner.queue_slots).acquire_owned() => queued.ok().map(Slot::Queued),
        };
        match slot {
            Some(slot) if !self.is_closed() => Ok(self.spawn(slot, task)),
            _ => Err(self.reject(SubmitError::Closed)),
        }
    }

    /// Submits a task if a worker or a queue slot is free, else fails with
    /// [`SubmitError::Full`] (or [`SubmitError::Closed`] after shutdown).
    pub fn try_submit<F>(&self, task: F) -> Result<TaskHandle<F::Output>, SubmitError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.try_slot() {
            Some(slot) => Ok(self.spawn(slot, task)),
            None if self.is_closed() => Err(self.reject(SubmitError::Closed)),
            None => Err(self.reject(SubmitError::Full)),
        }
    }

    /// A free worker, else a free queue slot; `None` when full or closed.
    fn try_slot(&self) -> Option<Slot> {
        if self.is_closed() {
            return None;
        }
        if let Ok(worker) = Arc::clone(&self.inner.running).try_acquire_owned() {
            return Some(Slot::Worker(worker));
        }
        Arc::clone(&self.inner.queue_slots)
            .try_acquire_owned()
            .ok()
            .map(Slot::Queued)
    }

    fn reject(&self, err: SubmitError) -> SubmitError {
        self.inner.metrics.rejected.increment(1);
        err
    }

    /// Tasks accepted and not yet finished (running plus queued).
    pub fn in_flight(&self) -> usize {
        self.inner.tracker.len()
    }

    /// Tasks currently holding a worker.
    pub fn running(&self) -> usize {
        self.inner.workers - self.inner.running.available_permits()
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub fn is_closed(&self) -> bool {
        self.inner.queue_slots.is_closed()
    }

    /// Stops accepting tasks, lets the running and queued ones finish until `deadline` has
    /// passed, then aborts those left (their handles resolve to [`TaskError::Cancelled`]) and
    /// waits for them to be dropped.
    ///
    /// Any clone of the pool may call it; a second call drains what is left again.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let inner = &self.inner;
        inner.queue_slots.close();
        inner.tracker.close();
        let at_start = inner.tracker.len();
        tracing::info!(in_flight = at_start, ?deadline, "worker pool shutting down");
        if tokio::time::timeout(deadline, inner.tracker.wait())
            .await
            .is_ok()
        {
            return ShutdownReport {
                drained: at_start,
                aborted: 0,
            };
        }
        let aborted = inner.tracker.len();
        tracing::warn!(aborted, "worker pool drain deadline passed, aborting tasks");
        inner.abort_all();
        inner.tracker.wait().await;
        ShutdownReport {
            drained: at_start.saturating_sub(aborted),
            aborted,
        }
    }

    fn spawn<F>(&self, slot: Slot, task: F) -> TaskHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let inner = &self.inner;
        let (worker, queued) = match slot {
            Slot::Worker(worker) => (Some(worker), None),
            Slot::Queued(queue_slot) => {
                inner.metrics.queued.increment(1.0);
                let acquire: AcquireWorker = Box::pin(Arc::clone(&inner.running).acquire_owned());
                (None, Some((queue_slot, acquire)))
            }
        };
        let join = inner.tracker.spawn(PoolTask {
            task: AssertUnwindSafe(task).catch_unwind(),
            guard: TaskGuard::new(Arc::clone(inner), worker.is_some()),
            worker,
            queued,
            sleep: None,
            started: None,
        });
        inner.register(join.abort_handle());
        TaskHandle { join }
    }
}

/// What a task holds from submission on.
enum Slot {
    /// A worker: the task runs at once.
    Worker(OwnedSemaphorePermit),
    /// A queue slot, traded for a worker when one frees.
    Queued(OwnedSemaphorePermit),
}

type AcquireWorker = Pin<
    Box<
        dyn Future<Output = Result<OwnedSemaphorePermit, tokio::sync::AcquireError>>
            + Send
            + 'static,
    >,
>;

impl Inner {
    /// Remembers a task so the drain deadline can abort it. Finished tasks are pruned once
    /// a shard has grown past twice the pool's size, so memory stays bounded.
    fn register(&self, handle: AbortHandle) {
        thread_local! {
            static NEXT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        }
        // Round-robin per thread: no shared counter, little contention on the shard locks.
        let shard = NEXT.with(|next| {
            let i = next.get();
            next.set(i.wrapping_add(1));
            i
        });
        let mut shard = self.abort_handles[shard % ABORT_SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= shard.capacity() {
            shard.retain(|h| !h.is_finished());
            let floor = (2 * (self.workers + self.queue_capacity) / ABORT_SHARDS).max(8);
            let len = shard.len();
            let want = floor.max(2 * len);
            if shard.capacity() < want {
                shard.reserve(want - len);
            }
        }
        shard.push(handle);
    }

    fn abort_all(&self) {
        self.running.close();
        for shard in &*self.abort_handles {
            let handles =
                std::mem::take(&mut *shard.lock().unwrap_or_else(PoisonError::into_inner));
            for handle in handles {
                handle.abort();
            }
        }
    }
}

pin_project! {
    /// A submitted task as spawned: waits for a worker if queued, then runs the task with
    /// panic catching and the optional timeout. Hand-written rather than an `async` block so
    /// the task is stored once and nothing else is big (see the crate README, benchmarks).
    struct PoolTask<F> {
        #[pin]
        task: CatchUnwind<AssertUnwindSafe<F>>,
        guard: TaskGuard,
        worker: Option<OwnedSemaphorePermit>,
        // The queue slot and the wait for a worker; boxed as only queued tasks need it.
        queued: Option<(OwnedSemaphorePermit, AcquireWorker)>,
        // The timeout, armed on the first pending poll of the running task.
        sleep: Option<Pin<Box<Sleep>>>,
        // Wall-clock start for the duration histogram.
        started: Option<std::time::Instant>,
    }
}

impl<F: Future> Future for PoolTask<F> {
    type Output = Result<F::Output, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // A queued task first waits for a worker; the pool's abort closes the semaphore.
        if this.worker.is_none() {
            let acquired = match this.queued.as_mut() {
                Some((_, acquire)) => ready!(acquire.as_mut().poll(cx)),
                None => return Poll::Ready(Err(this.guard.finish(TaskError::Cancelled))),
            };
            // The queue slot is free again either way.
            *this.queued = None;
            this.guard.leave_queue();
            match acquired {
                Ok(worker) => *this.worker = Some(worker),
                Err(_closed) => return Poll::Ready(Err(this.guard.finish(TaskError::Cancelled))),
            }
        }
        let started = *this.started.get_or_insert_with(std::time::Instant::now);
        // The task itself; one that completes now never touches the timer.
        if let Poll::Ready(out) = this.task.poll(cx) {
            let elapsed = started.elapsed();
            return Poll::Ready(this.guard.complete(out, elapsed));
        }
        // Its deadline.
        if let Some(timeout) = this.guard.inner.task_timeout {
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
            if sleep.as_mut().poll(cx).is_ready() {
                this.guard.record(started.elapsed());
                tracing::warn!(?timeout, "worker task timed out");
                this.guard.inner.metrics.timed_out.increment(1);
                return Poll::Ready(Err(this.guard.finish(TaskError::TimedOut)));
            }
        }
        Poll::Pending
    }
}

/// Keeps the gauges and counters right however a task ends, including being aborted
/// (dropped) mid-flight.
struct TaskGuard {
    inner: Arc<Inner>,
    queued: bool,
    running: bool,
    done: bool,
}

impl TaskGuard {
    fn new(inner: Arc<Inner>, running: bool) -> Self {
        if running {
            inner.metrics.running.increment(1.0);
        }
        Self {
            inner,
            queued: !running,
            running,
            done: false,
        }
    }

    fn leave_queue(&mut self) {
        if std::mem::take(&mut self.queued) {
            self.inner.metrics.queued.decrement(1.0);
        }
        if !self.running {
            self.running = true;
            self.inner.metrics.running.increment(1.0);
        }
    }

    fn record(&self, elapsed: Duration) {
        self.inner.metrics.duration.record(elapsed.as_secs_f64());
    }

    fn complete<T>(
        &mut self,
        out: std::thread::Result<T>,
        elapsed: Duration,
    ) -> Result<T, TaskError> {
        self.record(elapsed);
        match out {
            Ok(value) => {
                self.done = true;
                self.inner.metrics.completed.increment(1);
                Ok(value)
            }
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                self.inner.metrics.panicked.increment(1);
                tracing::error!(panic = %message, "worker task panicked");
                Err(self.finish(TaskError::Panicked(message)))
            }
        }
    }

    /// Ends the task with an error: counted as failed.
    fn finish(&mut self, err: TaskError) -> TaskError {
        self.done = true;
        self.inner.metrics.failed.increment(1);
        err
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.queued {
            self.inner.metrics.queued.decrement(1.0);
        }
        if self.running {
            self.inner.metrics.running.decrement(1.0);
        }
        if !self.done {
            // Aborted: by `TaskHandle::abort` or the drain deadline.
            self.inner.metrics.failed.increment(1);
        }
    }
}

const ABORT_SHARDS: usize = 16;

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// The handle of a task accepted by a [`WorkerPool`]; await it for the task's value.
///
/// Dropping the handle detaches the task (it still runs); [`abort`](Self::abort) stops it.
#[derive(Debug)]
pub struct TaskHandle<T> {
    join: JoinHandle<Result<T, TaskError>>,
}

impl<T> TaskHandle<T> {
    /// Aborts the task; awaiting the handle then gives [`TaskError::Cancelled`] (unless the
    /// task had already finished).
    pub fn abort(&self) {
        self.join.abort();
    }

    /// Whether the task has finished.
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

impl<T> Future for TaskHandle<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(Pin::new(&mut self.join).poll(cx)) {
            Ok(result) => result,
            Err(err) if err.is_cancelled() => Err(TaskError::Cancelled),
            // Panics are caught inside the task; this is only reached if the catch itself fails.
            Err(err) => Err(TaskError::Panicked(panic_message(
                err.into_panic().as_ref(),
            ))),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::ignored_unit_patterns)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;
    use tokio::time::{Instant, sleep};

    #[tokio::test(start_paused = true)]
    async fn runs_tasks_and_returns_values() {
        let pool = WorkerPool::builder().workers(2).queue_capacity(2).build();
        let handles: Vec<_> = (0..4)
            .map(|i| pool.try_submit(async move { i * 2 }).unwrap())
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        assert_eq!(out, vec![0, 2, 4, 6]);
    }

    #[tokio::test(start_paused = true)]
    async fn try_submit_is_full_when_workers_and_queue_are_busy() {
        let pool = WorkerPool::builder().workers(1).queue_capacity(1).build();
        let (tx, rx) = oneshot::channel::<()>();
        let first = pool.try_submit(async move { rx.await.ok() }).unwrap();
        let second = pool.try_submit(async { 2 }).unwrap();
        assert_eq!(pool.try_submit(async { 3 }).unwrap_err(), SubmitError::Full);
        assert_eq!(pool.in_flight(), 2);
        tokio::task::yield_now().await;
        assert_eq!(pool.running(), 1);
        tx.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Some(()));
        assert_eq!(second.await.unwrap(), 2);
        assert!(pool.try_submit(async { 4 }).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn submit_waits_for_capacity() {
        let pool = WorkerPool::builder().workers(1).queue_capacity(0).build();
        let busy = pool.submit(sleep(Duration::from_secs(10))).await.unwrap();
        let start = Instant::now();
        let p = pool.clone();
        let waiter = tokio::spawn(async move { p.submit(async { 1 }).await.unwrap().await });
        sleep(Duration::from_secs(1)).await;
        assert!(
            !waiter.is_finished(),
            "submit must wait while the pool is full"
        );
        busy.await.unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(1));
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn task_timeout_drops_the_task() {
        let pool = WorkerPool::builder()
            .workers(1)
            .task_timeout(Duration::from_secs(1))
            .build();
        let slow = pool.submit(sleep(Duration::from_secs(5))).await.unwrap();
        let start = Instant::now();
        assert_eq!(slow.await, Err(TaskError::TimedOut));
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        let fast = pool.submit(async { "ok" }).await.unwrap();
        assert_eq!(fast.await, Ok("ok"));
    }

    #[tokio::test(start_paused = true)]
    async fn panicking_task_does_not_kill_the_pool() {
        let pool = WorkerPool::builder().workers(1).queue_capacity(4).build();
        let boom = pool.submit(async { panic!("kaboom {}", 7) }).await.unwrap();
        let after = pool.submit(async { 1 }).await.unwrap();
        assert_eq!(
            boom.await,
            Err::<(), _>(TaskError::Panicked("kaboom 7".into()))
        );
        assert_eq!(after.await, Ok(1));
        assert_eq!(pool.running(), 0);
        assert_eq!(pool.in_flight(), 0);
        let payload = pool
            .submit(async { std::panic::panic_any(42_u8) })
            .await
            .unwrap();
        assert_eq!(
            payload.await,
            Err::<(), _>(TaskError::Panicked("non-string panic payload".into()))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_drains_within_deadline() {
        let pool = WorkerPool::builder().workers(1).queue_capacity(2).build();
        let handles: Vec<_> = (0..3)
            .map(|i| {
                pool.try_submit(async move {
                    sleep(Duration::from_secs(1)).await;
                    i
                })
                .unwrap()
            })
            .collect();
        let report = pool.shutdown(Duration::from_secs(10)).await;
        assert_eq!(
            report,
            ShutdownReport {
                drained: 3,
                aborted: 0
            }
        );
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await, Ok(i));
        }
        assert!(pool.is_closed());
        assert_eq!(pool.try_submit(async {}).unwrap_err(), SubmitError::Closed);
        assert_eq!(
            pool.submit(async {}).await.unwrap_err(),
            SubmitError::Closed
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_aborts_after_deadline() {
        let pool = WorkerPool::builder().workers(1).queue_capacity(2).build();
        let handles: Vec<_> = (0..3)
            .map(|_| {
                // `async move` so each 4 s starts when the task gets a worker.
                pool.try_submit(async move { sleep(Duration::from_secs(4)).await })
                    .unwrap()
            })
            .collect();
        let start = Instant::now();
        // One worker, 4 s each: only the first finishes within 5 s.
        let report = pool.shutdown(Duration::from_secs(5)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        assert_eq!(report.drained(), 1);
        assert_eq!(report.aborted(), 2);
        let results: Vec<_> = futures_util::future::join_all(handles).await;
        assert_eq!(
            results,
            vec![Ok(()), Err(TaskError::Cancelled), Err(TaskError::Cancelled)]
        );
        assert_eq!(pool.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_submit_fails_when_shutdown_begins() {
        let pool = WorkerPool::builder().workers(1).queue_capacity(0).build();
        let busy = pool
            .submit(async { sleep(Duration::from_secs(10)).await })
            .await
            .unwrap();
        let p = pool.clone();
        let waiter = tokio::spawn(async move { p.submit(async { 1 }).await.map(drop) });
        sleep(Duration::from_millis(10)).await;
        let p = pool.clone();
        let shutdown = tokio::spawn(async move { p.shutdown(Duration::from_secs(60)).await });
        let start = Instant::now();
        assert_eq!(waiter.await.unwrap(), Err(SubmitError::Closed));
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the waiter is told at once"
        );
        assert_eq!(busy.await, Ok(()));
        assert_eq!(shutdown.await.unwrap().drained(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn abort_cancels_a_task() {
        let pool = WorkerPool::builder().workers(1).build();
        let h = pool.submit(sleep(Duration::from_secs(60))).await.unwrap();
        tokio::task::yield_now().await;
        assert!(!h.is_finished());
        h.abort();
        assert_eq!(h.await, Err(TaskError::Cancelled));
        tokio::task::yield_now().await;
        assert_eq!(pool.running(), 0);
    }

    #[tokio::test]
    async fn many_tasks_on_multi_thread_runtime() {
        let pool = WorkerPool::from_config(&WorkerConfig {
            workers: 4,
            queue_capacity: 8,
            task_timeout: None,
        });
        let mut handles = Vec::new();
        for i in 0..500_u64 {
            handles.push(pool.submit(async move { i }).await.unwrap());
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, 499 * 500 / 2);
        assert!(format!("{pool:?}").contains("workers: 4"));
    }
}
