//! Limits of analyst SQL in the service (HTTP `POST /sql` and the PostgreSQL endpoint), so that no
//! query can take the service down:
//!
//! - **memory**: every query gets its own memory pool (`queries.query_memory_mb`) inside one pool
//!   for all analyst queries together (`queries.memory_mb`); sorts, aggregates and joins that can
//!   spill do so to temporary files (at most `queries.spill_mb` in all), others stop with a clear
//!   error;
//! - **time**: a statement timeout (`queries.timeout_seconds`) that covers the whole execution,
//!   rows streamed to the client included, not only planning;
//! - **cancellation**: a query stops when its client goes away (the HTTP request is dropped, the
//!   PostgreSQL connection closes), on the PostgreSQL CancelRequest (psql's Ctrl-C), and on shutdown;
//! - **concurrency**: at most `queries.max_concurrent` analyst queries run at once; the next ones
//!   wait up to `queries.queue_seconds`, then are refused as busy;
//! - **isolation**: analyst queries (and PostgreSQL connections) run on their own thread pool
//!   (`queries.threads`, with deep stacks), so that `/health`, submissions and the scheduler keep
//!   answering on the main runtime while a heavy query runs or is refused.
//!
//! The limits are enforced where DataFusion plans and runs a query: a [`QueryPlanner`] that wraps
//! every physical plan of an analyst session in [`LimitedExec`], whatever the entry point.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::disk_manager::DiskManager;
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::prelude::SessionContext;
use futures::{Future, Stream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::QueryLimits;
use crate::{Error, Result};

/// Why an analyst query was stopped or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// It ran longer than `queries.timeout_seconds`.
    Timeout,
    /// Its client cancelled it (PostgreSQL CancelRequest) or went away.
    Cancelled,
    /// The service is shutting down.
    Stopping,
    /// Every slot of `queries.max_concurrent` stayed taken for `queries.queue_seconds`.
    Busy,
    /// It needed more memory than an analyst query may use.
    Memory,
    /// Its answer has more rows than `http.max_sql_rows`.
    Rows,
}

impl Limit {
    /// The PostgreSQL SQLSTATE of the error.
    pub fn sqlstate(self) -> &'static str {
        match self {
            Limit::Timeout | Limit::Cancelled => "57014",
            Limit::Stopping => "57P01",
            Limit::Busy => "53300",
            Limit::Memory => "53200",
            Limit::Rows => "54000",
        }
    }

    /// The HTTP status of the error.
    pub fn http_status(self) -> u16 {
        match self {
            Limit::Timeout => 504,
            Limit::Cancelled => 499,
            Limit::Stopping | Limit::Busy => 503,
            Limit::Memory => 422,
            Limit::Rows => 413,
        }
    }
}

/// The limit an error chain (from DataFusion, arrow or tonghop) comes from, with its message,
/// or `None` for an ordinary query error.
pub fn limit_of(error: &(dyn std::error::Error + 'static), limits: &QueryLimits) -> Option<(Limit, String)> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(Error::Limit { limit, message }) = e.downcast_ref::<Error>() {
            return Some((*limit, message.clone()));
        }
        if let Some(DataFusionError::ResourcesExhausted(detail)) = e.downcast_ref::<DataFusionError>() {
            let message = format!(
                "the query needs more memory than an analyst query may use (queries.query_memory_mb = {}, queries.memory_mb = {} for all queries together); \
                 filter or aggregate earlier, or ask the administrator to raise the limit ({detail})",
                limits.query_memory_mb, limits.memory_mb
            );
            return Some((Limit::Memory, message));
        }
        if let Some(DataFusionError::Shared(inner)) = e.downcast_ref::<DataFusionError>() {
            current = Some(inner.as_ref());
            continue;
        }
        current = e.source();
    }
    None
}

fn stopped(limit: Limit, message: String) -> DataFusionError {
    DataFusionError::External(Box::new(Error::Limit { limit, message }))
}

/// The cancel switch of one analyst session (a PostgreSQL connection or an HTTP request): the
/// token of its current statement.
#[derive(Clone, Default)]
pub struct Cancel(Arc<Mutex<CancellationToken>>);

impl Cancel {
    fn current(&self) -> CancellationToken {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Cancels the statement running now (and the one about to start).
    pub fn cancel(&self) {
        self.current().cancel();
    }

    /// A new statement starts: a cancel that came before it no longer applies.
    pub fn reset(&self) {
        let mut token = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if token.is_cancelled() {
            *token = CancellationToken::new();
        }
    }
}

/// A PostgreSQL connection's cancel key: its process id and secret.
pub type CancelKey = (i32, Vec<u8>);

/// PostgreSQL connections by their cancel key, for CancelRequest.
#[derive(Default)]
pub struct CancelKeys(Mutex<HashMap<CancelKey, Weak<Mutex<CancellationToken>>>>);

impl CancelKeys {
    /// Remembers a connection's key (idempotent); forgets connections that ended.
    pub fn register(&self, key: CancelKey, cancel: &Cancel) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(&key) {
            map.retain(|_, c| c.strong_count() > 0);
            map.insert(key, Arc::downgrade(&cancel.0));
        }
    }

    /// Cancels the current statement of the connection with this key; false when none has it.
    pub fn cancel(&self, key: &CancelKey) -> bool {
        let found = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(key).and_then(Weak::upgrade);
        match found {
            Some(token) => {
                Cancel(token).cancel();
                true
            }
            None => false,
        }
    }
}

/// The thread pool of analyst queries; shut down in the background when the service is dropped
/// (dropping a runtime inside another one would panic).
struct Threads(Option<tokio::runtime::Runtime>);

impl Drop for Threads {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The limits shared by every analyst session of the service.
pub struct Limits {
    config: QueryLimits,
    pool: Arc<dyn MemoryPool>,
    disk: Arc<DiskManager>,
    slots: Arc<Semaphore>,
    running: Arc<AtomicUsize>,
    shutdown: CancellationToken,
    threads: Threads,
}

impl fmt::Debug for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limits").field("config", &self.config).field("running", &self.running()).finish()
    }
}

const MIB: usize = 1 << 20;

impl Limits {
    /// Starts the analyst thread pool and the shared memory pool and spill space.
    pub fn new(config: &QueryLimits, shutdown: CancellationToken) -> Result<Limits> {
        let threads = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads.max(1))
            .thread_name("tonghop-sql")
            // Deep expressions recurse deeply in planning and evaluation (debug builds above all).
            .thread_stack_size(16 * MIB)
            .enable_all()
            .build()
            .map_err(|source| Error::Io { path: "the analyst thread pool".into(), source })?;
        let disk = DiskManager::builder()
            .with_max_temp_directory_size((config.spill_mb as u64) << 20)
            .build()
            .map_err(|e| Error::Config(vec![format!("queries.spill_mb: the spill space cannot be set up: {e}")].into()))?;
        Ok(Limits {
            config: config.clone(),
            pool: Arc::new(GreedyMemoryPool::new(config.memory_mb * MIB)),
            disk: Arc::new(disk),
            slots: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            running: Arc::new(AtomicUsize::new(0)),
            shutdown,
            threads: Threads(Some(threads)),
        })
    }

    /// The configured limits.
    pub fn config(&self) -> &QueryLimits {
        &self.config
    }

    /// Where analyst work runs.
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.threads.0.as_ref().expect("running until dropped").handle().clone()
    }

    /// Analyst queries running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Bytes reserved now by analyst queries.
    pub fn reserved(&self) -> usize {
        self.pool.reserved()
    }

    /// An analyst session over `base` (the service's session: its tables and settings), whose
    /// queries are planned under these limits and stop when `cancel` fires.
    pub fn session(self: &Arc<Self>, base: &SessionContext, cancel: Cancel) -> SessionContext {
        // The base session's planner (the distributed one when [cluster] lists workers) plans; this
        // one puts its plan under the limits.
        let inner = base.state().query_planner().clone();
        let planner = Arc::new(LimitedPlanner { limits: self.clone(), cancel, inner });
        let state = SessionStateBuilder::new_from_existing(base.state()).with_query_planner(planner).build();
        SessionContext::new_with_state(state)
    }
}

/// Plans as DataFusion does, then puts the plan under the limits of one query.
struct LimitedPlanner {
    limits: Arc<Limits>,
    cancel: Cancel,
    inner: Arc<dyn QueryPlanner + Send + Sync>,
}

impl fmt::Debug for LimitedPlanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LimitedPlanner")
    }
}

#[async_trait]
impl QueryPlanner for LimitedPlanner {
    async fn create_physical_plan(&self, plan: &LogicalPlan, session: &dyn datafusion::catalog::Session) -> DfResult<Arc<dyn ExecutionPlan>> {
        let limits = &self.limits;
        let wait = Duration::from_secs(limits.config.queue_seconds);
        let permit = match tokio::time::timeout(wait, limits.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                let message = format!(
                    "the service is busy: {} analyst queries are running (queries.max_concurrent) and none ended within {} s; try again shortly",
                    limits.config.max_concurrent, limits.config.queue_seconds
                );
                return Err(stopped(Limit::Busy, message));
            }
        };
        let physical = self.inner.create_physical_plan(plan, session).await?;
        // The session's object stores and caches, this query's memory pool, the shared spill space.
        let mut runtime = RuntimeEnvBuilder::from_runtime_env(session.runtime_env()).with_memory_pool(Arc::new(QueryPool {
            parent: limits.pool.clone(),
            limit: limits.config.query_memory_mb * MIB,
            used: AtomicUsize::new(0),
        }));
        runtime.disk_manager = Some(limits.disk.clone());
        runtime.disk_manager_builder = None;
        let runtime = runtime.build_arc()?;
        limits.running.fetch_add(1, Ordering::Relaxed);
        let budget = Arc::new(Budget {
            runtime,
            deadline: Instant::now() + Duration::from_secs(limits.config.timeout_seconds),
            timeout_seconds: limits.config.timeout_seconds,
            cancel: self.cancel.current(),
            shutdown: limits.shutdown.clone(),
            running: limits.running.clone(),
            _permit: permit,
        });
        Ok(Arc::new(LimitedExec { input: physical, budget }))
    }
}

/// One query's memory: at most `limit` bytes, taken from the pool of all analyst queries.
#[derive(Debug)]
struct QueryPool {
    parent: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl fmt::Display for QueryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "one analyst query's pool: {} of {} bytes", self.used.load(Ordering::Relaxed), self.limit)
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "tonghop-query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.parent.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.parent.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.parent.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.parent.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DfResult<()> {
        let before = self.used.fetch_add(additional, Ordering::Relaxed);
        if before + additional > self.limit {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{} wanted {additional} more bytes with {before} in use by this query (its limit is {})",
                reservation.consumer().name(),
                self.limit
            )));
        }
        if let Err(e) = self.parent.try_grow(reservation, additional) {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(e);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

/// What one query may use, and what stops it. Dropped (freeing its slot) when its plan and
/// streams are.
struct Budget {
    runtime: Arc<RuntimeEnv>,
    deadline: Instant,
    timeout_seconds: u64,
    cancel: CancellationToken,
    shutdown: CancellationToken,
    running: Arc<AtomicUsize>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Budget {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The root of an analyst query's physical plan: runs its input with the query's memory pool and
/// ends its streams with an error on timeout, cancellation or shutdown (dropping the input, which
/// stops DataFusion's tasks).
pub struct LimitedExec {
    input: Arc<dyn ExecutionPlan>,
    budget: Arc<Budget>,
}

impl fmt::Debug for LimitedExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LimitedExec")
    }
}

impl DisplayAs for LimitedExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LimitedExec: timeout={}s", self.budget.timeout_seconds)
    }
}

impl ExecutionPlan for LimitedExec {
    fn name(&self) -> &str {
        "LimitedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(&self, _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal("LimitedExec has one child".into()));
        }
        Ok(Arc::new(LimitedExec { input: children.swap_remove(0), budget: self.budget.clone() }))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let context = TaskContext::new(
            context.task_id(),
            context.session_id(),
            context.session_config().clone(),
            context.scalar_functions().clone(),
            context.higher_order_functions().clone(),
            context.aggregate_functions().clone(),
            context.window_functions().clone(),
            self.budget.runtime.clone(),
        );
        let input = self.input.execute(partition, Arc::new(context))?;
        let budget = self.budget.clone();
        let deadline = Box::pin(tokio::time::sleep_until(budget.deadline.into()));
        let cancelled = Box::pin(budget.cancel.clone().cancelled_owned());
        let stopping = Box::pin(budget.shutdown.clone().cancelled_owned());
        Ok(Box::pin(LimitedStream { schema: input.schema(), input: Some(input), budget, deadline, cancelled, stopping }))
    }
}

/// A stream of a [`LimitedExec`] partition.
struct LimitedStream {
    schema: SchemaRef,
    input: Option<SendableRecordBatchStream>,
    budget: Arc<Budget>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    cancelled: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    stopping: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl LimitedStream {
    fn stop(&mut self, limit: Limit, message: String) -> Poll<Option<DfResult<datafusion::arrow::array::RecordBatch>>> {
        // Dropping the input stops the query's work now.
        self.input = None;
        tracing::warn!(?limit, message, "analyst query stopped");
        Poll::Ready(Some(Err(stopped(limit, message))))
    }
}

impl Stream for LimitedStream {
    type Item = DfResult<datafusion::arrow::array::RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.input.is_none() {
            return Poll::Ready(None);
        }
        if self.cancelled.as_mut().poll(cx).is_ready() {
            return self.stop(Limit::Cancelled, "canceling statement due to user request".into());
        }
        if self.stopping.as_mut().poll(cx).is_ready() {
            return self.stop(Limit::Stopping, "the service is shutting down; the query was stopped".into());
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let message = format!(
                "canceling statement due to statement timeout: it ran longer than queries.timeout_seconds = {} s; filter or aggregate earlier",
                self.budget.timeout_seconds
            );
            return self.stop(Limit::Timeout, message);
        }
        let input = self.input.as_mut().expect("checked above");
        let polled = input.as_mut().poll_next(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.input = None;
        }
        polled
    }
}

impl RecordBatchStream for LimitedStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
